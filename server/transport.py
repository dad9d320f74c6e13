"""Connections on the loop: each one's output queue, and the set of them (Redis's networking.c).

A `Transport` is one connected socket. It queues what its handler writes, reads for it, and runs
its TLS handshake without blocking. What the selector watches is derived from its state
(`_update_events`): read interest while the handler wants input, write interest only while output
is stuck, or what a TLS handshake asks for; a connection that wants neither is not watched at all.
Handlers are plain objects with `data_received(bytes)`, `eof_received() -> bool` (True: the
handler will close the transport itself, as in asyncio) and `connection_lost(reason)`.

`Connections` is the set of them. Its end-of-turn hook on the loop first closes the connections
marked during the turn (never in the middle of a handler, so a broadcast loop is never cut
short), then sends: one `send()` per connection that got output this turn, however much was
queued. What the kernel does not take is kept, with write interest, until it has gone. A peer is
too slow when what it leaves unsent stays over `max_sendq` for `sendq_grace` seconds, not when
one turn queued a lot for it (see SENDQ_HARD_FACTOR).

Fairness comes from the reads: one `recv(RECV_SIZE)` per readable connection per turn (and, for
TLS, what the SSL object already decrypted up to the same size), so one connection's burst costs
the others at most one read's processing; the rest waits in the kernel for the next turn.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Callable

from .loop import READ, WRITE, Loop

log = logging.getLogger("selchat.reactor")

RECV_SIZE = 65536
# How long a connection may take over its TLS handshake before it is cut off.
HANDSHAKE_TIMEOUT = 10.0
# --max-sendq is what a peer may leave unsent after a flush. A queue may stay over it this long
# (a newcomer's history replay, one busy turn) before its peer counts as too slow.
SENDQ_GRACE = 2.0
# Within a turn a queue may grow to this multiple of --max-sendq before it is sent early; a peer
# that does not take at least --max-sendq of it then is dropped at once. This bounds memory per
# connection, and the default history replay (50 lines of 8192 invalid bytes, each relayed as 3
# bytes: 1.2 MB) fits.
SENDQ_HARD_FACTOR = 4
# How long a closing connection may take to read what it is owed before it is cut off.
CLOSE_DRAIN_TIMEOUT = 5.0
TOO_SLOW = "too slow (output queue full)"
INTERNAL_ERROR = "internal server error"

_BROKEN = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, TimeoutError)
# "Try again later": the socket (or the TLS layer above it) cannot move bytes right now.
_NOT_READY = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Transport:
    """One connection: its socket, its output queue, and who handles its input.

    The loop calls the transport itself when its socket is ready (`__call__`).
    """

    __slots__ = ("conns", "sock", "peer", "handler", "_out", "_out_size", "_events",
                 "_reading", "_want_write", "_handshake", "_closing", "closed")

    def __init__(self, conns: "Connections", sock: socket.socket, peer: str, handshake: int = 0) -> None:
        self.conns = conns
        self.sock = sock
        self.peer = peer
        self.handler = None
        self._out: list | None = None  # created on first write: most connections are idle
        self._out_size = 0
        self._events = 0  # what the selector has registered for us
        self._reading = True
        self._want_write = False
        self._handshake = handshake  # while a TLS handshake runs: the event it waits for
        self._closing = False
        self.closed = False

    @property
    def fd(self) -> int:
        """The socket's descriptor number (-1 once closed)."""
        return self.sock.fileno()

    @property
    def pending_bytes(self) -> int:
        """Bytes queued and not yet taken by the kernel."""
        return self._out_size

    @property
    def closing(self) -> bool:
        """Closed, or closing: nothing more will be read, and nothing more should be written."""
        return self._closing or self.closed

    @property
    def tls(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    def write(self, data: bytes) -> None:
        """Queue bytes; they go out at the end of this loop turn, coalesced with the rest."""
        if self._closing or self.closed:
            return
        out = self._out
        if out is None:
            # The first bytes since the queue last emptied: send them at the end of this turn.
            # (A non-empty queue is either listed for that already or waiting to be writable.)
            self._out = [data]
            self.conns._dirty.append(self)
        else:
            out.append(data)
        self._out_size += len(data)
        if self._out_size > self.conns.max_sendq:
            self._over_max_sendq()

    def _over_max_sendq(self) -> None:
        # What one turn queues is not what the peer failed to take: that is only known after a
        # send(). So only a queue stuck behind write interest starts the too-slow clock here.
        conns = self.conns
        if self._out_size > conns.hard_sendq:
            # Far more than --max-sendq in one turn: send now rather than hold it all. The peer
            # must take at least --max-sendq of it, so the next early send is that far off and
            # a peer that reads a trickle cannot make us copy the whole queue for every write.
            self._flush()
            if self._out_size > conns.hard_sendq - conns.max_sendq:
                conns.doom(self, TOO_SLOW)
        elif self._want_write:
            conns._check_sendq(self)

    def pause_reading(self) -> None:
        """Stop reading: the peer's bytes wait in the kernel, and TCP slows the peer down."""
        if self._reading:
            self._reading = False
            self._update_events()

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._update_events()

    def close(self, reason: str = "closed by server") -> None:
        """Stop reading; close once the queued output has gone (or after CLOSE_DRAIN_TIMEOUT)."""
        if self._closing or self.closed:
            return
        self._closing = True
        if self._out_size:
            self.conns._close_reasons[self] = reason
            self._update_events()
            # A peer that never reads would otherwise hold its descriptor forever.
            self.conns.loop.call_later(CLOSE_DRAIN_TIMEOUT, self.abort, reason)
        else:
            self.conns.doom(self, reason)

    def abort(self, reason: str) -> None:
        """Close at the end of this turn, dropping queued output."""
        self.conns.doom(self, reason)

    # --- the loop's side -----------------------------------------------------------------

    def __call__(self, mask: int) -> int:
        """The loop's ready callback. An earlier callback this turn may have closed us."""
        handled = 0
        if mask & READ and not (self._closing or self.closed):
            handled = READ
            self._on_readable()
        if mask & WRITE and not self.closed:
            handled |= WRITE
            if self._handshake:
                self._do_handshake()
            else:
                self._flush()
        return handled

    def _update_events(self) -> None:
        if self.closed:
            return
        if self._handshake:
            events = self._handshake
        else:
            events = (READ if self._reading and not self._closing else 0) | (WRITE if self._want_write else 0)
        if events == self._events:
            return
        conns = self.conns
        if not events:
            conns.loop.unregister(self.sock)
            conns._unwatched.add(self)
        elif not self._events:
            conns.loop.register(self.sock, events, self)
            conns._unwatched.discard(self)
        else:
            conns.loop.modify(self.sock, events, self)
        self._events = events

    def _do_handshake(self) -> None:
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake = READ
        except ssl.SSLWantWriteError:
            self._handshake = WRITE
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            log.info("TLS handshake with %s failed: %s", self.peer, reason)
            self.conns.doom(self, "TLS handshake failed")
            return
        else:
            self._handshake = 0
            self.conns._established(self)
        self._update_events()

    def _on_readable(self) -> None:
        if self._handshake:
            self._do_handshake()
            return
        sock = self.sock
        try:
            data = sock.recv(RECV_SIZE)
            if data and self.tls:
                # TLS records already decrypted inside the SSL object are invisible to select():
                # take them now, up to one read's worth (fairness: no connection holds the loop
                # for more than RECV_SIZE a turn); what is left is read at the end of the turn.
                while len(data) < RECV_SIZE and (pending := sock.pending()):
                    data += sock.recv(min(pending, RECV_SIZE - len(data)))
                if sock.pending() and self not in self.conns._read_later:  # (a short list)
                    self.conns._read_later.append(self)
        except _NOT_READY:
            return
        except OSError as exc:  # ssl.SSLError is one too
            self._lost(exc)
            return
        if data:
            self._contained(self.handler.data_received, data)
        elif not self._contained(self.handler.eof_received, default=True):
            # Half-closed by the peer: deliver what we still owe, then close. (A handler that
            # returns True from eof_received closes the transport itself, when it is done.)
            self.close("connection closed")
        else:
            self._reading = False
            self._update_events()

    def _contained(self, call: Callable, *args, default=None):
        """Call into the handler; a bug there costs this connection, never the loop or the others."""
        try:
            return call(*args)
        except Exception:
            self.conns.internal_errors += 1
            log.exception("internal error handling %s: closing that connection", self.peer)
            self.conns.doom(self, INTERNAL_ERROR)
            return default

    def _lost(self, exc: OSError) -> None:
        if isinstance(exc, _BROKEN):
            self.conns.doom(self, "connection lost")
        else:
            self.conns.doom(self, f"connection lost ({getattr(exc, 'strerror', None) or exc})")

    def _flush(self) -> None:
        """One send() of everything queued; keep what the kernel did not take."""
        out = self._out
        if not out or self.closed or self._handshake:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        try:
            sent = self.sock.send(data)
        except _NOT_READY:
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent == len(data):
            self._out = None  # not clear(): an idle connection should not keep a grown list
            self._out_size = 0
            conns = self.conns
            conns._over_sendq.pop(self, None)
            if self._closing:
                conns.doom(self, conns._close_reasons.get(self, "closed"))
                return
            if self._want_write:
                self._want_write = False
                self._update_events()
        else:
            rest = memoryview(data)[sent:] if sent else data
            out[:] = [rest]
            self._out_size = len(rest)
            self.conns._check_sendq(self)
            if not self._want_write:
                self._want_write = True
                self._update_events()

    def __repr__(self) -> str:
        return f"<Transport fd={self.fd} {self.peer}>"


class Connections:
    """Every open connection on one loop: adding them, closing them, and their end-of-turn work."""

    def __init__(self, loop: Loop, *, max_sendq: int = 1 << 20, sendq_grace: float = SENDQ_GRACE) -> None:
        self.loop = loop
        self.max_sendq = max_sendq
        self.hard_sendq = SENDQ_HARD_FACTOR * max_sendq
        self.sendq_grace = sendq_grace
        self.count = 0
        self.internal_errors = 0  # handler bugs contained to their own connection (logged)
        # Connections the selector is not watching (reading paused, nothing to send): the
        # selector's own map holds the rest, so no list of every connection is kept.
        self._unwatched: set[Transport] = set()
        self._per_peer: dict[str, int] = {}  # accepted connections from each address
        self._outbound: set[Transport] = set()  # ours, not counted against any address
        self._handshaking: dict[Transport, Callable] = {}  # TLS: who makes the handler when done
        # When each connection whose unsent output is over --max-sendq went over (few at once).
        self._over_sendq: dict[Transport, float] = {}
        self._sendq_timers: set[Transport] = set()  # those with a grace timer pending
        # Why each connection that is draining its output before closing is closing. Kept here,
        # not on every Transport: few connections are closing at any moment.
        self._close_reasons: dict[Transport, str] = {}
        self._dirty: list[Transport] = []
        # TLS connections with decrypted input left over after a turn's read (select() cannot see it).
        self._read_later: list[Transport] = []
        self._doomed: list[tuple[Transport, str]] = []
        self._on_close: list[Callable[[Transport, str], None]] = []
        loop.add_end_of_turn(self._end_turn, self._has_work)

    def adopt(self, sock: socket.socket, peer: str, make_handler: Callable[[Transport], object], *,
              handshake: int = 0, outbound: bool = False) -> Transport:
        """Make a Transport of a connected, non-blocking socket and watch it. `make_handler(transport)`
        is called at once, or when the TLS handshake is done if `handshake` (the event it first
        waits for) is given. Raises OSError if the selector will not watch it; the transport is
        then closed at the end of the turn, uncounted, like any other."""
        transport = Transport(self, sock, peer, handshake)
        self.count += 1
        if outbound:
            self._outbound.add(transport)
        else:
            self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        try:
            if handshake:
                self._handshaking[transport] = make_handler
                transport._update_events()
            else:
                self._established(transport, make_handler)
        except OSError:
            # The selector refused it (epoll's max_user_watches, say).
            self.doom(transport, "could not be watched")
            raise
        if handshake:
            self.loop.call_later(HANDSHAKE_TIMEOUT, self._handshake_overdue, transport)
        return transport

    def from_peer(self, peer: str) -> int:
        """How many accepted connections from this address are open."""
        return self._per_peer.get(peer, 0)

    def on_close(self, callback: Callable[[Transport, str], None]) -> None:
        """Call `callback(transport, reason)` as each connection closes, before its handler hears."""
        self._on_close.append(callback)

    def connections(self) -> list[Transport]:
        """Every open connection, including those whose handshake is still running."""
        watched = [data for data in self.loop.callbacks() if type(data) is Transport]
        return watched + list(self._unwatched)

    def doom(self, transport: Transport, reason: str) -> None:
        """Mark a connection to be closed at the end of this turn."""
        if not transport.closed:
            transport._closing = True
            self._doomed.append((transport, reason))

    def _established(self, transport: Transport, make_handler: Callable | None = None) -> None:
        """The connection is ready for data (after its TLS handshake, if any): give it a handler."""
        if make_handler is None:
            make_handler = self._handshaking.pop(transport)
        transport._update_events()
        transport.handler = transport._contained(make_handler, transport)

    def _handshake_overdue(self, transport: Transport) -> None:
        if transport._handshake and not transport.closed:
            self.doom(transport, "TLS handshake timed out")

    def _check_sendq(self, transport: Transport) -> None:
        """After a send() that left output behind: note when the rest went over --max-sendq."""
        if transport._out_size <= self.max_sendq:
            self._over_sendq.pop(transport, None)
        elif transport not in self._over_sendq:
            self._over_sendq[transport] = self.loop.now
            if transport not in self._sendq_timers:  # one timer per connection, however it wobbles
                self._sendq_timers.add(transport)
                self.loop.call_later(self.sendq_grace, self._sendq_overdue, transport)

    def _sendq_overdue(self, transport: Transport) -> None:
        self._sendq_timers.discard(transport)
        since = self._over_sendq.get(transport)
        if since is None or transport.closed:
            return  # a send() got it back under --max-sendq
        left = since + self.sendq_grace - self.loop.now
        if left > 0:  # it got under, then went over again later: its own grace runs from then
            self._sendq_timers.add(transport)
            self.loop.call_later(left, self._sendq_overdue, transport)
        elif not transport._closing:
            # (A connection draining before its close keeps its own reason and drain timeout.)
            self.doom(transport, TOO_SLOW)

    # --- end of turn -----------------------------------------------------------------------

    def _has_work(self) -> bool:
        return bool(self._dirty or self._doomed or self._read_later)

    def _end_turn(self) -> None:
        if self._read_later:
            # After every other connection had its turn; one more read each, bounded like the
            # first (what is still left then waits for the next turn's end).
            later, self._read_later = self._read_later, []
            for transport in later:
                if transport._reading and not transport.closing and transport.handler is not None:
                    transport._on_readable()
        self._close_doomed()
        dirty = self._dirty
        if not dirty:
            return
        self._dirty = []
        for transport in dirty:
            transport._flush()
        # Sends can fail and connections close; their handlers' goodbyes go out next turn.
        self._close_doomed()

    def _close_doomed(self) -> None:
        # Closing one connection can doom others (a goodbye broadcast overflowing a slow reader).
        while self._doomed:
            doomed, self._doomed = self._doomed, []
            for transport, reason in doomed:
                if transport.closed:
                    continue
                if transport._events:
                    self.loop.unregister(transport.sock)
                transport.closed = True
                transport._events = 0
                transport._out = None
                transport._out_size = 0
                self.count -= 1
                self._unwatched.discard(transport)
                self._handshaking.pop(transport, None)
                self._over_sendq.pop(transport, None)
                self._close_reasons.pop(transport, None)
                if transport in self._outbound:
                    self._outbound.discard(transport)
                else:
                    left = self._per_peer.pop(transport.peer, 1) - 1
                    if left > 0:
                        self._per_peer[transport.peer] = left
                transport.sock.close()
                for callback in self._on_close:
                    callback(transport, reason)
                if transport.handler is not None:
                    try:
                        transport.handler.connection_lost(reason)
                    except Exception:  # the connection is gone already; the others go on
                        self.internal_errors += 1
                        log.exception("internal error closing %s", transport.peer)
