"""Warm kernels: forked kernels start as cold ones do, submissions on one slot cannot reach each other,
a dead template loses nothing, and warm grading judges the corpus exactly as cold grading does."""
from __future__ import annotations

import copy
import json
import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from conftest import answering_only, copy_course, share_master_run, tighten_limits
from corpus import CASES
from waiting import cpu_seconds, wait_until
from dvwcourse.checkspec import library_indexes, library_sources
from dvwcourse.kernel.execution import run_notebook
from dvwcourse.kernel.fork_server import shell_magics
from dvwcourse.intake import Submission
from dvwcourse.release import build_release
from dvwcourse.safe_grading import Grader
from dvwcourse.samples import sample_answers
from dvwcourse.settings import load_course
from dvwcourse.kernel.uid_lease import leased_uid, processes_by_uid
from dvwcourse.kernel.warm_kernels import WarmPool, _empty, mount_points_below_tmp
from dvwcourse.workers import LocalWorkers

needs_sandbox = pytest.mark.usefixtures("working_sandbox")  # warm kernels are tested in the bubblewrap sandbox

# What a kernel's state is, as plain data: its globals (IPython's own names aside), every random state,
# matplotlib's settings, torch's threads and the environment.
STATE_PROBE = r'''
import hashlib as __h, json as __j, random as __r
def __fingerprint():
    import matplotlib, numpy, torch
    ipython = {"In", "Out", "get_ipython", "exit", "quit", "open"}
    names = {}
    for name, value in sorted(globals().items()):
        if name.startswith("_") or name in ipython:
            continue
        kind = type(value)
        shown = value.__name__ if kind.__name__ in ("module", "function", "type") else repr(value)
        names[name] = f"{kind.__module__}.{kind.__qualname__}: {shown}"
    digest = lambda data: __h.sha256(repr(data).encode()).hexdigest()
    return {"globals": names, "random": digest(__r.getstate()), "numpy": digest(numpy.random.get_state()),
            "torch": digest(torch.get_rng_state().tolist()), "rc": digest(sorted(matplotlib.rcParams.items())),
            "backend": matplotlib.get_backend(), "threads": torch.get_num_threads(), "env": dict(__import__("os").environ)}
print("STATE" + __j.dumps(__fingerprint()))
'''


def printed(cell, prefix: str) -> dict:
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return json.loads(next(line for line in text.splitlines() if line.startswith(prefix))[len(prefix):])


# -- fast tests: no kernel -------------------------------------------------------------------------

def test_setup_cells_may_use_only_the_matplotlib_magic():
    assert shell_magics(["%matplotlib inline\nimport os", "x = 1"]) == [("matplotlib", "inline")]
    with pytest.raises(ValueError, match="%cd"):
        shell_magics(["%cd /tmp"])


def test_library_indexes_are_where_the_library_cells_are(course):
    master = nbformat.read(course.source_notebook, as_version=4)
    assert [master.cells[i].source for i in library_indexes(master)] == library_sources(master)


def test_a_notebook_whose_setup_cells_differ_from_the_templates_runs_cold(course):
    master = nbformat.read(course.source_notebook, as_version=4)
    pool = WarmPool(None, library_sources(master), {})  # would fail at once if it tried to start a template
    edited = copy.deepcopy(master)
    edited.cells[library_indexes(edited)[0]].source += "\nprint('edited')"
    assert pool.run(edited, None, []) is None
    assert pool._idle == [] and pool.unavailable == ""


def test_wiping_keeps_only_the_sandboxes_mount_points(tmp_path):
    tmp = tmp_path / "tmp"
    (tmp / "mounted" / "inner").mkdir(parents=True)
    (tmp / "mounted" / "inner" / "file").write_text("x")
    (tmp / "left" / "deep").mkdir(parents=True)
    (tmp / "left" / "deep" / "file").write_text("x")
    os.symlink("/etc/passwd", tmp / "link")
    (tmp / "left").chmod(0)
    _empty(tmp, {tmp / "mounted"})
    assert [p.name for p in tmp.iterdir()] == ["mounted"] and not any((tmp / "mounted").iterdir())
    assert Path("/etc/passwd").exists()


def test_the_mount_points_below_tmp_are_every_folder_down_to_each_bound_path(tmp_path):
    tmp = tmp_path / "private-tmp"
    bound = [Path("/tmp/dvw-scratch-1"), Path("/tmp/ci/clone/.venv"), Path("/usr"), Path("/work/.venv")]
    assert mount_points_below_tmp(tmp, bound) == {tmp / "dvw-scratch-1", tmp / "ci", tmp / "ci" / "clone", tmp / "ci" / "clone" / ".venv"}


def test_warm_kernels_are_a_course_setting(tmp_path):
    course = copy_course(tmp_path)
    assert course.sandbox.warm_kernels
    path = course.root / "course.yml"
    path.write_text(path.read_text().replace("warm_kernels: true", "warm_kernels: false"))
    assert not load_course(course.root).sandbox.warm_kernels
    assert Grader(load_course(course.root)).warm is None


