"""A fake loop for driving `Service` sessions without sockets, on a fake clock.

`FakeReactor` is the service's `Scheduler` (now, wall, call_at, call_later: see
server/session.py) plus the few things shutdown asks of the loop; it runs timers in loop turns
as the test moves its clock. `FakeTransport` keeps what is written and, like the real one, stays
"closing" until its output has drained (`drained()`).
"""

from __future__ import annotations

import heapq
import itertools
import json

from selchat.server.chat import Mode, Room
from selchat.server.service import Service


TURN = 0.0005  # the real loop rounds its select() timeout up by this much


class FakeTimer:
    def __init__(self, when: float, seq: int, callback, args) -> None:
        self.when, self.seq, self.callback, self.args = when, seq, callback, args
        self.cancelled = False

    def __lt__(self, other: "FakeTimer") -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class FakeReactor:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_764_000_000.0
        self._timers: list[FakeTimer] = []
        self._seq = itertools.count()
        self.transports: list["FakeTransport"] = []
        self.stopped = False
        self.listening = True

    def call_at(self, when: float, callback, *args) -> FakeTimer:
        timer = FakeTimer(when, next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback, *args) -> FakeTimer:
        return self.call_at(self.now + delay, callback, *args)

    def advance(self, seconds: float) -> None:
        """Move the clock in loop turns, running the timers due in each, as the real loop does: a
        timer set during a turn waits for the next one, and a turn takes at least TURN seconds."""
        target = self.now + seconds
        while True:
            due = []
            while self._timers and self._timers[0].when <= self.now:
                due.append(heapq.heappop(self._timers))
            for timer in due:
                if not timer.cancelled:
                    timer.callback(*timer.args)
            if self.now >= target:
                return
            upcoming = self._timers[0].when if self._timers else target
            self._set(min(target, max(upcoming, self.now + TURN)))

    def _set(self, now: float) -> None:
        self.wall += now - self.now
        self.now = now

    def pending_timers(self) -> int:
        return sum(not timer.cancelled for timer in self._timers)

    def stop(self) -> None:
        self.stopped = True

    def close_listeners(self) -> None:
        self.listening = False

    def connections(self) -> list["FakeTransport"]:
        return [t for t in self.transports if not t.closed]

    @property
    def connection_count(self) -> int:
        return len(self.connections())


class FakeTransport:
    """Keeps what is written. close() leaves it closing until `drained()`: output still queued."""

    def __init__(self, reactor: FakeReactor, peer: str) -> None:
        self.reactor, self.peer = reactor, peer
        self.handler = None
        self.out = bytearray()
        self.reading = True
        self._closing = False
        self.closed = False
        self.close_reason = None

    @property
    def closing(self) -> bool:
        return self._closing or self.closed

    def write(self, data: bytes) -> None:
        if not self.closing:
            self.out += data

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self, reason: str = "closed by server") -> None:
        if not self.closing:
            self._closing, self.close_reason = True, reason

    def abort(self, reason: str) -> None:
        self.close(reason)
        self.drained()

    def drained(self) -> None:
        """The queued output has gone: the connection really closes now."""
        if not self.closed:
            self.closed = True
            if self.handler is not None:
                self.handler.connection_lost(self.close_reason or "connection closed")

    def lines(self) -> list[str]:
        return self.out.decode("utf-8", "replace").split("\n")[:-1]  # lines end with "\n" only

    def take(self) -> list[str]:
        """The lines written since the last take()."""
        lines = self.lines()
        self.out.clear()
        return lines


class World:
    def __init__(self, mode: Mode = Mode.CHAT, room_args: dict | None = None, **service_args) -> None:
        self.reactor = FakeReactor()
        self.room = Room(mode, **{"history": 20, **(room_args or {})})
        self.service = Service(self.reactor, self.room, **service_args)
        self._ports = itertools.count(40000)

    def connect(self, peer: str | None = None) -> FakeTransport:
        transport = FakeTransport(self.reactor, peer or f"127.0.0.1:{next(self._ports)}")
        transport.handler = self.service.make_session(transport)
        self.reactor.transports.append(transport)
        return transport

    def handshaking(self) -> FakeTransport:
        """A connection still in its TLS handshake: counted by the loop, with no session yet."""
        transport = FakeTransport(self.reactor, f"127.0.0.1:{next(self._ports)}")
        self.reactor.transports.append(transport)
        return transport

    def send(self, transport: FakeTransport, data: bytes) -> None:
        assert transport.reading, "the server is not reading from this connection"
        transport.handler.data_received(data)

    def text_user(self, nick: str) -> FakeTransport:
        transport = self.connect()
        self.reactor.advance(0.35)
        self.send(transport, f"/nick {nick}\n".encode())
        assert any(line.endswith(f"is now known as {nick}") for line in transport.lines())
        return transport

    def json_user(self, nick: str, **hello) -> FakeTransport:
        transport = self.connect()
        self.send(transport, json.dumps({"type": "hello", "protocol": 1, "nick": nick, **hello}).encode() + b"\n")
        return transport
