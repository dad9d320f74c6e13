"""The chat screen: conversation and users above, status bar and input below.

It shows what the network layer reports (`show_events`, through `formatting.render`) and carries
out what the user types or pastes.  The app around it only builds the client, runs the workers,
offers the palette and quits (toolong's `LogScreen`, posting's `MainScreen`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from . import commands, formatting
from .backlog import Skipped
from .failover import format_address
from .transcript import Transcript
from .session import (
    ChatLine, ConnectionState, Delivery, DeliveryChanged, Event, Joined, LagMeasured, Left, NickChanged,
    OutgoingLine, PasswordNeeded, Presence, ServerError, StatusChanged, UserList, Welcome,
)
from .widgets import ChatInput, ConversationLog, NewBelowMarker, PasswordPrompt, PasteConfirm, StatusBar
from .widgets import UserList as UserListWidget

if TYPE_CHECKING:
    from .net import ChatClient

# Pastes of more lines than this ask first: sending 200 lines by accident is worse than a prompt.
PASTE_CONFIRM_LINES = 5
# Events after which the user list is drawn again (skipped lines may have been joins).
USER_LIST_EVENTS = (Welcome, Joined, Left, NickChanged, UserList, Presence, Skipped)


class ChatScreen(Screen):
    """The one screen of the chat; the paste and password dialogs are modals above it."""

    BINDINGS = [
        Binding("pageup", "scroll_log('page_up')", "Scroll up", show=False),
        Binding("pagedown", "scroll_log('page_down')", "Scroll down", show=False),
        Binding("ctrl+end", "jump_to_bottom", "Newest", show=False, priority=True),
        # weechat's /window refresh, irssi's refresh_screen: repaint, never clear (/clear does).
        Binding("ctrl+l", "redraw", "Redraw", show=False),
    ]

    def __init__(self, client: ChatClient, address: str, *, tls: bool = False,
                 timestamp: formatting.Timestamp = formatting.clock_time, id: str | None = None,
                 transcript: Transcript | None = None) -> None:
        super().__init__(id=id)
        self.transcript = transcript
        self.client = client
        self.address = address
        self.tls = tls
        self.timestamp = timestamp
        self._logged_reason = ""
        self._connected_to = ""  # the server of the last welcome, to say when it changes
        # The time each of our lines was typed, by id: its mark changes, its time does not.
        self._typed_at: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        address = f"{self.address} (TLS)" if self.tls else self.address
        with Horizontal(id="main"):
            with Vertical(id="conversation"):
                yield ConversationLog(id="log")
                yield NewBelowMarker(id="new-below")
            yield UserListWidget(id="users")
        yield StatusBar(address, self.client.session.wanted_nick, id="status")
        yield ChatInput(self.nicks, private=lambda line: isinstance(commands.parse(line), commands.Password),
                        id="input", placeholder="type a message, /help for commands")

    log_view: ConversationLog
    status_bar: StatusBar
    chat_input: ChatInput
    user_list: UserListWidget
    new_below: NewBelowMarker

    def on_mount(self) -> None:
        self.log_view = self.query_one(ConversationLog)
        self.status_bar = self.query_one(StatusBar)
        self.chat_input = self.query_one(ChatInput)
        self.user_list = self.query_one(UserListWidget)
        self.new_below = self.query_one(NewBelowMarker)
        self.new_below.show_count(0)
        self.user_list.show([], 0, "")
        self.chat_input.focus()

    @property
    def ready(self) -> bool:
        """Mounted, with its widgets found: it can draw events."""
        return hasattr(self, "new_below")

    def nicks(self) -> list[str]:
        return list(self.client.session.users)

    # -- what the network layer reports ---------------------------------------------------------

    def _note_status(self, status: StatusChanged) -> Text | None:
        """The log's line for a status, if it gets one: why a connection was lost, once per
        distinct reason (not once per countdown tick or retry), and a move to another server.
        Sees every status, in order, in the event batches."""
        if status.state is ConnectionState.CONNECTED:
            self._logged_reason = ""
            address = format_address(status.host, status.port)
            before, self._connected_to = self._connected_to, address
            if before not in ("", address):
                return formatting.notice_line(f"now on {address} (failed over from {before})",
                                              self.timestamp)
        elif status.state is not ConnectionState.CONNECTING and status.reason \
                and status.reason != self._logged_reason:
            self._logged_reason = status.reason
            what = "disconnected" if status.state is ConnectionState.DISCONNECTED \
                else "not connected, will keep trying"
            return formatting.notice_line(f"{what}: {status.reason}", self.timestamp)
        return None

    def show_events(self, events: list[Event]) -> None:
        """Draw a batch: each event's line from `formatting.RENDERERS`, plus what it changes.

        Every status change reaches `_note_status` in order, so a connection lost and regained
        within one batch is still noted; the status bar and the lag show only the newest.
        """
        session = self.client.session
        lines: list[Text] = []
        users_changed = False
        status: StatusChanged | None = None
        lag: LagMeasured | None = None
        ring = False
        for event in events:
            line = formatting.render(event, session.nick, self.timestamp)
            if isinstance(event, ServerError) and str(event.id) in self._typed_at:
                line = None  # the refusal of one of our lines: its ✗ mark gives the reason
            if line is not None:
                lines.append(line)
            effect = self._EFFECTS.get(type(event))
            if effect is not None:
                effect(self, event)
            if isinstance(event, StatusChanged):
                status = event
                if (note := self._note_status(event)) is not None:
                    lines.append(note)  # in its place among the batch's lines
            elif isinstance(event, LagMeasured):
                lag = event
            users_changed = users_changed or isinstance(event, USER_LIST_EVENTS)
            ring = ring or (isinstance(event, ChatLine) and not event.replay
                            and formatting.is_highlight(event, session.nick))
        self.write(lines)
        if ring and not self.app.app_focus:
            self.app.bell()  # once per batch: a burst of mentions is one ring, not fifty
        bar: dict[str, Any] = {"pending": self._queued_count()}
        if users_changed:
            self.user_list.show(session.users, session.user_count, session.nick)
            bar["nick"] = session.nick or session.wanted_nick
        if status is not None:
            bar["status"] = status
            address = format_address(status.host, status.port)  # the server in use or tried
            bar["address"] = f"{address} (TLS)" if self.tls else address
            if status.state is ConnectionState.CONNECTED:
                self.app.sub_title = address  # the terminal's title too, after a failover
        if lag is not None:
            bar["lag"] = lag.seconds
        self.status_bar.set(**bar)

    def _mark_delivery(self, event: DeliveryChanged) -> None:
        line = event.line
        if not self.log_view.replace(line.id, self._outgoing_text(line)) \
                and line.delivery is Delivery.FAILED:  # scrolled out of the log: say it here
            self.error(f"not delivered: {line.text[:40]}: {line.error}")

    def _welcomed(self, event: Welcome) -> None:
        self.status_bar.set(nick=event.nick, mode=event.mode)

    def _nick_changed(self, event: NickChanged) -> None:
        self.status_bar.set(nick=self.client.session.nick)

    def _password_needed(self, event: PasswordNeeded) -> None:
        self.ask_password(wrong=event.wrong)

    # What an event changes besides the log's lines, by exact type.
    _EFFECTS: dict[type, Callable[[ChatScreen, Any], None]] = {
        DeliveryChanged: _mark_delivery,
        Welcome: _welcomed,
        NickChanged: _nick_changed,
        PasswordNeeded: _password_needed,
    }

    def _queued_count(self) -> int:
        return sum(1 for line in self.client.session.outbox.values()
                   if line.delivery is Delivery.PENDING)

    def _outgoing_text(self, line: OutgoingLine) -> Text:
        """One of our lines with its delivery mark, under the nick we have (or will ask for)."""
        session = self.client.session
        stamp = self._typed_at.setdefault(line.id, self.timestamp(None))
        if line.delivery in (Delivery.DELIVERED, Delivery.FAILED):  # its last change
            del self._typed_at[line.id]
        return formatting.outgoing_line(line, session.nick or session.wanted_nick,
                                        lambda _ts: stamp)

    def write(self, texts: list[Text]) -> None:
        self.log_view.add([(text, None) for text in texts])
        self._transcribe(texts)

    def _transcribe(self, texts: list[Text]) -> None:
        """To the --log-file, without the short time in front: the file gives date and time."""
        if self.transcript is not None:
            self.transcript.write(text.plain.split(" ", 1)[-1].lstrip() for text in texts)

    def note(self, text: str) -> None:
        self.write([formatting.notice_line(text, self.timestamp)])

    def error(self, text: str) -> None:
        self.write([formatting.error_line(text, self.timestamp)])

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

    def action_redraw(self) -> None:
        """Repaint every cell, for when the terminal drew something differently from us."""
        self.app.refresh(repaint=True, layout=True)

    def action_clear(self) -> None:
        self.log_view.clear()

    def prefill(self, text: str) -> None:
        self.chat_input.value = text
        self.chat_input.cursor_position = len(text)
        self.chat_input.focus()

    # -- what the user types --------------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def submit_line(self, event: ChatInput.Submitted) -> None:
        # The input has emptied itself and kept the line in its history (not a /pass) already:
        # by now it may hold the next line, typed right behind Enter.
        await self.run_command(commands.parse(event.value))

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
                self.note(f"paste of {len(lines)} lines not sent")

        self.app.push_screen(PasteConfirm(lines), answered)

    def send_lines(self, lines: list[str]) -> None:
        """Send pasted lines as chat lines, literally: a pasted `/quit` is text, not a command."""
        for line in lines:
            self.send_outgoing("message", line)

    def send_outgoing(self, kind: str, text: str, to: str | None = None) -> OutgoingLine | None:
        """Send (or queue) one of our lines and show it at once with its delivery mark."""
        session = self.client.session
        size = session.oversize(kind, text, to)
        if size:
            self.error(f"not sent: line too long ({size} bytes; the server takes {session.max_line})")
            return None
        if kind == "message":
            line = self.client.send_message(text)
        elif kind == "action":
            line = self.client.send_action(text)
        else:
            line = self.client.send_private(to or "", text)
        text = self._outgoing_text(line)
        self.log_view.add([(text, line.id)])
        self._transcribe([text])
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
                    self.note(f"will ask for the nick {nick} when connected")
            case commands.Who():
                if session.connected:
                    self.client.request_users()
                else:
                    self.note("not connected; last known users: " + ", ".join(session.users))
            case commands.Clear():
                self.action_clear()
            case commands.Quit(reason):
                await self.app.action_quit_chat(reason)
            case commands.Help():
                self.write([formatting.notice_line(f"{usage:<16} {what}", self.timestamp)
                            for usage, what in commands.HELP])
                self.note("keys: Enter send · Up/Down history · Tab complete nick · "
                          "PgUp/PgDn scroll · Ctrl+End newest · Ctrl+L redraw · drag+Ctrl+C copy · "
                          "Ctrl+P palette · Ctrl+Q quit")
            case commands.Password(password):
                if password:
                    self.use_password(password)
                else:
                    self.ask_password()
            case commands.Invalid(message):
                self.error(message)

    # -- the server password ------------------------------------------------------------------------

    def ask_password(self, wrong: bool = False) -> None:
        """Show the hidden password prompt (once, however often the server asks)."""
        if any(isinstance(screen, PasswordPrompt) for screen in self.app.screen_stack):
            return

        def answered(password: str | None) -> None:
            if password:
                self.use_password(password)
            elif self.client.awaiting_password:
                self.note("not connected: the server needs a password "
                          "(/pass or Ctrl+P › Enter password to give it)")

        server = format_address(self.client.host, self.client.port)  # the one asking, after a failover
        self.app.push_screen(PasswordPrompt(server, wrong=wrong), answered)

    def use_password(self, password: str) -> None:
        """Hand the password to the network layer, which reconnects with it if it was waiting."""
        waiting = self.client.awaiting_password
        self.client.set_password(password)
        self.note("connecting with the password you gave" if waiting
                  else "password set; it is used from the next connection on")