# -- with kernels ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warm_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    tighten_limits(copy_course(root).root)
    course = load_course(root)
    build_release(course)
    share_master_run(course)
    return course


def submission(course, folder: Path, name: str, answers: dict[str, str], blank: bool = False) -> Submission:
    """The correct sample with `answers` replaced; only `answers` when `blank` (no training: cheaper)."""
    path = folder / f"{name}.ipynb"
    path.write_bytes(answering_only(course, {**({} if blank else sample_answers(course, "alternative_solutions")), **answers}))
    return Submission(name, path)


@pytest.mark.integration
@needs_sandbox
def test_a_forked_kernel_starts_with_the_state_of_a_cold_kernel_after_the_setup_cells(warm_course):
    grader = Grader(warm_course)
    nb = copy.deepcopy(grader.master)
    plot = nbformat.v4.new_code_cell("plot_loss([1.0, 0.5, 0.25])", id="plot")
    nb.cells = [nb.cells[i] for i in library_indexes(nb)] + [plot, nbformat.v4.new_code_cell(STATE_PROBE, id="probe")]
    cold, warm = copy.deepcopy(nb), copy.deepcopy(nb)
    with leased_uid() as uid:
        run_notebook(cold, grader.testing("probe"), replace(grader.launcher, uid=uid), grader.notebook_env())
    result = grader.warm.run(warm, grader.testing("probe"), [])
    try:
        assert result is not None and result.timings["warm"], grader.warm.unavailable
        # A figure is drawn as in a cold kernel: a PNG.
        assert [sorted(o.get("data", {})) for o in warm.cells[-2].outputs] == [sorted(o.get("data", {})) for o in cold.cells[-2].outputs]
        assert "image/png" in warm.cells[-2].outputs[0].data
        cold_state, warm_state = printed(cold.cells[-1], "STATE"), printed(warm.cells[-1], "STATE")
        for state in (cold_state, warm_state):
            state["env"].pop("JPY_PARENT_PID", None)  # the process that started the kernel
            state["env"] = {name: value.replace(state["env"]["HOME"], "<scratch>") for name, value in state["env"].items()}
        assert {k: v for k, v in warm_state["globals"].items() if cold_state["globals"].get(k) != v} == {}
        assert set(warm_state["globals"]) == set(cold_state["globals"])
        assert warm_state["env"] == cold_state["env"]
        assert warm_state == cold_state
        assert {"set_seed", "make_MLP", "net", "tqdm", "plt"} <= set(warm_state["globals"])
        # The graded notebook shows the setup cells' outputs as a cold kernel printed them.
        shown = [[o.get("data", {}).get("text/plain") or o.get("text") for o in c.outputs] for c in cold.cells[:-2]]
        assert [[o.get("data", {}).get("text/plain") or o.get("text") for o in c.outputs] for c in warm.cells[:-2]] == shown
        assert any("Sequential" in str(outputs) for outputs in shown)
    finally:
        grader.warm.close()


LEAVE_BEHIND = r'''
import os, subprocess, time
PLACES = [os.environ["HOME"], os.getcwd(), "/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
def _leave(tag):
    for folder in PLACES:
        try:
            with open(os.path.join(folder, f"left_by_A_{tag}"), "w") as handle:
                handle.write("A")
        except OSError:
            pass
_leave("cell")
os.makedirs(os.environ["HOME"] + "/left_by_A_dir/a/b", exist_ok=True)
os.chmod(os.environ["HOME"] + "/left_by_A_dir/a", 0)  # a folder its owner cannot enter
if os.fork() == 0:  # a daemon: detached twice, in its own session, writing on
    os.setsid()
    if os.fork() == 0:
        while True:
            _leave("daemon")
            time.sleep(0.05)
    os._exit(0)
subprocess.Popen(["sleep", "600"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.3)
print("LEFT" + __import__("json").dumps(sorted(f"{folder}/{name}" for folder in set(PLACES) if os.path.isdir(folder)
                                              for name in os.listdir(folder) if name.startswith("left_by_A"))))
'''

LOOK_AROUND = r'''
import json, os
found = []
for folder in [os.environ["HOME"], os.getcwd(), "/tmp", "/var/tmp", "/dev/shm", "/run/lock"]:
    for root, folders, files in os.walk(folder):
        found += [os.path.join(root, name) for name in files + folders if "left_by" in name]
others = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        continue
    uid = int(status.split("Uid:")[1].split()[0])
    if uid == os.getuid() and int(pid) not in (os.getpid(), os.getppid()):
        others.append(open(f"/proc/{pid}/cmdline").read().replace("\0", " ")[:80])
print("SEEN" + json.dumps({"files": sorted(set(found)), "processes": others}))
'''


def printed_in_curve_length(evaluation, prefix: str):
    cell = next(c for c in evaluation.notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "curve_length")
    return printed(cell, prefix)


