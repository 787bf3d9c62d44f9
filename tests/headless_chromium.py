"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on its
fd 3, answers on fd 4, each a JSON message ending in a NUL byte). Standard library only: nothing to download."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from conftest import require_chromium

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--remote-debugging-pipe"]


class Chromium:
    """One browser with one page; `send` runs a DevTools command on that page and returns its result."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="dvw-chromium-")
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()
        binary = require_chromium()
        # bash (unlike dash, it redirects descriptors above 9) puts the pipe ends where Chromium expects them: fd 3 and 4.
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser}', "bash", binary, *CHROMIUM_FLAGS,
             f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.page_errors: list[str] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Runtime.enable")  # uncaught exceptions arrive as events

    def _call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("method") == "Runtime.exceptionThrown":  # the page's uncaught errors, to explain a failed wait
                    self.page_errors.append(answer["params"]["exceptionDetails"].get("exception", {}).get("description", "")[:200])
                if answer.get("id") == self._next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        raise TimeoutError(f"{method}: no answer in {timeout} s")

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict:
        return self._call(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                page = self.evaluate("location.href + ' (' + document.readyState + '): ' + document.title")
                raise TimeoutError(f"still false after {timeout} s: {expression} (the page: {page}; its errors: {self.page_errors})")
            time.sleep(0.2)

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element, type `text` as a user would, then leave it (which fires its change event)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", {"text": text})
        self.evaluate(f"document.querySelector({json.dumps(selector)}).blur()")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._commands)
        os.close(self._answers)
        shutil.rmtree(self.profile, ignore_errors=True)
