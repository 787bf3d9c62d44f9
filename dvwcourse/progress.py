"""Progress of a batch: a bar with counts, rate and time left on a terminal; log lines otherwise."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from .records import Evaluation


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.started = time.monotonic()
        self.bar = tqdm(total=total, unit="nb", desc="grading", file=stream, dynamic_ncols=True) if stream.isatty() else None

    def __call__(self, evaluation: Evaluation) -> None:
        self.done += 1
        report = evaluation.report
        if self.bar is not None:
            self.bar.set_postfix_str(f"{report.student}: {report.score:g}/{report.max_score:g}", refresh=False)
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed * 60 if elapsed > 0 else 0.0
        left = (self.total - self.done) / (self.done / elapsed) if self.done and elapsed > 0 else 0.0
        print(f"[{self.done}/{self.total}] {report.student}: {report.status} {report.score:g}/{report.max_score:g} "
              f"in {report.seconds:.1f} s; {rate:.1f} per minute, about {left:.0f} s left", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
