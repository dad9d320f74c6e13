"""What the kernel knows about a process: CPU time, resident memory, open descriptors.

Read straight from /proc so the bench needs no psutil. Linux only, which is where the numbers in
docs/benchmarks.md come from anyway; elsewhere the figures are reported as missing.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process: CPU seconds used so far (user + system) and resident set size."""

    cpu_seconds: float
    rss_bytes: int


def sample(pid: int) -> ProcSample | None:
    """Read /proc/PID/stat and /proc/PID/status; None when the process is gone or /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses, so split after its last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    rss_kib = 0
    for line in status.splitlines():
        if line.startswith(b"VmRSS:"):
            rss_kib = int(line.split()[1])
            break
    return ProcSample((utime + stime) / CLOCK_TICKS, rss_kib * 1024)


def count_open_fds(pid: int) -> int | None:
    """How many descriptors the process has open, or None if /proc does not say."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used; finer grained than /proc's clock ticks."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_file_limit() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; return the new soft limit.

    The join storm and the idle scenario hold 10,000 sockets, past the usual soft limit of 1024.
    Children (the servers the bench starts) inherit the raised limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def machine_info() -> dict[str, str | int]:
    """The facts a reader needs to compare numbers with their own machine."""
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        uname = " ".join(platform.uname())
    return {
        "uname": uname,
        "nproc": os.cpu_count() or 1,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "open_file_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
