"""`selchat-server --dashboard`: a live view of the loop, for an audience.

Textual owns the main thread (it needs the terminal, and Python runs signal handlers only there);
the reactor runs on a background thread. The two threads meet in three places only (the first
two live in `dashboard_feed.py`):

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

import logging
import sys
import time

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, RichLog, Static

from .dashboard_feed import (  # noqa: F401  (the feed's names are the dashboard's public API too)
    COLUMN_WIDTHS, COLUMNS, LOG_LINES_KEPT, REFRESH_INTERVAL, TURNS_KEPT, TURNS_SHOWN_PER_REFRESH,
    ConnectionRow, LogCapture, LoopThread, RateMeter, TurnRecord, TurnRecorder, human_bytes,
    listening_addresses, logging_routed_to, snapshot_connections,
)
from .network import Reactor
from .service import SHUTDOWN_DRAIN, Service

log = logging.getLogger("selchat.server")


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
            table.add_column(column, key=column, width=COLUMN_WIDTHS[column])
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
                        table.update_cell(key, column, value)
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
