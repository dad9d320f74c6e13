"""Taking connections in: accept until EAGAIN, pause when out of descriptors, admit or refuse.

Admission (`Acceptor.refusal_reason`) says why a connection may not be served: too many at once,
too many from one address, or a descriptor `select()` could not watch. How a refusal is worded is
not decided here: the caller hands in `refusal(reason) -> bytes` (the server wires in its
protocol's error line), and a listener may have its own (the IRC port's ERROR line). As in Redis's acceptCommonHandler, a refused peer is told why and closed.
A TLS client can only read a refusal sent inside TLS, so it gets a handshake first, within a
budget (TLS_REFUSALS_IN_FLIGHT).

Nothing here may raise out of the loop: a connection that fails on its way in (reset before
accept() or during the TLS wrap, a network error) is dropped and logged, and the server serves on.
"""

from __future__ import annotations

import errno
import functools
import logging
import ipaddress
import socket
import ssl
import sys
import time
from typing import Callable

from .loop import FD_SETSIZE, READ, Loop
from .transport import Connections, Transport

log = logging.getLogger("selchat.reactor")

# How long to stop accepting after the process ran out of descriptors, so a full accept queue
# does not make select() return at once forever (the classic 100% CPU select-loop failure).
ACCEPT_PAUSE = 0.5
# At most this many TLS handshakes run at once for connections that will only be told "no".
TLS_REFUSALS_IN_FLIGHT = 64
# accept() failures (a peer that reset first, a network error) are logged at most once per this
# many seconds for each kind, with a count of the ones not logged.
ACCEPT_LOG_INTERVAL = 60.0
# Consecutive accept() failures handled in one turn before the loop moves on to its other work.
ACCEPT_FAILURES_PER_TURN = 64
SERVER_FULL = "server full, try again later"

# What Linux's accept() reports for one connection that failed before it was accepted: pending
# network errors, which `man 2 accept` says to treat like EAGAIN and retry. The connection is
# dropped; the listener is fine.
_ACCEPT_RETRY = frozenset(getattr(errno, name) for name in (
    "ECONNABORTED", "ECONNRESET", "ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
    "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ETIMEDOUT", "EPERM") if hasattr(errno, name))
# Out of a resource: accepting again at once would fail again, so pause (see ACCEPT_PAUSE).
_ACCEPT_PAUSE_ON = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


def plain_refusal(reason: str) -> bytes:
    """The reason on a line of its own: what a refusal says unless the caller words it."""
    return f"{reason}\n".encode()


