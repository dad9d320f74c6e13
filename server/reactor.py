"""A small selectors loop: sockets, readiness, output buffers and timers. It knows no chat.

The loop in one turn (`Reactor.run_once`):

1. wait in `select()` until a socket is ready, the nearest timer is due, or a signal arrives;
2. accept on listeners until EAGAIN; `recv()` once from each readable connection and hand the
   bytes to its handler; `send()` to each writable connection;
3. fire due timers and signal callbacks;
4. mark the connections that broke a limit during the turn, to be closed at its end (never in the
   middle of a handler, so a broadcast loop is never cut short);
5. report the turn (`--trace`, the dashboard's `on_turn`), then close the connections of step 4;
6. flush: one `send()` per connection that got output this turn, however many messages were
   queued for it. What the kernel does not take is kept, and only then is write interest
   registered, until the rest has gone. A peer is too slow when what it leaves unsent stays over
   `max_sendq` for SENDQ_GRACE, not when one turn queued a lot for it (see SENDQ_HARD_FACTOR).

Handlers are plain objects with `data_received(bytes)`, `eof_received() -> bool` (True: the
handler will close the transport itself, as in asyncio) and `connection_lost(reason)`;
`Transport.write()` only queues. Like Redis's ae.c, the loop re-checks a connection before each
callback, because an earlier callback in the same turn may have closed it. With TLS, the
handshake runs inside the loop like any other I/O, and the handler is made once it is done.
"""

from __future__ import annotations

import collections
import errno
import functools
import heapq
import itertools
import logging
import selectors
import signal
import socket
import ssl
import sys
import threading
import time
from typing import Callable

log = logging.getLogger("selchat.reactor")
trace_log = logging.getLogger("selchat.trace")

BACKENDS: dict[str, type[selectors.BaseSelector]] = {"auto": selectors.DefaultSelector}
for _name, _cls in (("select", "SelectSelector"), ("poll", "PollSelector"), ("epoll", "EpollSelector"),
                    ("kqueue", "KqueueSelector"), ("devpoll", "DevpollSelector")):
    if hasattr(selectors, _cls):
        BACKENDS[_name] = getattr(selectors, _cls)

# select() cannot watch a descriptor numbered this high or higher.
FD_SETSIZE = 1024
RECV_SIZE = 65536
# How long to stop accepting after the process ran out of descriptors, so a full accept queue
# does not make select() return at once forever (the classic 100% CPU select-loop failure).
ACCEPT_PAUSE = 0.5
# How long a client may take over its TLS handshake before it is cut off.
HANDSHAKE_TIMEOUT = 10.0
# At most this many TLS handshakes run at once for connections that will only be told "no".
TLS_REFUSALS_IN_FLIGHT = 64
# --max-sendq is what a peer may leave unsent after a flush. A queue may stay over it this long
# (a newcomer's history replay, one busy turn) before its peer counts as too slow.
SENDQ_GRACE = 2.0
# Within a turn a queue may grow to this multiple of --max-sendq before it is sent early; a peer
# that does not take at least --max-sendq of it then is dropped at once. This bounds memory per
# connection, and the default history replay (50 lines of 8192 invalid bytes, each relayed as 3
# bytes: 1.2 MB) fits.
SENDQ_HARD_FACTOR = 4
# accept() failures (a peer that reset first, a network error) are logged at most once per this
# many seconds for each kind, with a count of the ones not logged.
ACCEPT_LOG_INTERVAL = 60.0
# Consecutive accept() failures handled in one turn before the loop moves on to its other work.
ACCEPT_FAILURES_PER_TURN = 64
# How long a closing connection may take to read what it is owed before it is cut off.
CLOSE_DRAIN_TIMEOUT = 5.0
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
TOO_SLOW = "too slow (output queue full)"

# What Linux's accept() reports for one connection that failed before it was accepted: pending
# network errors, which `man 2 accept` says to treat like EAGAIN and retry. The connection is
# dropped; the listener is fine.
_ACCEPT_RETRY = frozenset(getattr(errno, name) for name in (
    "ECONNABORTED", "ECONNRESET", "ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
    "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ETIMEDOUT", "EPERM") if hasattr(errno, name))
