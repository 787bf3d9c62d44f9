"""What was last graded of each student, and whether that result is final for the same input.

A result the submission itself caused (graded, incomplete, unreadable) is final while its content
and the grading (master, settings, sandbox, grading code: the fingerprint) stay the same. An `error`
(a grader bug, a broken environment, a task the cluster could not finish) is not the student's
doing: the next run retries it. One small file per student, so a class of thousands stays cheap;
each is replaced whole, so a batch killed mid-write leaves the old entry or the new one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic

# Why each final status is final; any other status is retried.
WHY_FINAL = {
    "graded": "graded: the result of the submission's own code",
    "incomplete": "incomplete: the submission's own code stopped its kernel or ran out of time",
    "unreadable": "unreadable: the submitted file is not a notebook",
}
WHY_RETRIED = "not the submission's doing (grader, environment or cluster): retried by the next run"


def state_entry(digest: str, fingerprint: str, report: dict[str, Any]) -> dict[str, Any]:
    status = report["status"]
    return {
        "digest": digest, "fingerprint": fingerprint, "final": status in WHY_FINAL,
        "why": WHY_FINAL.get(status, f"{status}: {WHY_RETRIED}"), "report": report,
    }


class RerunState:
    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "students"

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def load(self, student: str) -> dict[str, Any] | None:
        """The student's entry; None when there is none or it cannot be read (then the student is regraded)."""
        try:
            return json.loads(self.path(student).read_text())
        except (OSError, ValueError):
            return None

    def save(self, student: str, entry: dict[str, Any]) -> None:
        write_text_atomic(self.path(student), json.dumps(entry))

    def forget(self, student: str) -> None:
        """No entry at all, not even an older one: the next run grades the student."""
        self.path(student).unlink(missing_ok=True)

    def final_entry(self, student: str, digest: str | None, fingerprint: str) -> dict[str, Any] | None:
        """The saved entry if it is final for this content and grading, else None (grade it)."""
        entry = self.load(student)
        if entry and entry.get("final") and digest is not None and entry.get("digest") == digest and entry.get("fingerprint") == fingerprint:
            return entry
        return None
