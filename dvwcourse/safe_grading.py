"""Grade submissions safely: sandboxed kernels, values judged in this process, nothing lost.

For each submission: read its answer cells, put them into the master's notebook, run that in a
sandboxed kernel, and judge each test cell in this process on the values the kernel exports
(trusted_tests); then store scores, the graded notebook and feedback. The master is run the same
way once per version and must pass every check. A rerun skips submissions whose content and
grading are unchanged and whose result was the submission's own doing (see rerun_state).
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import math
import tempfile
import time
import weakref
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import nbformat

from .assemble import Answers, assemble, read_answers
from .atomic import read_saved_json, write_text_atomic
from .bundle import MasterBundle, PackedSubmission, make_bundle, require_same_code, unpack_course
from .cells import grade_id, is_written_answer
from .checkspec import exercises, library_sources, master_test_cells, module_names
from .code_version import grading_code_version
from .batch_stop import BatchStop
from .diskspace import ensure_free_space
from .kernel.execution import RunResult, Testing, counting_kernels, run_notebook
from .feedback import write_feedback
from .gradebook_io import store_scores
from .intake import Submission
from .records import PENDING, Evaluation, GradeReport
from .rerun_state import RerunState, state_entry
from .kernel.sandbox import KernelLauncher, make_launcher
from .settings import Course, CourseError, load_course
from .trusted_tests import strip_magics
from .kernel.uid_lease import leased_uid
from .workers import GradingJob, SerialWorkers, Workers
from .kernel.warm_kernels import WarmPool
from .whose_fault import ERROR, UNREADABLE, failed_evaluation, refused_unsandboxed, run_status

MASTER = "__master__"  # the student name the master's own run draws its hidden inputs for
# A call of a student's function (or reading the student's values) may take this many times the master's own slowest
# one (a busy or slower machine, a slower correct way), and never less than MIN_CALL_SECONDS, before it is stopped.
CALL_TIME_MULTIPLE = 20
MIN_CALL_SECONDS = 5
# How often a notebook is graded again on a fresh kernel after the grader had to kill one (see _run_kernel).
MAX_FRESH_KERNELS = 3


# course.yml's settings (as Course fields) that no grade, graded notebook or feedback page depends on: they are read
# after grading, by the course loop, which redoes its part on every run (course_records: the due date, times, extensions
# and every late penalty; lms_export; the class report), or before it, to find the submissions. Changing one regrades
# nothing. By section: assignment.due, late_policy and lms (timestamp format, Canvas id, roster, extensions) only feed
# the course loop; zip_filename_regexp only names a file's student (a skip needs the same student and content);
# min_free_disk_bytes only guards recording; root is where the course folder is, not a setting; the other assignments and
# notebooks of the course (assignment_ids, notebooks) are not this notebook's grading. Everything else stays
# in, also fields added later: course_id and assignment ids (hidden-input seeds, paths), points, budget, limits, sandbox
# (a grade), the title and feedback section (the feedback page), benign_stderr_warnings (nbgrader's own grading) and
# gradebook_url (where scores are recorded: a skipped submission would be missing from a new gradebook).
AFTER_GRADING_SETTINGS = frozenset({"root", "due", "late_policy", "zip_timestamp_format", "canvas_assignment_id", "roster_csv",
                                    "extensions_csv", "zip_filename_regexp", "min_free_disk_bytes", "assignment_ids", "notebooks"})


def grading_settings(course: Course) -> str:
    """The course's settings that can change a grade, a graded notebook or where it is recorded, as canonical JSON."""
    settings = {name: value for name, value in asdict(course).items() if name not in AFTER_GRADING_SETTINGS}
    return json.dumps(settings, sort_keys=True, default=str)


def grading_seed(course: Course, student: str) -> int:
    """The seed of a student's hidden inputs: drawn at grading time, the same at every regrade."""
    digest = hashlib.sha256(f"{course.course_id}/{course.assignment_id}/{student}".encode()).hexdigest()
    return int(digest[:8], 16)


