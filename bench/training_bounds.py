"""Every check on a trained network (Exercises 6 to 9), against the distribution of what it checks over random states.

A correct answer's networks start from whatever random state the student's code leaves, so each check on the result
of training must hold from every state. This runs the master's own experiment cells at the grading budget from many
states, `set_seed(k)` put at the top of each experiment cell (deep_student, width_sweep, quasi_linear_student, as a
student may), and after each runs the master's test cell, hidden checks included, with `check` recording instead of
judging. The problem cells are not reseeded: their visible checks pin the first test input, which fixes torch's seed
(-1) and the order of the draws, and they draw from nothing else. Then the same for the corpus's answers (tests/corpus.py)
that change what these cells train: those that must lose a test cell here, and those that must keep it (a mistake
elsewhere costs only its own exercise).

For every check whose value varies it prints the bound, the states where the check failed, the distribution of the
checked value (min, 0.1%, 1% quantiles, median, 99%, 99.9% quantiles, max) and the margin: how many times the bound
the worst state stays clear of it (the nearest value for answers that must fail). Everything runs in this process,
single-threaded, in the master's code; no kernel, no grader.

Run: .venv/bin/python bench/training_bounds.py [--states 200] [--first-seed 1000] [--wrong-states 50] [--budget 0.01]
     [--only deep_student ...]; Ctrl-C (or SIGTERM) prints what was measured so far (each figure says over how many states).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MASTER = REPO / "source" / "depth_vs_width" / "depth_vs_width.ipynb"
LIBRARY = ["setup_imports", "setup_seed", "setup_compare", "setup_checks", "setup_plots", "make_mlp"]
FUNCTIONS = ["get_num_params", "initialize_layers", "make_data", "train_model", "compute_loss"]
CHAOTIC_PROBLEM = ["learning_problem", "data_checkpoint", "deep_student_setup"]
QUASI_PROBLEM = ["quasi_linear_problem", "quasi_linear_checkpoint"]
# Each experiment: the problem it trains on, its cells, and the cells that the reseeding line goes at the top of.
EXPERIMENTS = {
    "deep_student": (CHAOTIC_PROBLEM, ["deep_student", "test_deep_student"]),
    "width_sweep": (CHAOTIC_PROBLEM, ["width_sweep", "test_width_sweep", "width_fit", "test_width_fit"]),
    "quasi_linear_student": (QUASI_PROBLEM, ["quasi_linear_student", "test_quasi_linear"]),
}
RESEEDED = set(EXPERIMENTS)
PLOTS = ["plot_loss", "plot_loss_as_function_of_width", "plot_students_predictions_vs_teacher_values"]
# The corpus's answers that change what Exercises 6-9 train, and the experiments where they differ from the master
# (elsewhere they train the master's networks: mistake_train_model's default rate is the 1e-3 the sweep and Exercise 9
# use; mistake_initialize_layers builds the same 5x5x5 teacher, whose layers all have fan-in 5). Other corpus answers
# train exactly the master's networks (make_data not detached, RMSE, the parameter count), or are stopped at a time
# limit (hard_coded_epochs), or forge what they export.
WRONG_ANSWERS = {
    "mistake_train_model": ["deep_student"],
    "mistake_initialize_layers": ["quasi_linear_student"],
    "forge_teacher_copy": ["deep_student"],
    "teacher_rearranged": ["deep_student"],
    "teacher_rearranged_moved": ["deep_student"],
}
QUANTILES = [0.0, 0.001, 0.01, 0.5, 0.99, 0.999, 1.0]


@dataclass
class Check:
    """One check of a test cell, with the value it saw in each state (None where the value is not a number)."""
    cell: str
    name: str
    bound: str
    limit: tuple  # ("below", b), ("above", a) or ("within", expected, tolerance)
    values: dict = field(default_factory=dict)  # by state
    failed: set = field(default_factory=set)  # the states where it failed


class Recorder:
    """Stands in for the master's `check`: records the value and the verdict of the master's own `compare`, and which
    test cells failed in which state."""

    def __init__(self, ns: dict) -> None:
        self.ns = ns
        self.checks: dict[tuple[str, str], Check] = {}
        self.failed_cells: set[tuple[str, int]] = set()
        self.cell, self.state = "", 0

    def __call__(self, name, value, expect=None, rtol=1e-7, atol=0.0, below=None, above=None, msg=None) -> None:
        plain, expected = self.ns["as_plain"](value), self.ns["as_plain"](expect)
        failed = self.ns["compare"](plain, expected, rtol, atol, below, above) is not None
        if failed:
            self.failed_cells.add((self.cell, self.state))
        if below is not None:
            limit, bound, number = ("below", below), f"< {below:g}", _worst(plain, max)
        elif above is not None:
            limit, bound, number = ("above", above), f"> {above:g}", _worst(plain, min)
        else:
            tolerance = atol + rtol * abs(expected) if isinstance(expected, (int, float)) and not isinstance(expected, bool) else None
            limit, bound = ("within", expected, tolerance), f"= {expected:g} ± {tolerance:.2g}" if tolerance is not None else "equal"
            number = plain if isinstance(plain, (int, float)) and not isinstance(plain, bool) else None
        check = self.checks.setdefault((self.cell, name), Check(self.cell, name, bound, limit))
        check.values[self.state] = number
        if failed:
            check.failed.add(self.state)

    def forget(self, state: int) -> None:
        """Drop what one state recorded (a state cut short)."""
        for check in self.checks.values():
            check.values.pop(state, None)
            check.failed.discard(state)
        self.failed_cells = {(cell, seen) for cell, seen in self.failed_cells if seen != state}


def _worst(value, pick):
    numbers = np.asarray(value, dtype=float).ravel() if not isinstance(value, str) else np.array([np.nan])
    return float(pick(numbers)) if numbers.size else None


def cell_sources() -> dict[str, str]:
    """The master's code cells, by cell id."""
    return {cell.id: cell.source for cell in nbformat.read(MASTER, as_version=4).cells if cell.cell_type == "code"}


