"""The seed's pinned values, reproduced by the master's solutions (torch CPU, one thread)."""
import numpy as np
import torch


def test_parameter_count(master):
    assert master["get_num_params"](10, 3, 2) == 33


def test_first_weight_after_initialisation(master):
    master["set_seed"](42)
    net = master["make_MLP"](10, 3, 2)
    master["set_seed"](42)
    master["initialize_layers"](net, 1)
    assert abs(next(net.parameters())[0][0].item() - 0.6093441247940063) < 1e-6


def test_first_input_of_make_data(master):
    net = master["make_MLP"](10, 3, 2)
    master["set_seed"](42)
    X, _ = master["make_data"](net, 10, 100)
    assert abs(X[0][0].item() - 1.9269152879714966) < 1e-6


def test_zero_loss_on_own_data(master):
    net = master["make_MLP"](10, 3, 2)
    X = torch.randn(100, 10)
    y = net(X).detach()
    assert master["train_model"](net, X, y, 10, 1e-3, progressbar=False)[0] == 0.0
    assert master["compute_loss"](net, X, y) == 0.0


def test_first_test_input_of_the_learning_problem(course, master):
    from conftest import run_master_cells

    for cell in ["learning_problem", "quasi_linear_problem"]:
        namespace = run_master_cells(course, [cell], master)
        assert namespace["X_test"][0][0].item() == 0.19076240062713623
    assert np.isclose(namespace["sigma_teacher"], 0.4)
