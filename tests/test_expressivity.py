"""The demo's claim, measured: the circle's image grows with depth for sigma=2, shrinks for sigma=0.4."""
import numpy as np

from conftest import run_master_cells


def test_curve_length_grows_in_the_chaotic_net_and_shrinks_in_the_quasi_linear_one(course, master):
    namespace = run_master_cells(course, ["expressivity_helpers", "curve_length"], master)
    master["set_seed"](42)
    np.random.normal(size=(100, 3))  # the demo's random projection, drawn before the networks
    traj_1, traj_2 = namespace["generate_trajectories"](100, 20, 400, 2, 0.4)
    assert traj_1.shape == traj_2.shape == (19, 400, 100)
    chaotic, quasi = namespace["curve_length"](traj_1), namespace["curve_length"](traj_2)
    assert np.all(np.diff(chaotic) > 0) and chaotic[-1] > 10 * chaotic[0]
    assert np.all(np.diff(quasi) < 0) and quasi[-1] < 1e-3 * quasi[0]


def test_curve_length_of_a_circle(course, master):
    curve_length = run_master_cells(course, ["curve_length"], master)["curve_length"]
    theta = np.linspace(0, 2 * np.pi, 10_000)
    assert abs(curve_length(np.stack([np.cos(theta), np.sin(theta)], axis=1)) - 2 * np.pi) < 1e-6
