"""`dvwcourse`: the course's command line (release, validate, grade, and the sample run)."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from . import stock_grading
from .batch_lock import batch_lock
from .class_report import write_class_report
from .inputs import find_submissions
from .progress import Progress
from .release import build_release
from .results import isolation_statement, reason, format_reports, write_grades_csv
from .safe_grading import PENDING, Grader
from .samples import write_sample_submissions
from .settings import Course, CourseError, load_course
from .validation import validate_notebook
from .workers import DaskWorkers, LocalWorkers, Workers

EXIT_LOW_DISK_SPACE = 3  # grading stopped recording: the course folder's disk is nearly full


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    build_release(course)
    print(f"Release written: {course.release_notebook}")
    return 0


def cmd_validate(course: Course, args: argparse.Namespace) -> int:
    failures = 0
    grader = Grader(course)
    for path in args.notebooks:
        result = validate_notebook(course, Path(path), grader)
        score = f" ({result.report.score:g} / {result.report.max_score:g})" if result.report else ""
        print(f"{path}: {'OK' if result.ok else 'FAILED'}{score}")
        for note in result.notes:
            print("  note: " + note)
        for problem in result.problems:
            print("  " + problem.replace("\n", "\n    "))
        failures += not result.ok
    return 1 if failures else 0


def nbgrader_grade(course: Course, students: list[str], csv_path: Path) -> int:
    """Stock nbgrader autograde (student code and tests in one kernel, unsandboxed)."""
    if not students:
        print(f"No submissions found under {course.root / 'submitted'}", file=sys.stderr)
        return 1
    outcomes = stock_grading.autograde(course, students)
    feedback_failed = stock_grading.generate_feedback(course, [o.student for o in outcomes if o.graded])
    stock_grading.export_grades(course, csv_path)
    print(stock_grading.format_gradebook_scores(course, stock_grading.gradebook_scores(course, students)))
    not_graded = [o.student for o in outcomes if not o.graded] + feedback_failed
    if not_graded:
        print(f"Could not grade: {', '.join(not_graded)}", file=sys.stderr)
    return 1 if not_graded else 0


def safe_grade(course: Course, source: Path | None, csv_path: Path, force: bool = False, workers: Workers | None = None,
               report_path: Path | None = None) -> int:
    submissions = find_submissions(course, source)
    if not submissions:
        print(f"No submissions found in {source or course.root / 'submitted'}", file=sys.stderr)
        return 1
    grader = Grader(course)
    where = "on the Dask cluster" if isinstance(workers, DaskWorkers) else f"here, {grader.launcher.description}"
    print(f"Grading {len(submissions)} submissions {where}.")
    progress = Progress(len(submissions))
    try:
        reports = grader.grade_all(submissions, force=force, workers=workers, progress=progress)
    finally:
        progress.close()
    report_path = report_path or csv_path.with_name("class-report.html")
    isolation = isolation_statement(reports)
    try:
        write_grades_csv(reports, csv_path)
        write_class_report(course, reports, report_path, isolation)
    except OSError as error:  # written whole or not at all: the previous versions stay
        print(f"error: could not write {csv_path} and {report_path}: {error}", file=sys.stderr)
        return EXIT_LOW_DISK_SPACE if error.errno == errno.ENOSPC else 1
    print(format_reports(reports))
    print(f"Isolation: {isolation}.")
    print(f"Grades: {csv_path}; class report: {report_path}; feedback: {course.root / 'feedback'}; "
          f"graded notebooks: {course.root / 'autograded'}")
    for report in reports:
        if report.status != "graded" or report.flags:
            print(f"  {report.student}: {report.status}: {reason(report)}")
    failed = [r.student for r in reports if not r.graded and r.status != PENDING]
    if failed:
        print(f"Could not grade {len(failed)} submissions: {', '.join(failed)}", file=sys.stderr)
    if grader.stopped_because:
        pending = [r.student for r in reports if r.status == PENDING]
        print(f"Stopped recording: {grader.stopped_because}. {len(pending)} submissions were not recorded "
              f"({', '.join(pending)}); free some space and run again to grade them.", file=sys.stderr)
        return EXIT_LOW_DISK_SPACE
    return 1 if failed else 0


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    if args.engine == "nbgrader":
        students = [s.student for s in find_submissions(course, args.source)]
        return nbgrader_grade(course, students, Path(args.csv))
    workers = DaskWorkers(args.scheduler) if args.scheduler else LocalWorkers(args.workers)
    return safe_grade(course, args.source, Path(args.csv), args.force, workers, args.report)


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    build_release(course)
    print(f"Release written: {course.release_notebook}")
    students = write_sample_submissions(course)
    print(f"Sample submissions written for: {', '.join(students)}")
    return safe_grade(course, None, Path(args.csv), workers=LocalWorkers(os.cpu_count() or 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dvwcourse", description=__doc__)
    parser.add_argument("--course", type=Path, default=None, help="course folder (default: the one holding course.yml above the working folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="build release/ from source/ with nbgrader").set_defaults(run=cmd_release)
    validate = commands.add_parser("validate", help="grade notebooks as grading would, writing nothing; exit 1 if any point is lost")
    validate.add_argument("notebooks", nargs="+")
    validate.set_defaults(run=cmd_validate)
    grade = commands.add_parser("grade", help="grade submissions safely; write feedback and grades.csv")
    grade.add_argument("source", nargs="?", type=Path, default=None,
                       help="a notebook, a folder of <student>.ipynb, nbgrader's submitted/ layout, or an LMS zip (default: submitted/)")
    grade.add_argument("--csv", default="grades.csv")
    grade.add_argument("--force", action="store_true", help="regrade submissions that did not change")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="submissions graded at once on this machine (default: one per core)")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on this Dask cluster instead of local workers")
    grade.add_argument("--report", type=Path, default=None, help="class report HTML (default: class-report.html beside the CSV)")
    grade.add_argument("--engine", choices=["safe", "nbgrader"], default="safe",
                       help="safe (default): sandboxed, values judged by the grader; nbgrader: stock nbgrader autograde")
    grade.set_defaults(run=cmd_grade)
    demo = commands.add_parser("demo", help="release, write sample submissions, grade them")
    demo.add_argument("--csv", default="grades.csv")
    demo.set_defaults(run=cmd_demo)
    args = parser.parse_args(argv)
    try:
        course = load_course(args.course)
        if args.command == "validate":
            return args.run(course, args)
        with batch_lock(course.state_dir):  # one command writing the gradebook at a time
            return args.run(course, args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
