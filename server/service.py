"""The glue between the loop and the chat: bytes to events, events to bytes.

A `Session` is the reactor's handler for one connection. It feeds bytes to that connection's
protocol `Connection`, hands the resulting requests to the `Room`, and `Service.deliver` turns the
room's answers into bytes, encoding each notification once per dialect however many receive it.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from . import events as ev
from .chat import EVERYONE, AllExcept, Member, Mode, Room
from .protocol import HELLO_GRACE, NEED_DATA, Connection, Dialect, encode_json, encode_text
from .limits import TokenBucket
from .network import Reactor, Transport
from .quiet import QuietMembers
from .text import NICK_MAX

log = logging.getLogger("selchat.server")

PRESENCE_INTERVAL = 1.0
# A throttled client is told so at most this often.
THROTTLE_NOTICE_INTERVAL = 10.0
_LOOP_INSTRUCTIONS = (ev.Disconnect, ev.Pause, ev.LogLine)
SHUTDOWN_DRAIN = 3.0


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

    __slots__ = ("service", "transport", "conn", "member", "last_active", "_flow", "_pinged", "_timer")

    def __init__(self, service: "Service", transport: Transport) -> None:
        now = service.reactor.now
        self.service = service
        self.transport = transport
        # Chat ignores blank lines, so they are dropped unparsed; echo and upper answer each line.
        self.conn = Connection(service.room.max_line, drop_blank_lines=service.room.mode is Mode.CHAT)
        self.member = service.room.connect(self, transport.peer)
        self.last_active = now  # of the last complete request; until one comes, of connecting
        self._flow: _Flow | None = None  # made on the first line that needs it
        self._pinged = False
        self._timer = None
        self._schedule()

    @property
    def label(self) -> str:
        """How traces and logs name this connection."""
        return self.member.nick

    # --- reactor callbacks -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data, self.service.reactor.now)
        self._process()
        if self.conn.partial_deadline() is not None:
            self._schedule()

    def eof_received(self) -> bool:
        self.conn.receive_data(b"", self.service.reactor.now)
        self._process()
        return True  # _process closes the transport once it reaches the end of the input

    def connection_lost(self, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        service = self.service
        if reason.startswith("too slow"):
            log.warning("%s (%s) dropped: %s", self.member.nick, self.transport.peer, reason)
        else:
            log.debug("%s (%s) disconnected: %s", self.member.nick, self.transport.peer, reason)
        service.deliver(service.quiet.leave(self.member, reason, service.reactor.wall))
        if service.shutting_down:
            service.stop_if_drained()

    # --- the work --------------------------------------------------------------------------

    def _process(self) -> None:
        """Hand every complete request to the room, unless flood control says wait."""
        conn, member, service = self.conn, self.member, self.service
        room, deliver, reactor = service.room, service.deliver, service.reactor
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
            if flow is not None and reactor.now < flow.paused_until:
                self._hold(event, flow.paused_until)
                return
            if type(event) is ev.ConnectionClosed:
                deliver(service.quiet.leave(member, event.reason, reactor.wall))
                self.transport.close(event.reason)
                return
            if rate and not self._flow_state().bucket.take(reactor.now):
                self._throttle(event)
                return
            if type(event) is not ev.TextLine or event.text.strip():
                # Blank lines are no sign of life: a slowloris could dribble spaces forever.
                self.last_active = reactor.now
                self._pinged = False
            now = reactor.wall
            if not member.joined:
                if type(event) is ev.Hello:
                    deliver(room.join(member, now, event))
                    continue
                if type(event) is ev.Error and conn.dialect is Dialect.PENDING:
                    deliver([(member, event)])  # a failed hello: told to its sender, joins nobody
                    continue
                deliver(room.join(member, now))
            elif service.quiet:
                deliver(service.quiet.speaks(member, now))  # joined silently; speaking now
            if type(event) is ev.Hello and member.joined:
                self._late_hello(event, now)  # greeted as text at the grace, then said hello
                continue
            out = room.handle(member, event, now)
            if not out and type(event) is ev.SetNick and event.id is not None:
                # Renaming to the nick one has: nothing changes, but a tagged request is answered.
                out = [(member, ev.NickChanged(member.nick, member.nick, now))]
            deliver(out)

    def _late_hello(self, hello: ev.Hello, now: float) -> None:
        """A JSON hello that came after the grace, as the connection's first line: the member,
        greeted as a text user, becomes a JSON one, gets its welcome (and the history, in JSON)
        and the hello's nick as if it had come in time."""
        member, room = self.member, self.service.room
        member.json = True
        out: list = []
        if hello.nick is not None:
            wanted = hello.nick.strip()
            # As a timely hello: a taken nick gets "_" appended until free, else the guest nick.
            for candidate in [wanted] + [wanted + "_" * n for n in range(1, NICK_MAX - len(wanted) + 1)]:
                out = room.handle(member, ev.SetNick(candidate), now)
                if not (len(out) == 1 and type(out[0][1]) is ev.Error and out[0][1].code == "nick_in_use"):
                    break
                out = []
        greeting: list = [(member, room._welcome(member))]
        if room.mode is Mode.CHAT and room.history:
            greeting.append((member, ev.History(tuple(dataclasses.replace(line, id=None, replay=True)
                                                      for line in room.history))))
        for to, event in out:
            if type(event) is not ev.NickChanged:
                greeting.append((to, event))
            elif to is EVERYONE:  # the member's own welcome already names its new nick
                greeting.append((AllExcept(member), event))
        self.service.deliver(greeting)

    def _flow_state(self) -> "_Flow":
        if self._flow is None:
            service = self.service
            self._flow = _Flow(TokenBucket(service.rate, service.burst, service.reactor.now) if service.rate else None)
        return self._flow

    @property
    def _paused_until(self) -> float:
        return self._flow.paused_until if self._flow is not None else 0.0

    def _hold(self, event, until: float) -> None:
        """Keep `event` and stop reading until `until`: nothing is lost, the peer is slowed."""
        self._flow_state().held = event
        self.pause_until(until)

    def _throttle(self, event) -> None:
        flow, now = self._flow_state(), self.reactor.now
        # Echo and upper modes promise one line back per line in: no notice among the replies.
        told = self.member.json or self.service.room.mode is Mode.CHAT
        if told and now - flow.noticed_at > THROTTLE_NOTICE_INTERVAL:
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

    @property
    def reactor(self) -> Reactor:
        return self.service.reactor

    def _greeting_due(self) -> float | None:
        """When a connection that has said nothing is joined as a text user (None: not waiting)."""
        if self.member.joined or self.member.asked_password or self.transport.closing:
            return None  # closing: it left (a /quit whose goodbye is still draining) or is being cut off
        return self.last_active + HELLO_GRACE

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
        self._timer = self.reactor.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        transport = self.transport
        if transport.closed:
            return
        service, now = self.service, self.reactor.now
        if self._paused_until and now >= self._paused_until:
            self._flow.paused_until = 0.0
            self._process()
            if not self._paused_until and not transport.closing:
                transport.resume_reading()
                self.conn.resume_reading(now)
        greeting_due = self._greeting_due()
        if greeting_due is not None and now >= greeting_due:
            joined = service.room.join(self.member, self.reactor.wall)
            service.deliver(service.quiet.joined_silently(self.member, joined))
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
            transport.write(self.conn.send(ev.Notice(f"closing: idle for {idle:g} seconds", "idle")))
            service = self.service
            service.deliver(service.quiet.leave(self.member, "idle timeout", self.reactor.wall))
            transport.close("idle timeout")
        elif self.member.json and not self._pinged and now >= self.last_active + idle / 2:
            self._pinged = True
            transport.write(self.conn.send(ev.Ping("idle")))


