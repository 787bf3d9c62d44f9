"""What was last graded of each student, and whether that result is final for the same input.

A result the submission itself caused (graded, incomplete, unreadable: see whose_fault) is final while its
content and the grading (master, settings, sandbox, grading code: the fingerprint) stay the same. An `error`
(a grader bug, a broken environment, a task the cluster could not finish) is not the student's
doing: the next run retries it. One small file per student, so a class of thousands stays cheap;
each is replaced whole, so a batch killed mid-write leaves the old entry or the new one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import read_saved_json, write_text_atomic
from .records import GradeReport
from .whose_fault import WHY_FINAL, WHY_RETRIED



def state_entry(digest: str, fingerprint: str, report: dict[str, Any]) -> dict[str, Any]:
    status = report["status"]
    return {
        "digest": digest, "fingerprint": fingerprint, "final": status in WHY_FINAL,
        "why": WHY_FINAL.get(status, f"{status}: {WHY_RETRIED}"), "report": report,
    }


class RerunState:
    def __init__(self, state_dir: Path, damaged: list[str] | None = None) -> None:
        self.folder = state_dir / "students"
        self.damaged = [] if damaged is None else damaged  # entries that could not be read, for the summary

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def load(self, student: str) -> dict[str, Any] | None:
        """The student's entry; None when there is none, or it is damaged (then the student is regraded, and
        `damaged` says so). A damaged entry is a crash or a full disk's doing: never a reason to stop."""
        return read_saved_json(self.path(student), is_entry, self.damaged, f"{student} is graded again")

    def save(self, student: str, entry: dict[str, Any]) -> None:
        write_text_atomic(self.path(student), json.dumps(entry))

    def forget(self, student: str) -> None:
        """No entry at all, not even an older one: the next run grades the student."""
        self.path(student).unlink(missing_ok=True)

    def saved_report(self, student: str) -> GradeReport | None:
        """The student's last recorded report, if any."""
        entry = self.load(student)
        return GradeReport.from_dict(entry["report"]) if entry else None

    def final_entry(self, student: str, digest: str | None, fingerprint: str) -> dict[str, Any] | None:
        """The saved entry if it is final for this content and grading, else None (grade it)."""
        entry = self.load(student)
        if entry and entry["final"] and digest is not None and entry["digest"] == digest and entry["fingerprint"] == fingerprint:
            return entry
        return None


def is_entry(entry: Any) -> bool:
    """Whether `entry` is what `state_entry` wrote, with a report the summary can read back."""
    if not (isinstance(entry, dict) and isinstance(entry.get("final"), bool) and isinstance(entry.get("report"), dict)
            and all(isinstance(entry.get(key), str) for key in ("digest", "fingerprint", "why"))):
        return False
    try:
        report = GradeReport.from_dict(entry["report"])
    except (KeyError, TypeError, ValueError):
        return False
    return isinstance(report.student, str) and isinstance(report.status, str) and all(
        isinstance(number, (int, float)) and not isinstance(number, bool) for number in (report.score, report.max_score))
