"""The load generator: many client connections driven by one `selectors` loop per process.

How a run goes
--------------
The coordinator (`run_load`) splits the connections of a `LoadPlan` over `procs` worker
processes. Each worker connects its share, waits until they are settled (in chat mode: each got a
first line, the greeting), and says so. The coordinator then fixes one timeline for everyone,
in ``time.monotonic()`` which all processes share:

    go ── warm-up ── window start ══ measured window ══ window end ── drain

Senders start at *go* and stop taking on new messages at *window end*. The coordinator reads the
server's CPU time from /proc at the two window edges. After the window the workers report how
many messages each sender sent, the coordinator tells every worker what to expect, and the
workers read until everything arrived or the drain timeout passed. Only then do they parse what
they received: loss, reorder and latency are worked out after the clock stopped, so checking
every line costs the measurement nothing.

The workers are in `loadworker`; the plan and the figures in `loadplan`. This module is the
coordinator: it deals the connections out, spawns the workers, keeps the timeline and the
server's CPU and memory readings, and merges the workers' figures into one `LoadResult`.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from typing import Callable

from . import procstat
from .loadplan import LoadPlan, LoadResult
from .loadworker import WorkerShare, worker_main
from .wire import new_marker


def split_plan(plan: LoadPlan) -> list[WorkerShare]:
    """Deal senders, listeners and idle connections out to the workers as evenly as possible."""
    procs = max(1, plan.procs)
    shares = [WorkerShare([], 0, 0) for _ in range(procs)]
    for sender_id in range(plan.senders):
        shares[sender_id % procs].sender_ids.append(sender_id)
    for i, share in enumerate(shares):
        share.listeners = plan.listeners // procs + (1 if i < plan.listeners % procs else 0)
        share.idle = plan.idle // procs + (1 if i < plan.idle % procs else 0)
    if plan.probes:
        # The probes (ids after the senders') get a worker of their own: in a sender's worker a
        # probe's reply would wait behind the sender's refills (formatting thousands of lines takes
        # milliseconds) and its round trip would measure the bench, not the server. Alone, the
        # probe worker sleeps in select() and the kernel wakes it as soon as the reply arrives.
        shares.append(WorkerShare(list(range(plan.senders, plan.senders + plan.probes)), 0, 0))
    return shares


def wait_for_server_fds(pids: list[int], at_least: int, timeout: float) -> None:
    """Wait until the servers hold `at_least` descriptors in all: they have accepted our connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [procstat.count_open_fds(pid) for pid in pids]
        if None in counts or sum(counts) >= at_least:
            return
        time.sleep(0.02)


def _count_fds(pids: list[int]) -> int | None:
    counts = [procstat.count_open_fds(pid) for pid in pids]
    return None if not pids or None in counts else sum(counts)


def _sample(pids: list[int]) -> procstat.ProcSample | None:
    """The servers' CPU time and RSS, summed (several cluster nodes count as one server)."""
    samples = [procstat.sample(pid) for pid in pids]
    if not pids or None in samples:
        return None
    return procstat.ProcSample(sum(s.cpu_seconds for s in samples), sum(s.rss_bytes for s in samples))


def _sleep_until(moment: float) -> None:
    left = moment - time.monotonic()
    if left > 0:
        time.sleep(left)