class Service:
    """Runs one room on one reactor."""

    def __init__(self, reactor: Reactor, room: Room, *, rate: float = 0.0, burst: float = 1.0,
                 idle_timeout: float = 0.0) -> None:
        self.reactor = reactor
        self.room = room
        self.quiet = QuietMembers(room)  # members greeted without a word, not yet announced
        self.rate = rate  # lines a second per connection, 0 for no flood control
        self.burst = max(burst, 1.0)
        self.idle_timeout = idle_timeout  # seconds without a complete line, 0 for none
        self.shutting_down = False
        self.forced = False
        if room.mode is Mode.CHAT:
            reactor.call_later(PRESENCE_INTERVAL, self._presence_tick)
        if idle_timeout:
            reactor.call_later(self._idle_sweep_interval(), self._idle_sweep)

    def make_session(self, transport: Transport) -> Session:
        session = Session(self, transport)
        log.debug("%s connected from %s", session.member.nick, transport.peer)
        return session

    def deliver(self, outgoing: list) -> None:
        """Queue each notification for its recipients, encoded once per dialect."""
        for recipients, event in outgoing:
            kind = type(recipients)
            if kind is Member:
                session = recipients.link
                if type(event) in _LOOP_INSTRUCTIONS:
                    self._obey(session, event)
                else:
                    if type(event) is ev.Users:
                        self.quiet.listed(recipients)
                    session.transport.write(session.conn.send(event))
                continue
            skip = None
            if recipients is EVERYONE:
                targets = self.room.members
            elif kind is AllExcept:
                targets, skip = self.room.members, recipients.member
            else:
                targets = recipients
            text_bytes = json_bytes = None
            for member in targets:
                if member is skip:
                    continue
                if member.json:
                    if json_bytes is None:
                        json_bytes = encode_json(event)
                    member.link.transport.write(json_bytes)
                else:
                    if text_bytes is None:
                        text_bytes = encode_text(event)
                    member.link.transport.write(text_bytes)

    def _obey(self, session: Session, event) -> None:
        kind = type(event)
        if kind is ev.Disconnect:
            if event.delay:
                session.pause_until(math.inf)  # read nothing more; the goodbye is already queued
                self.reactor.call_later(event.delay, session.transport.close, event.reason)
            else:
                session.transport.close(event.reason or "quit")
        elif kind is ev.Pause:
            session.pause_until(self.reactor.now + event.seconds)
        elif kind is ev.LogLine:
            log.log(event.level, "%s (%s): %s", session.member.nick, session.transport.peer, event.message)

    def _idle_sweep_interval(self) -> float:
        # A quarter of the timeout keeps the overshoot small; 30 s caps the work for long timeouts.
        return min(max(self.idle_timeout / 4, 0.05), 30.0)

    def _idle_sweep(self) -> None:
        now, idle = self.reactor.now, self.idle_timeout
        for transport in self.reactor.connections():
            if transport.handler is not None:
                transport.handler.check_idle(now, idle)
        if not self.shutting_down:
            self.reactor.call_later(self._idle_sweep_interval(), self._idle_sweep)

    def _presence_tick(self) -> None:
        self.deliver(self.room.presence_summary())
        if not self.shutting_down:
            self.reactor.call_later(PRESENCE_INTERVAL, self._presence_tick)

    # --- shutdown --------------------------------------------------------------------------

    def shutdown(self, signum: int | None = None) -> None:
        """First call: tell everyone, flush, stop within SHUTDOWN_DRAIN seconds. Second: stop now."""
        if self.shutting_down:
            log.warning("second interrupt: exiting at once")
            self.forced = True
            self.reactor.stop()
            return
        self.shutting_down = True
        log.info("shutting down: notifying %d connections", self.reactor.connection_count)
        self.reactor.close_listeners()
        notice = ev.Notice("server shutting down", "shutdown")
        for transport in self.reactor.connections():
            if transport.handler is None:  # still in its TLS handshake: nothing to say yet
                transport.abort("server shutting down")
                continue
            transport.write(transport.handler.conn.send(notice))
            transport.close("server shutting down")
        # Each session's connection_lost checks whether it was the last; this first check runs
        # next turn, after the connections closed in this one (some have no session to tell us).
        self.reactor.call_later(0, self.stop_if_drained)
        self.reactor.call_later(SHUTDOWN_DRAIN, self._give_up_draining)

    def stop_if_drained(self) -> None:
        """During shutdown: stop the loop once every connection has closed."""
        if self.reactor.connection_count == 0:
            self.reactor.stop()

    def _give_up_draining(self) -> None:
        if self.reactor.connection_count:
            log.warning("gave up flushing %d connections after %.0fs", self.reactor.connection_count,
                        SHUTDOWN_DRAIN)
        self.reactor.stop()
