"""Every message a grading kernel sends is untrusted input: it is decoded here, and only here, within bounds.

ipykernel serialises its messages with the kernel's own `json`, which a submission can replace (a forged encoder
can send 300,000 nested `[` or 100 MB of `1,`), and the kernel holds the session's key, so it can sign anything.
`GuardedSession` is the Session of every grading client (cold and warm kernels): jupyter_client's channels read
every frame through its `feed_identities` and `deserialize`. It refuses, as `KernelLeftProtocol`, a message larger
than MAX_MESSAGE_BYTES, a part that is not JSON or nests deeper than MAX_DEPTH, and a message not shaped like a
Jupyter message. `reading_kernel_output` marks the client's own handling of a message the same way: whatever fails
there failed on what the kernel sent. What follows (the kernel stopped, later cells scored 0) is kernel.execution's part.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

from jupyter_client.session import Session

from ..whose_fault import SubmissionsDoing

# Far above any honest message (the grader keeps at most 1 MB of a cell's output; a plot is a few hundred kB), and
# small enough that decoding a hostile one costs the grader a second or two.
MAX_MESSAGE_BYTES = 32 * 2**20
MAX_DEPTH = 64  # an honest message nests a few levels (a display's JSON data a few more)
# The content fields the grading client reads, by message type, with their types (nbclient and nbformat index them).
CONTENT_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "stream": {"name": str, "text": str},
    "display_data": {"data": dict, "metadata": dict},
    "update_display_data": {"data": dict, "metadata": dict},
    "execute_result": {"data": dict, "metadata": dict},
    "error": {"ename": str, "evalue": str, "traceback": list},
    "status": {"execution_state": str},
    "execute_reply": {"status": str},
    "kernel_info_reply": {"status": str},
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
    """One JSON part of a message. The C parser stops at the interpreter's recursion limit (RecursionError, caught
    as any other failure); what it returns is then held to MAX_DEPTH."""
    with reading_kernel_output("a message part"):
        value = json.loads(bytes(raw).decode("utf8", "replace"))
    require_depth(value, MAX_DEPTH)
    return value


def require_depth(value: Any, limit: int) -> None:
    """Raise KernelLeftProtocol when `value` nests lists and dicts deeper than `limit`; iterative, so any depth is safe."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    raise KernelLeftProtocol(f"a message nested deeper than {limit} levels")
                pending.append((child, depth + 1))


def require_shape(message: dict[str, Any]) -> None:
    """A Jupyter message: header, parent header, metadata and content dicts, a string id and type, and for the types
    the client reads, their fields of the right types."""
    header, content = message.get("header"), message.get("content")
    if not all(isinstance(message.get(part), dict) for part in ("header", "parent_header", "metadata", "content")):
        raise KernelLeftProtocol("a message without a header, parent header, metadata or content")
    if not (isinstance(header.get("msg_id"), str) and isinstance(header.get("msg_type"), str)):
        raise KernelLeftProtocol("a message without a message id or type")
    fields = {**CONTENT_FIELDS.get(header["msg_type"], {}), **({"execution_count": EXECUTION_COUNT} if "execution_count" in content else {})}
    for name, kind in fields.items():
        if not isinstance(content.get(name), kind) or isinstance(content.get(name), bool) and kind is EXECUTION_COUNT:
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
