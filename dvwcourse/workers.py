"""Who evaluates submissions: this process, local worker threads, or a Dask cluster.

Each evaluation runs its notebook in a kernel process of its own, so local workers are threads that
wait on their kernels: one long-lived grading process, no per-submission imports of nbgrader or
torch in it. Every backend yields Evaluations; the caller alone records them (one gradebook writer).
Every kernel, whichever backend starts it, leases its own sandbox uid on its host (uid_lease).
"""
from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator, Protocol

from .bundle import MasterBundle, PackedSubmission, grader_from_bundle, make_bundle
from .inputs import Submission
from .safegrade import Evaluation, GradeReport, Grader


class Workers(Protocol):
    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]: ...


class SerialWorkers:
    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]:
        for submission in submissions:
            yield grader.evaluate(submission)


class LocalWorkers:
    """`count` submissions at a time."""

    def __init__(self, count: int) -> None:
        self.count = max(1, count)

    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]:
        with ThreadPoolExecutor(self.count, thread_name_prefix="grader") as pool:
            futures = [pool.submit(grader.evaluate, s) for s in submissions]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                pool.shutdown(cancel_futures=True)  # a batch stopped early starts no more submissions


def evaluate_on_dask_worker(bundle: MasterBundle, packed: PackedSubmission) -> Evaluation:
    """Runs on a Dask worker, which needs this environment but no course folder."""
    grader = grader_from_bundle(bundle)
    with tempfile.TemporaryDirectory(prefix="dvw-submission-") as folder:
        return grader.evaluate(packed.unpack(Path(folder)))


class DaskWorkers:
    """Evaluate on an existing Dask cluster; workers share no disk with this process.

    The master bundle goes to every worker once; each task carries its submission's bytes. A task
    whose worker dies is rerun elsewhere by Dask (its `allowed-failures`); one that still cannot
    finish is recorded as an error (retried by the next run), never dropped.
    """

    def __init__(self, address: str, retries: int = 2) -> None:
        self.address = address
        self.retries = retries

    def evaluate(self, grader: Grader, submissions: list[Submission]) -> Iterator[Evaluation]:
        from distributed import Client, as_completed as dask_completed

        with Client(self.address, timeout="30s") as client:
            bundle = client.scatter(make_bundle(grader), broadcast=True)
            futures = {}
            for submission in submissions:
                try:
                    packed = PackedSubmission.pack(submission)
                except OSError:  # cannot be read here: no kernel needed to say so
                    yield grader.evaluate(submission)
                    continue
                future = client.submit(evaluate_on_dask_worker, bundle, packed, key=f"grade-{submission.student}-{grader.fingerprint}",
                                       pure=False, retries=self.retries)
                futures[future] = submission
            for future in dask_completed(futures):
                submission = futures[future]
                try:
                    yield future.result()
                except Exception as error:  # KilledWorker, a worker that refused its bundle, and the like: recorded, never lost
                    report = GradeReport(submission.student, "error", 0.0, grader.max_score,
                                         notes=[f"the Dask cluster could not grade it: {type(error).__name__}: {error}"])
                    yield Evaluation(report, "")