def run_load(plan: LoadPlan, address: tuple[str, int] | list[tuple[str, int]],
             server_pid: int | list[int] | None = None,
             on_window_edge: Callable[[str], None] | None = None) -> LoadResult:
    """Run `plan` against the server at `address`; measure its CPU and memory when `server_pid` is ours.

    Several addresses and pids (cluster nodes): connections are dealt out over the addresses, and
    the servers' CPU and memory are summed. `on_window_edge("start")` and `("end")` are called
    at the measured window's edges, beside the CPU readings (the cluster bench reads Redis there).
    """
    result = LoadResult(plan)
    marker = new_marker()
    addresses = address if isinstance(address, list) else [address]
    pids = server_pid if isinstance(server_pid, list) else ([server_pid] if server_pid else [])
    server_fds_before = _count_fds(pids)
    before = _sample(pids)
    context = multiprocessing.get_context("fork")
    workers = []
    for share in split_plan(plan):
        ours, theirs = context.Pipe()
        proc = context.Process(target=worker_main, args=(plan, share, addresses, marker, theirs), daemon=True)
        proc.start()
        theirs.close()
        workers.append((proc, ours))
    try:
        replies = [_expect(pipe, "ready", plan.settle_timeout + 30) for _, pipe in workers]
        live = sum(r[1] for r in replies)
        if pids and server_fds_before is not None:
            wait_for_server_fds(pids, server_fds_before + live, timeout=10)
            time.sleep(0.2)  # let the server finish per-connection setup (greetings, buffers)
        connected = _sample(pids)
        go_at = time.monotonic() + 0.05
        window_start = go_at + plan.warmup
        window_end = window_start + plan.duration
        for _, pipe in workers:
            pipe.send(("go", go_at, window_start, window_end))
        _sleep_until(window_start)
        cpu_start = _sample(pids)
        if on_window_edge:
            on_window_edge("start")
        _sleep_until(window_end)
        cpu_end = _sample(pids)
        if on_window_edge:
            on_window_edge("end")
        sent_by_sender: dict[int, int] = {}
        for _, pipe in workers:
            sent_by_sender.update(_expect(pipe, "sent", 30)[1])
        for _, pipe in workers:
            pipe.send(("expect", sent_by_sender))
        outcomes = [_expect(pipe, "result", plan.drain_timeout + 120)[1] for _, pipe in workers]
    finally:
        for proc, pipe in workers:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
            pipe.close()
    result.sent = sum(sent_by_sender.values())
    digests: Counter = Counter()
    result.window_seconds = window_end - window_start
    for outcome in outcomes:
        result.connected += outcome["connected"]
        result.connect_failures += outcome["connect_failures"]
        result.closed_by_server += outcome["closed_by_server"]
        result.expected_deliveries += outcome["expected"]
        result.deliveries += outcome["delivered"]
        result.window_deliveries += outcome["window_deliveries"]
        result.lost += outcome["lost"]
        result.reordered += outcome["reordered"]
        result.duplicated += outcome["duplicated"]
        result.latency_us.update(outcome["latency_us"])
        result.probe_window_deliveries += outcome["probe_window_deliveries"]
        result.probe_latency_us.update(outcome["probe_latency_us"])
        result.listener_latency_us.update(outcome["listener_latency_us"])
        digests.update(outcome["order_digests"])
        result.loadgen_cpu_seconds += outcome["cpu_in_window"]
        result.loadgen_busiest_share = max(result.loadgen_busiest_share,
                                           outcome["cpu_in_window"] / result.window_seconds)
    if plan.mode == "chat" and digests:
        # Every chat receiver hears every line, so all must have heard one sequence.
        result.order_mismatches = sum(digests.values()) - digests.most_common(1)[0][1]
    if cpu_start and cpu_end:
        result.server_cpu_seconds = cpu_end.cpu_seconds - cpu_start.cpu_seconds
    if before and connected:
        result.server_rss_before = before.rss_bytes
        result.server_rss_connected = connected.rss_bytes
    if result.connect_failures:
        result.notes.append(f"{result.connect_failures} connections failed")
    if result.closed_by_server:
        result.notes.append(f"{result.closed_by_server} connections closed by the server")
    if result.order_mismatches:
        result.notes.append(f"{result.order_mismatches} receivers heard the lines in another order than the rest")
    if result.loadgen_saturated:
        result.notes.append(f"load generator busy {result.loadgen_busiest_share:.0%} of a core: "
                            "deliveries/s is a floor, try --procs")
    return result


def _expect(pipe, kind: str, timeout: float):
    if not pipe.poll(timeout):
        raise RuntimeError(f"load generator worker sent no {kind!r} within {timeout:.0f} s")
    message = pipe.recv()
    if message[0] == "error":
        raise RuntimeError(f"load generator worker failed: {message[1]}")
    if message[0] != kind:
        raise RuntimeError(f"load generator worker sent {message[0]!r}, expected {kind!r}")
    return message
