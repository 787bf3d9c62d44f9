"""Whose fault each outcome of grading is: decided by where a failure arose, never by its exception type.

What a submission's kernel produced (its Jupyter messages, its exports, its values) is the submission's own: anything
raised while reading or judging it is the submission's doing. The code that reads kernel output marks such failures
(`SubmissionsDoing`, raised by kernel.kernel_messages for messages; trusted_tests' StudentCodeError for exports and
values), and kernel.execution turns them into points per cell: the cells judged before keep theirs, the rest score 0
with the reason. Such a submission ends `graded` or `incomplete`, final: a rerun does not grade it again.
Only the grader's own machinery ends `error`, which the next run retries: a worker that cannot sandbox, a worker lost,
and anything raised anywhere else in grading, which is a grader bug (the master, graded the same way, fails too).
`unreadable` (no notebook of the assignment could be read) is final as well; `pending` (records.PENDING: the disk or the gradebook
stopped the batch) is never recorded.
"""
from __future__ import annotations

import traceback

from .records import Evaluation

GRADED, INCOMPLETE, UNREADABLE, ERROR = "graded", "incomplete", "unreadable", "error"
# Why each final status is final; any other status is retried.
WHY_FINAL = {
    GRADED: "graded: the result of the submission's own code",
    INCOMPLETE: "incomplete: the submission's own code stopped its kernel or ran out of time",
    UNREADABLE: "unreadable: the submission holds no notebook of the assignment that can be read",
}
WHY_RETRIED = "not the submission's doing (grader, environment or cluster): retried by the next run"
REFUSED_UNSANDBOXED = ("refused: this worker cannot run the sandbox (bubblewrap missing or not allowed here) and course.yml "
                       "says sandbox.required: true; install bubblewrap there, or set sandbox.required: false to grade with limits only")


class SubmissionsDoing(Exception):
    """A failure that arose while reading what a submission's kernel produced. Its text is in the grader's words."""


def run_status(stopped_early: bool) -> str:
    """The status of a submission whose notebook ran: incomplete when some of its cells could not run."""
    return INCOMPLETE if stopped_early else GRADED


def failed_evaluation(student: str, max_score: float, error: Exception) -> Evaluation:
    """An evaluation that raised instead of returning. Raised on what the kernel sent (outside the cells, which handle
    it themselves, so no cell's points are known): the submission's doing. Anywhere else: the grader's, an error."""
    if isinstance(error, SubmissionsDoing):
        return Evaluation.failed(student, INCOMPLETE, max_score, f"the notebook's kernel stopped the grading: {error}")
    return Evaluation.failed(student, ERROR, max_score, f"grading failed: {type(error).__name__}: {error}", traceback.format_exc(limit=3))


def refused_unsandboxed(student: str, max_score: float) -> Evaluation:
    """A worker that cannot sandbox, where the course requires it: the environment's doing, retried."""
    return Evaluation.failed(student, ERROR, max_score, REFUSED_UNSANDBOXED)


def lost_on_cluster(student: str, max_score: float, error: Exception) -> Evaluation:
    """A task the cluster could not finish (a worker killed, a worker that refused its bundle): retried."""
    return Evaluation.failed(student, ERROR, max_score, f"the Dask cluster could not grade it: {type(error).__name__}: {error}")