class Grader:
    """Grades submissions of one course; the master is checked against its own tests once."""

    def __init__(self, course: Course, launcher: KernelLauncher | None = None) -> None:
        self.course = course
        self.launcher = launcher or make_launcher(course.sandbox)
        self.master = nbformat.read(course.source_notebook, as_version=4)
        self.template = nbformat.read(course.release_notebook, as_version=4)
        self.library = library_sources(self.master)
        library_names = set().union(*(module_names(ast.parse(strip_magics(s))) for s in self.library))
        self.tests = master_test_cells(course, self.master, library_names)
        self.exercises = exercises(self.master)
        self.fingerprint = self._fingerprint()
        self.state_notes: list[str] = []  # saved state and caches found damaged and treated as absent (for the summary)
        self.state = RerunState(self.state_dir, self.state_notes)
        self._master_data: dict[str, Any] | None = None
        self.stopped: BatchStop | None = None  # why grade_all stopped recording, if it did
        # Warm kernels need a uid of their own: only a kernel that runs unprivileged can be cleaned up after.
        warm = course.sandbox.warm_kernels and (self.launcher.sandboxed or self.launcher.bounded)
        self.warm = WarmPool(self.launcher, self.library, self.notebook_env()) if warm else None
        if self.warm:
            weakref.finalize(self, self.warm.close)  # templates live as long as their grader (or its process)

    def _fingerprint(self) -> str:
        """Changes whenever the master, the grading settings, the isolation or the grading code change: then everything
        is regraded (the course loop's settings are not in it: see AFTER_GRADING_SETTINGS)."""
        sha = hashlib.sha256()
        for path in [self.course.source_notebook, self.course.release_notebook]:
            sha.update(path.read_bytes())
        sha.update(grading_settings(self.course).encode())
        sha.update(self.launcher.description.encode())  # isolation and disk bounds
        sha.update(grading_code_version().encode())
        return sha.hexdigest()[:16]

    @property
    def state_dir(self) -> Path:
        return self.course.state_dir

    @property
    def max_score(self) -> float:
        return sum(cell.points for cell in self.tests.values())

    def notebook_env(self) -> dict[str, str]:
        # NBGRADER_EXECUTION tells notebook code it is being graded (the demo then skips its widget).
        return {**self.course.grading_env, "NBGRADER_EXECUTION": "autograde"}

    def testing(self, student: str, master_call_seconds: dict[str, float] | None = None) -> Testing:
        """How this student's test cells run: in this process, on inputs drawn for this student, each call of a
        student's function within its limit from the master's own calls (none for the master's run itself)."""
        return Testing(self.tests, self.library, grading_seed(self.course, student), self.course.grading_env,
                       call_time_limits(master_call_seconds or {}, self.launcher.settings.cell_seconds))

    # -- the master's own run -------------------------------------------------------------------
    def master_data(self) -> dict[str, Any]:
        """What grading needs from the master's own run ("checks": the number of checks of each test cell,
        "call_seconds": the slowest call of each student function), after checking that the master passes every check. Run once per master version, cached."""
        if self._master_data is None:
            cache = self.state_dir / f"master-checks-{self.fingerprint}.json"
            self._master_data = self._cached_master_data(cache)
            if self._master_data is None:
                self._master_data = self._run_master()
                write_text_atomic(cache, json.dumps(self._master_data))
        return self._master_data

    def _cached_master_data(self, cache: Path) -> dict[str, Any] | None:
        """The cached master values; None when absent or damaged (then the master runs again, and the summary says so)."""
        def is_valid(data: object) -> bool:
            if not (isinstance(data, dict) and set(data) == {"checks", "call_seconds"}):
                return False
            checks, seconds = data["checks"], data["call_seconds"]
            return (isinstance(checks, dict) and set(checks) == set(self.tests) and all(type(n) is int and n >= 0 for n in checks.values())
                    and isinstance(seconds, dict) and all(type(s) is float and 0 <= s < 1e6 for s in seconds.values()))

        return read_saved_json(cache, is_valid, self.state_notes, "the master was run again")

    def use_master_data(self, data: dict[str, Any]) -> None:
        """Take the master's data from elsewhere (a Dask worker gets the coordinator's)."""
        self._master_data = data

    def job(self) -> GradingJob:
        """This course version as workers see it: evaluate here, or on a worker elsewhere from the bundle."""
        return GradingJob(self.evaluate, evaluate_packed, lambda: make_bundle(self.course, self.fingerprint, self.master_data()),
                          self.fingerprint, self.max_score)

    def _run_master(self) -> dict[str, Any]:
        nb = copy.deepcopy(self.master)
        result = self._run_kernel(nb, self.testing(MASTER), [])
        problems = list(result.notes) + [f"{cell}: {error}" for cell, error in result.errors.items()]
        for verdict in result.verdicts.values():
            problems += [f"{verdict.grade_id}: {c.name}: {c.message}" for c in verdict.checks if not c.passed]
            problems += [f"{verdict.grade_id}: {flag}" for flag in verdict.flags]
            if not verdict.checks:
                problems.append(f"{verdict.grade_id}: no check ran")
        if problems:
            raise CourseError(f"{self.course.source_notebook}: the master fails its own checks:\n" + "\n".join(problems))
        return {"checks": {grade_id: len(verdict.checks) for grade_id, verdict in result.verdicts.items()},
                "call_seconds": result.call_seconds}

    # -- one submission -------------------------------------------------------------------------
    def evaluate(self, submission: Submission) -> Evaluation:
        """Run and judge one submission, writing nothing. Never raises: failures go in the report."""
        start = time.perf_counter()
        with counting_kernels() as kernels:
            try:
                digest = submission.digest()  # inside the boundary: a file that cannot be read must not stop the batch
                evaluation = self._evaluate_in_sandbox(submission)
                evaluation.digest = digest
            except Exception as error:  # whose fault it is depends on where it arose: record it, keep the batch going
                evaluation = failed_evaluation(submission.student, self.max_score, error)
        evaluation.report.seconds = time.perf_counter() - start
        evaluation.report.sandboxed = self.launcher.sandboxed
        evaluation.report.kernels = kernels[0]
        return evaluation

    def _evaluate_in_sandbox(self, submission: Submission) -> Evaluation:
        """Each kernel under a uid no other kernel on this host has; unsandboxed only if the course allows it."""
        if not self.launcher.sandboxed and self.course.sandbox.required:
            return refused_unsandboxed(submission.student, self.max_score)
        return self._evaluate(submission)

    def _run_kernel(self, nb: nbformat.NotebookNode, testing: Testing, files: list[Path]) -> RunResult:
        """Run `nb` (filled in place). When the grader had to kill the kernel because a request (a call of the student's,
        or reading values) did not finish and the kernel ignored the interrupt, the notebook is run again from the start
        on a fresh kernel, where that request fails at once (it makes the same requests in the same order): every other
        cell is graded as if it had been stopped cleanly. At most MAX_FRESH_KERNELS times; then the cells after it lose
        their points, saying why."""
        cells, notes = copy.deepcopy(nb.cells), []
        while True:
            result = self._run_once(nb, testing, files)
            if not result.stuck_call or len(testing.stuck_calls) >= MAX_FRESH_KERNELS:
                break
            call, seconds, why = result.stuck_call
            notes.append(f"In {call.split('/')[0]}, {why}: the grader stopped its kernel and graded the notebook again on a "
                         "fresh kernel, where that request counts as not finished.")
            testing = replace(testing, stuck_calls={**testing.stuck_calls, call: seconds})
            nb.cells = copy.deepcopy(cells)
        result.notes[:0] = notes
        return result

    def _run_once(self, nb: nbformat.NotebookNode, testing: Testing, files: list[Path]) -> RunResult:
        """Run `nb` on a warm kernel when the course has them and one can be had, else on a cold one."""
        result = self.warm.run(nb, testing, files) if self.warm else None
        if result is None:
            with self._launcher_with_own_uid() as launcher:
                result = run_notebook(nb, testing, launcher, self.notebook_env(), files)
        return result

    @contextmanager
    def _launcher_with_own_uid(self) -> Iterator[KernelLauncher]:
        """The launcher, with a uid leased for this one kernel when it runs unprivileged."""
        if not (self.launcher.sandboxed or self.launcher.bounded):
            yield self.launcher
            return
        with leased_uid() as uid:
            yield replace(self.launcher, uid=uid)

    def _evaluate(self, submission: Submission) -> Evaluation:
        master = self.master_data()
        if submission.notebook is None:
            return Evaluation.failed(submission.student, UNREADABLE, self.max_score, submission.problem)
        answers = read_answers(submission.notebook, self.template)
        if answers.unreadable:
            failed = Evaluation.failed(submission.student, UNREADABLE, self.max_score, answers.unreadable)
            failed.report.flags = submission.intake_flags
            return failed
        nb = assemble(self.master, self.template, answers)
        result = self._run_kernel(nb, self.testing(submission.student, master["call_seconds"]), submission.files)
        cells = [result.verdicts[grade_id] for grade_id in self.tests]
        for cell in cells:
            cell.unreached = max(0, master["checks"].get(cell.grade_id, 0) - len(cell.checks))
            exercise = self.exercises[cell.grade_id]
            cell.title = f"{exercise.title} ({', '.join(exercise.answers)})" if exercise.answers else exercise.title
            cell.remarks = [f"{answer}: {remark}" if len(exercise.answers) > 1 else remark
                            for answer in exercise.answers for remark in answers.remarks.get(answer, [])]
        report = GradeReport(
            submission.student,
            run_status(result.kernel_died or bool(result.unrun)),
            sum(c.points for c in cells), self.max_score, cells,
            notes=[*answers.notes, *result.notes],
            flags=[*submission.intake_flags, *answers.flags, *(f"{c.grade_id}: {flag}" for c in cells for flag in c.flags)],
            graded_file=submission.notebook.name, found=submission.found,
        )
        return Evaluation(report, "", nb, self._written_answers(answers), result.timings)

    def record(self, evaluation: Evaluation) -> None:
        """Store one evaluation: graded notebook, gradebook scores, feedback and rerun state.

        Raises LowDiskSpace, before writing anything, when the course folder's disk is nearly full, and
        GradebookUnavailable when the gradebook does not answer (after retries). Each
        file is written whole or not at all, and the rerun state last: until it is saved, a rerun grades
        the submission again.
        """
        start = time.perf_counter()
        report = evaluation.report
        ensure_free_space(self.course)
        try:
            if evaluation.notebook is not None:
                write_text_atomic(self.course.autograded_notebook(report.student), nbformat.writes(evaluation.notebook))
            if report.status != ERROR:
                store_scores(self.course, report.student, report.cells, evaluation.written)
            write_feedback(self.course, report)
            self.state.save(report.student, state_entry(evaluation.digest, self.fingerprint, report.to_dict()))  # last: a crash before it regrades
        except Exception:
            ensure_free_space(self.course)  # the disk filled up meanwhile: stop as above
            raise
        evaluation.timings["record"] = time.perf_counter() - start

    def grade(self, submission: Submission) -> GradeReport:
        """Evaluate and record one submission."""
        evaluation = self.evaluate(submission)
        self.record(evaluation)
        return evaluation.report

    def _written_answers(self, answers: Answers) -> dict[str, bool]:
        """Manually graded cells, and whether the student wrote anything beyond the stub."""
        written = {}
        for cell in self.template.cells:
            if is_written_answer(cell):
                text = answers.cells.get(grade_id(cell), cell.source)
                written[grade_id(cell)] = text.strip() != cell.source.strip()
        return written

    # -- many submissions -----------------------------------------------------------------------
    def grade_all(self, submissions: list[Submission], force: bool = False, workers: Workers | None = None,
                  progress: Callable[[Evaluation], None] | None = None) -> list[GradeReport]:
        """Grade every submission (unchanged ones with a final result skipped unless `force`), in the given order.

        `workers` evaluate (default: in this process, one at a time); this process alone records.
        """
        reports: dict[str, GradeReport] = {}
        todo = []
        for submission in submissions:
            previous = None if force else self.state.final_entry(submission.student, _digest_or_none(submission), self.fingerprint)
            if previous:
                reports[submission.student] = GradeReport.from_dict(previous["report"])
                reports[submission.student].skipped = True
            else:
                todo.append(submission)
        evaluations = (workers or SerialWorkers()).evaluate(self.job(), todo)
        try:
            if todo:
                ensure_free_space(self.course)
                self.master_data()  # once, before any worker needs it
            for evaluation in evaluations:
                self.record(evaluation)
                reports[evaluation.report.student] = evaluation.report
                if progress:
                    progress(evaluation)
        except BatchStop as error:  # the environment's doing (disk, gradebook): the rest waits for the next run
            self.stopped = error
            reports.update(self._leave_for_next_run([s.student for s in todo if s.student not in reports], str(error)))
        finally:
            evaluations.close()  # stops the workers' queued submissions
        return [reports[s.student] for s in submissions]

    def _leave_for_next_run(self, students: list[str], why: str) -> dict[str, GradeReport]:
        """Reports for submissions not recorded; without a saved state (even an older one), a rerun grades them."""
        for student in students:
            self.state.forget(student)
        note = f"not recorded, left for the next run: {why}"
        return {student: GradeReport(student, PENDING, 0.0, self.max_score, notes=[note]) for student in students}


