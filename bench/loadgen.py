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

Why it keeps up
---------------
During the run a worker does no per-line Python work: a receive is one ``recv`` of up to 64 KiB,
one ``rfind`` to cut at the last newline, and a ``bytes.count`` of the run's marker (C speed).
A sender keeps `window` messages in flight (its own copy coming back is the acknowledgement, in
echo and chat mode alike) and refills the window with one ``send`` however many slots opened.
Each worker still measures its own CPU over the window; a worker near 100 % of a core means the
deliveries/s figure is a floor set by the load generator, and the report says so. Server CPU per
message stays valid either way: it is server CPU over messages actually delivered.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from . import procstat
from .wire import DeliveryCheck, format_messages, line_pattern, new_marker, percentile, sender_prefix

RECV_SIZE = 65536
MAX_PENDING_CONNECTS = 256  # more SYNs at once only overflow the server's accept queue


def begin_connect(address: tuple[str, int], nodelay: bool = False) -> socket.socket | None:
    """A non-blocking socket whose connect to `address` is under way, or None if it failed at once.

    The connect has finished when the socket turns writable; SO_ERROR then says whether it worked.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if sock.connect_ex(address) not in (0, errno.EINPROGRESS):
        sock.close()
        return None
    return sock


@dataclass
class LoadPlan:
    """What the load generator does in one run.

    mode: "echo" (a connection hears only its own lines back), "upper" (the same, upper-cased) or
    "chat" (every connection hears every sender's lines). senders: connections that send; in chat
    mode they receive too. listeners: extra connections that only receive. idle: connections that
    connect and stay silent. window: messages each sender keeps in flight. probes (echo and upper):
    ping-pong connections beside the senders, one message in flight each, whose latencies and
    deliveries are counted apart, to see how the senders' load delays a light client.
    """

    mode: str
    senders: int
    listeners: int = 0
    idle: int = 0
    window: int = 1
    probes: int = 0
    duration: float = 2.0
    warmup: float = 0.3
    procs: int = 1
    drain_timeout: float = 5.0
    settle_timeout: float = 60.0
    cpus: frozenset[int] | None = None  # where the workers may run (None: anywhere)

    @property
    def connections(self) -> int:
        return self.senders + self.probes + self.listeners + self.idle

    @property
    def echoes(self) -> bool:
        """Whether each connection hears only its own lines back."""
        return self.mode in ("echo", "upper")

    def reply_marker(self, marker: bytes) -> bytes:
        """The run's marker as it comes back: upper mode upper-cases the whole line."""
        return marker.upper() if self.mode == "upper" else marker


@dataclass
class LoadResult:
    """What one run measured. Times in seconds, latencies in microseconds."""

    plan: LoadPlan
    connected: int = 0
    connect_failures: int = 0
    closed_by_server: int = 0
    sent: int = 0
    expected_deliveries: int = 0
    deliveries: int = 0
    window_deliveries: int = 0
    window_seconds: float = 0.0
    lost: int = 0
    reordered: int = 0
    duplicated: int = 0
    latency_us: Counter = field(default_factory=Counter)
    probe_window_deliveries: int = 0
    probe_latency_us: Counter = field(default_factory=Counter)
    listener_latency_us: Counter = field(default_factory=Counter)  # connections that only listen
    order_mismatches: int = 0  # chat: receivers whose sequence of lines differs from the most common one
    loadgen_cpu_seconds: float = 0.0
    loadgen_busiest_share: float = 0.0  # the busiest worker's CPU over the window, 1.0 = a full core
    server_cpu_seconds: float | None = None
    server_rss_before: int | None = None
    server_rss_connected: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def deliveries_per_second(self) -> float:
        return self.window_deliveries / self.window_seconds if self.window_seconds else 0.0

    @property
    def sender_deliveries_per_second(self) -> float:
        """Deliveries per second of the senders' lines alone, without the probes'."""
        if not self.window_seconds:
            return 0.0
        return (self.window_deliveries - self.probe_window_deliveries) / self.window_seconds

    @property
    def server_us_per_delivery(self) -> float | None:
        if self.server_cpu_seconds is None or not self.window_deliveries:
            return None
        return self.server_cpu_seconds / self.window_deliveries * 1e6

    @property
    def server_bytes_per_connection(self) -> float | None:
        if self.server_rss_before is None or self.server_rss_connected is None or not self.connected:
            return None
        return (self.server_rss_connected - self.server_rss_before) / self.connected

    @property
    def latency_p50_us(self) -> float | None:
        return percentile(self.latency_us, 0.50)

    @property
    def latency_p99_us(self) -> float | None:
        return percentile(self.latency_us, 0.99)

    @property
    def probe_p50_us(self) -> float | None:
        return percentile(self.probe_latency_us, 0.50)

    @property
    def probe_p99_us(self) -> float | None:
        return percentile(self.probe_latency_us, 0.99)

    @property
    def listener_p50_us(self) -> float | None:
        return percentile(self.listener_latency_us, 0.50)

    @property
    def listener_p99_us(self) -> float | None:
        return percentile(self.listener_latency_us, 0.99)

    @property
    def loadgen_saturated(self) -> bool:
        return self.loadgen_busiest_share > 0.9

    def summary(self) -> dict:
        """The figures as plain JSON-able values."""
        return {
            "connections": self.connected,
            "connect_failures": self.connect_failures,
            "closed_by_server": self.closed_by_server,
            "sent": self.sent,
            "expected_deliveries": self.expected_deliveries,
            "deliveries": self.deliveries,
            "deliveries_per_second": round(self.deliveries_per_second, 1),
            "lost": self.lost,
            "reordered": self.reordered,
            "duplicated": self.duplicated,
            "latency_p50_us": self.latency_p50_us,
            "latency_p99_us": self.latency_p99_us,
            "sender_deliveries_per_second": round(self.sender_deliveries_per_second, 1),
            "probe_round_trips": sum(self.probe_latency_us.values()),
            "probe_p50_us": self.probe_p50_us,
            "probe_p99_us": self.probe_p99_us,
            "listener_p50_us": self.listener_p50_us,
            "listener_p99_us": self.listener_p99_us,
            "order_mismatches": self.order_mismatches,
            "server_cpu_us_per_delivery": self.server_us_per_delivery,
            "server_bytes_per_connection": self.server_bytes_per_connection,
            "loadgen_cpu_seconds": round(self.loadgen_cpu_seconds, 4),
            "loadgen_busiest_core_share": round(self.loadgen_busiest_share, 3),
            "loadgen_saturated": self.loadgen_saturated,
            "window_seconds": round(self.window_seconds, 4),
            "notes": self.notes,
        }


# ---------------------------------------------------------------------------------------------
# One worker process


@dataclass
class WorkerShare:
    """The connections one worker owns: global sender ids, and counts of the other kinds."""

    sender_ids: list[int]
    listeners: int
    idle: int


class Connection:
    """One client socket and what the run knows about it."""

    __slots__ = ("sock", "sender_id", "sender_prefix", "sent", "acked", "received", "carry", "chunks",
                 "outbuf", "closed", "first_line", "connecting", "idle", "window", "probe")

    def __init__(self, sock: socket.socket, sender_id: int | None, prefix: bytes | None, idle: bool,
                 window: int = 1, probe: bool = False) -> None:
        self.sock = sock
        self.sender_id = sender_id
        self.sender_prefix = prefix  # None for a connection that only listens
        self.sent = 0
        self.acked = 0
        self.received = 0  # message lines (with the run's marker) received
        self.carry = b""  # a partial line waiting for its end
        self.chunks: list[tuple[int, bytes]] = []  # (monotonic_ns, complete lines) as received
        self.outbuf = b""
        self.closed = False
        self.first_line = False
        self.connecting = True
        self.idle = idle
        self.window = window  # messages kept in flight
        self.probe = probe  # a ping-pong connection, counted apart


class Worker:
    """Drives one share of the connections through connect, settle, run, drain and analysis."""

    def __init__(self, plan: LoadPlan, share: WorkerShare, addresses: list[tuple[str, int]], marker: bytes,
                 control) -> None:
        self.plan = plan
        self.share = share
        self.addresses = addresses
        self.marker = marker
        self.reply_marker = plan.reply_marker(marker)
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.connections: list[Connection] = []
        self.connect_failures = 0
        self.pending_connects = 0
        self.closed_by_server = 0
        self.sending = False
        self.window_start_ns = 1 << 62
        self.window_end_ns = 1 << 62
        self.window_deliveries = 0
        self.probe_window_deliveries = 0
        self.cpu_in_window = 0.0
        self.control_messages: list = []
        self.selector.register(control.fileno(), selectors.EVENT_READ, None)

    # -- plumbing --------------------------------------------------------------------------

    def _poll(self, timeout: float) -> None:
        """One loop turn: wait for readiness, then read, write or finish connecting."""
        for key, mask in self.selector.select(timeout):
            conn = key.data
            if conn is None:
                self.control_messages.append(self.control.recv())
                continue
            if conn.connecting:
                self._finish_connect(conn)
                continue
            if mask & selectors.EVENT_READ:
                self._read(conn)
            if mask & selectors.EVENT_WRITE and not conn.closed:
                self._flush(conn)

    def _finish_connect(self, conn: Connection) -> None:
        error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        conn.connecting = False
        self.pending_connects -= 1
        if error:
            self.connect_failures += 1
            self._close(conn, counted=False)
            return
        self.selector.modify(conn.sock, selectors.EVENT_READ, conn)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if conn.carry:
            data = conn.carry + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            conn.carry = data
            return
        if cut < len(data):
            conn.carry = data[cut:]
            data = data[:cut]
        else:
            conn.carry = b""
        conn.first_line = True
        if conn.idle:
            return
        now = time.monotonic_ns()
        lines = data.count(self.reply_marker)
        if not lines:
            return  # noise only: greetings, notices
        conn.received += lines
        conn.chunks.append((now, data))
        if self.window_start_ns <= now < self.window_end_ns:
            self.window_deliveries += lines
            if conn.probe:
                self.probe_window_deliveries += lines
        if conn.sender_prefix is not None:
            conn.acked += lines if self.plan.echoes else data.count(conn.sender_prefix)
            if self.sending:
                self._refill(conn, now)

    def _refill(self, conn: Connection, now_ns: int) -> None:
        free = conn.window - (conn.sent - conn.acked)
        if free > 0:
            self._write(conn, format_messages(conn.sender_prefix, conn.sent, free, now_ns))
            conn.sent += free

    def _write(self, conn: Connection, data: bytes) -> None:
        if conn.closed:
            return
        if conn.outbuf:
            conn.outbuf += data
            return
        try:
            written = conn.sock.send(data)
        except BlockingIOError:
            written = 0
        except OSError:
            self._close(conn)
            return
        if written < len(data):
            conn.outbuf = data[written:]
            self.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _flush(self, conn: Connection) -> None:
        try:
            written = conn.sock.send(conn.outbuf)
        except BlockingIOError:
            return
        except OSError:
            self._close(conn)
            return
        conn.outbuf = conn.outbuf[written:]
        if not conn.outbuf:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)

    def _close(self, conn: Connection, counted: bool = True) -> None:
        if conn.closed:
            return
        conn.closed = True
        if counted:
            self.closed_by_server += 1
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def _wait_control(self):
        """Keep serving sockets until the coordinator says something; return it."""
        while not self.control_messages:
            self._poll(0.05)
        return self.control_messages.pop(0)

    # -- phases ------------------------------------------------------------------------------

    def connect_all(self) -> None:
        """Open every connection, at most MAX_PENDING_CONNECTS handshakes at a time."""
        kinds = ([b"S"] * len(self.share.sender_ids)) + [None] * self.share.listeners + [b"I"] * self.share.idle
        sender_ids = iter(self.share.sender_ids)
        deadline = time.monotonic() + self.plan.settle_timeout
        for kind in kinds:
            while self.pending_connects >= MAX_PENDING_CONNECTS:
                self._poll(0.05)
                if time.monotonic() > deadline:
                    break
            sender_id = next(sender_ids) if kind == b"S" else None
            # Several servers (cluster nodes): connections are dealt out in turn, senders first,
            # so with one load generator process sender i and listener j land on different nodes.
            sock = begin_connect(self.addresses[len(self.connections) % len(self.addresses)], nodelay=True)
            if sock is None:
                self.connect_failures += 1
                continue
            prefix = sender_prefix(self.marker, sender_id) if sender_id is not None else None
            probe = sender_id is not None and sender_id >= self.plan.senders
            conn = Connection(sock, sender_id, prefix, idle=(kind == b"I"),
                              window=1 if probe else self.plan.window, probe=probe)
            self.connections.append(conn)
            self.pending_connects += 1
            self.selector.register(sock, selectors.EVENT_WRITE, conn)

    def settle(self) -> None:
        """Wait until connections are up and, in chat mode, each has received its greeting."""
        deadline = time.monotonic() + self.plan.settle_timeout
        def unsettled() -> bool:
            for c in self.connections:
                if c.closed:
                    continue
                if c.connecting or (self.plan.mode == "chat" and not c.first_line):
                    return True
            return False
        while unsettled() and time.monotonic() < deadline:
            self._poll(0.05)

    def run(self) -> dict:
        self.connect_all()
        self.settle()
        live = sum(1 for c in self.connections if not c.closed)
        self.control.send(("ready", live))
        go = self._wait_control()
        _, go_at, window_start, window_end = go
        self.window_start_ns = int(window_start * 1e9)
        self.window_end_ns = int(window_end * 1e9)
        self._run_until(go_at)
        self.sending = True
        senders = [c for c in self.connections if c.sender_prefix is not None and not c.closed]
        now = time.monotonic_ns()
        for conn in senders:
            self._refill(conn, now)
        self._run_until(window_start)
        cpu_at_window_start = procstat.own_cpu_seconds()
        self._run_until(window_end)
        self.cpu_in_window = procstat.own_cpu_seconds() - cpu_at_window_start
        self.sending = False
        sent = {c.sender_id: c.sent for c in self.connections if c.sender_id is not None}
        self.control.send(("sent", sent))
        _, sent_by_sender = self._wait_control()
        self._drain(sent_by_sender)
        return self._analyse(sent_by_sender)

    def _run_until(self, until: float) -> None:
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._poll(min(left, 0.05))

    def _heard(self, conn: Connection, sent_by_sender: dict[int, int]) -> dict[int, int]:
        """The senders whose lines `conn` should receive, with how many each sent."""
        if self.plan.echoes:
            return {conn.sender_id: conn.sent}
        return sent_by_sender

    def _drain(self, sent_by_sender: dict[int, int]) -> None:
        deadline = time.monotonic() + self.plan.drain_timeout
        waiting = [(c, sum(self._heard(c, sent_by_sender).values())) for c in self.connections if not c.idle]
        while time.monotonic() < deadline:
            waiting = [(c, expected) for c, expected in waiting if not c.closed and c.received < expected]
            if not waiting:
                return
            self._poll(0.02)

    def _analyse(self, sent_by_sender: dict[int, int]) -> dict:
        pattern = line_pattern(self.reply_marker)
        latencies: Counter = Counter()
        probe_latencies: Counter = Counter()
        listener_latencies: Counter = Counter()
        order_digests: list[str] = []
        lost = reordered = duplicated = delivered = expected = 0
        for conn in self.connections:
            if conn.idle:
                continue
            check = DeliveryCheck()
            kept: Counter = Counter()
            for recv_ns, data in conn.chunks:
                in_window = self.window_start_ns <= recv_ns < self.window_end_ns
                check.feed(data, pattern, recv_ns, kept if in_window else None)
            (probe_latencies if conn.probe else latencies).update(kept)
            if conn.sender_prefix is None:
                listener_latencies.update(kept)
            order_digests.append(check.order_digest())
            heard = self._heard(conn, sent_by_sender)
            expected += sum(heard.values())
            lost += check.lost(heard)
            reordered += check.reordered
            duplicated += check.duplicated
            delivered += check.received
        return {
            "connected": sum(1 for c in self.connections if not c.connecting),
            "connect_failures": self.connect_failures,
            "closed_by_server": self.closed_by_server,
            "expected": expected,
            "delivered": delivered,
            "window_deliveries": self.window_deliveries,
            "probe_window_deliveries": self.probe_window_deliveries,
            "probe_latency_us": probe_latencies,
            "lost": lost,
            "reordered": reordered,
            "duplicated": duplicated,
            "latency_us": latencies,
            "listener_latency_us": listener_latencies,
            "order_digests": order_digests,
            "cpu_in_window": self.cpu_in_window,
        }

    def close(self) -> None:
        for conn in self.connections:
            if not conn.closed:
                conn.sock.close()
        self.selector.close()


def _worker_main(plan: LoadPlan, share: WorkerShare, addresses, marker: bytes, control) -> None:
    procstat.raise_open_file_limit()
    if plan.cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, plan.cpus)
        except OSError:
            pass
    worker = Worker(plan, share, addresses, marker, control)
    try:
        control.send(("result", worker.run()))
    except Exception as exc:  # report, don't hang the coordinator
        control.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        worker.close()


# ---------------------------------------------------------------------------------------------
# The coordinator


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
        proc = context.Process(target=_worker_main, args=(plan, share, addresses, marker, theirs), daemon=True)
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
