"""A corpus of submissions, each with the outcome safe grading must give it.

Every case starts from the release, filled with the correct alternative answers ("correct") or left
blank ("blank"), and then changes something: one answer cell, the notebook's structure, or its bytes.
`expect_lost` names the test cells that must score 0 (all others full marks); None means every test
cell scores 0.

Attacks that look for the course (the master, other students, the gradebook) look only inside the
course being graded, which the test passes in (COURSE_ROOT in their code): never at real paths.
The corpus is graded only in the sandbox (conftest.require_sandbox): some cases (a fork bomb, writing the
gradebook) would harm the machine or the course without it.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from dvwcourse import cells as nb_cells
from dvwcourse.cells import is_solution, is_test_cell
from dvwcourse.samples import fill_answers

import frontends

MIME = "application/vnd.dvwcourse.check+json"
COURSE_ROOT = "COURSE_ROOT"  # in an attack's code: replaced by the graded course's folder
FUNCTIONS = ["get_num_params", "initialize_layers", "make_data", "train_model", "compute_loss"]


@dataclass
class Case:
    base: str  # "correct" or "blank"
    answers: dict[str, str] = field(default_factory=dict)  # answer cells replaced on top of the base
    change: Callable[[nbformat.NotebookNode], nbformat.NotebookNode] | None = None
    raw: Callable[[bytes], bytes] | None = None  # change to the file's bytes
    expect_lost: set[str] | None = field(default_factory=set)
    expect_status: str = "graded"
    evidence: str = ""  # text the graded notebook's outputs or the report must hold: that the attack ran, or what stopped it
    what: str = ""


def edit_tests(nb):
    for cell in nb.cells:
        if is_test_cell(cell):
            cell.source = 'check("get_num_params(10, 3, 2)", 33)\nprint("all tests passed")'
    return nb


def delete_tests(nb):
    nb.cells = [c for c in nb.cells if not is_test_cell(c)]
    return nb


def duplicate_tests(nb):
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if is_test_cell(cell):
            twin = copy.deepcopy(cell)
            twin.source = "pass"
            cells.append(twin)
    nb.cells = cells
    return nb


def rename_and_retype_tests(nb):
    for cell in nb.cells:
        if is_test_cell(cell):
            cell.metadata.nbgrader["grade_id"] += "_renamed"
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return nb


def inflate_points(nb):
    for cell in nb.cells:
        if is_solution(cell):
            cell.metadata.nbgrader.update(grade=True, points=100)
    return nb


def wrong_kernel(nb):
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return nb


def no_kernelspec(nb):
    nb.metadata.pop("kernelspec", None)
    nb.metadata.pop("language_info", None)
    return nb


def drop_cell(grade_id: str):
    def change(nb):
        nb.cells = [c for c in nb.cells if nb_cells.grade_id(c) != grade_id]
        return nb
    return change


def duplicate_answer_with_wrong_copy(nb):
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if nb_cells.grade_id(cell) == "get_num_params":
            twin = copy.deepcopy(cell)
            twin.source = "def get_num_params(n_in, W, D):\n    return 0"
            cells.append(twin)
    nb.cells = cells
    return nb


# Cells a student inserts: an import and a helper at the very top, a helper between two exercises.
STUDENT_TOP_CELL = "import itertools\n\ndef count_weights(n_in, W, D):\n    widths = [n_in] + [W] * (D - 1) + [1]\n" \
                   "    return sum(a * b for a, b in itertools.pairwise(widths))"
STUDENT_CELLS_GET_NUM_PARAMS = "def get_num_params(n_in, W, D):\n    return count_weights(n_in, W, D)"
STUDENT_MIDDLE_CELL = "def train_width(width, n_epochs, lr):\n    net = make_MLP(n_in, width, 2)\n" \
                      "    return net, train_model(net, X_train, y_train, n_epochs, lr, progressbar=False)"
SWEEP_LOOP = "for index in range(len(Ws_student)):"  # in the sample's correct width_sweep
SWEEP_STEPS = ("    student = make_MLP(n_in, int(Ws_student[index]), D_student)\n"
               "    curve = train_model(student, X_train, y_train, n_epochs, lr, progressbar=False)\n")


def edit_answer(nb, grade_id: str, old: str, new: str):
    """`nb` with one answer cell's text changed (the text must be there)."""
    cell = nb_cells.cell_by_grade_id(nb, grade_id)
    assert old in cell.source, f"{grade_id}: {old!r} is not in the sample answer"
    cell.source = cell.source.replace(old, new)
    return nb


