"""`selchat-server --dashboard`: a live view of the loop, for an audience.

Textual owns the main thread (it needs the terminal, and Python runs signal handlers only there);
the reactor runs on a background thread. The two threads meet in three places only:

* `TurnRecorder` is the reactor's `on_turn` hook. On the loop thread it notes which connections
  each busy turn found ready, into a bounded deque.
* `LogCapture` is a logging handler that keeps formatted records in a bounded deque, so log lines
  from either thread reach the log panel instead of stderr, which would corrupt the screen.
* A Textual timer, a few times a second, drains both deques and reads the reactor's counters and
  connections.

Whatever changes the server goes through `reactor.call_soon_threadsafe`, so only the loop's thread
ever writes the loop's state. The plain server never imports this module, so it runs without
Textual.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, RichLog, Static

from .network import Reactor, Transport
from .service import SHUTDOWN_DRAIN, Service

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


class DashboardApp(App[int]):
    """Connections, loop turns per second and the ready-sets of recent turns, live.

    It starts the reactor on a thread when mounted. Quitting asks the server to shut down and
    exits once the loop has finished, with 0 (or 130 if a second quit forced it, as the plain
    server does on a second Ctrl+C, or 1 if the loop crashed).
    """

    TITLE = "selchat-server dashboard"
    CSS = """
    #stats { height: 1; padding: 0 1; background: $boost; }
    #main { height: 2fr; }
    #connections { width: 1fr; height: 1fr; border: round $primary; }
    #turns { width: 1fr; height: 1fr; border: round $primary; }
    #log { height: 1fr; min-height: 4; border: round $secondary; }
    """
    BINDINGS = [
        Binding("q", "shutdown", "Shut down"),
        Binding("ctrl+c", "shutdown", "Shut down", show=False, priority=True),
    ]

    def __init__(self, reactor: Reactor, service: Service, *, log_capture: LogCapture | None = None) -> None:
        super().__init__()
        self.reactor = reactor
        self.service = service
        self.log_capture = log_capture or LogCapture()
        self.recorder = TurnRecorder(reactor, chained=reactor.on_turn)
        self.loop_thread = LoopThread(reactor)
        self.turn_rate = RateMeter()
        self.busy_rate = RateMeter()
        self.shutdown_requested = False
        self._exiting = False
        # Read now, while the loop is not yet running on another thread.
        self.addresses = listening_addresses(reactor)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="stats")
        with Horizontal(id="main"):
            yield DataTable(id="connections", cursor_type="none", zebra_stripes=True)
            yield RichLog(id="turns", max_lines=TURNS_KEPT, wrap=False)
        yield RichLog(id="log", max_lines=LOG_LINES_KEPT, wrap=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "listening on " + (", ".join(self.addresses) or "?")
        table = self.query_one("#connections", DataTable)
        table.border_title = "connections"
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.query_one("#turns", RichLog).border_title = "ready sets of recent turns"
        self.query_one("#log", RichLog).border_title = "log"
        self.reactor.on_turn = self.recorder
        self.loop_thread.start()
        self.refresh_view()
        self.set_interval(REFRESH_INTERVAL, self.refresh_view)

    # --- quitting -----------------------------------------------------------------------

    def action_shutdown(self) -> None:
        """First press: graceful shutdown (clients are told, output flushed). Second: at once."""
        if not self.loop_thread.is_alive():
            self._exit_with_status()
            return
        self.shutdown_requested = True
        self.reactor.call_soon_threadsafe(self.service.shutdown)
        self.refresh_view()

    # Textual's own quit keys must not leave the server running without a screen.
    action_quit = action_shutdown
    action_help_quit = action_shutdown

    def _exit_with_status(self) -> None:
        """The loop has finished: end the app with the server's exit status."""
        self._exiting = True
        if self.loop_thread.crash is not None:
            code = 1
        else:
            code = 130 if self.service.forced else 0
        self.exit(code, return_code=code)

    # --- the view -----------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Pull the loop's state into the widgets (runs on Textual's thread)."""
        now = time.monotonic()
        reactor = self.reactor
        rows = snapshot_connections(reactor)
        if rows is not None:
            self._show_connections(rows)
        self._show_stats(rows, self.turn_rate.sample(reactor.turns, now),
                         self.busy_rate.sample(self.recorder.busy_turns, now))
        self._show_turns()
        self._show_log()
        if self.loop_thread.ident is not None and not self.loop_thread.is_alive() and not self._exiting:
            self._exit_with_status()

    def _show_stats(self, rows: list[ConnectionRow] | None, turns_per_second: float,
                    busy_per_second: float) -> None:
        reactor = self.reactor
        queued = sum(row.queued for row in rows) if rows is not None else 0
        text = Text()
        for label, value in (("backend", reactor.backend), ("connections", f"{reactor.connection_count}"),
                             ("members", f"{len(self.service.room.members)}"),
                             ("turns", f"{reactor.turns:,}"),
                             ("turns/s", f"{turns_per_second:.1f}"),
                             ("busy turns/s", f"{busy_per_second:.1f}"),
                             ("queued", human_bytes(queued))):
            if text:
                text.append(" · ", style="dim")
            text.append(f"{label} ", style="dim")
            text.append(value, style="bold")
        if self.shutdown_requested:
            text.append("   shutting down… (again to force)", style="bold red")
        self.query_one("#stats", Static).update(text)

    def _show_connections(self, rows: list[ConnectionRow]) -> None:
        table = self.query_one("#connections", DataTable)
        table.border_subtitle = f"{len(rows)}"
        wanted = {str(row.fd): row for row in rows}
        for key in [key.value for key in table.rows if key.value not in wanted]:
            table.remove_row(key)
        added = False
        for key, row in wanted.items():
            # Text, not str: DataTable renders a str cell as markup, and `[i]alice` is a legal nick.
            cells = (row.fd, Text(row.nick), row.dialect, row.peer, human_bytes(row.queued))
            if key in table.rows:
                for column, shown, value in zip(COLUMNS, table.get_row(key), cells):
                    if shown != value:
                        table.update_cell(key, column, value, update_width=True)
            else:
                table.add_row(*cells, key=key)
                added = True
        if added:
            table.sort("fd")

    def _show_turns(self) -> None:
        records, dropped = self.recorder.drain()
        if not records:
            return
        panel = self.query_one("#turns", RichLog)
        hidden = dropped + max(0, len(records) - TURNS_SHOWN_PER_REFRESH)
        if hidden:
            panel.write(Text(f"… {hidden:,} more turns", style="dim italic"))
        for record in records[-TURNS_SHOWN_PER_REFRESH:]:
            panel.write(record.styled())

    def _show_log(self) -> None:
        lines = self.log_capture.drain()
        if not lines:
            return
        panel = self.query_one("#log", RichLog)
        for level, line in lines:
            style = "bold red" if level >= logging.ERROR else "yellow" if level >= logging.WARNING else ""
            panel.write(Text(line, style=style))


def run_dashboard(reactor: Reactor, service: Service) -> int:
    """Run the server under the dashboard until it is shut down; return the exit status."""
    capture = LogCapture()
    app = DashboardApp(reactor, service, log_capture=capture)
    with logging_routed_to(capture):
        try:
            result = app.run()
        finally:
            _stop_loop(app)
    reactor.release_signals()  # the loop ran on another thread, which may not do this
    for line in capture.warnings:
        print(line, file=sys.stderr)
    return result if result is not None else 1


def _stop_loop(app: DashboardApp) -> None:
    """If the UI ended first (a crash in it), do not leave a server running with no screen."""
    thread = app.loop_thread
    if not thread.is_alive():
        return
    app.reactor.call_soon_threadsafe(app.service.shutdown)
    thread.join(SHUTDOWN_DRAIN + 1.0)
    if thread.is_alive():
        app.reactor.call_soon_threadsafe(app.reactor.stop)
        thread.join(1.0)
