"""The server's network side put together: one Loop, its Connections, an Acceptor, and dialing out.

`Reactor` is what the service, the CLI and the dashboard hold. It is a `Loop` (now, wall,
call_at, call_later, run, stop, signals, call_soon_threadsafe, on_turn), plus the connection set
(`connections()`, `connection_count`), the listeners (`listen`, `close_listeners`, `listeners`)
and outbound connections (`connect`). Each part lives in its own module; this one only wires them.

The data path of one line: the loop's select() finds a socket readable (loop.py) and calls its
Transport, which recv()s and hands the bytes to its handler (transport.py); the handler, a
service Session, parses them and writes replies to Transports, which only queue; at the end of
the turn the Connections hook sends each queue in one send().
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
from typing import Callable

from .accept import Acceptor, plain_refusal
from .connect import CONNECT_TIMEOUT, PendingConnect, connect
from .loop import WRITE, Loop
from .transport import SENDQ_GRACE, Connections, Transport

__all__ = ["Reactor", "Transport"]

trace_log = logging.getLogger("selchat.trace")


class Reactor(Loop):
    """The event loop with connections on it. Create, `listen()`, then `run()` until `stop()`."""

    def __init__(self, selector: selectors.BaseSelector | None = None, *, max_sendq: int = 1 << 20,
                 max_connections: int = 10_000, max_per_peer: int = 0, count_loopback: bool = True,
                 refusal: Callable[[str], bytes] = plain_refusal, trace: bool = False,
                 sendq_grace: float = SENDQ_GRACE) -> None:
        super().__init__(selector)
        # End-of-turn work that writes to connections (the cluster's Redis links): it must run
        # before the connections' flush, so what it writes leaves in this turn's send().
        self._before_flush: list[tuple[Callable[[], None], Callable[[], bool] | None]] = []
        self.add_end_of_turn(self._run_before_flush, self._before_flush_has_work)
        self.conns = Connections(self, max_sendq=max_sendq, sendq_grace=sendq_grace)
        self.acceptor = Acceptor(self, self.conns, max_connections=max_connections,
                                 max_per_peer=max_per_peer, count_loopback=count_loopback,
                                 refusal=refusal)
        # Outbound TLS connections still in their handshake: whom to tell if it fails.
        self._dialing: dict[Transport, Callable[[OSError], None]] = {}
        self.conns.on_close(self._dial_failed)
        if trace:
            self.on_turn = self._trace

    def before_flush(self, hook: Callable[[], None], has_work: Callable[[], bool] | None = None) -> None:
        """Run `hook()` at the end of every turn, before the connections send what was queued
        (`has_work()` true: the loop does not sleep, as for `add_end_of_turn`)."""
        self._before_flush.append((hook, has_work))

    def _run_before_flush(self) -> None:
        for hook, _ in self._before_flush:
            hook()

    def _before_flush_has_work(self) -> bool:
        return any(has_work is not None and has_work() for _, has_work in self._before_flush)

    def listen(self, sock: socket.socket, make_handler: Callable[[Transport], object],
               tls: ssl.SSLContext | None = None) -> None:
        """Accept connections on `sock` (see `Acceptor.listen`)."""
        self.acceptor.listen(sock, make_handler, tls)

    def close_listeners(self) -> None:
        self.acceptor.close_listeners()

    def listeners(self) -> list[socket.socket]:
        """The listening sockets (paused ones included)."""
        return self.acceptor.listeners()

    def connections(self) -> list[Transport]:
        """Every open connection, including those whose handshake is still running."""
        return self.conns.connections()

    @property
    def connection_count(self) -> int:
        return self.conns.count

    @property
    def accept_failures(self) -> int:
        return self.acceptor.accept_failures

    @property
    def max_sendq(self) -> int:
        return self.conns.max_sendq

    @property
    def hard_sendq(self) -> int:
        return self.conns.hard_sendq

    def connect(self, address: tuple, make_handler: Callable[[Transport], object],
                on_failed: Callable[[OSError], None], *, timeout: float = CONNECT_TIMEOUT,
                tls: ssl.SSLContext | None = None, server_hostname: str | None = None) -> PendingConnect:
        """Connect to `address` ((host, port)) without blocking; on success the socket becomes a
        Transport like an accepted one (same queues, flush and limits, not counted against any
        address) and `make_handler(transport)` gives it its handler. On failure (refused,
        unreachable, `timeout` seconds passed, a TLS handshake that failed) `on_failed(error)`
        is called instead. Either comes from a later loop callback, never from inside connect().
        """
        peer = f"{address[0]}:{address[1]}"

        def on_done(sock: socket.socket | None, error: OSError | None) -> None:
            if sock is None:
                on_failed(error)
                return
            try:
                if tls is None:
                    self.conns.adopt(sock, peer, make_handler, outbound=True)
                    return
                sock = tls.wrap_socket(sock, server_side=False, do_handshake_on_connect=False,
                                       server_hostname=server_hostname)
                # The client speaks first: its handshake starts as soon as it may write.
                transport = self.conns.adopt(sock, peer, self._dialed(make_handler), handshake=WRITE,
                                             outbound=True)
                self._dialing[transport] = on_failed
            except OSError as exc:  # ssl.SSLError is one too
                sock.close()
                on_failed(exc)

        return connect(self, address, on_done, timeout=timeout)

    def _dialed(self, make_handler: Callable[[Transport], object]) -> Callable[[Transport], object]:
        def established(transport: Transport) -> object:
            self._dialing.pop(transport, None)
            return make_handler(transport)
        return established

    def _dial_failed(self, transport: Transport, reason: str) -> None:
        on_failed = self._dialing.pop(transport, None) if self._dialing else None
        if on_failed is not None:
            on_failed(ConnectionError(reason))

    def _trace(self, readable: list[Transport], writable: list[Transport]) -> None:
        def names(transports: list[Transport]) -> str:
            return ", ".join(f"{t.fd}:{getattr(t.handler, 'label', '?')}" for t in transports) or "-"

        trace_log.info("turn %d: read [%s] write [%s] (%d connections)", self.turns, names(readable),
                       names(writable), self.conns.count)