def insert_student_cells(nb):
    """An import and a helper above everything, a helper just above the width sweep, which uses it."""
    sweep = [nb_cells.grade_id(c) for c in nb.cells].index("width_sweep")
    nb.cells[sweep:sweep] = [nbformat.v4.new_code_cell(STUDENT_MIDDLE_CELL)]
    nb.cells[:0] = [nbformat.v4.new_code_cell(STUDENT_TOP_CELL), nbformat.v4.new_markdown_cell("My notes: helpers I use below.")]
    return edit_answer(nb, "width_sweep", SWEEP_STEPS, "    student, curve = train_width(int(Ws_student[index]), n_epochs, lr)\n")


def untag_answers(nb):
    """Every answer cell without nbgrader metadata, and no cell ids (nbformat 4.4)."""
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id", None)
        if is_solution(cell):
            cell.metadata = {}
    return nb


def split_answer(nb):
    """The width sweep split before its loop (JupyterLab's split gives both halves the cell's metadata)."""
    at = [nb_cells.grade_id(c) for c in nb.cells].index("width_sweep")
    first, second = nb.cells[at], copy.deepcopy(nb.cells[at])
    loop = first.source.index(SWEEP_LOOP)
    first.source, second.source, second.id = first.source[:loop], first.source[loop:], "split-half"
    nb.cells.insert(at + 1, second)
    return nb


def latin1_comment(raw: bytes) -> bytes:
    return raw.replace(b"def curve_length(curve):", b"# caf\xe9\\ndef curve_length(curve):", 1)


def truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


FIRST = "get_num_params"  # the first answer cell: where an attack runs before every test
ALL = None
LEAK = "LEAKED"  # every leaker marks what it smuggles out, so a test can look for it in the feedback
# Every attack's code ends by printing RAN: a test finds it in the graded notebook, so an attack that broke (raised
# early, or reached for an internal name that was renamed) fails its test instead of scoring 0 like a blank notebook.
RAN = "the attack's code ran to its end"
RAN_LINE = f"\nprint({RAN!r})"

# Forgers: no work, only answers made up to look right.
REPLACE_CHECKS = (
    "def check(*args, **kwargs):\n    print('checked')\n"
    "def require(*names):\n    pass\n"
    "def note_difference(*args):\n    pass" + RAN_LINE
)
# Hostile exports: the agent's JSON writer or encoder replaced, so every answer is not the plain data it claims.
FORGE_DEEP_NESTING = """
class _DeepJson:
    import json as _real
    load, loads = _real.load, _real.loads
    calls = 0
    @staticmethod
    def dump(answer, handle):
        rng = _DeepJson._real.dumps(answer.get("rng", {}))
        if "values" in answer:  # every name a function, so that the grader calls it
            names = list(answer["values"]) + answer.get("missing", [])
            values = ", ".join(f'"{name}": {{"function": "{name}"}}' for name in names)
            handle.write('{"values": {' + values + '}, "missing": [], "rng": ' + rng + '}')
            return
        # Calls answer in turn with a value nested deeper than JSON parses, and an error whose details nest
        # as deep as it does.
        _DeepJson.calls += 1
        depth = 300000 if _DeepJson.calls % 2 else 800
        deep = '[' * depth + ']' * depth
        handle.write('{"error": ["ValueError", ' + deep + '], "value": ' + deep + ', "args": [], "rng": ' + rng + '}')
type(__dvw_agent__).values.__globals__["json"] = _DeepJson
""" + RAN_LINE
FORGE_BAD_ARRAYS = """
import base64, math
_codec = type(__dvw_agent__).values.__globals__
def _forged(value, depth=0):
    shape = [10**6, 10**6] if isinstance(value, (int, float)) else [3]  # claims a terabyte, or three numbers in eight bytes
    return {"ndarray": {"dtype": "float64", "shape": shape, "b64": base64.b64encode(bytes(8)).decode()}}
_codec["encode"] = _forged
""" + RAN_LINE
# Kernel message forgers: the kernel's own JSON encoder replaced (ipykernel serialises every Jupyter message with it), so
# every reply, stream and status message the kernel sends after this cell is not a message the grader can take.
def forged_json_encoder(text: str) -> str:
    return f"""import json
_forged = {text}
json.JSONEncoder.encode = lambda self, o: _forged
json.JSONEncoder.iterencode = lambda self, o, _one_shot=False: iter([_forged])
"""


