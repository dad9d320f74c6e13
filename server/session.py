"""One connection's glue between the loop and the room: bytes in, requests to the room, and the
connection's deadlines (the hello grace, a partial line going quiet, flood control, idle).

A `Session` is the loop's handler for one connection. It feeds bytes to that connection's
protocol `Connection`, hands each request to the room (`Room.receive`: the join rules are the
room's) and has `Service.deliver` send the answers. Time comes from a `Scheduler`, so tests drive
a session on a fake clock (tests/fakeloop.py).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Callable, Protocol

from . import events as ev
from .limits import TokenBucket
from .protocol import NEED_DATA, Connection, Dialect

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger("selchat.server")

# A throttled client is told so at most this often.
THROTTLE_NOTICE_INTERVAL = 10.0


class TimerHandle(Protocol):
    when: float

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """The part of the loop a session and the service use: two clocks and timers."""

    @property
    def now(self) -> float: ...  # monotonic seconds, for deadlines

    @property
    def wall(self) -> float: ...  # wall-clock seconds, for timestamps the users see

    def call_at(self, when: float, callback: Callable, *args) -> TimerHandle: ...

    def call_later(self, delay: float, callback: Callable, *args) -> TimerHandle: ...


class _Flow:
    """A connection's flow control: its token bucket, the request held back while it waits, and
    until when it waits. Made on the first line that needs it, so idle connections have none."""

    __slots__ = ("bucket", "held", "paused_until", "noticed_at")

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.bucket = bucket
        self.held = None
        self.paused_until = 0.0
        self.noticed_at = -math.inf  # when the peer was last told it is being throttled


class Session:
    """One connection: its transport, its protocol state and its chat member.

    One timer per session, and only while needed, serves its deadlines: the hello grace period, a
    partial line going quiet, the end of a flood-control pause. It is re-armed lazily when it
    fires. Idle connections are found by `Service`'s sweep instead, so an idle connection holds
    no timer (memory per connection is a target: see docs/benchmarks.md).
    """

    __slots__ = ("service", "clock", "transport", "conn", "member", "last_active", "_flow", "_pinged",
                 "_timer")

    def __init__(self, service: "Service", transport) -> None:
        self.service = service
        self.clock: Scheduler = service.clock
        self.transport = transport
        room = service.room
        self.conn = self._make_connection(room)
        self.member = room.connect(self, transport.peer)
        self.last_active = self.clock.now  # of the last complete request; until one comes, of connecting
        self._flow: _Flow | None = None  # made on the first line that needs it
        self._pinged = False
        self._timer = None
        self._schedule()

    def _make_connection(self, room):
        """This connection's protocol state; a dialect with its own (IRC) overrides it."""
        # Chat ignores blank lines, so they are dropped unparsed; echo and upper answer each line.
        return Connection(room.max_line, drop_blank_lines=not room.answers_blank_lines)

    @property
    def label(self) -> str:
        """How traces and logs name this connection."""
        return self.member.nick

    # --- loop callbacks --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if self._flow is None and not self.transport.closing and self._reply_block(data):
            return
        conn.receive_data(data, self.clock.now)
        self._process()
        if conn.partial_deadline() is not None:
            self._schedule()

    def _reply_block(self, data: bytes) -> bool:
        """The block path (docs/architecture.md): answer every line of this read at once, with
        one write, when the room answers a plain line with the line itself (echo, upper) and
        nothing needs the per-line path. False: nothing was taken; use the per-line path."""
        room, member = self.service.room, self.member
        if not (room.answers_lines_in_bulk and room.replies_in_bulk(member)) or self.service.rate:
            return False
        conn, now = self.conn, self.clock.now
        if member.json:
            says = conn.receive_request_block(data, now, ev.Say)
            if says is None:
                return False
            self.transport.write(room.reply_json_block(member, says))
            alive = True  # every request is a sign of life
        else:
            lines = conn.receive_block(data, now)
            if lines is None:
                return False
            self.transport.write(room.reply_block(member, lines))
            alive = room.block_shows_life(lines)
        if alive:
            self.last_active = now
            self._pinged = False
        if conn.partial_deadline() is not None:
            self._schedule()  # the unfinished rest of the read counts once it has been quiet
        return True

    def eof_received(self) -> bool:
        self.conn.receive_data(b"", self.clock.now)
        self._process()
        return True  # _process closes the transport once it reaches the end of the input

    def connection_lost(self, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if reason.startswith("too slow"):
            log.warning("%s (%s) dropped: %s", self.member.nick, self.transport.peer, reason)
        else:
            log.debug("%s (%s) disconnected: %s", self.member.nick, self.transport.peer, reason)
        self.service.session_closed(self, reason)

    # --- the work --------------------------------------------------------------------------

    def _process(self) -> None:
        """Hand every complete request to the room, unless flood control says wait."""
        conn, member, service, clock = self.conn, self.member, self.service, self.clock
        room, deliver = service.room, service.deliver
        rate = service.rate
        transport = self.transport
        while not transport.closing:  # after /quit, the rest of the input is not read
            flow = self._flow
            if flow is not None and flow.held is not None:
                event, flow.held = flow.held, None
            else:
                event = conn.next_event()
                if event is NEED_DATA:
                    return
            if flow is not None and clock.now < flow.paused_until:
                self._hold(event, flow.paused_until)
                return
            if type(event) is ev.ConnectionClosed:
                service.member_left(member, event.reason)
                transport.close(event.reason)
                return
            if rate and not self._flow_state().bucket.take(clock.now):
                self._throttle(event)
                return
            if room.shows_life(event):
                self.last_active = clock.now
                self._pinged = False
            outgoing = room.receive(member, event, clock.wall, conn.dialect is Dialect.PENDING)
            if type(event) is ev.Quit:  # answering it, the room let the nick go (see deliver_leave)
                service.deliver_leave(member, outgoing)
            else:
                deliver(outgoing)

    def _flow_state(self) -> _Flow:
        if self._flow is None:
            service = self.service
            self._flow = _Flow(TokenBucket(service.rate, service.burst, self.clock.now) if service.rate else None)
        return self._flow

    @property
    def _paused_until(self) -> float:
        return self._flow.paused_until if self._flow is not None else 0.0

    def _hold(self, event, until: float) -> None:
        """Keep `event` and stop reading until `until`: nothing is lost, the peer is slowed."""
        self._flow_state().held = event
        self.pause_until(until)

    def _throttle(self, event) -> None:
        flow, now = self._flow_state(), self.clock.now
        if self.service.room.takes_notices(self.member) and now - flow.noticed_at > THROTTLE_NOTICE_INTERVAL:
            flow.noticed_at = now
            self.transport.write(self.conn.send(ev.Notice(
                f"flood control: more than {self.service.rate:g} lines a second; your lines are delayed, "
                "not lost", "throttled")))
        self._hold(event, flow.bucket.ready_at(now))

    def pause_until(self, until: float) -> None:
        """Read nothing from this peer until `until` (flood control, or a penalty)."""
        flow = self._flow_state()
        flow.paused_until = max(flow.paused_until, until)
        self.transport.pause_reading()
        self.conn.pause_reading()
        self._schedule()

    def say(self, event) -> None:
        """Send this connection one notification of its own (a notice, a ping)."""
        self.transport.write(self.conn.send(event))

    def _greeting_due(self) -> float | None:
        if self.transport.closing:
            return None  # it left (a /quit whose goodbye is still draining) or is being cut off
        return self.service.room.greeting_due(self.member, self.last_active)

    def _deadline(self) -> float | None:
        deadlines = [d for d in (self.conn.partial_deadline(), self._greeting_due()) if d is not None]
        if self._paused_until and self._paused_until != math.inf:
            deadlines.append(self._paused_until)
        return min(deadlines) if deadlines else None

    def _schedule(self) -> None:
        """Keep one timer, set for the nearest deadline (or earlier: it re-arms when it fires)."""
        deadline = self._deadline()
        if deadline is None or (self._timer is not None and self._timer.when <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        transport = self.transport
        if transport.closed:
            return
        service, now = self.service, self.clock.now
        if self._paused_until and now >= self._paused_until:
            self._flow.paused_until = 0.0
            self._process()
            if not self._paused_until and not transport.closing:
                transport.resume_reading()
                self.conn.resume_reading(now)
        greeting_due = self._greeting_due()
        if greeting_due is not None and now >= greeting_due:
            service.deliver(service.room.greet_silently(self.member, self.clock.wall))
        if self.conn.flush_partial(now):
            self._process()
        self._schedule()

    def check_idle(self, now: float, idle: float) -> None:
        """Close this connection if it has sent no complete line for `idle` seconds.

        A JSON client is pinged halfway, so a live one answers and stays; a person at a text
        prompt gets no such chance, which is why the default timeout is long.
        """
        transport = self.transport
        if transport.closing:
            return
        if now >= self.last_active + idle:
            self.say(ev.Notice(f"closing: idle for {idle:g} seconds", "idle"))
            self.service.member_left(self.member, "idle timeout")
            transport.close("idle timeout")
        elif self.member.json and not self._pinged and now >= self.last_active + idle / 2:
            self._pinged = True
            self.say(ev.Ping("idle"))
