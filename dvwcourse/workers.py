"""Who evaluates submissions: this process, local worker threads, or a Dask cluster.

Each evaluation runs its notebook in a kernel process of its own, so local workers are threads that
wait on their kernels: one long-lived grading process, no per-submission imports of nbgrader or
torch in it. Every backend yields Evaluations; the caller alone records them (one gradebook writer).
"""
from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator, Protocol

from .inputs import Submission
from .safegrade import Evaluation, GradeReport, Grader
from .settings import load_course


class Workers(Protocol):
    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]: ...


class SerialWorkers:
    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]:
        for submission in submissions:
            yield grader.evaluate(submission)


class LocalWorkers:
    """`count` submissions at a time, each in its own sandbox slot (own uid, own process limit)."""

    def __init__(self, count: int) -> None:
        self.count = max(1, count)

    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]:
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(self.count):
            slots.put(slot)

        def in_a_slot(submission: Submission) -> Evaluation:
            slot = slots.get()
            try:
                return grader.evaluate(submission, slot)
            finally:
                slots.put(slot)

        with ThreadPoolExecutor(self.count, thread_name_prefix="grader") as pool:
            futures = [pool.submit(in_a_slot, s) for s in submissions]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                pool.shutdown(cancel_futures=True)  # a batch stopped early starts no more submissions


_WORKER_GRADERS: dict[tuple[str, str], Grader] = {}


def evaluate_on_dask_worker(course_root: str, fingerprint: str, master_data: dict, submission: Submission) -> Evaluation:
    """Runs on a Dask worker: a Grader per course version is built once per worker process."""
    key = (course_root, fingerprint)
    if key not in _WORKER_GRADERS:
        grader = Grader(load_course(Path(course_root)))
        grader.use_master_data(master_data)  # the coordinator's: identical judging everywhere
        _WORKER_GRADERS[key] = grader
    # A slot of its own per worker process: its own sandbox uid, hence its own process limit.
    return _WORKER_GRADERS[key].evaluate(submission, slot=1 + os.getpid() % 500)


class DaskWorkers:
    """Evaluate on an existing Dask cluster. Workers need the course folder at the same path.

    A task whose worker dies is rerun elsewhere by Dask (its `allowed-failures`); one that still
    cannot finish is recorded as an error, never dropped.
    """

    def __init__(self, address: str, retries: int = 2) -> None:
        self.address = address
        self.retries = retries

    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]:
        from distributed import Client, as_completed as dask_completed

        with Client(self.address, timeout="30s") as client:
            master_data = client.scatter(grader.master_data(), broadcast=True)
            futures = {
                client.submit(evaluate_on_dask_worker, str(grader.course.root), grader.fingerprint, master_data, submission,
                              key=f"grade-{submission.student}-{grader.fingerprint}", pure=False, retries=self.retries): submission
                for submission in submissions
            }
            for future in dask_completed(futures):
                submission = futures[future]
                try:
                    yield future.result()
                except Exception as error:  # KilledWorker and the like: recorded, never lost
                    report = GradeReport(submission.student, "error", 0.0, grader.max_score,
                                         notes=[f"the Dask cluster could not grade it: {type(error).__name__}: {error}"])
                    yield Evaluation(report, submission.digest())