CORRECT_GET_NUM_PARAMS = "def get_num_params(n_in, W, D):\n    return n_in * W + (D - 2) * W * W + W"
CORRECT_CURVE_LENGTH = ("def curve_length(curve):\n    segments = np.diff(np.asarray(curve), axis=-2)\n"
                        "    return np.sqrt((segments ** 2).sum(axis=-1)).sum(axis=-1)")
JSON_ENCODER_NESTING = forged_json_encoder("'[' * 300_000")
JSON_ENCODER_STREAM = forged_json_encoder("'1,' * 50_000_000")  # 100 MB in each part of every message
# Replaces the grader's agent in the kernel with one that guesses every value from its name.
FORGE_AGENT = """
import numpy as np, torch
_codec = type(__dvw_agent__).values.__globals__
def _guess(name):
    if name.startswith("Es_"):
        return np.geomspace(1.0, 1e-4, 2000) if name != "Es_shallow_train" else np.tile(np.geomspace(1.0, 1e-4, 200), (4, 1))
    if name in ("teacher", "student", "quasi_student"):
        return torch.nn.Sequential(torch.nn.Linear(5, 5, bias=False), torch.nn.Tanh(), torch.nn.Linear(5, 1, bias=False))
    if name == "shallow_students":
        return [torch.nn.Sequential(torch.nn.Linear(5, w, bias=False), torch.nn.Tanh(), torch.nn.Linear(w, 1, bias=False)) for w in (5, 15, 45, 135)]
    if name.startswith("X_"):
        return torch.randn(4000 if "train" in name else 1000, 5)
    if name.startswith("y_"):
        return torch.randn(4000 if "train" in name else 1000, 1)
    if name == "Ws_student":
        return [5, 15, 45, 135]
    if name in ("m",):
        return -0.5
    if name == "sigma_teacher":
        return 2.0
    if name.startswith("loss") or name.startswith("Es_shallow_test"):
        return 0.01
    if name == "W_predicted":
        return 1e9
    return 1.0
class _Forger(type(__dvw_agent__)):
    def values(self, request_id, names):
        self._respond(request_id, {"values": {n: _codec["encode"](_guess(n)) for n in names}, "missing": []})
    def call(self, request_id, name):
        self._respond(request_id, {"value": _codec["encode"](1.0), "args": [], "rng": _codec["rng_state"]()})
__dvw_agent__ = _Forger(__dvw_agent__.namespace, __dvw_agent__.folder)
""" + RAN_LINE
# Leakers: everything the kernel sees (cells, requests, the exchange folder) goes into errors, values
# and prints, marked LEAKED.
LEAK_SETUP = f"""
import glob, os
_seen = []
def _grab(info):
    _seen.append(info.raw_cell[:500])
    for path in glob.glob(os.getcwd() + "/**/*.json", recursive=True):
        try:
            _seen.append(open(path).read()[:500])
        except OSError:
            pass
get_ipython().events.register("pre_run_cell", _grab)
def _leak():
    return "{LEAK} " + " | ".join(_seen)[-20000:]
"""
LEAK_IN_ERRORS = LEAK_SETUP + """
def _raise(*args, **kwargs):
    raise ValueError(_leak() + repr(args)[:2000])
get_num_params = initialize_layers = make_data = train_model = compute_loss = curve_length = _raise
""" + RAN_LINE
LEAK_IN_VALUES = LEAK_SETUP + """
def _text(*args, **kwargs):
    return _leak() + repr(args)[:2000]
get_num_params = initialize_layers = make_data = train_model = compute_loss = curve_length = _text
""" + RAN_LINE
LEAK_IN_EXCEPTION_NAMES = LEAK_SETUP + """
def _raise_named(*args, **kwargs):
    name = "LEAKED_" + "_".join(str(a).replace(" ", "")[:40] for a in args if isinstance(a, (int, float)))
    raise type(name, (Exception,), {})(_leak())
get_num_params = initialize_layers = make_data = train_model = compute_loss = curve_length = _raise_named
""" + RAN_LINE
LEAK_IN_NAMES = LEAK_SETUP + """
def _later():
    globals().update({name: _leak() for name in ["teacher", "sigma_teacher", "X_train", "y_train", "X_test", "y_test"]})
get_ipython().events.register("post_run_cell", lambda result: _later())
print(_leak())
""" + RAN_LINE

