"""The join storm: thousands of chat clients connect at once; how long until all are in and the room works.

A client counts as joined when it has received its first complete line (selchat-server's greeting;
the reference servers greet too). Once every client has joined, the first one sends a message and
the storm is over when every other client has received it: the room is usable. Bytes received per
client show whether join notices made the storm quadratic (each of N joins announced to everyone
is N² lines).

One process drives every client: nothing per client happens but a connect and a few reads.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field

from . import procstat
from .loadworker import MAX_PENDING_CONNECTS, RECV_SIZE, begin_connect
from .wire import format_messages, new_marker, sender_prefix


@dataclass
class JoinResult:
    """What a join storm measured. Times in seconds from the first connect."""

    clients: int
    joined: int = 0
    connect_failures: int = 0
    closed_by_server: int = 0
    join_seconds: float | None = None  # all clients joined
    usable_seconds: float | None = None  # a message from one reached all others, counted from the send
    reached: int = 0  # clients that received that message
    bytes_per_client: float = 0.0
    loadgen_cpu_seconds: float = 0.0
    server_cpu_seconds: float | None = None
    server_bytes_per_connection: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.joined == self.clients and self.reached == self.clients - 1

    def summary(self) -> dict:
        return {
            "clients": self.clients,
            "joined": self.joined,
            "connect_failures": self.connect_failures,
            "closed_by_server": self.closed_by_server,
            "join_seconds": self.join_seconds,
            "usable_seconds": self.usable_seconds,
            "reached": self.reached,
            "bytes_per_client": round(self.bytes_per_client, 1),
            "loadgen_cpu_seconds": round(self.loadgen_cpu_seconds, 3),
            "server_cpu_seconds": self.server_cpu_seconds,
            "server_bytes_per_connection": self.server_bytes_per_connection,
            "notes": self.notes,
        }


class _Client:
    __slots__ = ("sock", "connecting", "joined", "reached", "received_bytes", "carry")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.connecting = True
        self.joined = False
        self.reached = False
        self.received_bytes = 0
        self.carry = b""


def run_join_storm(address: tuple[str, int], clients: int, server_pid: int | None = None,
                   timeout: float = 30.0) -> JoinResult:
    """Connect `clients` chat clients as fast as the server accepts them; see module docstring."""
    procstat.raise_open_file_limit()
    result = JoinResult(clients)
    marker = new_marker()
    selector = selectors.DefaultSelector()
    server_before = procstat.sample(server_pid) if server_pid else None
    cpu_before = procstat.own_cpu_seconds()
    everyone: list[_Client] = []
    pending = 0
    waiting_join = 0
    reached = 0
    probe_sent_at: float | None = None
    started = time.monotonic()
    deadline = started + timeout

    def read(client: _Client) -> None:
        nonlocal waiting_join, reached
        try:
            data = client.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            result.closed_by_server += 1
            selector.unregister(client.sock)
            client.sock.close()
            if not client.joined:
                waiting_join -= 1
            return
        client.received_bytes += len(data)
        if not client.joined and b"\n" in data:
            client.joined = True
            waiting_join -= 1
        if probe_sent_at is not None and not client.reached:
            # The marker may straddle two reads, so look at the tail of the last one too.
            if marker in client.carry + data:
                client.reached = True
                reached += 1
            client.carry = data[-len(marker):]

    def turn(wait: float) -> None:
        nonlocal pending, waiting_join
        for key, _mask in selector.select(wait):
            client = key.data
            if client.connecting:
                client.connecting = False
                pending -= 1
                if client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    result.connect_failures += 1
                    waiting_join -= 1
                    selector.unregister(client.sock)
                    client.sock.close()
                else:
                    selector.modify(client.sock, selectors.EVENT_READ, client)
            else:
                read(client)

    try:
        for _ in range(clients):
            while pending >= MAX_PENDING_CONNECTS and time.monotonic() < deadline:
                turn(0.05)
            sock = begin_connect(address)
            if sock is None:
                result.connect_failures += 1
                continue
            client = _Client(sock)
            everyone.append(client)
            pending += 1
            waiting_join += 1
            selector.register(sock, selectors.EVENT_WRITE, client)
        while waiting_join > 0 and time.monotonic() < deadline:
            turn(0.05)
        result.joined = sum(1 for c in everyone if c.joined)
        if result.joined == clients:
            result.join_seconds = time.monotonic() - started
        if server_pid:
            after = procstat.sample(server_pid)
            if server_before and after and result.joined:
                result.server_bytes_per_connection = (after.rss_bytes - server_before.rss_bytes) / result.joined
        speaker = next((c for c in everyone if c.joined and c.sock.fileno() >= 0), None)
        if speaker is not None:
            speaker.reached = True  # its own copy does not count
            probe_sent_at = time.monotonic()
            speaker.sock.setblocking(True)
            speaker.sock.sendall(format_messages(sender_prefix(marker, 0), 0, 1, time.monotonic_ns()))
            speaker.sock.setblocking(False)
            goal = result.joined - 1
            while reached < goal and time.monotonic() < deadline:
                turn(0.05)
            result.reached = reached
            if reached == goal:
                result.usable_seconds = time.monotonic() - probe_sent_at
        server_after = procstat.sample(server_pid) if server_pid else None
        if server_before and server_after:
            result.server_cpu_seconds = server_after.cpu_seconds - server_before.cpu_seconds
    finally:
        result.loadgen_cpu_seconds = procstat.own_cpu_seconds() - cpu_before
        result.bytes_per_client = sum(c.received_bytes for c in everyone) / max(1, len(everyone))
        for client in everyone:
            client.sock.close()
        selector.close()
    if result.joined < clients:
        result.notes.append(f"only {result.joined} of {clients} joined within {timeout:.0f} s")
    if result.connect_failures:
        result.notes.append(f"{result.connect_failures} connections failed")
    return result
