"""`dvwcourse`: the course's command line (release, validate, grade, and the sample run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import grading
from .release import build_release
from .samples import write_sample_submissions
from .settings import Course, CourseError, load_course
from .validation import validate_notebook


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    build_release(course)
    print(f"Release written: {course.release_notebook}")
    return 0


def cmd_validate(course: Course, args: argparse.Namespace) -> int:
    failures = 0
    for path in args.notebooks:
        result = validate_notebook(course, Path(path))
        print(f"{path}: {'OK' if result.ok else 'FAILED'}")
        for problem in result.problems:
            print("  " + problem.replace("\n", "\n    "))
        failures += not result.ok
    return 1 if failures else 0


def grade_and_report(course: Course, students: list[str], csv_path: Path) -> int:
    if not students:
        print(f"No submissions found under {course.root / 'submitted'}", file=sys.stderr)
        return 1
    outcomes = grading.autograde(course, students)
    graded = [o.student for o in outcomes if o.graded]
    feedback_failed = grading.generate_feedback(course, graded)
    grading.export_grades(course, csv_path)
    print(grading.format_score_table(course, grading.score_table(course, students)))
    for outcome in outcomes:
        print(f"{outcome.student}: {'graded' if outcome.graded else 'NOT GRADED'} in {outcome.seconds:.1f} s"
              + (f" ({outcome.error.splitlines()[-1]})" if outcome.error else ""))
    for student in feedback_failed:
        print(f"{student}: feedback could not be generated")
    print(f"Grades: {csv_path}; feedback: {course.root / 'feedback'}")
    not_graded = [o.student for o in outcomes if not o.graded]
    if not_graded:
        print(f"Could not grade: {', '.join(not_graded)}", file=sys.stderr)
    return 1 if not_graded or feedback_failed else 0


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    students = args.students or grading.submitted_students(course)
    return grade_and_report(course, students, Path(args.csv))


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    build_release(course)
    print(f"Release written: {course.release_notebook}")
    students = write_sample_submissions(course)
    print(f"Sample submissions written for: {', '.join(students)}")
    return grade_and_report(course, students, Path(args.csv))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dvwcourse", description=__doc__)
    parser.add_argument("--course", type=Path, default=None, help="course folder (default: the one holding course.yml above the working folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="build release/ from source/ with nbgrader").set_defaults(run=cmd_release)
    validate = commands.add_parser("validate", help="run notebooks and fail (exit 1) if any test cell fails")
    validate.add_argument("notebooks", nargs="+")
    validate.set_defaults(run=cmd_validate)
    grade = commands.add_parser("grade", help="autograde submitted/, write feedback and grades.csv")
    grade.add_argument("students", nargs="*", help="students to grade (default: all under submitted/)")
    grade.add_argument("--csv", default="grades.csv")
    grade.set_defaults(run=cmd_grade)
    demo = commands.add_parser("demo", help="release, write sample submissions, grade them")
    demo.add_argument("--csv", default="grades.csv")
    demo.set_defaults(run=cmd_demo)
    args = parser.parse_args(argv)
    try:
        course = load_course(args.course)
        return args.run(course, args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
