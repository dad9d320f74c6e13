"""The selchat Textual app: builds the network client, runs it, and hosts the `ChatScreen`.

The network layer runs as a worker on the app's own event loop and reads the socket at network
speed: every event it reports goes into a `Backlog` at once.  A second worker hands the backlog to
the screen a frame at a time: at most `FRAME_BUDGET` seconds of drawing per `1 / UI_FRAME_HZ`,
so keys are handled between frames even during a flood, and lines that came faster than the
screen could ever show them are skipped (and counted) in the backlog, not formatted.  What the
events look like and what the user's lines do is the screen's business (`screen.py`).
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import sys
import time
from typing import Callable, Iterable, Sequence

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from . import commands, formatting
from .backlog import Backlog, drain
from .failover import ServerAddress, format_address
from .net import ChatClient
from .screen import ChatScreen
from .session import ConnectionState, Event, OutgoingLine, StatusChanged
from .transcript import Transcript
from .widgets import ChatInput, ConversationLog, NewBelowMarker, StatusBar
from .widgets import UserList as UserListWidget

# While lines keep coming the screen takes the backlog at most this often, and formats for at most
# BUSY_BUDGET seconds each time: the rest of the frame is for keys, the repaint (a scrolled log
# repaints every row) and reading the socket.  What is formatted in a flood mostly scrolls by
# unread and is evicted again, so a short budget loses nothing the user could see; the lines that
# stay (the newest ones, kept in the backlog) are drawn once the network goes quiet: FRAME_BUDGET
# at a time, TAIL_PAUSE apart, so keys still get their turn.  A line after a quiet spell is drawn
# at once.
UI_FRAME_HZ = 10
BUSY_BUDGET = 0.005
FRAME_BUDGET = 0.015
TAIL_PAUSE = 0.01
# Nothing received for this long while waiting out a frame: the network has gone quiet, and the
# lines kept for the end are drawn now rather than after the rest of the frame.
QUIET_AFTER = 0.02
# How long a thread waiting for the GIL waits before asking for it (see on_mount).
SWITCH_INTERVAL = 0.001


class SelchatApp(App):
    """Full-screen chat: conversation and users above, status bar and input below."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "selchat"
    # Below 60 columns the user list is hidden (styles/app.tcss: Screen.-narrow #users).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (60, "-wide")]

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | str = 8081,
        nick: str = "",
        *,
        autoconnect: bool = True,
        timestamp: formatting.Timestamp = formatting.clock_time,
        ping_interval: float = 5.0,
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
        client_factory: Callable[..., ChatClient] = ChatClient,
        log_file: str | None = None,
        servers: Sequence[ServerAddress] | None = None,
    ) -> None:
        super().__init__()
        if servers:  # several servers of one room: fail over between them (failover.py)
            host, port = servers[0].host, servers[0].port
        self.host, self.port = host, port
        self.tls = tls is not None
        self.timestamp = timestamp
        self.backlog = Backlog()
        self._backlog_ready = asyncio.Event()
        self._received = 0  # events from the network so far: has it gone quiet?
        # The password goes straight to the network layer; the app keeps no copy.
        more = {"servers": servers} if servers else {}
        self.client = client_factory(host, port, nick, self._receive, ping_interval=ping_interval,
                                     tls=tls, password=password, **more)
        self.autoconnect = autoconnect
        self._quit_warned = False
        # Made here, not on first compose, so it can be reached while a modal is the active screen.
        self.transcript = Transcript.open(log_file) if log_file else None
        self.chat_screen = ChatScreen(self.client, self.address, tls=self.tls, timestamp=timestamp,
                                      id="_default", transcript=self.transcript)
        self._switch_interval_before = sys.getswitchinterval()  # given back at unmount

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def get_default_screen(self) -> Screen:
        return self.chat_screen

    # The chat screen's parts, for scripts and tests.
    @property
    def log_view(self) -> ConversationLog:
        return self.chat_screen.log_view

    @property
    def status_bar(self) -> StatusBar:
        return self.chat_screen.status_bar

    @property
    def chat_input(self) -> ChatInput:
        return self.chat_screen.chat_input

    @property
    def user_list(self) -> UserListWidget:
        return self.chat_screen.user_list

    @property
    def new_below(self) -> NewBelowMarker:
        return self.chat_screen.new_below

    def nicks(self) -> list[str]:
        return self.chat_screen.nicks()

    def send_outgoing(self, kind: str, text: str, to: str | None = None) -> OutgoingLine | None:
        return self.chat_screen.send_outgoing(kind, text, to)

    def send_lines(self, lines: list[str]) -> None:
        self.chat_screen.send_lines(lines)

    def on_unmount(self) -> None:
        if self.transcript is not None:
            self.transcript.close()
        sys.setswitchinterval(self._switch_interval_before)  # it is process-wide

    def on_mount(self) -> None:
        self.sub_title = self.address
        # Textual and Rich leave a few hundred thousand long-lived objects; a full collection
        # walking them all stalled the loop for up to 90 ms during a burst.  Freezing moves them out
        # of the collector's way (a burst's own garbage is still collected).
        gc.freeze()
        # And a burst allocates a hundred thousand short-lived events: collect young garbage less
        # often, and the old generation rarely (the log and backlog are bounded, so little piles up).
        gc.set_threshold(10_000, 20, 100)
        # Textual reads keys and writes the screen in threads of their own; each time one wants
        # the GIL back it waits for the busy loop thread to let go, by default after 5 ms.  In a
        # burst the loop thread is always busy and a key passes through those threads several
        # times on its way to the screen: hand the GIL over sooner.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.pump_events()
        if self.autoconnect:
            self.run_network()

    # -- network worker -------------------------------------------------------------------------

    @work(group="network", exit_on_error=False)
    async def run_network(self) -> None:
        try:
            await self.client.run()
        except Exception as exc:  # a bug of ours must still end in a status, not a traceback
            self.deliver([StatusChanged(ConnectionState.DISCONNECTED, self.host, self.port,
                                        reason=f"network error: {exc!r}")])

    def _receive(self, event: Event) -> None:
        """The network layer's callback: queue, never draw (it must get back to the socket)."""
        self.backlog.push(event)
        self._received += 1
        self._backlog_ready.set()

    @work(group="events", exit_on_error=False)
    async def pump_events(self) -> None:
        """Hand the backlog to the screen, one frame's budget at a time."""
        ready = self._backlog_ready
        busy = False
        while True:
            await ready.wait()
            ready.clear()
            while self.backlog:
                if not self.chat_screen.ready:  # events before the screen's mount wait for it
                    await asyncio.sleep(1 / UI_FRAME_HZ)
                    continue
                drain(self.backlog, self.chat_screen.show_events, time.perf_counter,
                      BUSY_BUDGET if busy else FRAME_BUDGET)
                # While the network is busy, the rest of the frame goes to it, to keys and to the
                # repaint; lines arriving meanwhile join the backlog (and are skipped there if they
                # outrun the screen).  Once it has gone quiet, what is left is drawn without
                # waiting whole frames, still in slices so keys get their turn.
                ready.clear()
                received = self._received
                await asyncio.sleep(TAIL_PAUSE)
                busy = self._received != received and \
                    await self._still_coming(1 / UI_FRAME_HZ - TAIL_PAUSE)

    async def _still_coming(self, seconds: float) -> bool:
        """Wait up to `seconds` while events keep arriving; False as soon as they stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            received = self._received
            await asyncio.sleep(min(QUIET_AFTER, left))
            if self._received == received:
                return False
        return True

    def deliver(self, batch: Iterable[Event]) -> None:
        """Draw events on the screen now, in order (tests call this directly); before the
        screen is up they wait in the backlog."""
        screen = self.chat_screen
        if not screen.ready:
            for event in batch:
                self._receive(event)
            return
        while self.backlog:  # what waited for the mount goes first: never draw out of order
            screen.show_events(self.backlog.take(len(self.backlog)))
        screen.show_events(list(batch))

    # -- quitting -------------------------------------------------------------------------------------

    async def action_quit_chat(self, reason: str = "") -> None:
        """Leave politely (the server tells the others why) and close the app.

        With lines still in the outbox the first request only warns: quitting would drop them,
        and nothing typed may be dropped silently.
        """
        unconfirmed = len(self.client.session.outbox)
        if unconfirmed and not self._quit_warned:
            self._quit_warned = True
            self.chat_screen.error(f"{unconfirmed} of your lines are not delivered yet; "
                                   "quit again to leave anyway")
            return
        try:
            await asyncio.wait_for(self.client.close(reason), 2)
        except Exception:
            pass  # leaving must never fail: the server notices the closed socket anyway
        self.exit()

    async def action_quit(self) -> None:
        await self.action_quit_chat()

    # -- command palette ------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        chat = self.chat_screen
        yield SystemCommand("Who is here", "List the users in the room (/who)",
                            lambda: self.call_next(chat.run_command, commands.Who()))
        yield SystemCommand("Change nick", "Type /nick NAME", lambda: chat.prefill("/nick "))
        yield SystemCommand("Private message", "Type /msg NICK TEXT", lambda: chat.prefill("/msg "))
        yield SystemCommand("Action", "Type /me ACTION", lambda: chat.prefill("/me "))
        yield SystemCommand("Clear conversation", "Empty the log (/clear)", chat.action_clear)
        yield SystemCommand("Help", "Show commands and keys (/help)",
                            lambda: self.call_next(chat.run_command, commands.Help()))
        yield SystemCommand("Reconnect now", "Skip the reconnect countdown",
                            self.client.reconnect_now)
        yield SystemCommand("Enter password", "Give the server password in a hidden prompt (/pass)",
                            chat.ask_password)
        yield SystemCommand("Jump to newest", "Scroll to the bottom (Ctrl+End)", chat.action_jump_to_bottom)
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
        yield SystemCommand("Quit", "Leave the chat and close selchat (/quit)",
                            lambda: self.call_next(self.action_quit_chat))
