"""The dashboard's feed: what the loop thread records and the UI thread reads.

`selchat-server --dashboard` runs the reactor on a background thread while Textual owns the main
one (see `dashboard.py`). Everything the two threads share is here: the `on_turn` recorder, the
logging handler, connection snapshots, rate meters and the loop's thread. Each hands data across
through a bounded deque or a retried snapshot, so the loop never waits for the screen.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

from rich.text import Text

from .network import Reactor, Transport

log = logging.getLogger("selchat.server")

REFRESH_INTERVAL = 0.25
# Enough history to fill a tall turns panel; older turns are dropped, never queued without bound.
TURNS_KEPT = 1000
# Under load the loop turns thousands of times a second: show only the newest few per refresh.
TURNS_SHOWN_PER_REFRESH = 40
LOG_LINES_KEPT = 1000
RATE_WINDOW = 1.0
# The connections table's columns: their labels, keys and ConnectionRow's fields, in order.
COLUMNS = ("fd", "nick", "dialect", "peer", "queued")
# Their widths in cells, fixed: a DataTable measures auto-width columns only when its message
# queue goes idle, which a busy dashboard may not reach for seconds, leaving `[i]alice` shown as
# `[i]a`. A nick is at most 16 characters (32 cells if all wide); a peer is an address and port.
COLUMN_WIDTHS = {"fd": 5, "nick": 20, "dialect": 7, "peer": 21, "queued": 9}

ReadySet = tuple[tuple[int, str], ...]  # (fd, nick) for each ready connection


def ready_set(transports: list[Transport]) -> ReadySet:
    """Who was ready, captured on the loop thread while the nicks are current."""
    if not transports:  # the write set nearly always: skip building a generator
        return ()
    return tuple((t.fd, getattr(t.handler, "label", "?")) for t in transports)


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One busy loop turn: the connections select() reported readable and writable."""

    seq: int
    turn: int
    readable: ReadySet
    writable: ReadySet

    def describe(self) -> str:
        """`turn 42: read [5:alice 7:bob] write [-]`."""
        return f"turn {self.turn}: read [{_plain(self.readable)}] write [{_plain(self.writable)}]"

    def styled(self) -> Text:
        """`describe()` with colour: what the audience reads in the turns panel."""
        text = Text()
        text.append(f"turn {self.turn}: ", style="dim")
        text.append("read ", style="bold green")
        _append_ready(text, self.readable)
        text.append(" write ", style="bold yellow")
        _append_ready(text, self.writable)
        return text


def _plain(ready: ReadySet) -> str:
    return " ".join(f"{fd}:{nick}" for fd, nick in ready) or "-"


def _append_ready(text: Text, ready: ReadySet) -> None:
    text.append("[")
    if not ready:
        text.append("-", style="dim")
    for index, (fd, nick) in enumerate(ready):
        if index:
            text.append(" ")
        text.append(f"{fd}:", style="dim")
        text.append(nick, style="bold")
    text.append("]")


def _popleft_all(queue: collections.deque) -> list:
    """Take what another thread has appended so far. popleft() one at a time, unlike list() then
    clear(), cannot lose an item appended in between; append and popleft are atomic, so the
    appending thread never waits."""
    taken = []
    while queue:
        taken.append(queue.popleft())
    return taken


