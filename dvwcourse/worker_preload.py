"""Dask worker preload: `dask worker tcp://HOST:8786 --nthreads 1 --preload dvwcourse.worker_preload`.

A worker judges test cells itself, so without this it imports the grading engine and the libraries the master's
library and test cells use at its first submission: about 1.5-2 s of that submission on every worker of a new
cluster, which local workers do not pay (their grading process ran the master). With it, the worker pays them
when it starts, before any batch. It also switches off the worker's statistical profiler (the dashboard's profile
page), which samples the grading thread every 10 ms: about 0.2 s of every submission on a 2-core machine
(bench/grading_throughput.py).
"""
from __future__ import annotations

import importlib
from typing import Any

from .kernel.fork_server import WARM_IMPORTS

# What the master's library and test cells import (tests/test_worker_preload.py keeps this list complete), and
# what the first optimizer imports (WARM_IMPORTS).
JUDGING_IMPORTS = ("matplotlib.pyplot", "mpl_toolkits.mplot3d.art3d", "numpy", "scipy.optimize", "torch", "torch.nn",
                   "tqdm.auto", *WARM_IMPORTS)


def preload() -> None:
    """Import the grading engine and everything judging imports, once per worker process."""
    importlib.import_module("dvwcourse.safe_grading")
    for module in JUDGING_IMPORTS:
        importlib.import_module(module)


PROFILER_CALLBACKS = ("profile", "profile-cycle")  # distributed's names for the profiler's periodic callbacks


def dask_setup(worker: Any) -> None:
    """Dask calls this when the worker starts with `--preload dvwcourse.worker_preload`, before it starts its periodic
    callbacks: the profiler's are removed, so they never run."""
    for name in PROFILER_CALLBACKS:
        worker.periodic_callbacks.pop(name, None)
    preload()
