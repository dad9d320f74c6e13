"""Lines a paused node keeps for later: in order, at most `limit`, for at most `grace` seconds.

Releases (leaves) are kept too but never refused and never counted: a member's leave must reach
the room eventually, and there is at most one per member.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any, Iterator

from . import scripts


@dataclass
class Held:
    handle: Any
    script: scripts.Script
    argv: list
    since: float
    refusable: bool = True


class HoldQueue:
    def __init__(self, limit: int, grace: float):
        self.limit, self.grace = limit, grace
        self._held: collections.deque[Held] = collections.deque()
        self._refusable = 0
        self._unanswered: list[Held] = []  # sent, then their link died before the reply

    def __bool__(self) -> bool:
        return bool(self._held)

    def full(self) -> bool:
        return self._refusable >= self.limit

    def append(self, held: Held) -> None:
        self._held.append(held)
        self._refusable += held.refusable

    def unanswered(self, held: Held) -> None:
        """Its link died before the reply: it goes back in front once the link is gone."""
        self._unanswered.append(held)

    def link_gone(self) -> None:
        """The unanswered lines were sent before every held one: put them first, in order."""
        self._held.extendleft(reversed(self._unanswered))
        self._refusable += sum(h.refusable for h in self._unanswered)
        self._unanswered.clear()

    def drain(self) -> Iterator[Held]:
        while self._held:
            held = self._held.popleft()
            self._refusable -= held.refusable
            yield held

    def expired(self, now: float) -> list[Held]:
        """Remove and return the lines that have waited `grace` seconds."""
        if not any(h.refusable and now >= h.since + self.grace for h in self._held):
            return []
        gone, keep = [], collections.deque()
        for held in self._held:
            (gone if held.refusable and now >= held.since + self.grace else keep).append(held)
        self._held, self._refusable = keep, self._refusable - len(gone)
        return gone

    def next_deadline(self) -> float | None:
        times = [h.since for h in self._held if h.refusable]
        return min(times) + self.grace if times else None