@pytest.mark.integration
@needs_sandbox
def test_submissions_that_follow_each_other_on_one_slot_cannot_reach_each_other(warm_course, tmp_path):
    """A leaves files everywhere it can write and processes (a daemon, a detached session); then a fork bomb,
    then a memory bomb. The submission after each finds nothing of it and gets the points of its one answer, as alone.
    Both answer only curve_length (on a blank release: its check calls that answer on the grader's inputs)."""
    grader = Grader(warm_course)
    correct = sample_answers(warm_course, "alternative_solutions")["curve_length"]
    look = submission(warm_course, tmp_path, "look", {"curve_length": correct + LOOK_AROUND}, blank=True)
    points = warm_course.points["test_curve_length"]
    attacks = {
        "leave_behind": {"curve_length": correct + LEAVE_BEHIND},
        "fork_bomb": CASES["fork_bomb"].answers,
        "memory_bomb": CASES["memory_bomb"].answers,
    }
    try:
        grader.master_data()
        lines = []
        for name, answers in attacks.items():
            before = [slot.template_pid for slot in grader.warm._idle]
            attack = grader.evaluate(submission(warm_course, tmp_path, name, answers, blank=True))
            after = [slot.template_pid for slot in grader.warm._idle]
            following = grader.evaluate(look)
            seen = printed_in_curve_length(following, "SEEN")
            lines.append(f"{name}: A {attack.report.score:g}/24 ({'warm' if attack.timings.get('warm') else 'cold'}); "
                         f"slot {'kept' if before == after else 'replaced'}; B {following.report.score:g}/24 "
                         f"({'warm' if following.timings.get('warm') else 'cold'}), saw {seen}")
            assert attack.timings.get("warm") and following.timings.get("warm")
            assert seen == {"files": [], "processes": []}, name
            assert following.report.score == points, following.report.notes
            assert attack.report.score == (points if name == "leave_behind" else 0), attack.report.notes
            if name == "leave_behind":  # it did leave files in its folder, HOME and /tmp, and a daemon writing more
                left = printed_in_curve_length(attack, "LEFT")
                assert {"/tmp/left_by_A_cell", "/tmp/left_by_A_daemon"} <= set(left), left
                assert any(path.endswith("/left_by_A_daemon") and path.count("/") > 2 for path in left), left  # HOME too
        Path(os.environ.get("DVW_WARM_ISOLATION_LOG", os.devnull)).write_text("\n".join(lines) + "\n")
    finally:
        grader.warm.close()


@pytest.mark.integration
@needs_sandbox
def test_killing_the_template_mid_batch_loses_nothing(warm_course, tmp_path):
    grader = Grader(warm_course)
    grader.master_data()
    grader.warm._checkin(grader.warm._checkout())  # a template, started before the batch (the master's run may be cached)
    uid = grader.warm._idle[0].launcher.uid
    template = grader.warm._idle[0].template_pid
    folder = tmp_path / "incoming"
    folder.mkdir()
    submissions = [submission(warm_course, folder, f"student{i}", {}) for i in range(3)]

    def kill_template_once_a_kernel_runs():
        # A kernel forked from the template is running cells once it has done some work of its own.
        wait_until(lambda: any(cpu_seconds(pid) > 0.5 for pid in processes_by_uid().get(uid, []) if pid != template),
                   "a forked kernel to run cells")
        os.kill(template, signal.SIGKILL)

    killer = threading.Thread(target=kill_template_once_a_kernel_runs)
    killer.start()
    try:
        reports = grader.grade_all(submissions, force=True, workers=LocalWorkers(1))
    finally:
        killer.join()
        grader.warm.close()
    assert [(r.status, r.score) for r in reports] == [("graded", 24)] * 3, [r.notes for r in reports]
    assert not processes_by_uid().get(uid) or template not in processes_by_uid()[uid]


@pytest.mark.integration
@needs_sandbox
def test_warm_and_cold_grading_judge_the_corpus_alike(graded_corpus, cold_graded_corpus):
    """graded_corpus grades warm (the default); cold_graded_corpus judges its distinct submissions on cold kernels."""
    warm_reports, cold_reports = graded_corpus[2], cold_graded_corpus

    def judged(report):
        # Per check: its name, verdict and message. A cell's error text may differ where a submission broke the
        # kernel's builtins: a lazy import (torch._dynamo) that fails in a cold kernel was done before, in the template.
        return (report.status, report.score, [(c.grade_id, c.points, c.flags, [(k.name, k.passed, k.message) for k in c.checks])
                                              for c in report.cells])

    # The notes say why a status differs (a kernel killed for ignoring its interrupt, or one that left the protocol).
    differing = {name: (r.notes, warm_reports[name].notes) for name, r in cold_reports.items() if judged(r) != judged(warm_reports[name])}
    assert {name: judged(r) for name, r in cold_reports.items()} == {name: judged(warm_reports[name]) for name in cold_reports}, differing
