"""The selchat Textual app: builds the network client, runs it, and hosts the `ChatScreen`.

The network layer runs as a worker on the app's own event loop.  Its events arrive through a
queue and are handed to the screen in batches (`NetEvents`), at most `UI_BATCH_HZ` times a second
during a flood, so a burst of 20,000 lines costs a few dozen repaints rather than 20,000.  What
the events look like and what the user's lines do is the screen's business (`screen.py`).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from . import commands, formatting
from .net import ChatClient
from .screen import ChatScreen
from .session import ConnectionState, Event, LagMeasured, OutgoingLine, StatusChanged
from .widgets import ChatInput, ConversationLog, NewBelowMarker, StatusBar
from .widgets import UserList as UserListWidget
from .widgets.messages import ConnectionStatus, LagUpdate, NetEvents

UI_BATCH_HZ = 30
MAX_BATCH = 5000


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
    ) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.tls = tls is not None
        self.timestamp = timestamp
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        # The password goes straight to the network layer; the app keeps no copy.
        self.client = client_factory(host, port, nick, self._events.put_nowait,
                                     ping_interval=ping_interval, tls=tls, password=password)
        self.autoconnect = autoconnect
        self._quit_warned = False
        # Made here, not on first compose, so it can be reached while a modal is the active screen.
        self.chat_screen = ChatScreen(self.client, self.address, tls=self.tls, timestamp=timestamp,
                                      id="_default")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

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

    def on_mount(self) -> None:
        self.sub_title = self.address
        if self.autoconnect:
            self.run_network()
            self.pump_events()

    # -- network worker -------------------------------------------------------------------------

    @work(group="network", exit_on_error=False)
    async def run_network(self) -> None:
        try:
            await self.client.run()
        except Exception as exc:  # a bug of ours must still end in a status, not a traceback
            self.deliver([StatusChanged(ConnectionState.DISCONNECTED, self.host, self.port,
                                        reason=f"network error: {exc!r}")])

    @work(group="events", exit_on_error=False)
    async def pump_events(self) -> None:
        """Move events from the network layer to the screen in batches."""
        queue = self._events
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < MAX_BATCH:
                batch.append(queue.get_nowait())
            self.deliver(batch)
            # Give the UI the rest of this frame; lines arriving meanwhile join the next batch.
            await asyncio.sleep(1 / UI_BATCH_HZ)

    def deliver(self, batch: Iterable[Event]) -> None:
        """Post events to the screen: chat events as one batch, status and lag as replaceable.

        A status change goes in the batch too: the status bar only needs the newest, but the log
        must note every lost connection, even one that came back within the same batch.
        """
        screen = self.chat_screen
        chat: list[Event] = []
        for event in batch:
            if isinstance(event, StatusChanged):
                screen.post_message(ConnectionStatus(event))
                chat.append(event)
            elif isinstance(event, LagMeasured):
                screen.post_message(LagUpdate(event.seconds))
            else:
                chat.append(event)
        if chat:
            screen.post_message(NetEvents(chat))

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
