"""A resuming client's catch-up: exactly the events after its sid, or say why not (never a hole).

An XRANGE from a sid older than the stream's first entry silently starts at the first entry,
so the first entry is read alongside and compared: older means lines were trimmed away.
"""

from __future__ import annotations

from typing import Any, Callable

from . import outputs as out
from .resp import BrokerError
from .room_log import decode_entries, parse_sid, sid_after


class ReplayRequest:
    """Commands to send on the command link, and the Replay they produce through `emit`."""

    def __init__(self, handle: Any, log_key: str, sid: str, limit: int, history: int,
                 send: Callable[[list, Callable], None], emit: Callable[[out.Replay], None]):
        self.handle, self.log_key, self.sid = handle, log_key, sid
        self.limit, self.history = limit, history
        self.send, self.emit = send, emit
        self._first: list = []

    def start(self, same_epoch: bool) -> None:
        if not same_epoch or parse_sid(self.sid) is None:
            self._recent("reset")
            return
        self.send(["XRANGE", self.log_key, "-", "+", "COUNT", 1], self._first.append)
        self.send(["XRANGE", self.log_key, f"({self.sid}", "+", "COUNT", self.limit + 1],
                  self._checked)

    def _recent(self, status: str) -> None:
        self.send(["XREVRANGE", self.log_key, "+", "-", "COUNT", self.history],
                  lambda reply: self._done(status, reply, newest_first=True))

    def _checked(self, reply: Any) -> None:
        oldest = next(decode_entries(self._first[0] if self._first else None), None)
        if isinstance(reply, BrokerError):
            self._done("unavailable", reply)
        elif (oldest is not None and sid_after(oldest.sid, self.sid)) or len(reply) > self.limit:
            self._recent("gap")
        else:
            self._done("ok", reply)

    def _done(self, status: str, reply: Any, newest_first: bool = False) -> None:
        if isinstance(reply, BrokerError):
            self.emit(out.Replay(self.handle, "unavailable", ()))
            return
        events = [e for e in decode_entries(reply) if e.kind != "epoch"]
        if newest_first:
            events.reverse()
        self.emit(out.Replay(self.handle, status, tuple(events)))