# An answer cell that runs forever and swallows the KeyboardInterrupt the grader sends at its time limit.
STUBBORN_LOOP = """while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
"""


# Stallers: functions that return at once on the notebook's own inputs but never when the grader calls them
# (they look at who calls), with or without swallowing the grader's interrupt. get_num_params is defined
# here, correctly, because this code replaces its answer cell.
def hang_when_graded(names: list[str], ignore_interrupt: bool) -> str:
    return f"""import sys

def get_num_params(n_in, W, D):
    return n_in * W + (D - 2) * W * W + W

def _hang_when_graded(function):
    def wrapper(*args, **kwargs):
        if sys._getframe(1).f_globals.get("__name__") == "dvw_agent":  # the grader's call
            while True:
                try:
                    while True:
                        pass
                except KeyboardInterrupt:
                    if not {ignore_interrupt}:
                        raise
        return function(*args, **kwargs)
    wrapper.hangs = True
    return wrapper

def _wrap_new_functions(result=None):
    for name in {names!r}:
        if callable(globals().get(name)) and not getattr(globals()[name], "hangs", False):
            globals()[name] = _hang_when_graded(globals()[name])

_wrap_new_functions()
get_ipython().events.register("post_run_cell", _wrap_new_functions)
"""


# The deep student trained correctly, then made a network that never finishes being read by the grader (its
# layers are listed forever when the grader's agent asks), swallowing the interrupt.
STUBBORN_EXPORT = """import sys
n_epochs = n_steps(50000)
student = make_MLP(n_in, W_student, D_student)
lr = 0.003
rounds = []
for _ in range(4):
    rounds.append(train_model(student, X_train, y_train, n_epochs, lr, progressbar=False))
    lr /= 3
Es_deep = np.concatenate(rounds)
loss_deep = compute_loss(student, X_test, y_test) / float(y_test.var())

class _Stubborn(nn.Sequential):
    def __iter__(self):
        while sys._getframe(1).f_globals.get("__name__") == "dvw_agent":  # the grader's agent reading it
            try:
                while True:
                    pass
            except KeyboardInterrupt:
                pass
        return super().__iter__()

student.__class__ = _Stubborn
"""


# Copies of the teacher that compute its function: hidden units reordered (rolled by one) and every other
# unit's sign flipped, then every layer moved by `moved` of its norm in a random direction.
def rearranged_teacher(moved: float) -> str:
    return f"""import copy
student = copy.deepcopy(teacher)
linear = [m for m in student if isinstance(m, nn.Linear)]
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    for layer, following in zip(linear, linear[1:]):
        order = torch.roll(torch.arange(layer.out_features), 1)
        signs = torch.tensor([(-1.0) ** unit for unit in range(layer.out_features)])
        layer.weight.copy_(layer.weight[order] * signs[:, None])
        following.weight.copy_(following.weight[:, order] * signs)
    for param in student.parameters():
        noise = torch.randn(param.shape, generator=generator)
        param.add_(noise * ({moved} * param.norm() / noise.norm()))
Es_deep = np.geomspace(1.0, 1e-4, 4 * n_steps(50000))
loss_deep = compute_loss(student, X_test, y_test) / y_test.var().item()
"""


