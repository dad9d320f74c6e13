"""One load generator worker process: its share of the client connections, driven by one `selectors` loop.

A worker connects its share, waits until they are settled, says so to the coordinator
(`loadgen.run_load`) over a pipe, then follows the timeline the coordinator sends: send from
*go*, stop taking on new messages at *window end*, drain until every expected line arrived,
and only then parse what it received (loss, reorder, latency) and send back its figures.

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
import os
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass

from . import procstat
from .loadplan import LoadPlan
from .wire import DeliveryCheck, format_messages, line_pattern, sender_prefix

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


def worker_main(plan: LoadPlan, share: WorkerShare, addresses, marker: bytes, control) -> None:
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
