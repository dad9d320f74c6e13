"""Runs one room on one loop: makes a `Session` per connection, delivers the room's answers
(each notification encoded once per dialect however many receive it), runs the room's ticks (the
presence summary, the idle sweep) and shuts down in two steps.

The loop is used through a small interface: the `Scheduler` (now, wall, call_at, call_later; see
session.py) for all time, plus `connection_count`, `connections()` (only to abort connections
still in their TLS handshake, which have no session), `close_listeners()` and `stop()` at
shutdown. The sessions are found through the room (`Room.connected()`: each member's `link` is
its session), so the service keeps no second per-connection table (memory per idle connection is
a target: see docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import math
from typing import Callable

from . import events as ev
from .chat import Room
from .members import EVERYONE, AllExcept, Member
from .protocol import encode_json, encode_text
from .session import Session

log = logging.getLogger("selchat.server")

PRESENCE_INTERVAL = 1.0
_LOOP_INSTRUCTIONS = (ev.Disconnect, ev.Pause, ev.LogLine)
SHUTDOWN_DRAIN = 3.0


class Service:
    """Runs one room on one loop (`reactor`: a `Scheduler` that also knows its connections)."""

    def __init__(self, reactor, room: Room, *, rate: float = 0.0, burst: float = 1.0,
                 idle_timeout: float = 0.0) -> None:
        self.reactor = reactor
        self.clock = reactor  # all the time the service and its sessions use
        self.room = room
        self.rate = rate  # lines a second per connection, 0 for no flood control
        self.burst = max(burst, 1.0)
        self.idle_timeout = idle_timeout  # seconds without a complete line, 0 for none
        self.shutting_down = False
        self.forced = False
        self.departing: Member | None = None  # while its leave is told (see deliver_leave)
        self.leave_watchers: list[Callable[[Member], None]] = []  # told of every member that leaves
        # Cluster mode: the NodeBridge whose Redis links close last at shutdown, once the
        # leaves of this node's users are written (server/cluster/bridge.py).
        self.broker = None
        if room.announces_presence:
            self.clock.call_later(PRESENCE_INTERVAL, self._presence_tick)
        if idle_timeout:
            self.clock.call_later(self._idle_sweep_interval(), self._idle_sweep)

    def make_session(self, transport) -> Session:
        session = Session(self, transport)
        log.debug("%s connected from %s", session.member.nick, transport.peer)
        return session

    def sessions(self) -> list[Session]:
        """The sessions whose members have not left the room."""
        return [member.link for member in self.room.connected()]

    def session_closed(self, session: Session, reason: str) -> None:
        """`session`'s connection has closed (the session's `connection_lost`)."""
        self.member_left(session.member, reason)
        if self.shutting_down:
            self.stop_if_drained()

    def member_left(self, member: Member, reason: str) -> None:
        """Tell the room `member` left."""
        self.deliver_leave(member, self.room.leave(member, reason, self.clock.wall))

    def deliver_leave(self, member: Member, outgoing: list) -> None:
        """Deliver `outgoing`, which says `member` left. The room has let go of its nick by
        then, so `departing` names it meanwhile: IRC's QUIT shows who it was (user@host)."""
        self.departing = member
        for watch in self.leave_watchers:
            watch(member)
        try:
            self.deliver(outgoing)
        finally:
            self.departing = None

    def deliver(self, outgoing: list) -> None:
        """Queue each notification for its recipients, encoded once per dialect."""
        if len(outgoing) > 1 and outgoing[1][0] is EVERYONE and outgoing[0][0] is EVERYONE:
            self._deliver_runs(outgoing)  # a cluster node's batch of lines read back
            return
        for recipients, event in outgoing:
            kind = type(recipients)
            if kind is Member:
                session = recipients.link
                if type(event) in _LOOP_INSTRUCTIONS:
                    self._obey(session, event)
                else:
                    data = session.conn.send(event)
                    if data:  # an IRC client is shown nothing of some (its own /msg's confirmation)
                        session.transport.write(data)
                continue
            skip = None
            if recipients is EVERYONE:
                targets = self.room.members
            elif kind is AllExcept:
                targets, skip = self.room.members, recipients.member
            else:
                targets = recipients
            text_bytes = json_bytes = irc_copy = None
            for member in targets:
                if member is skip:
                    continue
                if member.json:
                    if json_bytes is None:
                        json_bytes = encode_json(event)
                    member.link.transport.write(json_bytes)
                elif member.irc:
                    # IRC lines depend on the viewer only for the few it names (server/irc/gateway.py):
                    # the common line is encoded once, like the other dialects'.
                    if irc_copy is None:
                        irc_copy = member.link.broadcast(event)
                    irc_copy(member)
                else:
                    if text_bytes is None:
                        text_bytes = encode_text(event)
                    member.link.transport.write(text_bytes)

    def _deliver_runs(self, outgoing: list) -> None:
        """`deliver`, but a run of consecutive notifications for everyone is written to each
        member in one write (the run's encodings joined once per dialect): a cluster node reads
        back dozens of lines a turn, and one write per line per member was most of its cost."""
        run: list = []
        for pair in outgoing:
            if pair[0] is EVERYONE and type(pair[1]) not in _LOOP_INSTRUCTIONS:
                run.append(pair[1])
                continue
            if run:
                self._deliver_run(run)
                run = []
            self.deliver([pair])
        if run:
            self._deliver_run(run)

    def _deliver_run(self, events: list) -> None:
        if len(events) == 1:
            self.deliver([(EVERYONE, events[0])])
            return
        text_bytes = json_bytes = irc_copies = None
        for member in self.room.members:
            if member.json:
                if json_bytes is None:
                    json_bytes = b"".join([encode_json(event) for event in events])
                member.link.transport.write(json_bytes)
            elif member.irc:
                if irc_copies is None:
                    irc_copies = [member.link.broadcast(event) for event in events]
                for irc_copy in irc_copies:
                    irc_copy(member)
            else:
                if text_bytes is None:
                    text_bytes = b"".join([encode_text(event) for event in events])
                member.link.transport.write(text_bytes)

    def _obey(self, session: Session, event) -> None:
        kind = type(event)
        if kind is ev.Disconnect:
            if event.delay:
                session.pause_until(math.inf)  # read nothing more; the goodbye is already queued
                self.clock.call_later(event.delay, session.transport.close, event.reason)
            else:
                session.transport.close(event.reason or "quit")
        elif kind is ev.Pause:
            session.pause_until(self.clock.now + event.seconds)
        elif kind is ev.LogLine:
            log.log(event.level, "%s (%s): %s", session.member.nick, session.transport.peer, event.message)

    # --- ticks -----------------------------------------------------------------------------

    def _idle_sweep_interval(self) -> float:
        # A quarter of the timeout keeps the overshoot small; 30 s caps the work for long timeouts.
        return min(max(self.idle_timeout / 4, 0.05), 30.0)

    def _idle_sweep(self) -> None:
        now, idle = self.clock.now, self.idle_timeout
        for session in self.sessions():
            session.check_idle(now, idle)
        if not self.shutting_down:
            self.clock.call_later(self._idle_sweep_interval(), self._idle_sweep)

    def _presence_tick(self) -> None:
        self.deliver(self.room.presence_summary())
        if not self.shutting_down:
            self.clock.call_later(PRESENCE_INTERVAL, self._presence_tick)

    # --- shutdown --------------------------------------------------------------------------

    def shutdown(self, signum: int | None = None) -> None:
        """First call: tell everyone, flush, stop within SHUTDOWN_DRAIN seconds. Second: stop now."""
        reactor = self.reactor
        if self.shutting_down:
            log.warning("second interrupt: exiting at once")
            self.forced = True
            reactor.stop()
            return
        self.shutting_down = True
        links = self.broker.open_links if self.broker is not None else 0  # Redis, not users
        log.info("shutting down: notifying %d connections", reactor.connection_count - links)
        reactor.close_listeners()
        for transport in reactor.connections():
            if transport.handler is None:  # still in its TLS handshake: nothing to say yet
                transport.abort("server shutting down")
        notice = ev.Notice("server shutting down", "shutdown")
        for session in self.sessions():
            session.say(notice)
            session.transport.close("server shutting down")
        if self.broker is not None:
            self.broker.on_closed = self.stop_if_drained
            self.broker.shutdown()
        # Each session's connection_lost checks whether it was the last; this first check runs
        # next turn, after the connections closed in this one (some have no session to tell us).
        self.clock.call_later(0, self.stop_if_drained)
        self.clock.call_later(SHUTDOWN_DRAIN, self._give_up_draining)

    def stop_if_drained(self) -> None:
        """During shutdown: stop the loop once every connection has closed."""
        if self.reactor.connection_count == 0:
            self.reactor.stop()

    def _give_up_draining(self) -> None:
        if self.reactor.connection_count:
            log.warning("gave up flushing %d connections after %.0fs", self.reactor.connection_count,
                        SHUTDOWN_DRAIN)
        self.reactor.stop()
