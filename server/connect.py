"""Outbound connections: a non-blocking connect() finished inside the loop.

`connect()` starts `connect_ex()` (EINPROGRESS), waits for the socket to become writable, and
then reads `SO_ERROR` to learn how the attempt went, as asyncio's `sock_connect` does. The
result goes to one callback, always from a later loop callback, never from inside `connect()`
itself: `on_done(sock, None)` with a connected non-blocking socket, or `on_done(None, error)`.
`Connections.connect` builds on it to hand the socket over as a Transport.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable

from .loop import WRITE, Loop, Timer

# How long a connect may take before it is given up (TCP's own retries take minutes).
CONNECT_TIMEOUT = 10.0
_IN_PROGRESS = frozenset((0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR))

ConnectDone = Callable[["socket.socket | None", "OSError | None"], None]


class PendingConnect:
    """One connect() under way; `cancel()` closes the socket and reports nothing."""

    __slots__ = ("loop", "sock", "on_done", "timer", "done")

    def __init__(self, loop: Loop, sock: socket.socket, on_done: ConnectDone) -> None:
        self.loop, self.sock, self.on_done = loop, sock, on_done
        self.timer: Timer | None = None
        self.done = False

    def cancel(self) -> None:
        if not self.done:
            self._finish()
            self.sock.close()

    def _finish(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        try:
            self.loop.unregister(self.sock)
        except (KeyError, ValueError):
            pass  # never registered (failed at once), or the socket is closed

    def _fail(self, error: OSError) -> None:
        self._finish()
        self.sock.close()
        self.on_done(None, error)

    def __call__(self, mask: int) -> None:
        """Writable: the connect has finished, one way or the other."""
        if self.done:
            return
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._fail(OSError(code, os.strerror(code)))
            return
        self._finish()
        self.on_done(self.sock, None)

    def _timed_out(self) -> None:
        if not self.done:
            self._fail(TimeoutError(errno.ETIMEDOUT, "connect timed out"))


def connect(loop: Loop, address: tuple, on_done: ConnectDone, *,
            timeout: float = CONNECT_TIMEOUT) -> PendingConnect:
    """Connect to `address` ((host, port), host a numeric address) without blocking the loop.

    A host name is looked up with getaddrinfo(), which blocks: resolve names before the loop runs.
    """
    host, port = address[:2]
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    pending = PendingConnect(loop, sock, on_done)
    code = sock.connect_ex(sockaddr)
    if code not in _IN_PROGRESS:
        # Refused at once (a Unix socket, say, or no route): still reported from the loop.
        pending.done = True
        sock.close()
        loop.call_later(0, on_done, None, OSError(code, os.strerror(code)))
        return pending
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    try:
        loop.register(sock, WRITE, pending)
    except OSError as exc:
        pending.done = True
        sock.close()
        loop.call_later(0, on_done, None, exc)
        return pending
    pending.timer = loop.call_later(timeout, pending._timed_out)
    return pending