class TurnRecorder:
    """The reactor's `on_turn` hook: records busy turns for the UI thread to drain.

    On the loop thread it only captures the ready sets and appends a plain tuple to a bounded
    deque; the UI thread makes `TurnRecord`s of them when it drains.
    """

    def __init__(self, reactor: Reactor, keep: int = TURNS_KEPT,
                 chained: Callable[[list, list], None] | None = None) -> None:
        self.reactor = reactor
        self._pending: collections.deque[tuple[int, int, ReadySet, ReadySet]] = collections.deque(maxlen=keep)
        self.busy_turns = 0
        self._chained = chained
        self._last_drained_seq = 0

    def __call__(self, readable: list[Transport], writable: list[Transport]) -> None:
        self.busy_turns += 1
        self._pending.append((self.busy_turns, self.reactor.turns, ready_set(readable), ready_set(writable)))
        if self._chained is not None:
            self._chained(readable, writable)

    def drain(self) -> tuple[list[TurnRecord], int]:
        """The records since the last drain, and how many older ones the bounded deque dropped."""
        drained = [TurnRecord(*fields) for fields in _popleft_all(self._pending)]
        if not drained:
            return drained, 0
        dropped = drained[0].seq - self._last_drained_seq - 1
        self._last_drained_seq = drained[-1].seq
        return drained, dropped


class LogCapture(logging.Handler):
    """Keeps formatted log records for the log panel, from whichever thread logs them."""

    def __init__(self, keep: int = LOG_LINES_KEPT) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        # Textual's event loop says which selector it uses; that is not the server's business.
        self.addFilter(lambda record: record.name != "asyncio" or record.levelno >= logging.WARNING)
        self.lines: collections.deque[tuple[int, str]] = collections.deque(maxlen=keep)
        # Warnings outlive the screen: they are printed to stderr when the dashboard closes.
        self.warnings: collections.deque[str] = collections.deque(maxlen=20)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.lines.append((record.levelno, line))
        if record.levelno >= logging.WARNING:
            self.warnings.append(line)

    def drain(self) -> list[tuple[int, str]]:
        return _popleft_all(self.lines)


@contextlib.contextmanager
def logging_routed_to(handler: logging.Handler) -> Iterator[None]:
    """Send every log record to `handler` alone for the duration; restore the handlers after."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    fd: int
    nick: str
    dialect: str
    peer: str
    queued: int


def snapshot_connections(reactor: Reactor, attempts: int = 3) -> list[ConnectionRow] | None:
    """The reactor's connections as rows, read from the UI thread; None if they kept changing.

    The loop thread adds and removes connections while this runs, and `reactor.connections()`
    walks the selector's map in Python, so it can fail part-way (a dict that changed size, an fd
    gone between its keys and its lookup). The read is cheap: retry rather than make the loop
    stop for the dashboard. A connection closed since the copy is left out.
    """
    for _ in range(attempts):
        try:
            transports = reactor.connections()
        except (RuntimeError, KeyError):
            continue
        rows = []
        for transport in transports:
            if transport.closed:
                continue
            handler = transport.handler
            conn = getattr(handler, "conn", None)
            dialect = getattr(getattr(conn, "dialect", None), "value", "?")
            rows.append(ConnectionRow(transport.fd, getattr(handler, "label", "?"), dialect,
                                      transport.peer, transport.pending_bytes))
        return sorted(rows, key=lambda row: row.fd)
    return None


class RateMeter:
    """A counter's rate of change over about the last `window` seconds."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def sample(self, count: int, now: float) -> float:
        samples = self._samples
        samples.append((now, count))
        # Keep one sample at least `window` old, so the rate spans the whole window.
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        first_time, first_count = samples[0]
        elapsed = now - first_time
        return (count - first_count) / elapsed if elapsed > 0 else 0.0


class LoopThread(threading.Thread):
    """Runs `reactor.run()`; remembers an exception that ended it, for the UI to report."""

    def __init__(self, reactor: Reactor) -> None:
        super().__init__(name="selchat-reactor", daemon=True)
        self.reactor = reactor
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            self.reactor.run()
        except BaseException as exc:
            self.crash = exc
            log.exception("the loop stopped with an error")


def listening_addresses(reactor: Reactor) -> list[str]:
    """HOST:PORT of each listener."""
    addresses = []
    for sock in reactor.listeners():
        with contextlib.suppress(OSError):
            host, port = sock.getsockname()[:2]
            addresses.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return addresses


def human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1 << 20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1 << 20):.1f} MiB"
