"""Exercise 6's "a network of its own": the deep student is compared with the teacher after its hidden units
are matched to the teacher's (reordered, and sign-flipped before a tanh), so a rearranged copy is a copy.
The helpers are the master's own, taken from its hidden test cell."""
from __future__ import annotations

import ast
import copy

import pytest
import torch
from torch import nn

from conftest import SETUP_CELLS, cell_sources, copy_course, require_sandbox, run_master_cells
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course

SHAPES = [(5, 5, 5), (3, 7, 4), (10, 3, 2), (4, 12, 6)]  # (n_in, width, depth)


@pytest.fixture(scope="module")
def helpers(course) -> dict:
    """The master's setup cells, then the functions of Exercise 6's test cell (hidden ones included)."""
    namespace = run_master_cells(course, SETUP_CELLS)
    tree = ast.parse(cell_sources(course.source_notebook)["test_deep_student"])
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    exec(compile(tree, "<test_deep_student>", "exec"), namespace)
    return namespace


def random_net(n_in: int, width: int, depth: int, seed: int, bias: bool = False, activation=nn.Tanh) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for index in range(depth):
        layers.append(nn.Linear(n_in if index == 0 else width, 1 if index == depth - 1 else width, bias=bias))
        if index < depth - 1:
            layers.append(activation())
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for param in net.parameters():
            param.normal_(0, 2 / param.shape[-1] ** 0.5)
    return net


def rearranged(net: nn.Sequential, seed: int, flip: bool = True) -> nn.Sequential:
    """The same function: every hidden layer's units reordered and (with `flip`) about half of them negated."""
    generator = torch.Generator().manual_seed(seed)
    twin = copy.deepcopy(net)
    linear = [m for m in twin if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, following in zip(linear, linear[1:]):
            order = torch.randperm(layer.out_features, generator=generator)
            signs = torch.ones(layer.out_features)
            if flip:
                signs[torch.randperm(layer.out_features, generator=generator)[: (layer.out_features + 1) // 2]] = -1.0
            layer.weight.copy_(layer.weight[order] * signs[:, None])
            if layer.bias is not None:
                layer.bias.copy_(layer.bias[order] * signs)
            following.weight.copy_(following.weight[:, order] * signs)
    return twin


def moved(net: nn.Sequential, epsilon: float, seed: int) -> nn.Sequential:
    """`net` with each parameter moved by `epsilon` times its norm, in a random direction."""
    generator = torch.Generator().manual_seed(seed)
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for param in twin.parameters():
            noise = torch.randn(param.shape, generator=generator)
            param.add_(noise * (epsilon * param.norm() / noise.norm()))
    return twin


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_a_rearranged_copy_computes_the_same_function_and_is_recognised_as_a_copy(helpers, shape, bias, seed):
    teacher = random_net(*shape, seed=seed, bias=bias)
    twin = rearranged(teacher, seed=100 + seed)
    X = torch.randn(64, shape[0])
    with torch.no_grad():
        assert torch.allclose(twin(X), teacher(X), atol=1e-5)  # the copy really computes the teacher's function
    weights = [(s.weight, t.weight) for s, t in zip(twin, teacher) if isinstance(s, nn.Linear)]
    assert min(((s - t).norm() / t.norm()).item() for s, t in weights) > 0  # a comparison without matching is fooled
    assert helpers["_distance_up_to_symmetry"](twin, teacher) < 1e-9


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(5))
def test_independent_networks_are_far_apart_after_matching(helpers, shape, seed):
    first, second = random_net(*shape, seed=seed), random_net(*shape, seed=1000 + seed)
    assert helpers["_distance_up_to_symmetry"](first, second) > 0.3


@pytest.mark.parametrize("epsilon", [1e-3, 1e-2, 0.05, 0.1])
@pytest.mark.parametrize("seed", range(5))
def test_a_rearranged_copy_moved_by_epsilon_is_at_most_epsilon_away(helpers, epsilon, seed):
    teacher = random_net(5, 5, 5, seed=seed)
    twin = moved(rearranged(teacher, seed=200 + seed), epsilon, seed=300 + seed)
    assert 0.5 * epsilon < helpers["_distance_up_to_symmetry"](twin, teacher) <= epsilon * (1 + 1e-6)


def test_signs_are_flipped_only_before_an_odd_activation(helpers):
    """Before a ReLU, a negated unit computes another function: only reordering is undone there."""
    teacher = random_net(5, 5, 4, seed=7, activation=nn.ReLU)
    assert helpers["_distance_up_to_symmetry"](rearranged(teacher, seed=8, flip=False), teacher) < 1e-9
    assert helpers["_distance_up_to_symmetry"](rearranged(teacher, seed=8, flip=True), teacher) > 0.1


@pytest.mark.integration
def test_with_a_larger_grading_budget_the_copy_bound_only_refuses_exact_copies_and_honest_work_still_passes(tmp_path):
    """Trained longer, honest students come as close to the teacher as slightly moved copies do: at budget 0.03 the
    copy bound is 1e-6 (only an exact copy fails), and the master (an honest student) passes every check of the cell."""
    root = copy_course(tmp_path).root
    text = (root / "course.yml").read_text()
    (root / "course.yml").write_text(text.replace("grading: 0.01", "grading: 0.03"))
    require_sandbox()
    course = load_course(root)
    build_release(course)
    checks = Grader(course).master_data()["checks"]  # raises CourseError if the master failed any check
    source = next(c.source for c in Grader(course).master.cells if "test_deep_student" in str(c.metadata))
    assert checks["test_deep_student"] == source.count("check(\"")  # the copy bound included