def answers_of(case_name: str) -> dict[str, str]:
    """The answer cells a corpus case puts in place of the correct ones, by grade_id (the corpus's own code)."""
    from dvwcourse.samples import read_sample_answers

    mistakes = read_sample_answers(REPO / "samples" / "mistakes.py")
    return {grade_id: mistakes[code.split(":", 1)[1]] if code.startswith("mistakes:") else code
            for grade_id, code in corpus_cases()[case_name].answers.items()}


def corpus_cases() -> dict:
    sys.path.insert(0, str(REPO / "tests"))  # tests/ is not a package
    from corpus import CASES

    return CASES


class Notebook:
    """The master's code in this process, with some answer cells replaced, run cell by cell."""

    def __init__(self, sources: dict[str, str], answers: dict[str, str]) -> None:
        from dvwcourse.trusted_tests import strip_magics

        self.code = {cell_id: compile(strip_magics(answers.get(cell_id, source)), f"<{cell_id}>", "exec")
                     for cell_id, source in sources.items()}
        self.ns: dict = {}
        self.recorder = Recorder(self.ns)
        self.run(LIBRARY + FUNCTIONS)
        # No progress bars or figures, nothing printed: the figures measured are the checked values.
        self.ns.update(check=self.recorder, print=lambda *args, **kwargs: None, tqdm=lambda iterable, **kwargs: iterable,
                       **{name: _no_plot for name in PLOTS})
        self.run(CHAOTIC_PROBLEM + ["test_learning_problem"])  # defines the grader's _reference_problem
        self.recorder.checks.clear()

    def run(self, cell_ids: list[str], seed: int | None = None) -> None:
        for cell_id in cell_ids:
            if seed is not None and cell_id in RESEEDED:
                self.ns["set_seed"](seed)
            self.recorder.cell = cell_id
            exec(self.code[cell_id], self.ns)

    def experiment(self, name: str, seed: int) -> None:
        problem, cells = EXPERIMENTS[name]
        self.run(problem)
        self.run(cells, seed)


def _no_plot(*args, **kwargs) -> None:
    pass


