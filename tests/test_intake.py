"""Every submission found, however it was named, packaged or downloaded (no kernel: what the intake decides).

Each LMS's bulk download is built here as that LMS writes it; grading them end to end is in test_intake_grading.py.
"""
from __future__ import annotations

from dataclasses import replace

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from dvwcourse.intake import read_submissions
from dvwcourse.samples import sample_notebooks
from dvwcourse.settings import Course

NAME = "depth_vs_width.ipynb"
CELLS = len(nbformat.read(Path(__file__).parents[1] / "release/depth_vs_width" / NAME, as_version=4).cells)


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, bytes]:
    from conftest import copy_course
    course = copy_course(tmp_path_factory.mktemp("samples"))
    written = {name: nbformat.writes(nb).encode() for name, nb in sample_notebooks(course).items()}
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import pandas as pd\npd.read_csv('x.csv')")])
    return {**written, "other": nbformat.writes(other).encode()}


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in entries.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def download(tmp_path: Path, entries: dict[str, bytes]) -> Path:
    path = tmp_path / "download.zip"
    path.write_bytes(zipped(entries))
    return path


def by_student(course: Course, source: Path):
    intake = read_submissions(course, source)
    return {s.student: s for s in intake.submissions}, intake.notices


def uploaded(submission) -> bytes:
    return submission.notebook.read_bytes()


# -- the notebook found by its content -----------------------------------------------------------------

def submitted(course: Course, student: str, files: dict[str, bytes]) -> Path:
    folder = course.root / "submitted" / student / course.assignment_id
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return course.root / "submitted"


def test_a_renamed_notebook_is_found_by_its_content_and_the_choice_is_said(course_copy, notebooks):
    submitted(course_copy, "ada", {"Copy of depth_vs_width (1).ipynb": notebooks["correct-student"], "notes.py": b"x = 1\n"})
    (ada,), _ = read_submissions(course_copy).submissions, None
    assert ada.notebook.name == "Copy of depth_vs_width (1).ipynb" and ada.problem == ""
    assert ada.found.startswith(f"no file named {NAME} was handed in; graded `Copy of depth_vs_width (1).ipynb`, which is this "
                                "assignment's notebook by its content (")
    assert [p.name for p in ada.files] == ["notes.py"] and ada.found in ada.intake_flags


def test_of_several_notebooks_the_best_match_is_graded_and_the_others_named_for_the_tas(course_copy, notebooks):
    submitted(course_copy, "ada", {"scratch.ipynb": notebooks["other"], "final (2).ipynb": notebooks["correct-student"],
                                   "broken.ipynb": b"{ not json"})
    [ada] = read_submissions(course_copy).submissions
    assert ada.notebook.name == "final (2).ipynb"
    assert len(ada.others) == 2 and any(o.startswith("`scratch.ipynb` (0 of the assignment's") for o in ada.others)
    assert any(o.startswith("`broken.ipynb` (broken.ipynb is not a notebook: invalid JSON") for o in ada.others)
    assert all(f"also handed in, not graded: {o}" in ada.intake_flags for o in ada.others)


def test_the_release_name_wins_among_notebooks_with_work_and_a_checkpoint_is_never_taken(course_copy, notebooks):
    submitted(course_copy, "ada", {NAME: notebooks["make-data-mistake"], "Copy of depth_vs_width.ipynb": notebooks["correct-student"],
                                   ".ipynb_checkpoints/depth_vs_width-checkpoint.ipynb": notebooks["correct-student"]})
    [ada] = read_submissions(course_copy).submissions
    assert ada.notebook.name == NAME and ada.notebook.parent.name == course_copy.assignment_id and ada.found == ""
    assert ada.others == [f"`Copy of depth_vs_width.ipynb` ({CELLS} of the assignment's {CELLS} cells found in it)"]


def test_a_copy_of_the_release_never_hides_the_work_saved_under_another_name(course_copy, notebooks):
    submitted(course_copy, "ada", {NAME: notebooks["blank-student"], "depth_vs_width (1).ipynb": notebooks["correct-student"]})
    [ada] = read_submissions(course_copy).submissions
    assert ada.notebook.name == "depth_vs_width (1).ipynb"
    assert ada.found == f"graded `depth_vs_width (1).ipynb`, which holds your answers; `{NAME}` holds none (it is the assignment as handed out)"


