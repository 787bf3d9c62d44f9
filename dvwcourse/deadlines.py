"""Times and the late policy: when a submission was made, when it was due, and what lateness costs.

The penalty is computed by `CourseLatePenalty`, an nbgrader LateSubmissionPlugin that nbgrader_config.py
selects (`AssignLatePenalties.plugin_class`) and configures from course.yml's `late_policy`; our own
commands load it from the same configuration, so `nbgrader autograde`, formgrader, `nbgrader export`
and `dvwcourse` compute one penalty. The gradebook stores times as nbgrader does: naive, in UTC.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.utils import parse_utc
from traitlets import Dict, Enum, Float, Int, Unicode

from .course_schema import LatePolicySection
from .nbgrader_api import course_config
from .settings import Course, CourseError

TIMESTAMP_FILE = "timestamp.txt"  # what `nbgrader collect` writes beside a submission
PERIOD_SECONDS = {"per_hour": 3600, "per_day": 86400}


class UnreadableTime(CourseError):
    """A submission's time that cannot be read (its timestamp.txt, its LMS file name), naming the file and the cause.
    Finding submissions catches it: the submission is graded as one without a time and flagged for a person."""


def late_penalty(policy: LatePolicySection, score: float, seconds_late: float) -> float:
    """Points taken from `score` for a submission `seconds_late` after its due date (extensions included).

    Within the grace minutes nothing is late; after them, lateness counts from the due date, in started
    hours or days. Never more than the score, never negative.
    """
    if policy.rule == "none" or seconds_late <= policy.grace_minutes * 60 or score <= 0:
        return 0.0
    if policy.rule == "zero":
        return score
    amount = math.ceil(seconds_late / PERIOD_SECONDS[policy.rule]) * policy.deduct
    if policy.cap is not None:
        amount = min(amount, policy.cap)
    points = amount * score if policy.unit == "fraction" else amount
    return min(max(points, 0.0), score)


class CourseLatePenalty(LateSubmissionPlugin):
    """course.yml's late policy as nbgrader's late-submission hook (configured in nbgrader_config.py): the course-wide
    policy, or an assignment's own. nbgrader names the assignment through the plugin's parent (its
    AssignLatePenalties); our commands set `assignment`."""

    rule = Enum(["none", "zero", "per_hour", "per_day"], default_value="none").tag(config=True)
    deduct = Float(0.0).tag(config=True)
    unit = Enum(["fraction", "points"], default_value="fraction").tag(config=True)
    cap = Float(None, allow_none=True).tag(config=True)
    grace_minutes = Int(0).tag(config=True)
    assignment_policies = Dict(help="assignment id -> its late policy (course.yml's keys)").tag(config=True)
    assignment = Unicode("", help="the assignment whose submissions this plugin prices")

    def policy(self) -> LatePolicySection:
        assignment = self.assignment or getattr(self.parent, "assignment_id", "")
        if assignment in self.assignment_policies:
            return LatePolicySection.model_validate(self.assignment_policies[assignment])
        return LatePolicySection(rule=self.rule, deduct=self.deduct, unit=self.unit, cap=self.cap, grace_minutes=self.grace_minutes)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        return late_penalty(self.policy(), score, total_seconds_late)


def lateness(seconds: float) -> str:
    """How late, as people say it: minutes below a tenth of an hour (where "0.0 h" would hide it), else hours."""
    return f"{max(1, round(seconds / 60))} min" if seconds < 360 else f"{seconds / 3600:.1f} h"


def utc_naive(moment: datetime) -> datetime:
    """A time as nbgrader's gradebook stores it: UTC without a time zone (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def read_timestamp_file(path: Path) -> datetime | None:
    """The time in nbgrader's timestamp.txt (`2026-12-02 10:00:00.000000 UTC`), or None without the file;
    UnreadableTime when the file holds something else or cannot be read."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError as error:
        raise UnreadableTime(f"{path}: cannot be read ({error})") from error
    try:
        return parse_utc(text)
    except (ValueError, OverflowError) as error:
        raise UnreadableTime(f"{path}: not a time nbgrader can read ({text[:60]!r}: {error})") from error


def parse_zip_timestamp(course: Course, text: str, file_name: str) -> datetime:
    """The `timestamp` group of an LMS file name, read with course.yml's lms.zip_timestamp_format; a time
    without a zone is in the due date's zone (the course's), else UTC. UnreadableTime when it does not match."""
    try:
        moment = datetime.strptime(text, course.zip_timestamp_format)
    except ValueError as error:
        raise UnreadableTime(f"{file_name}: timestamp {text!r} does not match lms.zip_timestamp_format "
                          f"{course.zip_timestamp_format!r} in course.yml ({error})") from error
    return in_course_zone(course, moment)


def in_course_zone(course: Course, moment: datetime) -> datetime:
    """A time read from an LMS's file name, UTC and naive as the gradebook stores it; one without a zone is in the
    due date's zone (the course's), else UTC."""
    if moment.tzinfo is None and course.due is not None:
        moment = moment.replace(tzinfo=course.due.tzinfo)
    return utc_naive(moment)


def extension_for(course: Course, student_due: datetime | None) -> timedelta | None:
    """The extension nbgrader stores for a student: their due date minus the assignment's (None: no extension)."""
    if student_due is None or course.due is None:
        return None
    extension = student_due - course.due
    return extension if extension > timedelta(0) else None


def late_plugin(course: Course) -> LateSubmissionPlugin:
    """The late-penalty plugin nbgrader's own commands use in this course (from nbgrader_config.py)."""
    config = course_config(course)
    plugin_class = config.get("AssignLatePenalties", {}).get("plugin_class", CourseLatePenalty)
    plugin = plugin_class(config=config)
    if isinstance(plugin, CourseLatePenalty):
        plugin.assignment = course.assignment_id
    return plugin
