"""The glue between the loop and the chat: bytes to events, events to bytes.

A `Session` is the reactor's handler for one connection. It feeds bytes to that connection's
protocol `Connection`, hands the resulting requests to the `Room`, and `Service.deliver` turns the
room's answers into bytes, encoding each notification once per dialect however many receive it.
"""

from __future__ import annotations

import logging

from . import events as ev
from .chat import EVERYONE, AllExcept, Member, Mode, Room
from .protocol import HELLO_GRACE, NEED_DATA, Connection, encode_json, encode_text
from .reactor import Reactor, Transport

log = logging.getLogger("selchat.server")

PRESENCE_INTERVAL = 1.0
SHUTDOWN_DRAIN = 3.0


class Session:
    """One connection: its transport, its protocol state and its chat member."""

    __slots__ = ("service", "transport", "conn", "member", "connected_at", "_timer")

    def __init__(self, service: "Service", transport: Transport) -> None:
        self.service = service
        self.transport = transport
        self.conn = Connection(service.max_line)
        self.member = service.room.connect(self)
        self.connected_at = service.reactor.now
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

    def eof_received(self) -> None:
        self.conn.receive_data(b"", self.service.reactor.now)
        self._process()

    def connection_lost(self, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        service = self.service
        if reason.startswith("too slow"):
            log.warning("%s (%s) dropped: %s", self.member.nick, self.transport.peer, reason)
        else:
            log.debug("%s (%s) disconnected: %s", self.member.nick, self.transport.peer, reason)
        service.deliver(service.room.leave(self.member, reason, service.reactor.wall))

    # --- the work --------------------------------------------------------------------------

    def _process(self) -> None:
        conn, member, service = self.conn, self.member, self.service
        room, deliver = service.room, service.deliver
        while (event := conn.next_event()) is not NEED_DATA:
            now = service.reactor.wall
            if type(event) is ev.ConnectionClosed:
                deliver(room.leave(member, event.reason, now))
                return
            if not member.joined:
                if type(event) is ev.Hello:
                    deliver(room.join(member, now, event))
                    continue
                deliver(room.join(member, now))
            deliver(room.handle(member, event, now))

    def _schedule(self) -> None:
        """Keep one timer, for the nearer of: the hello grace running out, a partial line going quiet."""
        deadline = self.conn.partial_deadline()
        if not self.member.joined:
            grace_over = self.connected_at + HELLO_GRACE
            deadline = grace_over if deadline is None else min(deadline, grace_over)
        if deadline is None or (self._timer is not None and self._timer.when <= deadline):
            return  # an earlier timer is set; it reschedules when it fires
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.service.reactor.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport.closed:
            return
        service = self.service
        if not self.member.joined and service.reactor.now >= self.connected_at + HELLO_GRACE:
            service.deliver(service.room.join(self.member, service.reactor.wall))
        if self.conn.flush_partial(service.reactor.now):
            self._process()
        self._schedule()


class Service:
    """Runs one room on one reactor."""

    def __init__(self, reactor: Reactor, room: Room) -> None:
        self.reactor = reactor
        self.room = room
        self.max_line = room.max_line
        self.shutting_down = False
        self.forced = False
        if room.mode is Mode.CHAT:
            reactor.call_later(PRESENCE_INTERVAL, self._presence_tick)

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
                if type(event) is ev.Disconnect:
                    session.transport.close(event.reason or "quit")
                else:
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
        self._deadline = self.reactor.now + SHUTDOWN_DRAIN
        self._check_drained()

    def _check_drained(self) -> None:
        if self.reactor.connection_count == 0 or self.reactor.now >= self._deadline:
            if self.reactor.connection_count:
                log.warning("gave up flushing %d connections after %.0fs", self.reactor.connection_count,
                            SHUTDOWN_DRAIN)
            self.reactor.stop()
        else:
            self.reactor.call_later(0.05, self._check_drained)