# Correct answers written in other ways the text allows.
VARIANT_LEARNING_PROBLEM = """torch.manual_seed(-1)
N_train, N_test = 4000, 1000
sigma_teacher = 2  # an int
n_in = 5
teacher = make_MLP(n_in, W=5, D=5)
initialize_layers(teacher, sigma_teacher)
X_train, y_train = make_data(teacher, n_in, N_train)
X_test, y_test = make_data(teacher, n_in, N_test)
"""
VARIANT_DEEP_STUDENT = """n_epochs = n_steps(50000)
student = make_MLP(n_in, W_student, D_student)
pieces = []
learning_rate = 0.003
for _ in range(4):
    pieces.append(torch.tensor(train_model(student, X_train, y_train, n_epochs, learning_rate, progressbar=False), dtype=torch.float32))
    learning_rate = learning_rate / 3
Es_deep = torch.cat(pieces)  # a tensor
loss_deep = np.float32(compute_loss(student, X_test, y_test) / y_test.var(unbiased=False).item())  # population variance, float32
"""
VARIANT_WIDTH_SWEEP = """D_student = 2
Ws_student = [5, 15, 45, 135]  # a list
lr = 1e-3
n_epochs = n_steps(20000, at_least=400)
models = [make_MLP(n_in, width, D_student) for width in Ws_student]  # every student built first
Es_shallow_train, Es_shallow_test, shallow_students = [], [], []
variance = float(torch.var(y_test, unbiased=False))
for model in models:
    curve = train_model(model, X_train, y_train, n_epochs, lr, progressbar=False)
    Es_shallow_train.append(list(curve / variance))
    Es_shallow_test.append(compute_loss(model, X_test, y_test) / variance)
    shallow_students.append(model)
"""
VARIANT_WIDTH_FIT = """error_target = 1e-6
m, b = np.polyfit(np.log2(np.array(Ws_student, dtype=np.float32)), np.log2(np.array(Es_shallow_test, dtype=np.float32)), 1)
W_predicted = 2 ** ((np.log2(error_target) - b) / m)
"""
VARIANT_QUASI_STUDENT = """lr = 1e-3
n_epochs = n_steps(20000, at_least=2000)
W_student, D_student = 10, 2
quasi_student = make_MLP(n_in, W_student, D_student)
initialize_layers(quasi_student, sigma_teacher)
Es_quasi = list(train_model(quasi_student, X_train, y_train, n_epochs, lr, progressbar=False))  # a list
loss_quasi = compute_loss(quasi_student, X_test, y_test) / y_test.var()  # a 0-d tensor
"""
VARIANT_CURVE_LENGTH = """def curve_length(curve):
    curve = torch.as_tensor(np.asarray(curve), dtype=torch.float64)
    return (curve[..., 1:, :] - curve[..., :-1, :]).norm(dim=-1).sum(dim=-1)  # a tensor
"""
# The tutorial's epoch count kept instead of n_steps(50000): the cell runs into its time limit.
HARD_CODED_EPOCHS = """lr = 0.003
student = make_MLP(n_in, W_student, D_student)
rounds = []
for _ in range(4):
    rounds.append(train_model(student, X_train, y_train, 50000, lr, progressbar=False))
    lr /= 3
Es_deep = np.concatenate(rounds)
loss_deep = compute_loss(student, X_test, y_test) / float(y_test.var())
"""