# Out of a resource: accepting again at once would fail again, so pause (see ACCEPT_PAUSE).
_ACCEPT_PAUSE_ON = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))

_BROKEN = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, TimeoutError)
# "Try again later": the socket (or the TLS layer above it) cannot move bytes right now.
_NOT_READY = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def backend_name(selector: selectors.BaseSelector) -> str:
    """'epoll' for an EpollSelector, and so on."""
    return type(selector).__name__.removesuffix("Selector").lower()


class Timer:
    """A callback due at a monotonic time; `cancel()` it if it should not run."""

    __slots__ = ("when", "seq", "callback", "args", "cancelled")

    def __init__(self, when: float, seq: int, callback: Callable, args: tuple) -> None:
        self.when, self.seq, self.callback, self.args = when, seq, callback, args
        self.cancelled = False

    def __lt__(self, other: "Timer") -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class Transport:
    """One accepted connection: its socket, its output queue, and who handles its input.

    What the selector watches is derived from state (`_update_events`): read interest while the
    handler wants input, write interest only while output is stuck, or whatever a TLS handshake
    asks for. A connection that wants neither is taken out of the selector altogether.
    """

    __slots__ = ("reactor", "sock", "peer", "handler", "_out", "_out_size", "_events",
                 "_reading", "_want_write", "_handshake", "_closing", "closed")

    def __init__(self, reactor: "Reactor", sock: socket.socket, peer: str, handshake: int = 0) -> None:
        self.reactor = reactor
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
            self.reactor._dirty.append(self)
        else:
            out.append(data)
        self._out_size += len(data)
        if self._out_size > self.reactor.max_sendq:
            self._over_max_sendq()

    def _over_max_sendq(self) -> None:
        # What one turn queues is not what the peer failed to take: that is only known after a
        # send(). So only a queue stuck behind write interest starts the too-slow clock here.
        reactor = self.reactor
        if self._out_size > reactor.hard_sendq:
            # Far more than --max-sendq in one turn: send now rather than hold it all. The peer
            # must take at least --max-sendq of it, so the next early send is that far off and
            # a peer that reads a trickle cannot make us copy the whole queue for every write.
            self._flush()
            if self._out_size > reactor.hard_sendq - reactor.max_sendq:
                reactor._doom(self, TOO_SLOW)
        elif self._want_write:
            reactor._check_sendq(self)

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
        """Stop reading; close once the queued output has gone (or after the loop's drain time)."""
        if self._closing or self.closed:
            return
        self._closing = True
        if self._out_size:
            self.reactor._close_reasons[self] = reason
            self._update_events()
            # A peer that never reads would otherwise hold its descriptor forever.
            self.reactor.call_later(CLOSE_DRAIN_TIMEOUT, self.abort, reason)
        else:
            self.reactor._doom(self, reason)

    def abort(self, reason: str) -> None:
        """Close at the end of this turn, dropping queued output."""
        self.reactor._doom(self, reason)

    # --- the loop's side -----------------------------------------------------------------

    def _update_events(self) -> None:
        if self.closed:
            return
        if self._handshake:
            events = self._handshake
        else:
            events = (READ if self._reading and not self._closing else 0) | (WRITE if self._want_write else 0)
        if events == self._events:
            return
        reactor = self.reactor
        if not events:
            reactor.selector.unregister(self.sock)
            reactor._unwatched.add(self)
        elif not self._events:
            reactor.selector.register(self.sock, events, self)
            reactor._unwatched.discard(self)
        else:
            reactor.selector.modify(self.sock, events, self)
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
            self.reactor._doom(self, "TLS handshake failed")
            return
        else:
            self._handshake = 0
            self.reactor._established(self)
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
                # take them now or they would wait for the next packet.
                while pending := sock.pending():
                    data += sock.recv(pending)
        except _NOT_READY:
            return
        except OSError as exc:  # ssl.SSLError is one too
            self._lost(exc)
            return
        if data:
            self.handler.data_received(data)
        elif not self.handler.eof_received():
            # Half-closed by the peer: deliver what we still owe, then close. (A handler that
            # returns True from eof_received closes the transport itself, when it is done.)
            self.close("connection closed")
        else:
            self._reading = False
            self._update_events()

    def _lost(self, exc: OSError) -> None:
        if isinstance(exc, _BROKEN):
            self.reactor._doom(self, "connection lost")
        else:
            self.reactor._doom(self, f"connection lost ({getattr(exc, 'strerror', None) or exc})")

    def _on_writable(self) -> None:
        if self._handshake:
            self._do_handshake()
        else:
            self._flush()

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
            self.reactor._over_sendq.pop(self, None)
            if self._closing:
                self.reactor._doom(self, self.reactor._close_reasons.get(self, "closed"))
                return
            if self._want_write:
                self._want_write = False
                self._update_events()
        else:
            rest = memoryview(data)[sent:] if sent else data
            out[:] = [rest]
            self._out_size = len(rest)
            self.reactor._check_sendq(self)
            if not self._want_write:
                self._want_write = True
                self._update_events()

    def __repr__(self) -> str:
        return f"<Transport fd={self.fd} {self.peer}>"


