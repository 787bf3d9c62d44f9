"""Why a batch stops recording: the environment, not a submission, left it no safe way to go on.

What was recorded stays; the submissions not recorded are reported `pending`, have no saved state, and the
next run grades them. Each cause has its own exit status and its own advice.
"""
from __future__ import annotations


class BatchStop(Exception):
    """Recording cannot go on safely; the message names the resource and the cause."""

    exit_status = 1
    advice = "run again to grade them"


class LowDiskSpace(BatchStop):
    """Too little free space to record grades safely."""

    exit_status = 3
    advice = "free some space and run again to grade them"


class GradebookUnavailable(BatchStop):
    """The gradebook's database did not answer after the retries, or refused the grader's writes."""

    exit_status = 4
    advice = "run again once the gradebook answers to grade them"
