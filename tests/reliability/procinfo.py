"""What the kernel says about a process (Linux /proc): descriptors, memory, CPU time.

Plus `wait_until`, which polls a condition with a deadline: the tests use it to wait for the
server to reach a state they can observe only through /proc (e.g. `wait_for_fd_count`: "its
descriptors are back").
"""

from __future__ import annotations

import os
import time
from typing import Callable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> set[int]:
    """The descriptor numbers the process has open."""
    return {int(name) for name in os.listdir(f"/proc/{pid}/fd")}


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
    # After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_until(condition: Callable[[], object], timeout: float, what: str | Callable[[], str],
               interval: float = 0.02):
    """Poll `condition()` until it is truthy (return it) or `timeout` passes (AssertionError).

    `what` may be a function, so that the message says how things stood when the wait gave up."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(interval)


def wait_for_fd_count(pid: int, count: int, timeout: float = 10.0) -> None:
    """Wait until the process holds exactly `count` descriptors. A server closes connections
    asynchronously (one may take its drain time to read what it is owed), so wait, not read once."""
    wait_until(lambda: fd_count(pid) == count, timeout,
               lambda: f"the process holds {count} descriptors (it holds {fd_count(pid)})")