def test_a_browsers_ipynb_txt_is_a_notebook(course_copy, notebooks):
    submitted(course_copy, "ada", {"depth_vs_width.ipynb.txt": notebooks["correct-student"], "notes.json": b'{"a": 1}'})
    [ada] = read_submissions(course_copy).submissions
    assert ada.notebook.name == "depth_vs_width.ipynb.txt" and ada.others == []  # a JSON file that is no notebook is not named


def test_a_notebook_one_folder_down_counts_and_the_feedback_says_where(course_copy, notebooks):
    submitted(course_copy, "ada", {f"my work/{NAME}": notebooks["correct-student"], "my work/data.csv": b"1,2\n"})
    [ada] = read_submissions(course_copy).submissions
    assert ada.notebook.relative_to(course_copy.root / "submitted/ada/depth_vs_width").as_posix() == f"my work/{NAME}"
    assert ada.found == f"graded `my work/{NAME}`, in a folder of your submission"
    assert [p.name for p in ada.files] == ["data.csv"]  # the files beside the notebook go into its sandbox


def test_without_a_notebook_of_this_assignment_the_reason_lists_what_was_found(course_copy, notebooks):
    submitted(course_copy, "ada", {"notes.py": b"", "depth_vs_width.html": b"<html>", "timestamp.txt": b"2026-12-04 10:00:00 UTC"})
    submitted(course_copy, "bo", {"other.ipynb": notebooks["other"]})
    ada, bo = read_submissions(course_copy).submissions
    assert ada.notebook is None and ada.problem == (f"no notebook of this assignment in your submission (expected {NAME}): "
                                                    "found `depth_vs_width.html`, `notes.py`, `timestamp.txt`")
    assert ada.timestamp == datetime(2026, 12, 4, 10)
    assert bo.notebook is None and bo.problem == (f"no notebook of this assignment in your submission (expected {NAME}): found "
                                                  f"`other.ipynb` (`other.ipynb`: 0 of the assignment's {CELLS} cells found in it)")


def test_a_lone_notebook_that_cannot_be_read_is_the_reason_itself(course_copy):
    submitted(course_copy, "ada", {"Copy of depth_vs_width.ipynb": b""})
    [ada] = read_submissions(course_copy).submissions
    assert ada.notebook is None and ada.problem == "Copy of depth_vs_width.ipynb is empty (0 bytes): it holds no notebook"


def test_a_bom_and_nbformat_3_are_read(course_copy, notebooks):
    from dvwcourse.intake.notebook_file import read_notebook_cells
    path = course_copy.root / "bom.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + notebooks["correct-student"])
    assert len(read_notebook_cells(path).cells) == len(json.loads(notebooks["correct-student"])["cells"])
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell(input="def get_num_params(net):\n    return 1")])])
    path.write_text(nbformat.writes(v3, version=3))
    cells = read_notebook_cells(path)
    assert [c["source"] for c in cells.cells] == ["def get_num_params(net):\n    return 1"] and "format 3" in cells.notes[0]


# -- LMS downloads, from their names ----------------------------------------------------------------

def test_canvas_names_map_to_the_roster_by_user_id_and_carry_late(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {
        "lovelaceada_LATE_1001_5550101_depth_vs_width-1.ipynb": notebooks["correct-student"],  # a re-upload, late
        "turingalan_1002_5550102_Copy of depth_vs_width.ipynb": notebooks["make-data-mistake"],
        "turingalan_1002_5550104_data.csv": b"1,2\n",
        "hoppergrace_1003_5550103_notes.py": b"print(1)\n",
        "babbagecharles_2001_5550105_depth_vs_width.ipynb": notebooks["blank-student"],  # not on the roster
    })
    students, notices = by_student(course_copy, archive)
    assert set(students) == {"correct-student", "make-data-mistake", "absent-student", "babbagecharles-2001"} and notices == []
    ada, alan, grace = students["correct-student"], students["make-data-mistake"], students["absent-student"]
    assert uploaded(ada) == notebooks["correct-student"] and ada.notebook.name == "depth_vs_width-1.ipynb"
    assert ada.timestamp is None and "Canvas marks it LATE, but its download gives no time" in ada.time_flag
    assert alan.notebook.name == "Copy of depth_vs_width.ipynb" and [p.name for p in alan.files] == ["data.csv"] and not alan.time_flag
    assert grace.notebook is None and grace.problem.endswith("found `notes.py`")


