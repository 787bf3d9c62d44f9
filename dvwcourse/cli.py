"""`dvwcourse`: the course's command line (release, validate, grade, export, and the sample run).

A course may have several assignments: each command takes one first (`dvwcourse grade ASSIGNMENT [SOURCE]`), and
without one works on every assignment (validate and an LMS download need to know which: they say so)."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from . import stock_grading
from .batch_lock import batch_lock
from .batch_stop import BatchStop, GradebookUnavailable, LowDiskSpace
from .class_report import write_class_report, write_course_report
from .course_records import CourseRecords, update_course_records
from .deadlines import lateness
from .feedback import copy_exchange_stamps, refresh_feedback, write_feedback_zip
from .intake import Submission, find_submissions, read_submissions
from .lms_export import DEFAULT_NAMES, EXPORTERS, Standing, export_grades, read_standings
from .progress import Progress
from .records import GradeReport
from .rerun_state import RerunState
from .release import build_release
from .results import RESULTS_CSV, isolation_statement, reason, format_reports, write_grades_csv
from .roster import Student, read_extensions, read_roster
from .safe_grading import PENDING, Grader
from .samples import samples_course, write_sample_download
from .settings import Course, CourseError, assignment_views, load_course
from .validation import validate_notebook
from .workers import DaskWorkers, LocalWorkers, Workers

EXIT_LOW_DISK_SPACE = LowDiskSpace.exit_status  # grading stopped recording: the course folder's disk is nearly full
EXIT_GRADEBOOK_UNAVAILABLE = GradebookUnavailable.exit_status  # grading stopped recording: the gradebook did not answer


STOPPING = {EXIT_LOW_DISK_SPACE, EXIT_GRADEBOOK_UNAVAILABLE}  # nothing more can be recorded: no next assignment either


def split_assignment(course: Course, words: list) -> tuple[str | None, list[str]]:
    """A first word that names an assignment of the course is the assignment; the rest are paths."""
    words = [str(word) for word in words]
    if words and words[0] in course.assignment_ids:
        return words[0], words[1:]
    return None, words


def chosen_assignments(course: Course, assignment: str | None) -> list[str]:
    """The assignment named (which must be the course's), else every assignment of the course."""
    if assignment is None:
        return list(course.assignment_ids)
    if assignment not in course.assignment_ids:
        raise CourseError(f"no assignment {assignment!r} in {course.root / 'course.yml'} (it has {', '.join(course.assignment_ids)})")
    return [assignment]


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    for assignment in chosen_assignments(course, args.assignment):
        build_release(load_course(course.root, assignment))
        for view in assignment_views(course, assignment):
            print(f"Release written: {view.release_notebook}")
    return 0


def view_of_notebook(course: Course, assignment: str | None, path: Path) -> Course:
    """The notebook of the course that `path` is a copy of: the only one, else the one of the same name."""
    views = assignment_views(course, assignment)
    named = [view for view in views if view.notebook == path.stem]
    if len(views) == 1:
        return views[0]
    if len(named) == 1:
        return named[0]
    raise CourseError(f"{path}: which notebook of the course is this? Name the assignment first (dvwcourse validate "
                      f"ASSIGNMENT {path}) or keep the release's file name ({', '.join(v.label for v in views)})")


def cmd_validate(course: Course, args: argparse.Namespace) -> int:
    failures = 0
    assignment, paths = split_assignment(course, args.notebooks)
    if not paths:
        raise CourseError(f"name the notebooks to validate after the assignment {assignment}")
    graders: dict[str, Grader] = {}
    for path in paths:
        view = view_of_notebook(course, assignment, Path(path))
        if view.label not in graders:  # one grader per notebook of the course: its master runs once
            graders[view.label] = Grader(view)
        result = validate_notebook(view, Path(path), graders[view.label])
        score = f" ({result.report.score:g} / {result.report.max_score:g})" if result.report else ""
        print(f"{path}: {'OK' if result.ok else 'FAILED'}{score}")
        for note in result.notes:
            print("  note: " + note)
        for problem in result.problems:
            print("  " + problem.replace("\n", "\n    "))
        failures += not result.ok
    return 1 if failures else 0


def nbgrader_grade(course: Course, students: list[str], csv_path: Path, none_is_an_error: bool = True) -> int:
    """Stock nbgrader autograde (student code and tests in one kernel, unsandboxed)."""
    if not students:
        print(f"No submissions of {course.assignment_id} found under {course.root / 'submitted'}",
              file=sys.stderr if none_is_an_error else sys.stdout)
        return 1 if none_is_an_error else 0
    update_course_records(course)  # the due date first: nbgrader's autograde then applies the late policy itself
    outcomes = stock_grading.autograde(course, students)
    update_course_records(course, find_submissions(course))  # extensions (and penalties with them) need the submissions
    feedback_failed = stock_grading.generate_feedback(course, [o.student for o in outcomes if o.graded])
    stock_grading.export_grades(course, csv_path)
    print(stock_grading.format_gradebook_scores(course, stock_grading.gradebook_scores(course, students)))
    not_graded = [o.student for o in outcomes if not o.graded] + feedback_failed
    if not_graded:
        print(f"Could not grade: {', '.join(not_graded)}", file=sys.stderr)
    return 1 if not_graded else 0


def safe_grade(course: Course, source: Path | None, csv_path: Path, force: bool = False, workers: Workers | None = None,
               report_path: Path | None = None, none_is_an_error: bool = True) -> int:
    intake = read_submissions(course, source)
    submissions = intake.submissions
    for notice in intake.notices:  # nobody's grade: an instructor should look at these files
        print(f"warning: {notice}", file=sys.stderr)
    if not submissions:
        print(f"No submissions of {course.label} found in {source or course.root / 'submitted'}",
              file=sys.stderr if none_is_an_error else sys.stdout)
        return 1 if none_is_an_error else 0
    read_roster(course)  # a broken roster or extensions file stops us before any grading
    read_extensions(course)
    grader = Grader(course)
    where = "on the Dask cluster" if isinstance(workers, DaskWorkers) else f"here, {grader.launcher.description}"
    print(f"Grading {len(submissions)} submissions {where}.")
    progress = Progress(len(submissions))
    try:
        reports = grader.grade_all(submissions, force=force, workers=workers, progress=progress)
    finally:
        progress.close()
    flag_unread_times(reports, submissions)
    report_path = report_path or csv_path.with_name("class-report.html")
    isolation = isolation_statement(reports)
    recorded = {r.student for r in reports if r.status != PENDING}
    records, standings, times_failed = CourseRecords(), {}, False
    if not isinstance(grader.stopped, GradebookUnavailable):  # a gradebook that stopped the batch is not asked again
        try:
            records, standings = record_times_and_roster(course, [s for s in submissions if s.student in recorded])
        except (GradebookUnavailable, OSError) as error:  # scores are recorded; the next run or `dvwcourse export` redoes this
            print(f"error: times, roster and late penalties not recorded in the gradebook ({error}); "
                  "run again or `dvwcourse export` to record them", file=sys.stderr)
            times_failed = True
    try:
        refresh_feedback(course, reports, standings)  # with the submission time, lateness, penalty and final score
        write_grades_csv(reports, csv_path, standings)
        write_class_report(course, reports, report_path, isolation, standings, records)
    except OSError as error:  # written whole or not at all: the previous versions stay
        print(f"error: could not write {csv_path} and {report_path}: {error}", file=sys.stderr)
        return EXIT_LOW_DISK_SPACE if error.errno == errno.ENOSPC else 1
    print(format_reports(reports))
    print(f"Isolation: {isolation}.")
    print(f"Grades: {csv_path}; class report: {report_path}; feedback: {course.root / 'feedback'}; "
          f"graded notebooks: {course.root / 'autograded'}")
    for note in grader.state_notes:
        print(f"Saved state: {note}")
    for report in reports:
        if report.status != "graded" or report.flags:
            print(f"  {report.student}: {report.status}: {reason(report)}")
    print_course_records(course, records, [standings[s] for s in sorted(recorded) if s in standings],
                         {s.student for s in submissions if s.time_problem and s.timestamp is None})
    failed = [r.student for r in reports if not r.graded and r.status != PENDING]
    if failed:
        print(f"Could not grade {len(failed)} submissions: {', '.join(failed)}", file=sys.stderr)
    if grader.stopped:
        pending = [r.student for r in reports if r.status == PENDING]
        print(f"Stopped recording: {grader.stopped}. {len(pending)} submissions were not recorded "
              f"({', '.join(pending)}); {grader.stopped.advice}.", file=sys.stderr)
        return grader.stopped.exit_status
    return 1 if failed or times_failed else 0


def flag_unread_times(reports: list[GradeReport], submissions: list[Submission]) -> None:
    """A time that could not be read goes first among its report's flags, so the summary, grading-results.csv and the
    class report name the file and the cause (added on every run: the grade itself does not depend on it)."""
    flags = {submission.student: submission.time_flag for submission in submissions}
    for report in reports:
        if flags.get(report.student):
            report.flags.insert(0, flags[report.student])


def record_times_and_roster(course: Course, submissions: list[Submission]) -> tuple[CourseRecords, dict[str, Standing]]:
    """Roster, due date, times, extensions and late penalties into the gradebook; then every student's standing.
    Feedback gets the files `nbgrader release_feedback` needs."""
    records = update_course_records(course, submissions)
    for submission in submissions:
        copy_exchange_stamps(course, submission.student)
    return records, {standing.student: standing for standing in read_standings(course)}


def print_course_records(course: Course, records: CourseRecords, standings: list[Standing], unread_times: set[str] = frozenset()) -> None:
    """The submissions a person should know about: late ones (with their penalty), those without a time (but those in
    `unread_times`, whose flag above already names the file and the cause), those from students not on the roster."""
    for standing in standings:
        if standing.seconds_late > 0:
            print(f"  {standing.student}: late by {lateness(standing.seconds_late)}: raw score {standing.raw_score:g}, "
                  f"penalty {standing.late_penalty:g}, final {standing.score:g}")
    without_time = [student for student in records.without_time if student not in unread_times]
    if without_time:
        print(f"  Submitted with no time (never counted late): {', '.join(without_time)}")
    if records.unknown_students:
        print(f"  Not on the roster ({course.roster_csv}): {', '.join(records.unknown_students)}; graded and recorded, "
              "but no LMS will know them")


def cmd_export(course: Course, args: argparse.Namespace) -> int:
    assignments = chosen_assignments(course, args.assignment)
    if args.format == "feedback" and args.to and len(assignments) > 1:
        raise CourseError("--to names one feedback zip: name the assignment too (dvwcourse export ASSIGNMENT --format feedback --to ...)")
    waiting = []
    for assignment in assignments:
        first = load_course(course.root, assignment)
        update_course_records(first)  # roster, due date and penalties as of now (TAs may have changed manual scores)
        standings = read_standings(first)
        for view in assignment_views(course, assignment):
            saved = RerunState(view.state_dir)
            reports = [report for s in standings if s.submitted and (report := saved.saved_report(s.student))]
            refresh_feedback(view, reports, {s.student: s for s in standings})  # pages show the scores exported
        if args.format == "feedback":
            students = [Student(s.student, s.first_name, s.last_name, s.email, s.lms_user_id) for s in standings]
            print(f"Written: {write_feedback_zip(first, students, args.to or course.root / f'feedback-{assignment}.zip')}")
        waiting += [f"{s.student} ({assignment})" for s in standings if s.needs_manual_grade]
    if args.format != "feedback":
        print(f"Written: {export_grades(course, args.format, args.to, assignments)}")
    if waiting and args.format != "feedback":
        print(f"Warning: {len(waiting)} submissions still have written answers to grade in formgrader "
              f"(their scores count those answers as 0 for now): {', '.join(waiting)}", file=sys.stderr)
    return 0


def for_view(path: Path, view: Course, several: bool) -> Path:
    """A results file of one notebook: the name asked for, or with several notebooks in the course, the notebook's
    label before the suffix (class-report-<assignment>.html)."""
    return path.with_name(f"{path.stem}-{view.label.replace('/', '-')}{path.suffix}") if several else path


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    assignment, rest = split_assignment(course, args.targets)
    if len(rest) > 1:
        raise CourseError(f"grade takes an assignment and one source, got {', '.join(rest)}")
    source = Path(rest[0]) if rest else None
    assignments = chosen_assignments(course, assignment)
    if source is not None and len(assignments) > 1:
        raise CourseError(f"{source}: which assignment are these submissions for? Name it first: dvwcourse grade ASSIGNMENT "
                          f"{source} (the course has {', '.join(assignments)})")
    every_view = assignment_views(course)
    several = len(every_view) > 1
    views = [v for v in every_view if v.assignment_id in assignments]
    if args.engine == "nbgrader":  # nbgrader autogrades every notebook of an assignment at once
        views = [v for v in views if v.notebook == v.notebooks[0]]
    workers = DaskWorkers(args.scheduler) if args.scheduler else LocalWorkers(args.workers)
    csv_path = Path(args.csv)
    report_path = args.report or csv_path.with_name("class-report.html")
    statuses = []
    for view in views:
        if several:
            print(f"\n== {view.label}: {view.title} ==")
        if args.engine == "nbgrader":
            students = [s.student for s in find_submissions(view, source)]
            status = nbgrader_grade(view, students, for_view(csv_path, view, several), none_is_an_error=not several)
        else:
            status = safe_grade(view, source, for_view(csv_path, view, several), args.force, workers,
                                for_view(report_path, view, several), none_is_an_error=not several)
        if status in STOPPING:
            return status
        statuses.append(status)
    if several and args.engine == "safe":
        pages = {}
        for view in every_view:
            page = for_view(report_path, view, several)
            if page.is_file():  # this run's, or an earlier run's for an assignment not graded now
                pages.setdefault(view.assignment_id, []).append((view.label, page))
        print(f"Course report: {write_course_report(course, pages, report_path)}")
    return next((status for status in statuses if status), 0)


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    """The course loop on the samples: release, an LMS download with times, grading against the roster, a Canvas CSV."""
    course = samples_course(course)
    build_release(course)
    print(f"Release written: {course.release_notebook}")
    download = write_sample_download(course, course.root / f"{course.assignment_id}-lms-download.zip")
    print(f"Sample submissions written as an LMS download: {download} (roster: {course.roster_csv}, due {course.due})")
    status = safe_grade(course, download, course.root / args.csv, workers=LocalWorkers(os.cpu_count() or 1))
    canvas = export_grades(course, "canvas")
    print(f"Canvas grade import: {canvas} (late penalties applied; `dvwcourse export --format moodle|csv|feedback` for the others)")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dvwcourse", description=__doc__)
    parser.add_argument("--course", type=Path, default=None, help="course folder (default: the one holding course.yml above the working folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="build release/ from source/ with nbgrader")
    release.add_argument("assignment", nargs="?", help="only this assignment (default: every assignment of the course)")
    release.set_defaults(run=cmd_release)
    validate = commands.add_parser("validate", help="grade notebooks as grading would, writing nothing; exit 1 if any point is lost")
    validate.add_argument("notebooks", nargs="+", metavar="[ASSIGNMENT] NOTEBOOK",
                          help="the notebooks, after the assignment when the course has several notebooks of that name")
    validate.set_defaults(run=cmd_validate)
    grade = commands.add_parser("grade", help="grade submissions safely; write feedback and grades.csv")
    grade.add_argument("targets", nargs="*", metavar="[ASSIGNMENT] [SOURCE]",
                       help="the assignment (default: every one), then a notebook, a folder of <student>.ipynb, nbgrader's "
                            "submitted/ layout, or an LMS zip (default: submitted/)")
    grade.add_argument("--csv", default=RESULTS_CSV, help=f"per-submission results (default: {RESULTS_CSV}; grades.csv is nbgrader's export)")
    grade.add_argument("--force", action="store_true", help="regrade submissions that did not change")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="submissions graded at once on this machine (default: one per core)")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on this Dask cluster instead of local workers")
    grade.add_argument("--report", type=Path, default=None, help="class report HTML (default: class-report.html beside the CSV)")
    grade.add_argument("--engine", choices=["safe", "nbgrader"], default="safe",
                       help="safe (default): sandboxed, values judged by the grader; nbgrader: stock nbgrader autograde")
    grade.set_defaults(run=cmd_grade)
    demo = commands.add_parser("demo", help="release, write sample submissions, grade them")
    demo.add_argument("--csv", default=RESULTS_CSV)
    demo.set_defaults(run=cmd_demo)
    export = commands.add_parser("export", help="grades for an LMS (Canvas, Moodle), nbgrader's grades.csv, or a feedback zip")
    export.add_argument("assignment", nargs="?", help="only this assignment's column (default: one column per assignment)")
    export.add_argument("--format", choices=[*EXPORTERS, "feedback"], required=True,
                        help=", ".join(f"{name}: {file}" for name, file in DEFAULT_NAMES.items()) + f", feedback: feedback-<assignment>.zip")
    export.add_argument("--to", type=Path, default=None, help="where to write (default: the course folder, the name above)")
    export.set_defaults(run=cmd_export)
    args = parser.parse_args(argv)
    try:
        course = load_course(args.course)
        if args.command == "validate":
            return args.run(course, args)
        with batch_lock(course.tools_dir):  # one command writing the gradebook at a time
            return args.run(course, args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BatchStop as error:  # outside a batch (export, the stock engine's records): the same line and status
        print(f"error: {error}; {error.advice.replace(' to grade them', '')}", file=sys.stderr)
        return error.exit_status


if __name__ == "__main__":
    sys.exit(main())
