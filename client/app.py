"""The selchat Textual app: renders what `net.ChatClient` reports and sends what the user types.

The network layer runs as a worker on the app's own event loop.  Its events arrive through a
queue and are handed to the UI in batches (`NetEvents`), at most `UI_BATCH_HZ` times a second
during a flood, so a burst of 20,000 lines costs a few dozen repaints rather than 20,000.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from . import commands, formatting
from .net import ChatClient
from .session import (
    ChatLine, ConnectionState, Delivery, DeliveryChanged, Event, Joined, LagMeasured, Left,
    NickChanged, Notice, OutgoingLine, PasswordNeeded, Presence, Reply, ServerError, StatusChanged,
    UserList, Welcome, encode,
)
from .widgets import ChatInput, ConversationLog, NewBelowMarker, PasswordPrompt, PasteConfirm, StatusBar
from .widgets import UserList as UserListWidget
from .widgets.messages import ConnectionStatus, LagUpdate, NetEvents

UI_BATCH_HZ = 30
MAX_BATCH = 5000
# Pastes of more lines than this ask first: sending 200 lines by accident is worse than a prompt.
PASTE_CONFIRM_LINES = 5


class SelchatApp(App):
    """Full-screen chat: conversation and users above, status bar and input below."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "selchat"
    BINDINGS = [
        Binding("pageup", "scroll_log('page_up')", "Scroll up", show=False),
        Binding("pagedown", "scroll_log('page_down')", "Scroll down", show=False),
        Binding("ctrl+end", "jump_to_bottom", "Newest", show=False, priority=True),
        Binding("ctrl+l", "clear", "Clear", show=False),
    ]

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
        self._logged_reason = ""
        self._quit_warned = False

    # -- layout ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def compose(self) -> ComposeResult:
        address = f"{self.address} (TLS)" if self.tls else self.address
        with Horizontal(id="main"):
            with Vertical(id="conversation"):
                yield ConversationLog(id="log")
                yield NewBelowMarker(id="new-below")
            yield UserListWidget(id="users")
        yield StatusBar(address, self.client.session.wanted_nick, id="status")
        yield ChatInput(self.nicks, id="input", placeholder="type a message, /help for commands")

    # The widgets live on the default screen; kept as attributes because `App.query_one` looks
    # at the active screen, which is a modal while the paste confirmation is up.
    log_view: ConversationLog
    status_bar: StatusBar
    chat_input: ChatInput
    user_list: UserListWidget
    new_below: NewBelowMarker

    def nicks(self) -> list[str]:
        return list(self.client.session.users)

    def on_mount(self) -> None:
        self.log_view = self.query_one(ConversationLog)
        self.status_bar = self.query_one(StatusBar)
        self.chat_input = self.query_one(ChatInput)
        self.user_list = self.query_one(UserListWidget)
        self.new_below = self.query_one(NewBelowMarker)
        self.new_below.show_count(0)
        self.user_list.show([], 0, "")
        self.chat_input.focus()
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
            self.post_message(ConnectionStatus(StatusChanged(
                ConnectionState.DISCONNECTED, self.host, self.port,
                reason=f"network error: {exc!r}")))

    @work(group="events", exit_on_error=False)
    async def pump_events(self) -> None:
        """Move events from the network layer to the UI in batches."""
        queue = self._events
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < MAX_BATCH:
                batch.append(queue.get_nowait())
            self.deliver(batch)
            # Give the UI the rest of this frame; lines arriving meanwhile join the next batch.
            await asyncio.sleep(1 / UI_BATCH_HZ)

    def deliver(self, batch: Iterable[Event]) -> None:
        """Post events to the UI: chat events as one batch, status and lag as replaceable."""
        chat: list[Event] = []
        for event in batch:
            if isinstance(event, StatusChanged):
                self.post_message(ConnectionStatus(event))
            elif isinstance(event, LagMeasured):
                self.post_message(LagUpdate(event.seconds))
            else:
                chat.append(event)
        if chat:
            self.post_message(NetEvents(chat))

    # -- rendering events ---------------------------------------------------------------------------

    @on(ConnectionStatus)
    def show_status(self, message: ConnectionStatus) -> None:
        status = message.status
        self.status_bar.set(status=status, pending=self._queued_count())
        # The status bar always shows the state; the log only notes why a connection was lost
        # (once per distinct reason, not once per countdown tick or retry).
        if status.state is ConnectionState.CONNECTED:
            self._logged_reason = ""
        elif status.state is not ConnectionState.CONNECTING and status.reason \
                and status.reason != self._logged_reason:
            self._logged_reason = status.reason
            what = "disconnected" if status.state is ConnectionState.DISCONNECTED \
                else "not connected, will keep trying"
            self._note(f"{what}: {status.reason}")

    @on(LagUpdate)
    def show_lag(self, message: LagUpdate) -> None:
        self.status_bar.set(lag=message.seconds)

    @on(NetEvents)
    def show_events(self, message: NetEvents) -> None:
        session = self.client.session
        lines: list[Text] = []
        users_changed = False
        stamp = self.timestamp
        for event in message.events:
            if isinstance(event, ChatLine):
                lines.append(formatting.chat_line(event, session.nick, stamp))
            elif isinstance(event, DeliveryChanged):
                self.log_view.replace(event.line.id, self._outgoing_text(event.line))
            elif isinstance(event, Reply):
                lines.append(formatting.reply_line(event.text, stamp))
            elif isinstance(event, Welcome):
                users_changed = True
                self.status_bar.set(nick=event.nick, mode=event.mode)
                lines.append(formatting.notice_line(
                    f"connected to {event.server or 'server'} (mode={event.mode}) as {event.nick}; "
                    f"{event.user_count} here", stamp))
            elif isinstance(event, Joined):
                users_changed = True
                lines.append(formatting.notice_line(f"{event.nick} has joined", stamp, event.ts))
            elif isinstance(event, Left):
                users_changed = True
                reason = f" ({event.reason})" if event.reason else ""
                lines.append(formatting.notice_line(f"{event.nick} has left{reason}", stamp, event.ts))
            elif isinstance(event, NickChanged):
                users_changed = True
                self.status_bar.set(nick=session.nick)
                lines.append(formatting.notice_line(
                    f"{event.old} is now known as {event.new}", stamp, event.ts))
            elif isinstance(event, UserList):
                users_changed = True
                lines.append(formatting.notice_line(
                    f"{event.user_count} here: {', '.join(event.users)}", stamp))
            elif isinstance(event, Presence):
                users_changed = True
                lines.append(formatting.notice_line(
                    f"{event.joined_count} joined, {event.left_count} left "
                    f"({event.user_count} here)", stamp))
            elif isinstance(event, Notice):
                lines.append(formatting.notice_line(event.text, stamp))
            elif isinstance(event, ServerError):
                lines.append(formatting.error_line(f"error: {event.message or event.code}", stamp))
            elif isinstance(event, PasswordNeeded):
                self.ask_password(wrong=event.wrong)
        self._write(lines)
        if users_changed:
            self.user_list.show(session.users, session.user_count, session.nick)
        self.status_bar.set(pending=self._queued_count())

    def _queued_count(self) -> int:
        return sum(1 for line in self.client.session.outbox.values()
                   if line.delivery is Delivery.PENDING)

    def _outgoing_text(self, line: OutgoingLine) -> Text:
        """One of our lines with its delivery mark, under the nick we have (or will ask for)."""
        session = self.client.session
        return formatting.outgoing_line(line, session.nick or session.wanted_nick, self.timestamp)

    def _write(self, texts: list[Text]) -> None:
        self.log_view.add([(text, None) for text in texts])

    def _note(self, text: str) -> None:
        self._write([formatting.notice_line(text, self.timestamp)])

    def _error(self, text: str) -> None:
        self._write([formatting.error_line(text, self.timestamp)])

    @on(ConversationLog.NewBelowChanged)
    def show_new_below(self, message: ConversationLog.NewBelowChanged) -> None:
        self.new_below.show_count(message.count)

    @on(NewBelowMarker.JumpRequested)
    def action_jump_to_bottom(self) -> None:
        self.log_view.jump_to_bottom()

    def action_scroll_log(self, direction: str) -> None:
        if direction == "page_up":
            self.log_view.scroll_page_up(animate=False)
        else:
            self.log_view.scroll_page_down(animate=False)

    # -- what the user types --------------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def submit_line(self, event: ChatInput.Submitted) -> None:
        line = event.value
        self.chat_input.value = ""
        command = commands.parse(line)
        if not isinstance(command, commands.Password):  # a password stays out of the history
            self.chat_input.remember(line)
        await self.run_command(command)

    @on(ChatInput.MultiLinePaste)
    def paste_lines(self, event: ChatInput.MultiLinePaste) -> None:
        lines = [line for line in event.lines if line.strip()]
        if len(lines) <= PASTE_CONFIRM_LINES:
            self.send_lines(lines)
            return

        def answered(send: bool | None) -> None:
            if send:
                self.send_lines(lines)
            else:
                self._note(f"paste of {len(lines)} lines not sent")

        self.push_screen(PasteConfirm(lines), answered)

    def send_lines(self, lines: list[str]) -> None:
        """Send pasted lines as chat lines, literally: a pasted `/quit` is text, not a command."""
        for line in lines:
            self.send_outgoing("message", line)

    def send_outgoing(self, kind: str, text: str, to: str | None = None) -> OutgoingLine | None:
        """Send (or queue) one of our lines and show it at once with its delivery mark."""
        session = self.client.session
        # The size on the wire, with an id at least as long as the ones `ClientSession` makes.
        size = len(encode(OutgoingLine("c000000-0000000", kind, text, to).request()))
        if size > session.max_line:
            self._error(f"not sent: line too long ({size} bytes; the server takes {session.max_line})")
            return None
        if kind == "message":
            line = self.client.send_message(text)
        elif kind == "action":
            line = self.client.send_action(text)
        else:
            line = self.client.send_private(to or "", text)
        self.log_view.add([(self._outgoing_text(line), line.id)])
        self.log_view.jump_to_bottom()
        self.status_bar.set(pending=self._queued_count())
        return line

    async def run_command(self, command: commands.Command | None) -> None:
        """Carry out one parsed input line."""
        session = self.client.session
        match command:
            case None:
                return
            case commands.Say(text):
                self.send_outgoing("message", text)
            case commands.Act(text):
                self.send_outgoing("action", text)
            case commands.Whisper(to, text):
                self.send_outgoing("private", text, to)
            case commands.ChangeNick(nick):
                self.client.change_nick(nick)
                if not session.connected:
                    self._note(f"will ask for the nick {nick} when connected")
            case commands.Who():
                if session.connected:
                    self.client.request_users()
                else:
                    self._note("not connected; last known users: " + ", ".join(session.users))
            case commands.Clear():
                self.action_clear()
            case commands.Quit(reason):
                await self.action_quit_chat(reason)
            case commands.Help():
                self._write([formatting.notice_line(f"{usage:<16} {what}", self.timestamp)
                             for usage, what in commands.HELP])
                self._note("keys: Enter send · Up/Down history · Tab complete nick · "
                           "PgUp/PgDn scroll · Ctrl+End newest · Ctrl+P palette · Ctrl+Q quit")
            case commands.Password(password):
                if password:
                    self.use_password(password)
                else:
                    self.ask_password()
            case commands.Invalid(message):
                self._error(message)

    # -- the server password ------------------------------------------------------------------------

    def ask_password(self, wrong: bool = False) -> None:
        """Show the hidden password prompt (once, however often the server asks)."""
        if any(isinstance(screen, PasswordPrompt) for screen in self.screen_stack):
            return

        def answered(password: str | None) -> None:
            if password:
                self.use_password(password)
            elif self.client.awaiting_password:
                self._note("not connected: the server needs a password "
                           "(/pass or Ctrl+P › Enter password to give it)")

        self.push_screen(PasswordPrompt(self.address, wrong=wrong), answered)

    def use_password(self, password: str) -> None:
        """Hand the password to the network layer, which reconnects with it if it was waiting."""
        waiting = self.client.awaiting_password
        self.client.set_password(password)
        self._note("connecting with the password you gave" if waiting
                   else "password set; it is used from the next connection on")

    def action_clear(self) -> None:
        self.log_view.clear()

    async def action_quit_chat(self, reason: str = "") -> None:
        """Leave politely (the server tells the others why) and close the app.

        With lines still in the outbox the first request only warns: quitting would drop them,
        and nothing typed may be dropped silently.
        """
        unconfirmed = len(self.client.session.outbox)
        if unconfirmed and not self._quit_warned:
            self._quit_warned = True
            self._error(f"{unconfirmed} of your lines are not delivered yet; "
                        "quit again to leave anyway")
            return
        try:
            await asyncio.wait_for(self.client.close(reason), 2)
        except Exception:
            pass  # leaving must never fail: the server notices the closed socket anyway
        self.exit()

    async def action_quit(self) -> None:
        await self.action_quit_chat()

    def action_prefill(self, text: str) -> None:
        self.chat_input.value = text
        self.chat_input.cursor_position = len(text)
        self.chat_input.focus()

    # -- command palette ------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Who is here", "List the users in the room (/who)",
                            lambda: self.call_next(self.run_command, commands.Who()))
        yield SystemCommand("Change nick", "Type /nick NAME",
                            lambda: self.action_prefill("/nick "))
        yield SystemCommand("Private message", "Type /msg NICK TEXT",
                            lambda: self.action_prefill("/msg "))
        yield SystemCommand("Action", "Type /me ACTION", lambda: self.action_prefill("/me "))
        yield SystemCommand("Clear conversation", "Empty the log (/clear)", self.action_clear)
        yield SystemCommand("Help", "Show commands and keys (/help)",
                            lambda: self.call_next(self.run_command, commands.Help()))
        yield SystemCommand("Reconnect now", "Skip the reconnect countdown",
                            self.client.reconnect_now)
        yield SystemCommand("Enter password", "Give the server password in a hidden prompt (/pass)",
                            self.ask_password)
        yield SystemCommand("Jump to newest", "Scroll to the bottom (Ctrl+End)", self.action_jump_to_bottom)
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
        yield SystemCommand("Quit", "Leave the chat and close selchat (/quit)",
                            lambda: self.call_next(self.action_quit_chat))