@pytest.mark.parametrize("folders", [True, False], ids=["folders", "flat"])
def test_moodle_names_map_to_the_roster_by_full_name(course_copy, tmp_path, notebooks, folders):
    def entry(name: str, file: str) -> str:
        return f"{name}_{88100 + len(name)}_assignsubmission_file_" + ("/" if folders else "") + file

    archive = download(tmp_path, {
        entry("Ada Lovelace", "depth_vs_width (1).ipynb"): notebooks["correct-student"],
        entry("Alan Turing", NAME): notebooks["make-data-mistake"],
        "Alan Turing_88111_assignsubmission_onlinetext_onlinetext.html": b"<p>see the notebook</p>",
        entry("Émilie du Châtelet", NAME): notebooks["blank-student"],
    })
    students, notices = by_student(course_copy, archive)
    assert set(students) == {"correct-student", "make-data-mistake", "emilie-du-chatelet"}  # the last: not on the roster
    assert uploaded(students["correct-student"]) == notebooks["correct-student"] and notices == []
    assert uploaded(students["make-data-mistake"]) == notebooks["make-data-mistake"]
    assert [p.name for p in students["make-data-mistake"].files] == ["onlinetext.html"]


def test_blackboard_names_with_receipts_and_attempts(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {
        "depth_vs_width_correct-student_attempt_2026-12-04-09-00-00_depth_vs_width.ipynb": notebooks["blank-student"],
        "depth_vs_width_correct-student_attempt_2026-12-04-16-00-00_Copy of depth_vs_width (1).ipynb": notebooks["correct-student"],
        "depth_vs_width_correct-student_attempt_2026-12-04-16-00-00.txt": b"Name: Ada Lovelace\n",
    })
    students, notices = by_student(course_copy, archive)
    ada = students["correct-student"]
    assert ada.timestamp == datetime(2026, 12, 4, 15) and uploaded(ada) == notebooks["correct-student"] and notices == []
    assert ada.files == [] and ada.notebook.name == "Copy of depth_vs_width (1).ipynb"


def test_brightspace_folders_with_times_the_latest_counts(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {
        f"123-4501 - Ada Lovelace - Dec 3, 2026 1105 AM/{NAME}": notebooks["blank-student"],
        f"123-4502 - Ada Lovelace - Dec 4, 2026 517 PM/Copy of {NAME}": notebooks["correct-student"],
        f"123-4503 - Alan Turing - Dec 5, 2026 9:30 AM/{NAME}": notebooks["make-data-mistake"],
        "index.html": b"<html>the LMS's own list</html>",
    })
    students, notices = by_student(course_copy, archive)
    assert notices == [] and set(students) == {"correct-student", "make-data-mistake"}
    assert students["correct-student"].timestamp == datetime(2026, 12, 4, 16, 17)  # 17:17 at +01:00
    assert uploaded(students["correct-student"]) == notebooks["correct-student"]
    assert students["make-data-mistake"].timestamp == datetime(2026, 12, 5, 8, 30)


def test_a_layout_set_in_course_yml_wins(course_copy, tmp_path, notebooks):
    from test_course_loop import change_settings
    course = change_settings(course_copy, zip_filename_regexp="(?P<student_id>[a-z]+)_1001_(?P<file_id>.+)")
    archive = download(tmp_path, {"lovelaceada_1001_5550101_depth_vs_width.ipynb": notebooks["correct-student"]})
    students, _ = by_student(course, archive)
    assert list(students) == ["lovelaceada"]  # Canvas's layout would have said correct-student; the course's regexp wins


# -- bad files never stop a batch ---------------------------------------------------------------------

