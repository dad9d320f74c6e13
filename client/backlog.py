"""What the network layer has reported and the screen has not drawn yet, bounded.

The network side reads the socket at network speed and pushes every event here; the screen takes
them a frame at a time (`drain`, with a time budget), so a slow repaint never slows the reading
and the server never has to drop us as too slow.  When the screen falls behind by more than
`keep` lines, the oldest surplus lines could never be shown anyway: the log, which keeps the same
number, would evict them as soon as the newer ones arrived.  They are dropped here, before any
formatting, and a `Skipped` marker says how many went, where they were.

Only events that merely draw a line are ever skipped.  Connection changes, delivery marks, the
welcome and password requests are state the screen must see, and are few; so is a resume's
`history_gap` or `history_reset` notice, which says that lines are missing.

Pure code: no asyncio, no clock but the one `drain` is handed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from .events import (
    ChatLine, Event, Joined, Left, NickChanged, Notice, Presence, Reply, ServerError, UserList,
)

# The log keeps 5000 entries (widgets/conversation_log.MAX_ENTRIES).  Keep a little less here so
# that the `Skipped` marker and the notes among the kept lines are not evicted by those lines.
KEEP_LINES = 4900
# Events taken per step of `drain`: small enough that one step (about 10 µs a line) stays well
# inside a frame's budget, large enough that the screen's per-batch work is shared by many.
CHUNK = 100

# Events that only add a line to the log (their state is already in the session).
SKIPPABLE = (ChatLine, Reply, Joined, Left, NickChanged, Notice, Presence, UserList, ServerError)
# ... except the notices that say lines are missing after a resume: a hole is never silent.
KEPT_NOTICES = frozenset({"history_gap", "history_reset"})


def is_skippable(event: Event) -> bool:
    return isinstance(event, SKIPPABLE) and (type(event) is not Notice or event.code not in KEPT_NOTICES)


@dataclass(frozen=True)
class Skipped(Event):
    """`count` lines arrived here faster than the screen could ever have shown them."""

    count: int


class Backlog:
    """A FIFO of events that keeps at most about `keep` skippable lines (see the module doc)."""

    def __init__(self, keep: int = KEEP_LINES) -> None:
        self.keep = keep
        self._events: deque[Event] = deque()
        self._lines = 0  # skippable events queued (markers are not counted)
        self.skipped_total = 0

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        return bool(self._events)

    @property
    def lines(self) -> int:
        return self._lines

    def push(self, event: Event) -> None:
        self._events.append(event)
        if is_skippable(event):
            self._lines += 1
            if self._lines > 2 * self.keep:  # trim in bulk, so pushing stays O(1) on average
                self._trim()

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.push(event)

    def take(self, limit: int) -> list[Event]:
        """Up to `limit` events from the front, after dropping lines beyond the newest `keep`."""
        if self._lines > self.keep:
            self._trim()
        events = self._events
        taken = [events.popleft() for _ in range(min(limit, len(events)))]
        self._lines -= sum(1 for event in taken if is_skippable(event))
        return taken

    def _trim(self) -> None:
        """Drop the oldest lines so that `keep` remain; other events keep their order, and each
        run of dropped lines becomes one `Skipped` marker (merged with a marker already there)."""
        surplus = self._lines - self.keep
        kept: deque[Event] = deque()
        run = 0
        for event in self._events:
            if surplus > 0 and is_skippable(event):
                run += 1
                surplus -= 1
                self.skipped_total += 1
                continue
            if isinstance(event, Skipped) and (surplus > 0 or run):
                run += event.count  # an earlier marker: fold it into this run, not a line of its own
                continue
            if run:
                kept.append(Skipped(run))
                run = 0
            kept.append(event)
        if run:
            kept.append(Skipped(run))
        self._events = kept
        self._lines = self.keep


def drain(backlog: Backlog, deliver: Callable[[list[Event]], None], clock: Callable[[], float],
          budget: float, chunk: int = CHUNK) -> int:
    """Hand the screen chunks of the backlog until it is empty or `budget` seconds have gone.

    At least one chunk is delivered, so the screen always moves forward.  Returns how many events
    were delivered; what is left waits for the next frame (and may be skipped by then).
    """
    deadline = clock() + budget
    delivered = 0
    while backlog:
        events = backlog.take(chunk)
        deliver(events)
        delivered += len(events)
        if clock() >= deadline:
            break
    return delivered