class Reactor:
    """The event loop. Create, `listen()`, then `run()` until `stop()`."""

    def __init__(self, selector: selectors.BaseSelector | None = None, *, max_sendq: int = 1 << 20,
                 max_connections: int = 10_000, max_per_peer: int = 0,
                 refusal: str = "!!! error: {}\n", trace: bool = False,
                 sendq_grace: float = SENDQ_GRACE) -> None:
        self.selector = selector or selectors.DefaultSelector()
        self.backend = backend_name(self.selector)
        self.max_sendq = max_sendq
        self.hard_sendq = SENDQ_HARD_FACTOR * max_sendq
        self.sendq_grace = sendq_grace
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer  # 0: no limit
        self.refusal = refusal  # how a refused connection is told why: "{}" is the reason
        self.trace = trace
        self.connection_count = 0
        # Connections the selector is not watching (reading paused, nothing to send): the
        # selector's own map holds the rest, so the loop keeps no list of every connection.
        self._unwatched: set[Transport] = set()
        self._per_peer: dict[str, int] = {}
        self._handshaking: dict[Transport, Callable] = {}
        self._refusing: set[Transport] = set()  # TLS handshakes run only to say "no"
        # When each connection whose unsent output is over --max-sendq went over (few at once).
        self._over_sendq: dict[Transport, float] = {}
        self._sendq_timers: set[Transport] = set()  # those with a grace timer pending
        self._accept_log: dict[str, list] = {}  # kind of failure: [next time to log, not logged]
        self.accept_failures = 0
        # Why each connection that is draining its output before closing is closing. Kept here,
        # not on every Transport: few connections are closing at any moment.
        self._close_reasons: dict[Transport, str] = {}
        self.turns = 0
        self.now = time.monotonic()
        self.wall = time.time()
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._dirty: list[Transport] = []
        self._doomed: list[tuple[Transport, str]] = []
        self._listeners: dict[int, tuple[socket.socket, Callable, ssl.SSLContext | None]] = {}
        self._paused_listeners: set[int] = set()
        self._stopping = False
        self._signal_callbacks: dict[int, Callable] = {}
        self._signals_seen: list[int] = []
        self._waker: tuple[socket.socket, socket.socket] | None = None
        self._wakeup_fd_set = False
        self._from_threads: collections.deque = collections.deque()
        self._accept_errors_logged: set[int] = set()
        self.on_turn: Callable[[list, list], None] | None = None  # (readable, writable) transports

    # --- setup -----------------------------------------------------------------------------

    def listen(self, sock: socket.socket, make_handler: Callable[[Transport], object],
               tls: ssl.SSLContext | None = None) -> None:
        """Accept connections on `sock`; `make_handler(transport)` returns each one's handler.

        With `tls`, each connection first completes a TLS handshake, without blocking, inside
        the loop; its handler is made once the handshake is done.
        """
        sock.setblocking(False)
        self._listeners[sock.fileno()] = (sock, make_handler, tls)
        self.selector.register(sock, READ, None)

    def close_listeners(self) -> None:
        for fd, (sock, *_) in list(self._listeners.items()):
            if fd not in self._paused_listeners:
                self.selector.unregister(sock)
            sock.close()
        self._listeners.clear()

    def call_at(self, when: float, callback: Callable, *args) -> Timer:
        timer = Timer(when, next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable, *args) -> Timer:
        return self.call_at(time.monotonic() + delay, callback, *args)

    def add_signal_handler(self, signum: int, callback: Callable[[int], None]) -> None:
        """Run `callback(signum)` on the loop when the signal arrives.

        A flag set by a Python signal handler is not enough: PEP 475 makes select() resume after
        the handler returns, so the loop would sleep on. The C-level handler also writes the signal
        number to a socketpair the selector watches (`signal.set_wakeup_fd`), which wakes it.
        """
        self._ensure_waker()
        if not self._wakeup_fd_set:
            signal.set_wakeup_fd(self._waker[1].fileno(), warn_on_full_buffer=False)
            self._wakeup_fd_set = True
        self._signal_callbacks[signum] = callback
        signal.signal(signum, lambda num, frame: self._signals_seen.append(num))

    def call_soon_threadsafe(self, callback: Callable, *args) -> None:
        """Run `callback(*args)` on the loop's thread, from any thread (the dashboard's, say)."""
        self._ensure_waker()
        self._from_threads.append((callback, args))
        try:
            self._waker[1].send(b"\0")
        except (BlockingIOError, OSError):
            pass  # the waker is already full of wake-ups: the loop will see this one too

    def _ensure_waker(self) -> None:
        if self._waker is None:
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._waker = (reader, writer)
            self.selector.register(reader, READ, self._waker)

    def stop(self) -> None:
        """Make `run()` return after the current turn."""
        self._stopping = True

    @property
    def timer_count(self) -> int:
        """Timers held, cancelled ones included until their time comes round."""
        return len(self._timers)

    def listeners(self) -> list[socket.socket]:
        """The listening sockets (paused ones included)."""
        return [sock for sock, *_ in self._listeners.values()]

    def connections(self) -> list[Transport]:
        """Every open connection, including those whose handshake is still running."""
        watched = [key.data for key in self.selector.get_map().values() if type(key.data) is Transport]
        return watched + list(self._unwatched)

    # --- running ---------------------------------------------------------------------------

    def run(self) -> None:
        self._stopping = False
        try:
            while not self._stopping:
                self.run_once()
        finally:
            # Python lets only the main thread touch the wakeup fd; a loop run on another thread
            # (the dashboard's) leaves that to its owner, who calls release_signals() itself.
            if threading.current_thread() is threading.main_thread():
                self.release_signals()

    def release_signals(self) -> None:
        """Stop waking this loop for signals (main thread only)."""
        if self._wakeup_fd_set:
            signal.set_wakeup_fd(-1)
            self._wakeup_fd_set = False

    def run_once(self) -> None:
        # No EINTR handling: since PEP 475 select() retries by itself after a signal handler.
        ready = self.selector.select(self._timeout())
        self.now = time.monotonic()
        self.wall = time.time()
        self.turns += 1
        # Who was ready is only collected when someone looks (--trace, the dashboard).
        observed = self.trace or self.on_turn is not None
        readable: list[Transport] = []
        writable: list[Transport] = []
        for key, mask in ready:
            transport = key.data
            if transport is None:
                self._accept(key.fileobj)
            elif transport is self._waker:
                self._drain_waker()
            else:
                if mask & READ and not transport.closing:
                    if observed:
                        readable.append(transport)
                    transport._on_readable()
                if mask & WRITE and not transport.closed:
                    if observed:
                        writable.append(transport)
                    transport._on_writable()
        self._run_signal_callbacks()
        while self._from_threads:
            callback, args = self._from_threads.popleft()
            callback(*args)
        self._run_timers()
        if readable or writable:
            # Before closing this turn's casualties, so their descriptors still show as numbers.
            if self.trace:
                self._trace(readable, writable)
            if self.on_turn is not None:
                self.on_turn(readable, writable)
        self._close_doomed()
        self._flush_dirty()

    def _timeout(self) -> float | None:
        if self._dirty or self._doomed or self._signals_seen or self._from_threads:
            return 0
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if not timers:
            return None
        # Round up so a timer is never polled a hair early and spun on.
        return max(0.0, timers[0].when - time.monotonic() + 0.0005)

    def _flush_dirty(self) -> None:
        dirty = self._dirty
        if not dirty:
            return
        self._dirty = []
        for transport in dirty:
            transport._flush()
        # Sends can fail and connections close; their handlers' goodbyes go out next turn.
        self._close_doomed()

    def _run_timers(self) -> None:
        timers = self._timers
        now = self.now
        while timers and timers[0].when <= now:
            timer = heapq.heappop(timers)
            if not timer.cancelled:
                timer.callback(*timer.args)

    def _run_signal_callbacks(self) -> None:
        while self._signals_seen:
            signum = self._signals_seen.pop(0)
            callback = self._signal_callbacks.get(signum)
            if callback is not None:
                callback(signum)

    def _drain_waker(self) -> None:
        try:
            while self._waker[0].recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass


    # --- connections -----------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        """Accept until EAGAIN. Nothing here may raise out of the loop: a connection that fails
        on its way in (reset before accept() or during the TLS wrap, a network error) is dropped
        and logged, and the server serves on."""
        _, make_handler, tls = self._listeners[listener.fileno()]
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
                self._admit(sock, address, make_handler, tls)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                failures += 1
                sock.close()
                self._accept_failed("TLS wrap" if tls is not None else "setting up", exc)

    def _admit(self, sock: socket.socket, address, make_handler: Callable,
               tls: ssl.SSLContext | None) -> None:
        """Refuse, or make a Transport of, one accepted socket. Raises OSError if it is dead already
        (before anything is counted) or the selector will not watch it (then it is un-counted at
        the end of the turn)."""
        sock.setblocking(False)
        # Interned: thousands of connections from one address then share one string.
        peer = sys.intern(address[0] if isinstance(address, tuple) else str(address))
        refusal = self._refusal_reason(sock, peer)
        if refusal and not (tls is not None and self._can_refuse_over_tls(sock)):
            self._refuse(sock, peer, refusal)
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a Unix socket in tests), or already reset
        if tls is not None:
            # wrap_socket() raises for a peer that has already reset, but only after it has taken
            # the descriptor over, leaving it to the garbage collector: ask first, while the
            # socket is still ours to close.
            sock.getpeername()
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        transport = Transport(self, sock, peer, handshake=READ if tls is not None else 0)
        self.connection_count += 1
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        if tls is None:
            self._watch(transport, lambda: self._established(transport, make_handler))
            return
        # A TLS client can only read a refusal sent inside TLS: shake hands first.
        if refusal:
            self._refusing.add(transport)
            self._handshaking[transport] = functools.partial(self._refuse_after_handshake, refusal)
        else:
            self._handshaking[transport] = make_handler
        self._watch(transport, transport._update_events)
        self.call_later(HANDSHAKE_TIMEOUT, self._handshake_overdue, transport)

    def _watch(self, transport: Transport, register: Callable[[], None]) -> None:
        try:
            register()
        except OSError:
            # The selector refused it (epoll's max_user_watches, say): un-count it at the end of
            # the turn, like any closed connection, and let _accept log it.
            self._doom(transport, "could not be watched")
            raise

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

    def _established(self, transport: Transport, make_handler: Callable | None = None) -> None:
        """The connection is ready for data (after its TLS handshake, if any): give it a handler."""
        if make_handler is None:
            make_handler = self._handshaking.pop(transport)
            self._refusing.discard(transport)
        transport._update_events()
        transport.handler = make_handler(transport)

    def _handshake_overdue(self, transport: Transport) -> None:
        if transport._handshake and not transport.closed:
            self._doom(transport, "TLS handshake timed out")

    def _refusal_reason(self, sock: socket.socket, peer: str) -> str:
        if self.connection_count >= self.max_connections:
            return "server full, try again later"
        if self.backend == "select" and sock.fileno() >= FD_SETSIZE:
            return "server full, try again later"
        if self.max_per_peer and self._per_peer.get(peer, 0) >= self.max_per_peer:
            return f"too many connections from your address (limit {self.max_per_peer})"
        return ""

    def _can_refuse_over_tls(self, sock: socket.socket) -> bool:
        # Bounded, so a flood of refused connections cannot make the server do unbounded TLS work.
        fits_select = self.backend != "select" or sock.fileno() < FD_SETSIZE
        return fits_select and len(self._refusing) < TLS_REFUSALS_IN_FLIGHT

    def _refuse_after_handshake(self, reason: str, transport: Transport) -> None:
        log.warning("refused a TLS connection from %s: %s", transport.peer, reason)
        transport.write(self.refusal.format(reason).encode())
        transport.close(reason)
        return None  # no handler: the connection never reaches the chat

    def _refuse(self, sock: socket.socket, peer: str, reason: str) -> None:
        log.warning("refused a connection from %s: %s (%d connections, backend %s)", peer, reason,
                    self.connection_count, self.backend)
        try:
            sock.send(self.refusal.format(reason).encode())
        except OSError:
            pass
        sock.close()

    def _check_sendq(self, transport: Transport) -> None:
        """After a send() that left output behind: note when the rest went over --max-sendq."""
        if transport._out_size <= self.max_sendq:
            self._over_sendq.pop(transport, None)
        elif transport not in self._over_sendq:
            self._over_sendq[transport] = self.now
            if transport not in self._sendq_timers:  # one timer per connection, however it wobbles
                self._sendq_timers.add(transport)
                self.call_later(self.sendq_grace, self._sendq_overdue, transport)

    def _sendq_overdue(self, transport: Transport) -> None:
        self._sendq_timers.discard(transport)
        since = self._over_sendq.get(transport)
        if since is None or transport.closed:
            return  # a send() got it back under --max-sendq
        left = since + self.sendq_grace - self.now
        if left > 0:  # it got under, then went over again later: its own grace runs from then
            self._sendq_timers.add(transport)
            self.call_later(left, self._sendq_overdue, transport)
        elif not transport._closing:
            # (A connection draining before its close keeps its own reason and drain timeout.)
            self._doom(transport, TOO_SLOW)

    def _pause_accepting(self, listener: socket.socket, exc: OSError) -> None:
        fd = listener.fileno()
        if exc.errno not in self._accept_errors_logged:
            self._accept_errors_logged.add(exc.errno)
            hint = ("raise `ulimit -n` or lower --max-clients" if exc.errno in _ACCEPT_PAUSE_ON
                    else "the listening socket reports an error")
            log.error("accept() failed: %s; pausing accepts for %.1fs at a time while it lasts (%s)",
                      exc.strerror or exc, ACCEPT_PAUSE, hint)
        self.selector.unregister(listener)
        self._paused_listeners.add(fd)
        self.call_later(ACCEPT_PAUSE, self._resume_accepting, listener)

    def _resume_accepting(self, listener: socket.socket) -> None:
        fd = listener.fileno()
        if fd in self._paused_listeners and fd in self._listeners:
            self._paused_listeners.discard(fd)
            self.selector.register(listener, READ, None)

    def _doom(self, transport: Transport, reason: str) -> None:
        if not transport.closed:
            transport._closing = True
            self._doomed.append((transport, reason))

    def _close_doomed(self) -> None:
        # Closing one connection can doom others (a goodbye broadcast overflowing a slow reader).
        while self._doomed:
            doomed, self._doomed = self._doomed, []
            for transport, reason in doomed:
                if transport.closed:
                    continue
                if transport._events:
                    self.selector.unregister(transport.sock)
                transport.closed = True
                transport._events = 0
                transport._out = None
                transport._out_size = 0
                self.connection_count -= 1
                self._unwatched.discard(transport)
                self._handshaking.pop(transport, None)
                self._refusing.discard(transport)
                self._over_sendq.pop(transport, None)
                self._close_reasons.pop(transport, None)
                left = self._per_peer.pop(transport.peer, 1) - 1
                if left > 0:
                    self._per_peer[transport.peer] = left
                transport.sock.close()
                if transport.handler is not None:
                    transport.handler.connection_lost(reason)

    def _trace(self, readable: list[Transport], writable: list[Transport]) -> None:
        def names(transports: list[Transport]) -> str:
            return ", ".join(f"{t.fd}:{getattr(t.handler, 'label', '?')}" for t in transports) or "-"

        trace_log.info("turn %d: read [%s] write [%s] (%d connections)", self.turns, names(readable),
                       names(writable), self.connection_count)