def test_bad_files_are_each_their_students_outcome_or_a_notice_never_a_stop(course_copy, tmp_path, notebooks):
    old = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell(input="def get_num_params(net):")])])
    inner = zipped({f"work/{NAME}": notebooks["correct-student"], "__MACOSX/work/._depth_vs_width.ipynb": b"\x00\x05\x16\x07"})
    archive = download(tmp_path, {
        "lovelaceada_1001_5550101_handin.zip": inner,  # a zip inside the zip: unpacked
        "turingalan_1002_5550102_depth_vs_width.ipynb": b"{ this is not json",
        "hoppergrace_1003_5550103_depth_vs_width.ipynb": b"",
        "babbagecharles_2001_5550104_depth_vs_width.ipynb": nbformat.writes(old, version=3).encode(),
        "noethemmy_2002_5550105_depth_vs_width.ipynb": b"\xef\xbb\xbf" + notebooks["correct-student"],
        "curiemarie_2003_5550106_broken.zip": b"PK\x03\x04 not really a zip",
        "README.txt": b"downloaded from somewhere",
        "stray notebook (1).IPYNB": notebooks["correct-student"],
    })
    students, notices = by_student(course_copy, archive)
    assert uploaded(students["correct-student"]) == notebooks["correct-student"]
    assert students["correct-student"].found == f"graded `handin.zip (unpacked)/work/{NAME}`, in a folder of your submission"
    assert students["make-data-mistake"].problem.startswith(f"{NAME} is not a notebook: invalid JSON at line 1")
    assert students["absent-student"].problem == f"{NAME} is empty (0 bytes): it holds no notebook"
    assert students["babbagecharles-2001"].notebook.name == NAME and students["babbagecharles-2001"].problem == ""  # format 3: read
    assert students["noethemmy-2002"].notebook is not None and students["noethemmy-2002"].problem == ""
    assert students["curiemarie-2003"].problem.endswith("broken.zip: not an archive that can be opened (BadZipFile: File is not a zip file)")
    assert students["curiemarie-2003"].problem.startswith("no notebook of this assignment in your submission")
    assert sorted(n.split(": ")[1] for n in notices) == ["README.txt", "stray notebook (1).IPYNB"]
    assert all("cannot be told from its name" in n for n in notices)


