"""Who evaluates submissions: this process, local worker threads, or a Dask cluster.

Each evaluation runs its notebook in a kernel process of its own, so local workers are threads that
wait on their kernels: one long-lived grading process, no per-submission imports of nbgrader or
torch in it. Every backend yields Evaluations; the caller alone records them (one gradebook writer).
Workers know nothing of the engine: they get a GradingJob, which says how to evaluate one submission
here and, for workers elsewhere, which function to run there and the bundle it needs.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from .bundle import MasterBundle, PackedSubmission
from .intake import Submission
from .records import Evaluation
from .whose_fault import lost_on_cluster


@dataclass(frozen=True)
class GradingJob:
    """What any backend needs to evaluate a batch of one course version."""

    evaluate: Callable[[Submission], Evaluation]  # one submission, in this process; never raises
    evaluate_remote: Callable[[MasterBundle, PackedSubmission], Evaluation]  # module-level, so Dask ships it by name
    bundle: Callable[[], MasterBundle]  # built only when a remote backend needs it
    fingerprint: str  # the course version, in task names
    max_score: float


class Workers(Protocol):
    def evaluate(self, job: GradingJob, submissions: list[Submission]) -> Iterator[Evaluation]: ...


class SerialWorkers:
    """One submission at a time, in this process."""

    def evaluate(self, job: GradingJob, submissions: list[Submission]) -> Iterator[Evaluation]:
        for submission in submissions:
            yield job.evaluate(submission)


class LocalWorkers:
    """`count` submissions at a time."""

    def __init__(self, count: int) -> None:
        self.count = max(1, count)

    def evaluate(self, job: GradingJob, submissions: list[Submission]) -> Iterator[Evaluation]:
        with ThreadPoolExecutor(self.count, thread_name_prefix="grader") as pool:
            futures = [pool.submit(job.evaluate, s) for s in submissions]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                pool.shutdown(cancel_futures=True)  # a batch stopped early starts no more submissions


class DaskWorkers:
    """Evaluate on an existing Dask cluster; workers share no disk with this process.

    The master bundle goes to every worker once; each task carries its submission's bytes. A task
    whose worker dies is rerun elsewhere by Dask (its `allowed-failures`); one that still cannot
    finish is recorded as an error (retried by the next run), never dropped.
    """

    def __init__(self, address: str, retries: int = 2) -> None:
        self.address = address
        self.retries = retries

    def evaluate(self, job: GradingJob, submissions: list[Submission]) -> Iterator[Evaluation]:
        from distributed import Client, as_completed as dask_completed  # only a Dask batch pays for importing it

        with Client(self.address, timeout="30s") as client:
            bundle = client.scatter(job.bundle(), broadcast=True)
            futures = {}
            for submission in submissions:
                try:
                    packed = PackedSubmission.pack(submission)
                except OSError:  # cannot be read here: no kernel needed to say so
                    yield job.evaluate(submission)
                    continue
                future = client.submit(job.evaluate_remote, bundle, packed, key=f"grade-{submission.student}-{job.fingerprint}",
                                       pure=False, retries=self.retries)
                futures[future] = submission
            for future in dask_completed(futures):
                submission = futures[future]
                try:
                    yield future.result()
                except Exception as error:  # KilledWorker, a worker that refused its bundle, and the like: recorded, never lost
                    yield lost_on_cluster(submission.student, job.max_score, error)