def is_loopback(peer: str) -> bool:
    """Whether a peer address (as `Connections` counts it) is this machine's loopback."""
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class Acceptor:
    """The listening sockets of one loop, and the admission rules for what they accept."""

    def __init__(self, loop: Loop, conns: Connections, *, max_connections: int = 10_000,
                 max_per_peer: int = 0, count_loopback: bool = True,
                 refusal: Callable[[str], bytes] = plain_refusal) -> None:
        self.loop = loop
        self.conns = conns
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer  # 0: no limit
        # False: loopback peers are not held to max_per_peer (local demos and benchmarks open
        # thousands; the limit is against a remote address hogging the server).
        self.count_loopback = count_loopback
        self.refusal = refusal  # how a refused connection is told why
        self.accept_failures = 0
        self._listeners: dict[int, tuple[socket.socket, Callable, ssl.SSLContext | None, Callable]] = {}
        self._paused_listeners: set[int] = set()
        self._refusing: set[Transport] = set()  # TLS handshakes run only to say "no"
        self._accept_log: dict[str, list] = {}  # kind of failure: [next time to log, not logged]
        self._accept_errors_logged: set[int] = set()
        conns.on_close(lambda transport, reason: self._refusing.discard(transport))

    def listen(self, sock: socket.socket, make_handler: Callable[[Transport], object],
               tls: ssl.SSLContext | None = None, refusal: Callable[[str], bytes] | None = None) -> None:
        """Accept connections on `sock`; `make_handler(transport)` returns each one's handler.

        With `tls`, each connection first completes a TLS handshake, without blocking, inside
        the loop; its handler is made once the handshake is done. `refusal` words this
        listener's refusals when its dialect is not the default's (the IRC port's ERROR line).
        """
        sock.setblocking(False)
        on_ready = functools.partial(self._accept, sock)
        self._listeners[sock.fileno()] = (sock, make_handler, tls, on_ready, refusal or self.refusal)
        self.loop.register(sock, READ, on_ready)

    def close_listeners(self) -> None:
        for fd, (sock, *_) in list(self._listeners.items()):
            if fd not in self._paused_listeners:
                self.loop.unregister(sock)
            sock.close()
        self._listeners.clear()

    def listeners(self) -> list[socket.socket]:
        """The listening sockets (paused ones included)."""
        return [sock for sock, *_ in self._listeners.values()]

    def refusal_reason(self, sock: socket.socket, peer: str) -> str:
        """Why this connection may not be served, or "" if it may."""
        if self.conns.count >= self.max_connections:
            return SERVER_FULL
        if self.loop.backend == "select" and sock.fileno() >= FD_SETSIZE:
            return SERVER_FULL
        if (self.max_per_peer and self.conns.from_peer(peer) >= self.max_per_peer
                and (self.count_loopback or not is_loopback(peer))):
            return f"too many connections from your address (limit {self.max_per_peer})"
        return ""

    # --- the listener's ready callback -----------------------------------------------------

    def _accept(self, listener: socket.socket, mask: int) -> None:
        """Accept until EAGAIN, or until ACCEPT_FAILURES_PER_TURN connections failed."""
        _, make_handler, tls, _, refusal = self._listeners[listener.fileno()]
        failures = 0
        while failures < ACCEPT_FAILURES_PER_TURN:
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_PAUSE_ON or exc.errno not in _ACCEPT_RETRY:
                    # Out of descriptors or memory, or an error that says the listener itself
                    # is unwell: accepting again at once would only spin.
                    self._pause_accepting(listener, exc)
                    return
                failures += 1
                self._accept_failed("accept()", exc)
                continue
            try:
                self._admit(sock, address, make_handler, tls, refusal)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                failures += 1
                sock.close()
                self._accept_failed("TLS wrap" if tls is not None else "setting up", exc)

    def _admit(self, sock: socket.socket, address, make_handler: Callable,
               tls: ssl.SSLContext | None, refusal: Callable[[str], bytes]) -> None:
        """Refuse, or make a Transport of, one accepted socket. Raises OSError if it is dead already
        (before anything is counted) or the selector will not watch it (then it is un-counted at
        the end of the turn)."""
        sock.setblocking(False)
        # Interned: thousands of connections from one address then share one string.
        peer = sys.intern(address[0] if isinstance(address, tuple) else str(address))
        reason = self.refusal_reason(sock, peer)
        if reason and not (tls is not None and self._can_refuse_over_tls(sock)):
            self._refuse(sock, peer, reason, refusal(reason))
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a Unix socket in tests), or already reset
        if tls is None:
            self.conns.adopt(sock, peer, make_handler)
            return
        # wrap_socket() raises for a peer that has already reset, but only after it has taken
        # the descriptor over, leaving it to the garbage collector: ask first, while the
        # socket is still ours to close.
        sock.getpeername()
        sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        # A TLS client can only read a refusal sent inside TLS: shake hands first.
        if reason:
            transport = self.conns.adopt(sock, peer, functools.partial(self._refuse_after_handshake, reason,
                                                                       refusal(reason)), handshake=READ)
            self._refusing.add(transport)
        else:
            self.conns.adopt(sock, peer, make_handler, handshake=READ)

    def _can_refuse_over_tls(self, sock: socket.socket) -> bool:
        # Bounded, so a flood of refused connections cannot make the server do unbounded TLS work.
        fits_select = self.loop.backend != "select" or sock.fileno() < FD_SETSIZE
        return fits_select and len(self._refusing) < TLS_REFUSALS_IN_FLIGHT

    def _refuse_after_handshake(self, reason: str, told: bytes, transport: Transport) -> None:
        self._refusing.discard(transport)
        log.warning("refused a TLS connection from %s: %s", transport.peer, reason)
        transport.write(told)
        transport.close(reason)
        return None  # no handler: the connection never reaches the chat

    def _refuse(self, sock: socket.socket, peer: str, reason: str, told: bytes) -> None:
        log.warning("refused a connection from %s: %s (%d connections, backend %s)", peer, reason,
                    self.conns.count, self.loop.backend)
        try:
            sock.send(told)
        except OSError:
            pass
        sock.close()

    def _accept_failed(self, stage: str, exc: Exception) -> None:
        """Log a dropped incoming connection, at most once per ACCEPT_LOG_INTERVAL for each kind."""
        self.accept_failures += 1
        what = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        kind = f"{stage}: {what}"
        entry = self._accept_log.get(kind)
        now = time.monotonic()
        if entry is not None and now < entry[0]:
            entry[1] += 1
            return
        unlogged = entry[1] if entry is not None else 0
        self._accept_log[kind] = [now + ACCEPT_LOG_INTERVAL, 0]
        log.warning("dropped an incoming connection (%s)%s; serving on", kind,
                    f", and {unlogged} more like it since the last such line" if unlogged else "")

    def _pause_accepting(self, listener: socket.socket, exc: OSError) -> None:
        fd = listener.fileno()
        if exc.errno not in self._accept_errors_logged:
            self._accept_errors_logged.add(exc.errno)
            hint = ("raise `ulimit -n` or lower --max-clients" if exc.errno in _ACCEPT_PAUSE_ON
                    else "the listening socket reports an error")
            log.error("accept() failed: %s; pausing accepts for %.1fs at a time while it lasts (%s)",
                      exc.strerror or exc, ACCEPT_PAUSE, hint)
        self.loop.unregister(listener)
        self._paused_listeners.add(fd)
        self.loop.call_later(ACCEPT_PAUSE, self._resume_accepting, listener)

    def _resume_accepting(self, listener: socket.socket) -> None:
        fd = listener.fileno()
        if fd in self._paused_listeners and fd in self._listeners:
            self._paused_listeners.discard(fd)
            self.loop.register(listener, READ, self._listeners[fd][3])
