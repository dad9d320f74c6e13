"""A single-process room's resume log: sids from a local counter, the events a reconnecting client
may ask for again, and the lines already taken from each session (so a re-sent line is stored once).

Bounds, both in events, so memory is capped whatever clients do: the last `RESUME_WINDOW` room
events (chat lines, joins, leaves, renames) are kept for `since`; the last `TAKEN_MAX` tagged
lines are remembered per (session, id). With the default --max-line that is at most ~8 MB each in
the worst case and ~150 KB for ordinary lines.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque

from selchat.wire.resume import parse_sid

RESUME_WINDOW = 1_000
TAKEN_MAX = 1_000


class ResumeLog:
    def __init__(self, window: int = RESUME_WINDOW, taken_max: int = TAKEN_MAX) -> None:
        self.epoch = secrets.token_hex(6)  # a new process is a new log: its sids start over
        self._seq = 0
        self._events: deque = deque(maxlen=window)
        self._taken: OrderedDict = OrderedDict()
        self._taken_max = taken_max

    def stamp(self, event):
        """Give a room event its sid and keep it for resumes; returns the event."""
        self._seq += 1
        event.sid = f"0-{self._seq}"
        self._events.append(event)
        return event

    @property
    def last(self) -> int:
        return self._seq

    def after(self, epoch: str, sid: str, upto: int | None = None):
        """What came after (epoch, sid), up to event number `upto`: ("ok", events), or
        ("gap" | "reset", ()) when it cannot say."""
        if epoch != self.epoch:
            return "reset", ()
        position = parse_sid(sid)
        if position is None or position[0] != 0 or position[1] > self._seq:
            return "gap", ()  # not one of ours: say so rather than guess
        first = self._seq - len(self._events) + 1  # the oldest kept event's number
        seen = position[1]
        if seen < first - 1:
            return "gap", ()
        skip = seen - first + 1
        end = len(self._events) - (self._seq - upto if upto is not None else 0)
        return "ok", tuple(list(self._events)[skip:end]) if skip < end else ()

    # --- re-sent lines -------------------------------------------------------------------------

    def taken(self, session: str | None, request_id):
        """The line this session already sent with this id, or None."""
        if session is None or request_id is None:
            return None
        return self._taken.get((session, _id_key(request_id)))

    def take(self, session: str | None, request_id, line) -> None:
        if session is None or request_id is None:
            return
        self._taken[(session, _id_key(request_id))] = line
        if len(self._taken) > self._taken_max:
            self._taken.popitem(last=False)


def new_session() -> str:
    return "s" + secrets.token_hex(8)


def _id_key(request_id) -> str:
    return f"{type(request_id).__name__}:{request_id}"