CASES: dict[str, Case] = {
    "correct": Case("correct", what="every answer right, written differently from the master"),
    "blank": Case("blank", expect_lost=ALL, what="the untouched release"),
    **{
        f"mistake_{function}": Case("correct", {function: f"mistakes:{function}"}, expect_lost={f"test_{function}"},
                                    what=f"only {function} plausibly wrong")
        for function in FUNCTIONS
    },
    # Hooks that rewrite or silence later cells.
    "input_transformer": Case("blank", {FIRST: ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])" + RAN_LINE)},
                              expect_lost=ALL, evidence=RAN, what="IPython input transformer turns every later cell into pass"),
    "ast_transformer": Case("blank", {FIRST: (
        "import ast\n"
        "class Nothing(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
        "get_ipython().ast_transformers.append(Nothing())" + RAN_LINE)},
        expect_lost=ALL, evidence=RAN, what="AST transformer empties every later cell"),
    "settrace": Case("blank", {FIRST: (
        "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    if frame.f_code.co_name == 'check':\n"
        "        frame.f_locals['value'] = 33\n"
        "    return tracer\n"
        "sys.settrace(tracer)" + RAN_LINE)},
        expect_lost=ALL, evidence=RAN, what="sys.settrace trying to overwrite checked values"),
    "forged_records": Case("blank", {FIRST: (
        "from IPython.display import display\n"
        f"MIME = {MIME!r}\n"
        "def forge(result):\n"
        "    display({MIME: {'name': 'get_num_params(10, 3, 2)', 'site': 0, 'value': 33}}, raw=True)\n"
        "get_ipython().events.register('post_run_cell', forge)" + RAN_LINE)},
        expect_lost=ALL, evidence=RAN, what="post_run_cell hook printing forged check records"),
    "printed_forgery": Case("blank", {FIRST: ("print('checked: get_num_params(10, 3, 2)\\nAll tests passed. Score: 24/24')" + RAN_LINE)},
                            expect_lost=ALL, evidence=RAN, what="prints forged output"),
    # Monkeypatching what tests could rely on.
    "patch_numpy_testing": Case("blank", {FIRST: ("np.testing.assert_allclose = lambda *a, **k: None\nnp.allclose = lambda *a, **k: True" + RAN_LINE)},
                                expect_lost=ALL, evidence=RAN, what="numpy.testing and np.allclose patched to always pass"),
    "patch_builtins_math": Case("blank", {FIRST: (
        "import builtins, math\n"
        "builtins.AssertionError = type('Quiet', (Exception,), {})\n"
        "builtins.all = lambda *a: True\n"
        "math.isfinite = lambda x: True\n"
        "math.isclose = lambda *a, **k: True" + RAN_LINE)},
        expect_lost=ALL, evidence=RAN, what="builtins and math patched"),
    "patch_torch": Case("blank", {FIRST: ("torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True" + RAN_LINE)},
                        expect_lost=ALL, evidence=RAN, what="torch comparisons patched to always pass"),
    "always_equal": Case("blank", {FIRST: (
        "class Anything:\n"
        "    def __eq__(self, other): return True\n"
        "    def __lt__(self, other): return True\n"
        "    def __gt__(self, other): return True\n"
        "def get_num_params(n_in, W, D):\n"
        "    return Anything()" + RAN_LINE)},
        expect_lost=ALL, evidence=RAN, what="a value whose comparisons are always true"),
    "float_subclass": Case("blank", {FIRST: (
        "class Sneaky(float):\n"
        "    def __eq__(self, other): return True\n"
        "    __hash__ = float.__hash__\n"
        "def get_num_params(n_in, W, D):\n"
        "    return Sneaky(0)" + RAN_LINE)},
        expect_lost=ALL, evidence=RAN, what="a float subclass equal to everything"),
    "no_tracebacks": Case("blank", {FIRST: ("get_ipython().showtraceback = lambda *a, **k: None\nget_ipython().showsyntaxerror = lambda *a, **k: None" + RAN_LINE)},
                          expect_lost=ALL, evidence=RAN, what="tracebacks disabled"),
    "read_hidden_tests": Case("blank", {FIRST: (
        "import glob\n"
        f"found = glob.glob({COURSE_ROOT} + '/**/*.ipynb', recursive=True) + glob.glob({COURSE_ROOT} + '/**/gradebook.db', recursive=True)\n"
        "print('visible notebooks and gradebooks:', found)" + RAN_LINE)},
        expect_lost=ALL, evidence="visible notebooks and gradebooks: []", what="searches the course folder for the master, other students and the gradebook"),
    "write_gradebook": Case("blank", {FIRST: (
        "import glob, sqlite3\n"
        f"for path in glob.glob({COURSE_ROOT} + '/**/gradebook.db', recursive=True) + [{COURSE_ROOT} + '/gradebook.db']:\n"
        "    try:\n"
        "        sqlite3.connect(path).execute('create table hacked (x)')\n"
        "    except Exception as error:\n"
        "        print(path, error)" + RAN_LINE)},
        expect_lost=ALL, evidence="gradebook.db unable to open database file", what="tries to write the course's gradebook"),
    "kill_kernel": Case("correct", {"curve_length": "import os\nos._exit(0)"}, expect_lost={"test_curve_length"},
                        expect_status="incomplete", evidence='The kernel died while running cell curve_length', what="os._exit in the last answer cell"),
    # Tampering with the notebook's structure and metadata.
    "tests_edited": Case("blank", change=edit_tests, expect_lost=ALL, what="every test cell replaced by forged checks"),
    "tests_deleted": Case("correct", change=delete_tests, what="every test cell deleted (they come back)"),
    "tests_duplicated": Case("blank", change=duplicate_tests, expect_lost=ALL, what="every test cell duplicated"),
    "tests_renamed_retyped": Case("blank", change=rename_and_retype_tests, expect_lost=ALL, what="test cells renamed and made markdown"),
    "points_inflated": Case("correct", change=inflate_points, what="answer cells claim 100 points each"),
    "wrong_kernel": Case("correct", change=wrong_kernel, what="kernelspec changed to R"),
    "missing_kernelspec": Case("correct", change=no_kernelspec, what="kernelspec and language info removed"),
    "missing_cells": Case("correct", change=drop_cell("curve_length"), expect_lost={"test_curve_length"},
                          what="an answer cell deleted"),
    "duplicated_answer": Case("correct", change=duplicate_answer_with_wrong_copy, expect_lost={"test_get_num_params"},
                              what="an answer cell duplicated, second copy wrong: both copies run, in order, as in the notebook"),
    # Bad bytes.
    "malformed_json": Case("correct", raw=truncate, expect_lost=ALL, expect_status="unreadable", what="file cut in half"),
    "non_utf8": Case("correct", raw=latin1_comment, what="a Latin-1 byte in an answer"),
    # Forgers: no training, answers guessed from names, checks replaced.
    "forge_replace_checks": Case("blank", {FIRST: REPLACE_CHECKS}, expect_lost=ALL, evidence=RAN, what="check and require replaced by no-ops"),
    "forge_agent_guesses": Case("blank", {FIRST: FORGE_AGENT}, expect_lost=ALL, evidence=RAN,
                                what="the grader's agent replaced by one that guesses every value from its name"),
    "forge_teacher_copy": Case("correct", {"deep_student": (
        "import copy\nstudent = copy.deepcopy(teacher)\n"
        "with torch.no_grad():\n    for p in student.parameters():\n        p.add_(1e-3 * torch.randn_like(p))\n"
        "Es_deep = np.geomspace(1.0, 1e-4, 4 * n_steps(50000))\n"
        "loss_deep = compute_loss(student, X_test, y_test) / y_test.var().item()")},
        expect_lost={"test_deep_student"}, evidence='not a copy of the teacher', what="the deep student is the teacher, barely perturbed, and a made-up curve"),
    "teacher_rearranged": Case("correct", {"deep_student": rearranged_teacher(0.0)}, expect_lost={"test_deep_student"},
                               evidence='not a copy of the teacher', what="the deep student is the teacher with its hidden units reordered and sign-flipped"),
    "teacher_rearranged_moved": Case("correct", {"deep_student": rearranged_teacher(0.05)}, expect_lost={"test_deep_student"},
                                     evidence='not a copy of the teacher', what="the teacher rearranged and every layer moved by 5% of its norm"),
    "forge_deep_nesting": Case("blank", {FIRST: FORGE_DEEP_NESTING}, expect_lost=ALL, evidence=RAN,
                               what="the agent's JSON writer replaced: answers nested 800 and 300,000 levels deep"),
    "forge_bad_arrays": Case("blank", {FIRST: FORGE_BAD_ARRAYS}, expect_lost=ALL, evidence=RAN,
                             what="the agent's encoder replaced: arrays whose bytes do not match their claimed shapes"),
    "json_encoder_nesting": Case("correct", {FIRST: f"{JSON_ENCODER_NESTING}\n{CORRECT_GET_NUM_PARAMS}"}, expect_lost=ALL,
                                 expect_status="incomplete",
                                 what="correct, but the first answer cell makes the kernel's json encoder send 300,000 nested ["),
    "json_encoder_stream": Case("correct", {"curve_length": f"{JSON_ENCODER_STREAM}\n{CORRECT_CURVE_LENGTH}"},
                                expect_lost={"test_curve_length"}, expect_status="incomplete",
                                what="correct, but the last answer cell makes the kernel's json encoder send 100 MB of 1,"),
    # Leakers: try to smuggle hidden checks and hidden inputs out through errors, values and names.
    "leak_in_errors": Case("blank", {FIRST: LEAK_IN_ERRORS}, expect_lost=ALL, evidence=RAN, what="every function raises with what the kernel saw"),
    "leak_in_values": Case("blank", {FIRST: LEAK_IN_VALUES}, expect_lost=ALL, evidence=RAN, what="every function returns what the kernel saw, as text"),
    "leak_in_exception_names": Case("blank", {FIRST: LEAK_IN_EXCEPTION_NAMES}, expect_lost=ALL, evidence=RAN,
                                    what="exception classes named after the hidden inputs"),
    "leak_in_names": Case("blank", {FIRST: LEAK_IN_NAMES}, expect_lost=ALL, evidence=RAN, what="required names set to what the kernel saw"),
    # Correct answers written in other ways the text allows.
    "correct_variants_data": Case("correct", {"learning_problem": VARIANT_LEARNING_PROBLEM, "deep_student": VARIANT_DEEP_STUDENT},
                                  what="int sigma, other build order, tensor curve, population variance, float32 loss"),
    "correct_variants_sweep": Case("correct", {"width_sweep": VARIANT_WIDTH_SWEEP, "width_fit": VARIANT_WIDTH_FIT},
                                   what="lists, another loop name, students built first, population variance, log2 fit in float32"),
    "correct_variants_tensors": Case("correct", {"quasi_linear_student": VARIANT_QUASI_STUDENT, "curve_length": VARIANT_CURVE_LENGTH},
                                     what="a list curve, a 0-d tensor loss, curve lengths as a tensor"),
    "hard_coded_epochs": Case("correct", {"deep_student": HARD_CODED_EPOCHS}, expect_lost={"test_deep_student"},
                              evidence='your cell deep_student was stopped at its time limit', what="50000 epochs instead of n_steps(50000): the cell hits its time limit"),
    # Runaways: each costs only its own cell (curve_length, the last exercise).
    "infinite_loop": Case("correct", {"curve_length": "while True:\n    pass"}, expect_lost={"test_curve_length"},
                          evidence='your cell curve_length was stopped at its time limit', what="infinite loop"),
    "stubborn_loop": Case("correct", {"curve_length": STUBBORN_LOOP}, expect_lost={"test_curve_length"}, expect_status="incomplete",
                          evidence='Cell curve_length ignored the interrupt at its time limit, so the grader stopped the kernel', what="an answer cell that loops forever and swallows the interrupt: the grader stops its kernel"),
    "hang_when_graded": Case("correct", {FIRST: hang_when_graded(["get_num_params", "train_model"], False)},
                             expect_lost={"test_get_num_params", "test_train_model"},
                             evidence='your `train_model` did not return within', what="two functions never return on the grader's inputs (each call is interrupted at its limit)"),
    "hang_ignoring_interrupt": Case("correct", {FIRST: hang_when_graded(["get_num_params"], True)},
                                    expect_lost={"test_get_num_params"},
                                    evidence='and the kernel ignored the interrupt', what="a function never returns on the grader's inputs and swallows the interrupt"),
    "hang_when_read": Case("correct", {"deep_student": STUBBORN_EXPORT}, expect_lost={"test_deep_student"},
                           evidence='did not finish within', what="a value whose export never finishes when the grader reads it, swallowing the interrupt"),
    "memory_bomb": Case("correct", {"curve_length": "blocks = []\nwhile True:\n    blocks.append(bytearray(10**8))"},
                        expect_lost={"test_curve_length"}, evidence="MemoryError", what="allocates until memory runs out"),
    # No evidence for the fork bomb: what stops it varies from run to run (the process limit, "can't start new thread", or
    # the time limit with the interrupt ignored).
    "fork_bomb": Case("correct", {"curve_length": "import os\nwhile True:\n    os.fork()"}, expect_lost={"test_curve_length"},
                      what="forks until processes run out"),
    "huge_output": Case("correct", {"curve_length": "for i in range(10**7):\n    print(i)"}, expect_lost={"test_curve_length"},
                        evidence='Cell curve_length printed more than', what="prints 10^7 lines"),
    # How students really edit notebooks: correct work must keep every point (see tests/test_student_edits.py).
    "student_cells": Case("correct", {"get_num_params": STUDENT_CELLS_GET_NUM_PARAMS}, change=insert_student_cells, what="helpers and imports in cells the student inserted, used by answers"),
    "untagged_answers": Case("correct", change=untag_answers, what="every answer cell re-created: no nbgrader metadata, no cell id"),
    "colab": Case("correct", change=lambda nb: frontends.colab(nb), what="saved by Colab: nbformat 4.0, no cell ids, Colab's own metadata"),
    "split_answer": Case("correct", change=split_answer, what="an answer cell split in two (both halves keep its tag)"),
    "widest_first": Case("correct", change=lambda nb: edit_answer(nb, "width_sweep", SWEEP_LOOP, "for index in reversed(range(len(Ws_student))):"),
                         what="the widths swept widest-first (the text fixes no order), students kept in that order"),
}


def build(case: Case, release: nbformat.NotebookNode, correct: dict[str, str], mistakes: dict[str, str], course_root: Path) -> bytes:
    answers = dict(correct) if case.base == "correct" else {}
    for grade_id, code in case.answers.items():
        code = code.replace(COURSE_ROOT, repr(str(course_root)))
        answers[grade_id] = mistakes[code.split(":", 1)[1]] if code.startswith("mistakes:") else code
    nb = fill_answers(release, answers, "corpus")
    if case.change:
        nb = case.change(nb)
    raw = json.dumps(nb, indent=1).encode("utf-8")
    return case.raw(raw) if case.raw else raw