def measure(sources: dict[str, str], answers: dict[str, str], experiments: list[str], seeds: range) -> tuple[Recorder, int]:
    """The checks' values from each state, and how many states were measured: Ctrl-C (or SIGTERM) ends the measuring
    early, keeping the states that finished."""
    notebook = Notebook(sources, answers)
    order = list(EXPERIMENTS)
    for name in order[: max(order.index(name) for name in experiments)]:
        if name not in experiments:  # once, unmeasured: a later cell may read an earlier experiment's names
            notebook.experiment(name, seeds[0])
    notebook.recorder.checks.clear()
    done = 0
    try:
        for seed in seeds:
            notebook.recorder.state = seed
            for name in experiments:
                notebook.experiment(name, seed)
            done += 1
            if done % 25 == 0:
                print(f"    {done} of {len(seeds)} states", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        notebook.recorder.forget(notebook.recorder.state)
        print(f"    interrupted after {done} states", file=sys.stderr, flush=True)
    return notebook.recorder, done


def margin(check: Check, numbers: np.ndarray, must_fail: bool) -> str:
    """How many times clear of the bound the worst state is: for must-fail answers, the value nearest to passing."""
    kind = check.limit[0]
    if kind != "within" and check.limit[1] == 0:
        return "-"  # a sign, not a size
    if kind == "within":
        tolerance = check.limit[2]
        deviation = np.abs(numbers - check.limit[1])
        worst = deviation.min() if must_fail else deviation.max()
        ratio = (worst / tolerance if must_fail else tolerance / worst) if worst > 0 else np.inf
    else:
        bound = check.limit[1]
        if must_fail:
            nearest = numbers.min() if kind == "below" else numbers.max()
            ratio = nearest / bound if kind == "below" else (bound / nearest if nearest > 0 else np.inf)
        else:
            worst = numbers.max() if kind == "below" else numbers.min()
            ratio = (bound / worst if worst > 0 else np.inf) if kind == "below" else worst / bound
    return "inf" if not np.isfinite(ratio) else f"x{ratio:.3g}"


def print_table(title: str, measured: tuple[Recorder, int], must_fail_cells: set[str]) -> None:
    recorder, states = measured
    print(f"\n{title}, {states} states")
    checks, constant = list(recorder.checks.values()), 0
    header = f"  {'check':78}{'bound':16}{'fails':>9}  " + "".join(f"{label:>10}" for label in
                                                                     ["min", "0.1%", "1%", "median", "99%", "99.9%", "max"])
    for cell in dict.fromkeys(check.cell for check in checks):
        cell_checks = [check for check in checks if check.cell == cell]
        must_fail = cell in must_fail_cells
        failed = len({state for failed_cell, state in recorder.failed_cells if failed_cell == cell})
        print(f" {cell} ({'must FAIL' if must_fail else 'must pass'}): failed in {failed} of {states} states")
        print(header + f"{'margin':>10}")
        for check in cell_checks:
            numbers = np.array([v for v in check.values.values() if v is not None], dtype=float)
            if (not numbers.size or np.ptp(numbers) == 0) and not check.failed:
                constant += 1
                continue
            figures = "".join(f"{q:>10.3g}" for q in np.quantile(numbers, QUANTILES)) if numbers.size else ""
            print(f"  {check.name[:77]:78}{check.bound:16}{len(check.failed):>5}/{states:<3}  {figures}"
                  f"{margin(check, numbers, must_fail) if numbers.size else '':>10}")
    print(f"  (and {constant} checks whose value is the same in every state, all passed)" if constant else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=200, help="random states for the master's own answers (0: none)")
    parser.add_argument("--wrong-states", type=int, default=50, help="random states for each corpus answer (0: none)")
    parser.add_argument("--first-seed", type=int, default=1000, help="the states are set_seed(first-seed + i)")
    parser.add_argument("--budget", type=float, default=0.01, help="DVW_BUDGET (the grader's is 0.01)")
    parser.add_argument("--only", choices=sorted(EXPERIMENTS), action="append", help="run only these experiments")
    args = parser.parse_args()
    # Ctrl-C or SIGTERM ends the measuring early (a background job starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    os.environ.update(DVW_BUDGET=str(args.budget), MPLBACKEND="Agg", TQDM_DISABLE="1")
    sources = cell_sources()
    experiments = args.only or list(EXPERIMENTS)
    print(f"budget {args.budget}; states set_seed({args.first_seed} + i) at the top of {', '.join(experiments)}")

    if args.states:
        started = time.perf_counter()
        measured = measure(sources, {}, experiments, range(args.first_seed, args.first_seed + args.states))
        print_table("master's answers", measured, set())
        print(f"  ({time.perf_counter() - started:.0f} s, {(time.perf_counter() - started) / max(1, measured[1]):.2f} s a state)")
        if measured[1] < args.states:
            return

    cases = corpus_cases()
    for case_name, changed in WRONG_ANSWERS.items():
        runs = [name for name in changed if name in experiments]
        if not runs or not args.wrong_states:
            continue
        started = time.perf_counter()
        measured = measure(sources, answers_of(case_name), runs, range(args.first_seed, args.first_seed + args.wrong_states))
        print_table(f"{case_name} ({cases[case_name].what})", measured, cases[case_name].expect_lost or set())
        print(f"  ({time.perf_counter() - started:.0f} s)")
        if measured[1] < args.wrong_states:
            return


if __name__ == "__main__":
    main()
