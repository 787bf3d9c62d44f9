"""Submissions stage: find every submission, however it was named, packaged or downloaded.

submissions (the sources: nbgrader's submitted/, a folder, a notebook, an LMS download; one Submission per student),
lms_layouts (whose an entry of an LMS download is, from its name), archives (zips unpacked safely), notebook_finder
(which handed-in file is the assignment's notebook: by name, else by content), notebook_file (a file's cells, read
forgivingly, or why not).
"""
from .submissions import SUBMISSION_STAMPS, Intake, Submission, find_submissions, read_submissions

__all__ = ["SUBMISSION_STAMPS", "Intake", "Submission", "find_submissions", "read_submissions"]
