"""One IRC connection's protocol state, without I/O: lines in (framed, parsed), and room
notifications out as this viewer's IRC lines (`send`).

It stands where `protocol.Connection` stands for text and JSON, so `Session`'s flood control,
timers and `Service.deliver` drive it the same way: `receive_data` buffers, `next_line` hands
out one parsed line at a time (or `CLOSED` once the peer has gone), `send(notification)` gives
bytes. What the room's notifications mean on IRC is irc.md §4's table.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from .. import events as ev
from .channel import ChannelView
from .formatting import strip_formatting
from .message import LineFramer, parse, serialise
from .registration import Registration, State

if TYPE_CHECKING:
    from .gateway import IrcGateway

CLOSED = object()  # next_line: the peer closed its side and every line before that was read
TOO_LONG = LineFramer.TOO_LONG


class _IrcDialect:
    """What `protocol.Dialect` says for the other two, for those who show it (the dashboard)."""

    value = "irc"


class IrcConnection:
    dialect = _IrcDialect()
    __slots__ = ("gateway", "framer", "registration", "view", "listing", "asked_nick", "asked_to",
                 "quiet_errors", "_lines", "_eof")

    def __init__(self, gateway: "IrcGateway", registration: Registration, max_line: int) -> None:
        self.gateway = gateway
        self.framer = LineFramer(max_line)
        self.registration = registration
        self.view: ChannelView | None = None  # made at registration
        # What the request being handled asked for, so the room's answer can be told the IRC way
        # (`Users` as NAMES or WHO, an `Error` as 433, 432 or 401 naming the right word).
        self.listing: tuple = ("names",)
        self.asked_nick = ""
        self.asked_to = ""
        self.quiet_errors = False  # a NOTICE is never answered (RFC 1459 §4.4.2)
        self._lines: deque = deque()
        self._eof = False

    @property
    def registered(self) -> bool:
        return self.registration.state is State.DONE

    # --- in ------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        if not data:
            self._eof = True
            return
        for line in self.framer.feed(data):
            if line is TOO_LONG:
                self._lines.append(TOO_LONG)
            else:
                message = parse(line)
                if message is not None:
                    self._lines.append(message)

    def next_line(self):
        """The next parsed `Message` (or `TOO_LONG`), `CLOSED` at the end, None for now."""
        if self._lines:
            return self._lines.popleft()
        return CLOSED if self._eof else None

    # The text dialect's partial-line clock (protocol.Connection): IRC lines end in a newline.
    def partial_deadline(self):
        return None

    def flush_partial(self, now: float) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, now: float) -> None:
        pass

    # --- out -----------------------------------------------------------------------------

    def send(self, event) -> bytes:
        """`event` as this viewer's IRC lines (b"" for what IRC shows no trace of)."""
        view = self.view
        if view is None:  # not registered: only a notice can reach it (shutdown, idle, flood control)
            if type(event) is not ev.Notice:
                return b""
            name = self.registration.server.name
            lines = [serialise("NOTICE", "*", event.text, prefix=name, trailing=True)]
            if event.code in ("shutdown", "idle"):
                lines.append(serialise("ERROR", f"Closing Link: {self.registration.host} ({event.text})",
                                       trailing=True))
            return b"".join(lines)
        handler = _SENDERS.get(type(event))
        return b"".join(handler(self, view, event)) if handler is not None else b""

    def _shared(self, view: ChannelView, event) -> list[bytes]:
        data, named = self.gateway.common_lines(event)
        if view.me.nick not in named:
            return [data]
        kind = type(event)
        if kind is ev.NickChanged:  # our own rename: the echo moves the view to the new nick
            old = self.gateway.person(event.new).renamed(event.old)
            return view.nick_changed(old, event.new)
        if kind is ev.Presence:
            return [self.gateway.presence_lines(event, me=view.me.nick)]
        return []  # our own line (P5), our own join (in the burst), our own leave

    def _own_nick_changed(self, view: ChannelView, event: ev.NickChanged) -> list[bytes]:
        if event.new == view.me.nick or event.old == view.me.nick:
            old = self.gateway.person(event.new).renamed(event.old)
            return view.nick_changed(old, event.new)
        return self._shared(view, event)

    def _welcome(self, view: ChannelView, event: ev.Welcome) -> list[bytes]:
        lines = view.join_burst(event.users)
        if event.user_count > len(event.users):
            lines += view.notice(f"{event.user_count} here; the names list shows {len(event.users)}",
                                 channel_wide=True)
        return lines

    def _history(self, view: ChannelView, event: ev.History) -> list[bytes]:
        # Replayed as server NOTICEs in the channel, not as PRIVMSGs from people who may have gone (P17).
        lines = []
        for line in event.events:
            stamp = time.strftime("%H:%M", time.localtime(line.ts)) if line.ts is not None else "--:--"
            said = f"* {line.sender} {line.text}" if type(line) is ev.Action else f"<{line.sender}> {line.text}"
            lines += view.notice(f"[{stamp}] {said}", channel_wide=True)
        return lines

    def _private(self, view: ChannelView, event: ev.Private) -> list[bytes]:
        if event.confirmation or event.sender == view.me.nick:
            return []  # IRC clients print what they sent
        return view.message(self.gateway.person(event.sender), event.text, private=True)

    def _users(self, view: ChannelView, event: ev.Users) -> list[bytes]:
        if self.listing[0] == "who":
            return view.who(self.gateway.people(event.users), self.listing[1])
        return view.names(event.users)

    def _error(self, view: ChannelView, event: ev.Error) -> list[bytes]:
        code = event.code
        if code == "nick_in_use":
            return view.nick_in_use(self.asked_nick)
        if code == "bad_nick":
            return view.erroneous_nick(self.asked_nick, "Erroneous nickname: " + event.message)
        if self.quiet_errors:
            return []
        if code == "no_such_nick":
            return view.no_such_nick(self.asked_to)
        if code == "empty_message":
            return [view._numeric("412", "No text to send")]
        return view.notice(f"error: {event.message}")

    def _notice(self, view: ChannelView, event: ev.Notice) -> list[bytes]:
        lines = view.notice(event.text)
        if event.code in ("shutdown", "idle"):  # the server closes next: say so the IRC way (P15)
            lines += view.closing(strip_formatting(event.text))
        return lines

    def _help(self, view: ChannelView, event: ev.HelpText) -> list[bytes]:
        return [line for text in event.lines for line in view.notice(text)]

    def _reply(self, view: ChannelView, event) -> list[bytes]:
        return view.notice(event.text)

    def _nothing(self, view: ChannelView, event) -> list[bytes]:
        return []


_SENDERS = {
    ev.Message: IrcConnection._shared, ev.Action: IrcConnection._shared,
    ev.Joined: IrcConnection._shared, ev.Left: IrcConnection._shared,
    ev.NickChanged: IrcConnection._own_nick_changed, ev.Presence: IrcConnection._shared,
    ev.Welcome: IrcConnection._welcome, ev.History: IrcConnection._history,
    ev.Private: IrcConnection._private, ev.Users: IrcConnection._users, ev.Error: IrcConnection._error,
    ev.Notice: IrcConnection._notice, ev.HelpText: IrcConnection._help, ev.Reply: IrcConnection._reply,
    ev.Pong: IrcConnection._nothing,
}
