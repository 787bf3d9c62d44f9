"""Time one correct submission, graded on one worker, by this checkout and by an earlier revision.

    .venv/bin/python bench/compare_revisions.py --base 4d09458 --rounds 5

The base revision is checked out into a temporary git worktree and imported from there with this
environment. Rounds alternate (base, this, base, this, ...) so both see the same machine load. Each
round is a fresh grading process that grades the submission twice: the first time includes the
process's one-off imports (a class of one), the second is the cost of every further submission of a
batch. The master's own run is done once per revision, before timing. Prints the medians, spreads
and ratios of both.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KINDS = ("first submission", "next submission")

# Runs in a child process: PYTHONPATH picks the revision's package; prints seconds for one evaluation.
CHILD = """
import json, sys, time
from pathlib import Path
from dvwcourse.intake import Submission
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course
grader = Grader(load_course(Path(sys.argv[1])))
prepare = getattr(grader, "master_data", None) or grader.expected
prepare()
if sys.argv[2] == "prepare":
    sys.exit(0)
seconds = []
for _ in range(2):
    start = time.perf_counter()
    report = grader.evaluate(Submission("bench", Path(sys.argv[2]))).report
    seconds.append(time.perf_counter() - start)
    assert report.score == report.max_score, report
print(json.dumps(seconds))
"""


def setup(revision_root: Path, folder: Path) -> tuple[Path, Path]:
    """A course copy of that revision with its release built and a correct submission; returns both."""
    code = f"""
import sys
from pathlib import Path
import nbformat
from dvwcourse.course_copy import copy_course
from dvwcourse.release import build_release
from dvwcourse.samples import fill_answers, sample_answers
from dvwcourse.settings import load_course
course = copy_course(load_course(Path({str(revision_root)!r})), Path({str(folder / 'course')!r}))
build_release(course)
nb = fill_answers(nbformat.read(course.release_notebook, as_version=4), sample_answers(course, "alternative_solutions"), "bench")
nbformat.write(nb, {str(folder / 'correct.ipynb')!r})
"""
    (folder / "course").mkdir(parents=True)
    run(revision_root, ["-c", code])
    return folder / "course", folder / "correct.ipynb"


def run(revision_root: Path, args: list[str]) -> str:
    env = {"PYTHONPATH": str(revision_root), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=revision_root, check=False)
    if done.returncode:
        raise SystemExit(f"{revision_root}: {done.stderr[-3000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dvw-bench-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(work / "base"), args.base],
                       check=True, capture_output=True)
        try:
            revisions = {"base": work / "base", "this": REPO}
            prepared = {name: setup(root, work / f"{name}-run") for name, root in revisions.items()}
            for name, (course, _) in prepared.items():
                run(revisions[name], ["-c", CHILD, str(course), "prepare"])
            times: dict[tuple[str, str], list[float]] = {(name, kind): [] for name in revisions for kind in KINDS}
            for _ in range(args.rounds):
                for name, (course, notebook) in prepared.items():
                    seconds = json.loads(run(revisions[name], ["-c", CHILD, str(course), str(notebook)]).splitlines()[-1])
                    for kind, value in zip(KINDS, seconds):
                        times[name, kind].append(value)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "base")], check=False)
    for (name, kind), values in times.items():
        print(f"{name:5s} ({args.base if name == 'base' else 'checkout'}), {kind}: median {statistics.median(values):.2f} s,"
              f" min {min(values):.2f}, max {max(values):.2f}, n={len(values)}")
    for kind in KINDS:
        ratio = statistics.median(times["this", kind]) / statistics.median(times["base", kind])
        print(f"ratio this / base, {kind} (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