def test_a_moodle_folder_download_unzipped_by_hand_is_read_as_the_zip(course_copy, tmp_path, notebooks):
    folder = tmp_path / "unzipped"
    for name, content in {f"Ada Lovelace_88101_assignsubmission_file_/sub/{NAME}": notebooks["correct-student"],
                          "Alan Turing_88102_assignsubmission_file_/x.txt": b"hi"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    students, notices = by_student(course_copy, folder)
    assert uploaded(students["correct-student"]) == notebooks["correct-student"]
    assert students["make-data-mistake"].problem.endswith("found `x.txt`") and notices == []
    assert (folder / f"Ada Lovelace_88101_assignsubmission_file_/sub/{NAME}").is_file()  # the instructor's folder is untouched


def test_a_zip_entry_cannot_escape_its_folder(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {f"../../lovelaceada_1001_5550101_{NAME}": notebooks["correct-student"],
                                  "/abs/turingalan_1002_5550102_x.txt": b"x"})
    students, notices = by_student(course_copy, archive)
    assert set(students) == {"correct-student"} and len(notices) == 1 and ": abs: not graded: a folder named like no student" in notices[0]
    assert not (tmp_path.parent / f"lovelaceada_1001_5550101_{NAME}").exists()
    assert all(course_copy.root in s.notebook.parents for s in students.values() if s.notebook)


def tarred(entries: dict[str, bytes]) -> bytes:
    import tarfile
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_archives_of_any_common_kind_are_opened_or_refused_with_a_reason(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {
        "lovelaceada_1001_1_work.tar.gz": tarred({f"work/{NAME}": notebooks["correct-student"]}),
        "turingalan_1002_2_outer.zip": zipped({"inner.zip": zipped({f"deep/{NAME}": notebooks["make-data-mistake"]})}),
        "hoppergrace_1003_3_work.rar": b"Rar!\x1a\x07\x00",
    })
    students, notices = by_student(course_copy, archive)
    assert uploaded(students["correct-student"]) == notebooks["correct-student"] and notices == []
    assert uploaded(students["make-data-mistake"]) == notebooks["make-data-mistake"]  # a zip in a zip in the download
    assert students["make-data-mistake"].found == (f"graded `outer.zip (unpacked)/inner.zip (unpacked)/deep/{NAME}`, in a folder "
                                                   "of your submission")
    assert students["absent-student"].problem.endswith("work.rar: a RAR archive cannot be opened here; hand in the .ipynb file, or a .zip")


def test_a_zip_handed_in_through_nbgraders_exchange_is_unpacked_in_a_copy(course_copy, notebooks):
    folder = submitted(course_copy, "ada", {"handin.zip": zipped({NAME: notebooks["correct-student"]})})
    [ada] = read_submissions(course_copy).submissions
    assert uploaded(ada) == notebooks["correct-student"] and ada.found == f"graded `handin.zip (unpacked)/{NAME}`, in a folder of your submission"
    assert sorted(p.name for p in (folder / "ada" / course_copy.assignment_id).iterdir()) == ["handin.zip"]  # left as collected


def test_a_student_folder_without_the_assignment_folder_counts_when_it_holds_the_notebook(course_copy, notebooks):
    submitted(course_copy, "ada", {NAME: notebooks["correct-student"]})
    (course_copy.root / "submitted" / "bo").mkdir()
    (course_copy.root / "submitted" / "bo" / NAME).write_bytes(notebooks["correct-student"])  # beside, not in, the folder
    (course_copy.root / "submitted" / "cy" / "other_assignment").mkdir(parents=True)
    (course_copy.root / "submitted" / "cy" / "other_assignment" / "other.ipynb").write_bytes(notebooks["other"])
    intake = read_submissions(course_copy)
    assert [s.student for s in intake.submissions] == ["ada", "bo"] and uploaded(intake.submissions[1]) == notebooks["correct-student"]
    assert intake.notices == [f"{course_copy.root / 'submitted' / 'cy'}: not graded: it has no depth_vs_width folder, and no "
                              "notebook of this assignment is in it"]


def test_the_folder_of_another_assignment_of_the_course_is_never_taken_for_this_one(course_copy, notebooks):
    # bob handed in only the course's second assignment; its notebook shares cells with this one's.
    (course_copy.root / "submitted" / "bob" / "second").mkdir(parents=True)
    (course_copy.root / "submitted" / "bob" / "second" / NAME).write_bytes(notebooks["correct-student"])
    two = replace(course_copy, assignment_ids=(course_copy.assignment_id, "second"))
    intake = read_submissions(two)
    assert intake.submissions == [] and intake.notices[0].startswith(f"{course_copy.root / 'submitted' / 'bob'}: not graded")
    # In a course without that assignment, a folder named otherwise is the student's, and looked into.
    assert [s.student for s in read_submissions(course_copy).submissions] == ["bob"]


def test_a_folder_per_student_named_by_roster_id_or_name(course_copy, tmp_path, notebooks):
    folder = tmp_path / "incoming"
    for name, content in {f"correct-student/{NAME}": notebooks["correct-student"],
                          "Alan Turing/Copy of depth_vs_width.ipynb": notebooks["make-data-mistake"],
                          "someone else/notes.txt": b"no notebook"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    students, notices = by_student(course_copy, folder)
    assert sorted(students) == ["correct-student", "make-data-mistake"]
    assert uploaded(students["make-data-mistake"]) == notebooks["make-data-mistake"]
    assert len(notices) == 1 and "someone else: not graded" in notices[0]


def test_names_with_underscores_and_a_lower_case_late(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {"Ada_Augusta Lovelace_88101_assignsubmission_file_depth_vs_width.ipynb": notebooks["correct-student"],
                                  "turingalan_late_1002_5_depth_vs_width.ipynb": notebooks["make-data-mistake"]})
    students, notices = by_student(course_copy, archive)
    assert sorted(students) == ["ada_augusta-lovelace", "make-data-mistake"] and notices == []
    assert "marks it LATE" in students["make-data-mistake"].time_flag


def test_one_student_folder_in_a_download_is_that_student_not_a_wrapper(course_copy, tmp_path, notebooks):
    archive = download(tmp_path, {f"correct-student/{NAME}": notebooks["correct-student"]})
    students, notices = by_student(course_copy, archive)
    assert list(students) == ["correct-student"] and notices == []
    archive = download(tmp_path, {f"Download 4 Dec/lovelaceada_1001_1_{NAME}": notebooks["correct-student"]})  # a wrapper
    students, notices = by_student(course_copy, archive)
    assert list(students) == ["correct-student"] and notices == []
