"""In-process helpers for the loop's own tests: real sockets, no server process."""

from __future__ import annotations

import socket

from selchat.server.network import Reactor, Transport


class CountingSocket:
    """A real socket whose send() calls are counted, and that can be made to take only a few bytes."""

    def __init__(self, sock: socket.socket, max_send: int | None = None) -> None:
        self.sock, self.max_send, self.sends = sock, max_send, []
        self.takes_nothing = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data) -> int:
        if self.takes_nothing:
            raise BlockingIOError
        chunk = bytes(data[: self.max_send]) if self.max_send else data
        sent = self.sock.send(chunk)
        self.sends.append(sent)
        return sent

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def close(self) -> None:
        self.sock.close()


class Recorder:
    """A handler that keeps what it is told."""

    def __init__(self) -> None:
        self.data, self.eof, self.lost = b"", False, None

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, reason: str) -> None:
        self.lost = reason


def attached_pair(reactor: Reactor, max_send: int | None = None) -> tuple[Transport, CountingSocket, socket.socket]:
    """A socketpair whose server end is a connection of the reactor's, handled by a Recorder."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    counting = CountingSocket(ours, max_send)
    transport = reactor.conns.adopt(counting, "test", lambda transport: Recorder())
    return transport, counting, theirs


def run_until(reactor: Reactor, done, timeout: float = 5.0) -> None:
    """Turn the loop until `done()`; a short timer bounds each select() so a bug fails, not hangs."""
    deadline = reactor.now + timeout
    while not done():
        assert reactor.now < deadline, "condition not reached"
        reactor.call_later(0.05, lambda: None)
        reactor.run_once()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    sock.settimeout(5)
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data