def call_time_limits(master_seconds: dict[str, float], cell_seconds: float) -> dict[str, float]:
    """Each student function's time limit per call, from the master's slowest call of it; never above the cell limit."""
    return {name: float(min(cell_seconds, max(MIN_CALL_SECONDS, math.ceil(CALL_TIME_MULTIPLE * seconds))))
            for name, seconds in master_seconds.items()}


def _digest_or_none(submission: Submission) -> str | None:
    """None when the files cannot be read now: then the submission is graded, and its evaluation says why."""
    try:
        return submission.digest()
    except OSError:
        return None


# Per worker process: the Grader of each course version, and the folder that holds its course files.
_GRADERS: dict[str, tuple[tempfile.TemporaryDirectory, Grader]] = {}


def grader_from_bundle(bundle: MasterBundle) -> Grader:
    """This process's Grader for the bundle's course version, built once in a temporary folder."""
    require_same_code(bundle)
    if bundle.fingerprint not in _GRADERS:
        folder = tempfile.TemporaryDirectory(prefix="dvw-course-")
        unpack_course(bundle, Path(folder.name))
        grader = Grader(load_course(Path(folder.name), bundle.assignment_id, bundle.notebook))
        grader.use_master_data(bundle.master_data)  # the coordinator's master values: identical judging everywhere
        _GRADERS[bundle.fingerprint] = (folder, grader)
    return _GRADERS[bundle.fingerprint][1]


def evaluate_packed(bundle: MasterBundle, packed: PackedSubmission) -> Evaluation:
    """Evaluate one submission on a worker that has this environment but no course folder (Dask)."""
    grader = grader_from_bundle(bundle)
    with tempfile.TemporaryDirectory(prefix="dvw-submission-") as folder:
        return grader.evaluate(packed.unpack(Path(folder)))
