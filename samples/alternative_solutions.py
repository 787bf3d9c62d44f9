# Correct answers written differently from the master: each answer cell of the assignment, after a
# "# %% <grade_id>" line. Used for the sample submission "correct_student" and by the tests.

# %% get_num_params
def get_num_params(n_in, W, D):
    widths = [n_in] + [W] * (D - 1) + [1]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))

# %% initialize_layers
def initialize_layers(net, sigma):
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                fan_in = layer.in_features
                layer.weight.normal_(0.0, sigma / fan_in ** 0.5)

# %% make_data
def make_data(net, n_in, n_examples):
    X = torch.normal(0.0, 1.0, size=(n_examples, n_in))
    with torch.no_grad():
        y = net(X)
    return X, y

# %% train_model
def train_model(net, X, y, n_epochs, lr, progressbar=True):
    opt = torch.optim.Adam(net.parameters(), lr)
    history = []
    steps = tqdm(range(n_epochs)) if progressbar else range(n_epochs)
    for _ in steps:
        opt.zero_grad()
        err = torch.nn.functional.mse_loss(net(X), y)
        err.backward()
        opt.step()
        history.append(float(err.detach()))
    return np.asarray(history)

# %% compute_loss
def compute_loss(net, X, y):
    with torch.no_grad():
        residual = net(X) - y
    return float(residual.pow(2).mean())

# %% learning_problem
torch.manual_seed(-1)
n_in, W_teacher, D_teacher, sigma_teacher = 5, 5, 5, 2.0
teacher = make_MLP(n_in, W_teacher, D_teacher)
initialize_layers(teacher, sigma=sigma_teacher)
N_train = 4000
N_test = 1000
X_train, y_train = make_data(teacher, n_in, n_examples=N_train)
X_test, y_test = make_data(teacher, n_in, n_examples=N_test)

# %% deep_student
n_epochs = n_steps(50000)
student = make_MLP(n_in, W_student, D_student)
Es_deep = np.array([])
for round_index in range(4):
    lr = 0.003 / 3 ** round_index
    Es_deep = np.append(Es_deep, train_model(student, X_train, y_train, n_epochs, lr, progressbar=False))
loss_deep = compute_loss(student, X_test, y_test) / y_test.var().item()
print("Relative test error of the deep student:", loss_deep)
plot_loss(Es_deep)

# %% width_sweep
D_student = 2
Ws_student = np.array([5, 15, 45, 135])
lr = 1e-3
n_epochs = n_steps(20000, at_least=400)
Es_shallow_train = np.zeros((len(Ws_student), n_epochs))
Es_shallow_test = np.zeros(len(Ws_student))
shallow_students = []
target_variance = y_test.var().item()
for index in range(len(Ws_student)):
    student = make_MLP(n_in, int(Ws_student[index]), D_student)
    curve = train_model(student, X_train, y_train, n_epochs, lr, progressbar=False)
    Es_shallow_train[index, :] = curve / target_variance
    Es_shallow_test[index] = compute_loss(student, X_test, y_test) / target_variance
    shallow_students.append(student)
plot_loss_as_function_of_width(Ws_student, Es_shallow_test, Es_shallow_train)

# %% width_fit
error_target = 1e-6
m, b = np.polyfit(np.log10(Ws_student), np.log10(Es_shallow_test), deg=1)
W_predicted = 10 ** ((np.log10(error_target) - b) / m)
print("Predicted width:", W_predicted)

# %% quasi_linear_problem
torch.manual_seed(-1)
n_in, W_teacher, D_teacher, sigma_teacher = 5, 5, 5, 0.4
teacher = make_MLP(n_in, W_teacher, D_teacher)
initialize_layers(teacher, sigma_teacher)
N_train, N_test = 4000, 1000
X_train, y_train = make_data(teacher, n_in, N_train)
X_test, y_test = make_data(teacher, n_in, N_test)

# %% quasi_linear_student
lr = 1e-3
W_student, D_student = 10, 2
quasi_student = make_MLP(n_in, W_student, D_student)
initialize_layers(quasi_student, sigma_teacher)
Es_quasi = train_model(quasi_student, X_train, y_train, n_steps(20000, at_least=2000), lr, progressbar=False)
loss_quasi = compute_loss(quasi_student, X_test, y_test) / y_test.var().item()
print("Shallow student loss:", loss_quasi)

# %% curve_length
def curve_length(curve):
    curve = np.asarray(curve)
    segments = curve[..., 1:, :] - curve[..., :-1, :]
    return np.sqrt((segments ** 2).sum(axis=-1)).sum(axis=-1)

# %% discussion_zero_loss
The targets are the net's own outputs, so its predictions match them exactly and the error starts at
zero; with zero gradient Adam does not move.
