"""How far a trained deep student is from the teacher once its hidden units are matched to the teacher's,
against copies of the teacher that are rearranged (units reordered, signs flipped) or lightly perturbed.

Exercise 6's hidden check requires the smallest layer distance (after matching, relative to the teacher's
layer) to lie above a bound; this prints the figures the bound is chosen from. Trained students are the
master's own deep-student cell run from different seeds at the given budget, in this process.

Run: .venv/bin/python bench/copy_distance.py [--budget 0.01] [--seeds 20] [--copies 20]
     (--budget 1 trains the tutorial's full 4 x 50,000 steps: about five minutes per seed)
"""
from __future__ import annotations

import argparse
import ast
import os
import time
from pathlib import Path

import nbformat
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MASTER = REPO / "source" / "depth_vs_width" / "depth_vs_width.ipynb"
SETUP = ["setup_imports", "setup_seed", "setup_compare", "setup_checks", "setup_plots", "make_mlp", "get_num_params",
         "initialize_layers", "make_data", "train_model", "compute_loss", "learning_problem", "data_checkpoint",
         "deep_student_setup"]
EPSILONS = [1e-3, 1e-2, 3e-2, 0.05, 0.1, 0.2, 0.3]


def master_namespace(budget: float) -> dict:
    """The master's code up to Exercise 6 run here, with the hidden helpers of the test cells defined."""
    from dvwcourse.trusted_tests import strip_magics

    os.environ["DVW_BUDGET"] = str(budget)
    os.environ["MPLBACKEND"] = "Agg"
    cells = {cell.id: cell.source for cell in nbformat.read(MASTER, as_version=4).cells}
    namespace: dict = {}
    for cell_id in SETUP:
        exec(compile(strip_magics(cells[cell_id]), f"<{cell_id}>", "exec"), namespace)
    for cell_id in ["test_learning_problem", "test_deep_student"]:
        tree = ast.parse(cells[cell_id])
        tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        exec(compile(tree, f"<{cell_id}>", "exec"), namespace)
    train = namespace["train_model"]
    namespace["train_model"] = lambda *args, **kwargs: train(*args, **{**kwargs, "progressbar": False})
    namespace["plot_loss"] = lambda *args: None
    namespace["print"] = lambda *args, **kwargs: None
    namespace["__deep_student__"] = cells["deep_student"]
    return namespace


def relative_error(ns: dict, net) -> float:
    import torch

    with torch.no_grad():
        return (((net(ns["X_test"]) - ns["y_test"]) ** 2).mean() / ns["y_test"].var()).item()


def raw_distance(net, reference) -> float:
    return min(((s - t).norm() / t.norm()).item() for s, t in zip(net.parameters(), reference.parameters()))


def rearranged(net, rng: np.random.Generator):
    """`net` (a make_MLP tanh network) with each hidden layer's units reordered and some signs flipped."""
    import copy

    import torch

    copy_ = copy.deepcopy(net)
    linear = [m for m in copy_ if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, following in zip(linear, linear[1:]):
            order = torch.as_tensor(rng.permutation(layer.out_features))
            signs = torch.as_tensor(rng.choice([-1.0, 1.0], layer.out_features), dtype=layer.weight.dtype)
            layer.weight.copy_(layer.weight[order] * signs[:, None])
            following.weight.copy_(following.weight[:, order] * signs)
    return copy_


def perturbed(net, epsilon: float, rng: np.random.Generator):
    """`net` with every layer moved by `epsilon` times its norm in a random direction."""
    import copy

    import torch

    copy_ = copy.deepcopy(net)
    with torch.no_grad():
        for param in copy_.parameters():
            noise = torch.as_tensor(rng.standard_normal(tuple(param.shape)), dtype=param.dtype)
            param.add_(noise * (epsilon * param.norm() / noise.norm()))
    return copy_


def figures(values: list[float]) -> str:
    return f"min {min(values):.3g}  median {float(np.median(values)):.3g}  max {max(values):.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.01, help="DVW_BUDGET (the grader's is 0.01)")
    parser.add_argument("--seeds", type=int, default=20, help="trained students, one per seed")
    parser.add_argument("--copies", type=int, default=20, help="rearranged copies, and perturbed copies per size")
    args = parser.parse_args()
    ns = master_namespace(args.budget)
    distance, teacher = ns["_distance_up_to_symmetry"], ns["teacher"]
    print(f"budget {args.budget}: {ns['n_steps'](50000)} steps per round, 4 rounds")

    matched, raw, errors = [], [], []
    for seed in range(args.seeds):
        started = time.perf_counter()
        ns["set_seed"](1000 + seed)
        exec(compile(ns["__deep_student__"], "<deep_student>", "exec"), ns)
        student = ns["student"]
        matched.append(distance(student, teacher))
        raw.append(raw_distance(student, teacher))
        errors.append(relative_error(ns, student))
        print(f"  trained seed {1000 + seed}: matched {matched[-1]:.4f}  raw {raw[-1]:.4f}  relative test error "
              f"{errors[-1]:.3g}  ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"trained students ({args.seeds}): matched distance {figures(matched)}")
    print(f"                              raw distance     {figures(raw)}")
    print(f"                              test error       {figures(errors)}")

    rng = np.random.default_rng(0)
    copies = [rearranged(teacher, rng) for _ in range(args.copies)]
    print(f"rearranged copies ({args.copies}): matched distance {figures([distance(c, teacher) for c in copies])}; "
          f"raw distance {figures([raw_distance(c, teacher) for c in copies])}; "
          f"test error {figures([relative_error(ns, c) for c in copies])}")
    for epsilon in EPSILONS:
        moved = [perturbed(rearranged(teacher, rng), epsilon, rng) for _ in range(args.copies)]
        print(f"rearranged copies moved by {epsilon:g} of each layer's norm: matched distance "
              f"{figures([distance(c, teacher) for c in moved])}; test error {figures([relative_error(ns, c) for c in moved])}")


if __name__ == "__main__":
    main()
