"""Sandbox uid leases: one uid per running kernel on a host, across threads and processes, freed by death."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from dvwcourse.kernel.uid_lease import NoFreeUid, leased_uid

# A range of its own, away from the grader's, so that tests running beside real grading see only their own.
FIRST = 3_900_000 + (os.getpid() % 1000) * 10

HOLDER = """
import sys
from pathlib import Path
from dvwcourse.kernel.uid_lease import leased_uid
with leased_uid(Path(sys.argv[1]), first=int(sys.argv[2]), count=int(sys.argv[3])) as uid:
    print(uid, flush=True)
    sys.stdin.read()  # hold the lease until told to stop (stdin closed) or killed
"""


def start_holder(folder, first=FIRST, count=10):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(first), str(count)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return holder, int(holder.stdout.readline())


def test_nested_leases_get_different_uids_and_a_released_uid_is_free_again(tmp_path):
    with leased_uid(tmp_path, first=FIRST, count=10) as first:
        with leased_uid(tmp_path, first=FIRST, count=10) as second:
            assert first != second
    with leased_uid(tmp_path, first=FIRST, count=10) as again:
        assert again == first


def test_threads_of_one_process_never_share_a_uid(tmp_path):
    held, barrier, lock = [], threading.Barrier(8), threading.Lock()

    def lease():
        with leased_uid(tmp_path, first=FIRST, count=10) as uid:
            with lock:
                held.append(uid)
            barrier.wait(timeout=10)  # all eight hold their lease at once

    threads = [threading.Thread(target=lease) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(held) == 8 and len(set(held)) == 8


def test_processes_on_one_host_never_share_a_uid_and_a_killed_holders_lease_is_reclaimed(tmp_path):
    holders = [start_holder(tmp_path) for _ in range(4)]
    try:
        uids = [uid for _, uid in holders]
        assert len(set(uids)) == 4
        with leased_uid(tmp_path, first=FIRST, count=10) as mine:
            assert mine not in uids
        victim, victim_uid = holders[0]
        victim.send_signal(signal.SIGKILL)  # no cleanup runs: the kernel drops its lock
        victim.wait()
        with leased_uid(tmp_path, first=FIRST, count=10) as reclaimed:
            assert reclaimed == victim_uid == min(uids)
    finally:
        for holder, _ in holders:
            holder.kill()
            holder.wait()


def test_a_uid_that_still_has_processes_is_passed_over(tmp_path):
    # A kernel left running under FIRST (its grader's lease is gone): that uid must not be handed out.
    leftover = subprocess.Popen(["setpriv", f"--reuid={FIRST}", f"--regid={FIRST}", "--clear-groups", "sleep", "60"])
    try:
        for _ in range(50):
            if os.stat(f"/proc/{leftover.pid}").st_uid == FIRST:
                break
            time.sleep(0.1)
        with leased_uid(tmp_path, first=FIRST, count=10) as uid:
            assert uid == FIRST + 1
    finally:
        leftover.kill()
        leftover.wait()


def test_an_exhausted_range_says_so(tmp_path):
    with leased_uid(tmp_path, first=FIRST, count=2), leased_uid(tmp_path, first=FIRST, count=2):
        with pytest.raises(NoFreeUid, match="all 2 sandbox uids"):
            with leased_uid(tmp_path, first=FIRST, count=2):
                pass
