"""Every message a grading kernel sends is untrusted input: it is decoded here, and only here, within bounds.

ipykernel serialises its messages with the kernel's own `json`, which a submission can replace (a forged encoder
can send 300,000 nested `[` or 100 MB of `1,`), and the kernel holds the session's key, so it can sign anything.
`GuardedSession` is the Session of every grading client (cold and warm kernels): jupyter_client's channels read
every frame through its `feed_identities` and `deserialize`. It refuses, as `KernelLeftProtocol`, a message larger
than MAX_MESSAGE_BYTES, a part that is not JSON, nests deeper than MAX_DEPTH or holds more than MAX_VALUES values
(measured before it is parsed, so the grader never builds what it refuses), and a message not shaped like a
Jupyter message. `reading_kernel_output` marks the client's own handling of a message the same way: whatever fails
there failed on what the kernel sent. What follows (the kernel stopped, later cells scored 0) is kernel.execution's part.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from json.decoder import scanstring
from typing import Any, Iterator

from jupyter_client.session import Session

from ..whose_fault import SubmissionsDoing

# Far above any honest message (the grader keeps at most 1 MB of a cell's output; a plot is a few hundred kB, and text is
# one value however long). Measuring a part within them takes a fraction of a second, and parsing it then builds at most
# MAX_VALUES objects: without that bound, 32 MB of `[],` would make the grader build 11 million lists (1.6 GB, measured).
MAX_MESSAGE_BYTES = 32 * 2**20
MAX_DEPTH = 64  # an honest message nests a few levels (a display's JSON data a few more)
MAX_VALUES = 100_000
# The content fields the grading client reads, by message type, with their types (nbclient and nbformat index them).
TEXT, DICT, LIST = (str,), (dict,), (list,)
CONTENT_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "stream": {"name": TEXT, "text": TEXT},
    "display_data": {"data": DICT, "metadata": DICT},
    "update_display_data": {"data": DICT, "metadata": DICT},
    "execute_result": {"data": DICT, "metadata": DICT},
    "error": {"ename": TEXT, "evalue": TEXT, "traceback": LIST},
    "status": {"execution_state": TEXT},
    "execute_reply": {"status": TEXT},
    "kernel_info_reply": {"status": TEXT},
}
EXECUTION_COUNT = (int, type(None))  # any content may carry one; nbclient copies it into the notebook


class KernelLeftProtocol(SubmissionsDoing):
    """The kernel sent something that is not a Jupyter message: it no longer speaks the protocol. The text is in the
    grader's words (never the kernel's)."""


@contextmanager
def reading_kernel_output(what: str, let_through: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Anything raised in this block (but `let_through`) failed on what the kernel sent (`what`): KernelLeftProtocol,
    whatever its type."""
    try:
        yield
    except (KernelLeftProtocol, *let_through):
        raise
    except Exception as error:
        raise KernelLeftProtocol(f"{what} could not be read ({type(error).__name__})") from error


def parse_part(raw: bytes) -> Any:
    """One JSON part of a message, measured (require_bounds) before it is parsed."""
    text = bytes(raw).decode("utf8", "replace")
    with reading_kernel_output("a message part"):
        require_bounds(text)
        return json.loads(text)


SEPARATORS = re.compile(r"[\s,:]+")
SCALAR = re.compile(r'[^\s,:"\[\]{}]+')  # a number or a literal (only its end matters here)


def require_bounds(text: str) -> None:
    """Raise KernelLeftProtocol when JSON `text` nests deeper than MAX_DEPTH or holds more than MAX_VALUES values. Each
    step consumes a whole token (a string is skipped by json's own C scanner, which raises on a malformed one), and the
    scan stops at the bounds, so it costs little more than reading the text."""
    depth = values = 0
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char == '"':
            index, values = scanstring(text, index + 1)[1], values + 1
        elif char in "[{":
            index, depth, values = index + 1, depth + 1, values + 1
            if depth > MAX_DEPTH:
                raise KernelLeftProtocol(f"a message nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            index, depth = index + 1, depth - 1
            if depth < 0:
                raise KernelLeftProtocol("a message part that is not JSON (a bracket closed that was never opened)")
        elif separators := SEPARATORS.match(text, index):
            index = separators.end()
        else:
            index, values = SCALAR.match(text, index).end(), values + 1
        if values > MAX_VALUES:
            raise KernelLeftProtocol(f"a message of more than {MAX_VALUES} values")


def require_shape(message: dict[str, Any]) -> None:
    """A Jupyter message: header, parent header, metadata and content dicts, a string id and type, and for the types
    the client reads, their fields of the right types."""
    header, content = message.get("header"), message.get("content")
    if not all(isinstance(message.get(part), dict) for part in ("header", "parent_header", "metadata", "content")):
        raise KernelLeftProtocol("a message without a header, parent header, metadata or content")
    if not (isinstance(header.get("msg_id"), str) and isinstance(header.get("msg_type"), str)):
        raise KernelLeftProtocol("a message without a message id or type")
    fields = {**CONTENT_FIELDS.get(header["msg_type"], {}), **({"execution_count": EXECUTION_COUNT} if "execution_count" in content else {})}
    for name, kinds in fields.items():
        if type(content.get(name)) not in kinds:  # exact JSON types: a bool is no count
            raise KernelLeftProtocol(f"a {header['msg_type']} message whose {name} is missing or of the wrong type")
    if header["msg_type"] == "error" and not all(isinstance(line, str) for line in content["traceback"]):
        raise KernelLeftProtocol("an error message whose traceback is not text")


class GuardedSession(Session):
    """jupyter_client's Session, with every received message bounded and checked (see the module's doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unpack = parse_part  # every JSON part of a received message (a trait: set, not overridden)

    def feed_identities(self, msg_list: Any, copy: bool = True) -> tuple[list[bytes], list[bytes]]:  # type: ignore[override]
        with reading_kernel_output("a message's frames"):
            return super().feed_identities(msg_list, copy)

    def deserialize(self, msg_list: Any, content: bool = True, copy: bool = True) -> dict[str, Any]:  # type: ignore[override]
        size = sum(len(part) for part in msg_list)
        if size > MAX_MESSAGE_BYTES:
            raise KernelLeftProtocol(f"a message of {size} bytes (at most {MAX_MESSAGE_BYTES} are read)")
        with reading_kernel_output("a message"):
            message = super().deserialize(msg_list, content, copy)
        require_shape(message)
        return message
