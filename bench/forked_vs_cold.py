"""The same training cell timed in a cold grading kernel and in a warm (forked) one, interleaved, with the counters
that tell the causes of a difference apart.

Both kernels are the grader's own (one worker, the course's sandbox): a cold kernel runs the master's setup cells,
then the probe cell; a warm kernel is forked from a WarmPool template that ran them. The probe trains a seeded
5x5x5x5x5x1 tanh MLP with full-batch Adam (overhead-bound, single-threaded, like the experiments) and reports,
from inside the kernel: page faults (getrusage), gc collections and time (gc.callbacks), tracing and monitoring
hooks, debugpy, torch threads, CPU affinity, THP, malloc settings and the size of the heap the gc walks.
Run: .venv/bin/python bench/forked_vs_cold.py [--runs N] [--steps N] [--variant NAME ...]
A variant changes the template's source (an A/B of one candidate cause); "none" is the package as it is.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from dvwcourse.cells import grade_id, is_solution
from dvwcourse.course_copy import copy_course
from dvwcourse.kernel import warm_kernels
from dvwcourse.kernel.execution import run_notebook
from dvwcourse.kernel.warm_kernels import WarmPool
from dvwcourse.safe_grading import Grader
from dvwcourse.settings import load_course

REPO = Path(__file__).resolve().parents[1]

PROBE = r'''
import gc as _gc, json as _json, os as _os, resource as _resource, sys as _sys, threading as _threading, time as _time
import torch as _torch

def _thread_ticks():
    ticks = {}
    for tid in _os.listdir("/proc/self/task"):
        try:
            stat = open(f"/proc/self/task/{tid}/stat").read()
            name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            ticks[f"{tid} {name}"] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return ticks

def _probe(steps):
    gc_stats = {"collections": [0, 0, 0], "seconds": 0.0}
    started = {}
    def on_gc(phase, info):
        if phase == "start":
            started["t"] = _time.perf_counter()
        else:
            gc_stats["collections"][info["generation"]] += 1
            gc_stats["seconds"] += _time.perf_counter() - started["t"]
    _torch.manual_seed(0)
    net = _torch.nn.Sequential(*[layer for _ in range(4) for layer in (_torch.nn.Linear(5, 5), _torch.nn.Tanh())],
                               _torch.nn.Linear(5, 1))
    x, y = _torch.randn(400, 5), _torch.randn(400, 1)
    optimizer = _torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = ((net(x) - y) ** 2).mean(); optimizer.zero_grad(); loss.backward(); optimizer.step()  # first-use costs
    _gc.callbacks.append(on_gc)
    ticks = _thread_ticks()
    before, cpu = _resource.getrusage(_resource.RUSAGE_SELF), _time.process_time()
    start = _time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    seconds = _time.perf_counter() - start
    cpu, after = _time.process_time() - cpu, _resource.getrusage(_resource.RUSAGE_SELF)
    _gc.callbacks.remove(on_gc)
    gc_stats["other_threads_ticks"] = {k: v - ticks.get(k, 0) for k, v in _thread_ticks().items()
                                       if v - ticks.get(k, 0) and int(k.split()[0]) != _threading.get_native_id()}
    return seconds, cpu, gc_stats, after.ru_minflt - before.ru_minflt, after.ru_majflt - before.ru_majflt, \
        after.ru_nivcsw - before.ru_nivcsw

def _read(path, default=""):
    try:
        return open(path).read()
    except OSError:
        return default

def _monitoring():
    monitoring = getattr(_sys, "monitoring", None)
    return [monitoring.get_tool(i) for i in range(6)] if monitoring else "n/a"

_seconds, _cpu, _gcs, _minflt, _majflt, _nivcsw = _probe(__DVW_STEPS__)
_smaps = _read("/proc/self/smaps_rollup")
print("DVW-PROBE " + _json.dumps({
    "seconds": _seconds, "cpu": _cpu, "gc": _gcs, "minflt": _minflt, "majflt": _majflt, "nivcsw": _nivcsw,
    "trace": repr(_sys.gettrace()), "profile": repr(_sys.getprofile()),
    "thread_trace": repr(getattr(_threading, "_trace_hook", None)), "thread_profile": repr(getattr(_threading, "_profile_hook", None)),
    "monitoring": _monitoring(), "debugpy": sorted(m for m in _sys.modules if m.split(".")[0] in ("debugpy", "pydevd")),
    "torch_threads": _torch.get_num_threads(), "interop_threads": _torch.get_num_interop_threads(),
    "affinity": sorted(_os.sched_getaffinity(0)), "threads": len(_os.listdir("/proc/self/task")),
    "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled").strip(),
    "anon_huge_kb": next((int(l.split()[1]) for l in _smaps.splitlines() if l.startswith("AnonHugePages")), None),
    "rss_kb": next((int(l.split()[1]) for l in _smaps.splitlines() if l.startswith("Rss")), None),
    "malloc_env": {k: v for k, v in _os.environ.items() if "MALLOC" in k or k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    "gc_counts": _gc.get_count(), "gc_thresholds": _gc.get_threshold(), "gc_frozen": _gc.get_freeze_count(),
    "gc_objects": len(_gc.get_objects()), "gc_enabled": _gc.isenabled(),
    "grad_enabled": _torch.is_grad_enabled(), "modules": len(_sys.modules),
    "switch_interval": _sys.getswitchinterval(), "other_threads_ticks": _gcs["other_threads_ticks"],
    "nice": _os.getpriority(_os.PRIO_PROCESS, 0), "autogroup": _read("/proc/self/autogroup").strip(),
    "cgroup": _read("/proc/self/cgroup").strip(), "sched_policy": _os.sched_getscheduler(0),
    "python_threads": sorted(t.name for t in _threading.enumerate()),
}))
'''

# One candidate cause per variant: a change to the template's source (dvwcourse/kernel/fork_server.py), as (old, new).
VARIANTS: dict[str, list[tuple[str, str]]] = {
    "none": [],
    # the child inherits the template's heap in gen2: freeze it so the child's full collections skip it
    "gc_freeze": [("pid = os.fork()", "import gc; gc.collect(); gc.freeze(); pid = os.fork()")],
    # no restore of the random states before the first cell
    "no_restore_hook": [('app.shell.events.register("pre_run_cell", restore_random_states)', "pass")],
    # the template does not import the kernel's debugger before forking
    "no_debugger_import": [('"ipykernel.debugger",', "")],
    # the template does not import torch._dynamo before forking
    "no_warm_imports": [('WARM_IMPORTS = ("torch._dynamo",)', "WARM_IMPORTS = ()")],
}


def template_argv(variant: str) -> list[str]:
    source = (Path(warm_kernels.__file__).parent / "fork_server.py").read_text(encoding="utf-8")
    for old, new in VARIANTS[variant]:
        if old not in source:
            raise SystemExit(f"variant {variant}: {old!r} is not in fork_server.py any more")
        source = source.replace(old, new)
    return [sys.executable, "-c", source]


def probe_notebook(master: nbformat.NotebookNode, steps: int, whole: bool = False) -> nbformat.NotebookNode:
    """The master's cells up to its first answer (its setup cells among them), or all of them (its solutions and
    hidden tests run in the kernel), then the probe."""
    end = len(master.cells) if whole else next(index for index, cell in enumerate(master.cells) if is_solution(cell))
    nb = nbformat.v4.new_notebook(metadata=master.metadata)
    nb.cells = [nbformat.from_dict(cell) for cell in master.cells[:end]]
    nb.cells.append(nbformat.v4.new_code_cell(PROBE.replace("__DVW_STEPS__", str(steps))))
    nb.cells[-1].id = "probe"
    return nb


def probe_result(nb: nbformat.NotebookNode) -> dict:
    text = "".join(output.get("text", "") for output in nb.cells[-1].get("outputs", []))
    line = next((line for line in text.splitlines() if line.startswith("DVW-PROBE ")), None)
    if line is None:
        raise SystemExit(f"the probe cell printed no result: {nb.cells[-1].get('outputs')}")
    return json.loads(line[len("DVW-PROBE "):])


def print_cells(master: nbformat.NotebookNode, cells: dict[str, list[dict[str, float]]]) -> None:
    """Medians of the master's slowest cells and of its answer cells, per kind of kernel."""
    answers = {grade_id(cell) for cell in master.cells if is_solution(cell)}
    keys = set.intersection(*(set(run) for rows in cells.values() for run in rows)) - {"probe"}
    slow = sorted((k for k in keys if statistics.median(r[k] for r in cells["cold"]) > 0.2),
                  key=lambda k: -statistics.median(r[k] for r in cells["cold"]))
    print(f"\nthe master's cells (medians, seconds; the cells over 0.2 s cold, then all answer cells together):")
    print(f"  {'cell':28} " + " ".join(f"{kind:>18}" for kind in cells))
    for key in slow:
        row = {kind: statistics.median(r[key] for r in rows) for kind, rows in cells.items()}
        print(f"  {key[:28]:28} " + " ".join(f"{v:8.3f} ({v / row['cold']:5.3f}x)" for v in row.values()))
    row = {kind: statistics.median(sum(v for k, v in r.items() if k in answers) for r in rows) for kind, rows in cells.items()}
    print(f"  {'answer cells':28} " + " ".join(f"{v:8.3f} ({v / row['cold']:5.3f}x)" for v in row.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (interleaved)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--master", action="store_true", help="run the whole master before the probe and time its cells too")
    parser.add_argument("--testing", action="store_true", help="with --master: judge the test cells in this process, as grading does")
    parser.add_argument("--load", type=int, default=0, help="busy processes running beside the kernels (a loaded machine)")
    parser.add_argument("--variant", nargs="+", default=["none"], choices=sorted(VARIANTS))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dvw-bench-") as folder:
        course = copy_course(load_course(REPO), Path(folder))
        grader = Grader(course)
        master = nbformat.read(course.source_notebook, as_version=4)
        env = grader.notebook_env()
        print(f"{grader.launcher.description}; {args.steps} Adam steps per run, {args.runs} interleaved runs of each kind")
        pools = {}
        for variant in args.variant:
            warm_kernels.TEMPLATE_ARGV = template_argv(variant)
            pools[variant] = WarmPool(grader.launcher, grader.library, env)
            pools[variant].run(probe_notebook(master, 10), None, [])  # start its template outside the timings
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
        results: dict[str, list[dict]] = {"cold": [], **{f"warm {v}": [] for v in args.variant}}
        cells: dict[str, list[dict[str, float]]] = {kind: [] for kind in results}
        try:
            for run in range(args.runs):
                kinds = list(results) if run % 2 == 0 else list(reversed(results))
                for kind in kinds:
                    nb = probe_notebook(master, args.steps, args.master)
                    testing = grader.testing("bench") if args.testing and args.master else None
                    ran = run_notebook(nb, testing, grader.launcher, env) if kind == "cold" else pools[kind[5:]].run(nb, testing, [])
                    if ran is None:
                        raise SystemExit(f"{kind}: no warm kernel could be had ({pools[kind[5:]].unavailable})")
                    results[kind].append(probe_result(nb))
                    cells[kind].append({key[5:]: seconds for key, seconds in ran.timings.items() if key.startswith("cell ")})
                    print(f"  run {run + 1} {kind:24} {results[kind][-1]['seconds']:6.3f} s", flush=True)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
            for pool in pools.values():
                pool.close()

    cold = statistics.median(r["seconds"] for r in results["cold"])
    print(f"\nmedians of {args.runs} runs (seconds of {args.steps} steps; counters over the loop):")
    print(f"  {'kind':24} {'wall':>7} {'vs cold':>8} {'cpu':>7} {'minflt':>8} {'majflt':>7} {'gc 0/1/2':>14} {'gc s':>7} {'invcsw':>7}")
    for kind, rows in results.items():
        def median(key):
            return statistics.median(r[key] for r in rows)
        gcs = "/".join(str(statistics.median(r["gc"]["collections"][g] for r in rows)) for g in range(3))
        print(f"  {kind:24} {median('seconds'):7.3f} {median('seconds') / cold:7.3f}x {median('cpu'):7.3f} {median('minflt'):8.0f} "
              f"{median('majflt'):7.0f} {gcs:>14} {statistics.median(r['gc']['seconds'] for r in rows):7.4f} {median('nivcsw'):7.0f}")
    if args.master:
        print_cells(master, cells)
    print("\nstate of the kernel (last run of each kind):")
    keys = [k for k in results["cold"][-1] if k not in ("seconds", "cpu", "gc", "minflt", "majflt", "nivcsw")]
    for key in keys:
        values = {kind: rows[-1][key] for kind, rows in results.items()}
        same = len({json.dumps(v) for v in values.values()}) == 1
        print(f"  {key:16} " + ("(same) " + json.dumps(values["cold"]) if same else
                                "; ".join(f"{kind}: {json.dumps(v)}" for kind, v in values.items())))


if __name__ == "__main__":
    main()
