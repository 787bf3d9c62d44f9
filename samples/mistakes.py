# Plausible mistakes that pass the visible check of their exercise, one answer cell each, after a
# "# %% <grade_id>" line. The hidden checks must catch every one of them, and each costs only its own
# exercise's points (the tests check both).

# %% get_num_params
# Counts each hidden layer as n_in * W instead of W * W: right whenever D == 2 or n_in == W.
def get_num_params(n_in, W, D):
    return n_in * W + (D - 2) * n_in * W + W

# %% initialize_layers
# Uses the first layer's fan-in for every layer.
def initialize_layers(net, sigma):
    params = list(net.parameters())
    n_in = params[0].shape[1]
    for param in params:
        nn.init.normal_(param, std=sigma / np.sqrt(n_in))

# %% make_data
# Forgets to detach the targets from the network's graph.
def make_data(net, n_in, n_examples):
    X = torch.randn(n_examples, n_in)
    y = net(X)
    return X, y

# %% train_model
# Never passes the learning rate on: Adam runs at its default 1e-3.
def train_model(net, X, y, n_epochs, lr, progressbar=True):
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(net.parameters())
    Es = np.zeros(n_epochs)
    for n in range(n_epochs):
        loss = loss_fn(net(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        Es[n] = loss.item()
    return Es

# %% compute_loss
# Returns the root mean square error: right whenever the mean squared error is 0 or 1.
def compute_loss(net, X, y):
    with torch.no_grad():
        return nn.MSELoss()(net(X), y).sqrt().item()
