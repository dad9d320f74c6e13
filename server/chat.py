"""What every room does, whatever its mode: connecting, the password gate, the join rules, and
the requests answered the same way in every mode. `Room(mode, ...)` gives the room for a mode:
a `ChatRoom` (room.py) for chat, an `EchoRoom` (echo.py) for echo and upper.

Every method is pure bookkeeping and returns what to send, as `(recipients, notification)` pairs
(see members.py). `now` is wall-clock time, handed in so tests control it; the password gate's
back-off runs on it.

The join rules (they were the glue's, now they are the room's, so they are tested without a loop):
- a connection joins on its first request: a JSON `hello` joins it as a JSON member, anything
  else as a text member, and the request is then handled;
- a connection that says nothing is joined as a text member once the hello grace has passed
  (`greeting_due`, `greet_silently`); in a chat room it stays quiet (quiet.py);
- a JSON hello that comes after that switches the member to JSON (`late_hello`);
- a hello that fails to parse is told to its sender and joins nobody;
- blank lines are no sign of life (`shows_life`): a slowloris could dribble spaces forever.
"""

from __future__ import annotations

from selchat.wire.commands import HELP_LINES, parse_line
from selchat.wire.schema import DEFAULT_MAX_LINE
from selchat.wire.text import NICK_MAX, clean, is_valid_nick

from . import events as ev
from .gate import PasswordGate
from .members import EVERYONE, AllExcept, Member, Mode, Outgoing, Recipients
from .nicks import bad_nick_message
from .protocol import HELLO_GRACE

__all__ = ["EVERYONE", "AllExcept", "Member", "Mode", "Outgoing", "Recipients", "Room", "HELLO_GRACE"]


class Room:
    """The base of every room. `Room(mode, ...)` builds the subclass for `mode`."""

    # Whether the room answers blank lines (echo and upper answer each line; chat skips them).
    answers_blank_lines = False
    # Whether a read's plain lines may be answered at once (`replies_in_bulk`, `reply_block`:
    # echo and upper, see echo.py; chat answers line by line).
    answers_lines_in_bulk = False
    # Whether the room sums up presence each second (`presence_summary`).
    announces_presence = False

    def __new__(cls, mode: Mode = Mode.CHAT, *args, **kwargs):
        if cls is Room:
            from .echo import EchoRoom
            from .room import ChatRoom
            cls = ChatRoom if mode is Mode.CHAT else EchoRoom
        return super().__new__(cls)

    def __init__(self, mode: Mode = Mode.CHAT, history: int = 50, max_line: int = DEFAULT_MAX_LINE,
                 server_name: str = "selchat", password: str | None = None) -> None:
        self.mode = mode
        # Whitespace around the password is not part of it, in the file or typed (see gate.py).
        self.password_gate = PasswordGate(password) if password is not None else None
        self.max_line = max_line
        self.server_name = server_name
        self.members: list[Member] = []  # joined members, in join order: the broadcast list

    # --- what each mode does its own way ---------------------------------------------------

    @property
    def connected_count(self) -> int:
        """Members connected, joined or not."""
        raise NotImplementedError

    def connected(self) -> list[Member]:
        """Every member connected, joined or not, that has not left."""
        raise NotImplementedError

    def _new_member(self, link, peer: str | None) -> Member:
        raise NotImplementedError

    def _enter(self, member: Member, now: float, out: Outgoing) -> Outgoing:
        """Put a member that may join in the room; `out` holds what the join said so far."""
        raise NotImplementedError

    def leave(self, member: Member, reason: str, now: float) -> Outgoing:
        """A connection went away, for whatever reason."""
        raise NotImplementedError

    def welcome(self, member: Member) -> ev.Welcome:
        raise NotImplementedError

    def catch_up(self, member: Member) -> Outgoing:
        """What a newly greeted member is shown besides its welcome (the history, in chat)."""
        return []

    def takes_notices(self, member: Member) -> bool:
        """Whether `member` may be sent a notice it did not ask for (echo's text users may not:
        they are promised one line back per line in)."""
        return True

    def presence_summary(self) -> Outgoing:
        return []

    def _nick_holder(self, nick: str) -> Member | None:
        return None

    def _hello_nick(self, wanted: str, member: Member) -> str:
        """The nick a hello asking for `wanted` gets."""
        return wanted

    def _renamed(self, member: Member, nick: str, now: float) -> Outgoing:
        raise NotImplementedError

    def _spoke(self, member: Member, now: float) -> Outgoing:
        """A joined member sent a request (a chat room announces a quiet member now)."""
        return []

    def _text_line(self, member: Member, request: ev.TextLine, now: float) -> Outgoing | None:
        """A text line from a joined member the mode answers itself (None: parse it as a command)."""
        return None

    # --- membership ------------------------------------------------------------------------

    def connect(self, link=None, peer: str | None = None) -> Member:
        """A new connection from address `peer`: reserve a guest nick. It joins on its first line
        (see `receive`)."""
        return self._new_member(link, peer)

    def join(self, member: Member, now: float, hello: ev.Hello | None = None) -> Outgoing:
        """Put a member in the room: greet it, replay history, tell the others."""
        out: Outgoing = []
        if member.joined:
            return out
        if hello is not None:
            member.json = True
        if self.password_gate is not None and not (member.login and member.login.done):
            refused = self.password_gate.check(member, hello.password if hello else None, now)
            if refused is not None:
                return refused
        if hello is not None and hello.nick is not None:
            wanted = hello.nick.strip()
            if is_valid_nick(wanted):
                self._rename(member, self._hello_nick(wanted, member))
            else:
                out.append((member, ev.Error("bad_nick", bad_nick_message(wanted))))
        member.joined = True
        return self._enter(member, now, out)

    def _rename(self, member: Member, nick: str) -> None:
        member.nick = nick

    def resolve(self, recipients: Recipients) -> list[Member]:
        """The members `recipients` stands for. (`Service.deliver` does the same inline, without
        building a list, since it runs for every message.)"""
        if recipients is EVERYONE:
            return list(self.members)
        if type(recipients) is AllExcept:
            return [m for m in self.members if m is not recipients.member]
        if type(recipients) is Member:
            return [recipients]
        return list(recipients)

    # --- the join rules --------------------------------------------------------------------

    def receive(self, member: Member, request, now: float, negotiating: bool = False) -> Outgoing:
        """A request from a connection, joined or not: joins it first if this is its first.
        `negotiating`: the connection's dialect is not settled yet (an `Error` then is a hello
        that failed to parse)."""
        if not member.joined:
            kind = type(request)
            if kind is ev.Hello:
                return self.join(member, now, request)
            if kind is ev.Error and negotiating:
                return [(member, request)]  # a failed hello: told to its sender, joins nobody
            return self.join(member, now) + self.handle(member, request, now)
        out = self._spoke(member, now)
        if type(request) is ev.Hello:
            return out + self.late_hello(member, request, now)
        return out + self.handle(member, request, now)

    @staticmethod
    def shows_life(request) -> bool:
        """Whether a request counts as activity (for the idle timeout and the hello grace)."""
        return type(request) is not ev.TextLine or bool(request.text.strip())

    @staticmethod
    def greeting_due(member: Member, last_active: float) -> float | None:
        """When a connection that has said nothing since `last_active` is joined as a text
        member (None: not waiting for that)."""
        if member.joined or member.asked_password:
            return None
        return last_active + HELLO_GRACE

    def greet_silently(self, member: Member, now: float) -> Outgoing:
        """The hello grace passed without a word: join `member` as a text member."""
        return self.join(member, now)

    def late_hello(self, member: Member, hello: ev.Hello, now: float) -> Outgoing:
        """A JSON hello that came after the grace, as the connection's first line: the member,
        greeted as a text user, becomes a JSON one, gets its welcome (and the history, in JSON)
        and the hello's nick as if it had come in time."""
        member.json = True
        out: Outgoing = []
        if hello.nick is not None:
            wanted = hello.nick.strip()
            # As a timely hello: a taken nick gets "_" appended until free, else the guest nick.
            for candidate in [wanted] + [wanted + "_" * n for n in range(1, NICK_MAX - len(wanted) + 1)]:
                out = self.handle(member, ev.SetNick(candidate), now)
                if not (len(out) == 1 and type(out[0][1]) is ev.Error and out[0][1].code == "nick_in_use"):
                    break
                out = []
        greeting: Outgoing = [(member, self.welcome(member))] + self.catch_up(member)
        for to, event in out:
            if type(event) is not ev.NickChanged:
                greeting.append((to, event))
            elif to is EVERYONE:  # the member's own welcome already names its new nick
                greeting.append((AllExcept(member), event))
        return greeting

    # --- requests --------------------------------------------------------------------------

    def handle(self, member: Member, request, now: float) -> Outgoing:
        """One request from one member; returns what to send to whom."""
        if type(request) is ev.TextLine:
            if member.joined:
                answered = self._text_line(member, request, now)
                if answered is not None:
                    return answered
            request = parse_line(request.text)
            if request is None:
                return []
        if not member.joined:
            return self._handle_unauthenticated(member, request, now)
        handler = self._handlers.get(type(request))
        if handler is None:
            return [(member, ev.Error("bad_request", f"{type(request).__name__} is not allowed here"))]
        return handler(self, member, request, now)

    def _set_nick(self, member: Member, request: ev.SetNick, now: float) -> Outgoing:
        wanted = request.nick.strip()
        if not is_valid_nick(wanted):
            return [(member, ev.Error("bad_nick", bad_nick_message(wanted), request.id))]
        holder = self._nick_holder(wanted)
        if holder is not None and holder is not member:
            return [(member, ev.Error("nick_in_use", f'nick "{wanted}" is in use', request.id))]
        if wanted == member.nick:
            # Nothing changes, but a tagged request is answered.
            return [] if request.id is None else [(member, ev.NickChanged(wanted, wanted, now))]
        return self._renamed(member, wanted, now)

    def _ping(self, member: Member, request: ev.Ping, now: float) -> Outgoing:
        return [(member, ev.Pong(request.id))]

    def _pong(self, member: Member, request: ev.Pong, now: float) -> Outgoing:
        return []

    def _quit(self, member: Member, request: ev.Quit, now: float) -> Outgoing:
        reason = clean(request.reason)[:200]
        out = [(member, ev.Notice("bye")), (member, ev.Disconnect(reason))]
        return self.leave(member, f"quit: {reason}" if reason else "quit", now) + out

    def _help(self, member: Member, request: ev.Help, now: float) -> Outgoing:
        return [(member, ev.HelpText(HELP_LINES))]

    def _error(self, member: Member, request: ev.Error, now: float) -> Outgoing:
        return [(member, request)]  # the protocol found something wrong: tell the sender only

    def _hello(self, member: Member, request: ev.Hello, now: float) -> Outgoing:
        return [(member, ev.Error("bad_request", "hello is only allowed as the first line"))]

    def _authenticate(self, member: Member, request: ev.Authenticate, now: float) -> Outgoing:
        return [(member, ev.Error("bad_request", "you are already logged in"))]

    # Each subclass adds its own (say, act, whisper, who) to these in its `_handlers`.
    _common_handlers = {
        ev.SetNick: _set_nick, ev.Ping: _ping, ev.Pong: _pong, ev.Quit: _quit, ev.Help: _help,
        ev.Error: _error, ev.Hello: _hello, ev.Authenticate: _authenticate,
    }
    _handlers: dict = _common_handlers

    # --- the password gate -----------------------------------------------------------------

    def _handle_unauthenticated(self, member: Member, request, now: float) -> Outgoing:
        kind = type(request)
        if kind is ev.Authenticate:
            refused = self.password_gate.check(member, request.password, now)
            return refused if refused is not None else self.join(member, now)
        if kind in (ev.Quit, ev.Help, ev.Ping, ev.Pong, ev.Error):
            return self._handlers[kind](self, member, request, now)
        return [(member, ev.Error("auth_required", "this server needs a password: type /pass PASSWORD"))]


def nothing_visible(member: Member, request, typed_line: bool) -> Outgoing:
    """A line with nothing left to see once cleaned (only escapes, controls or blanks): a typed
    text line is ignored like a blank one; anything else is told `empty_message`."""
    if typed_line and not member.json:
        return []
    return [(member, ev.Error("empty_message", "nothing left to show once control characters and "
                                               "escape sequences are removed", request.id))]


def unsupported(member: Member, what: str, mode: Mode, request_id) -> Outgoing:
    return [(member, ev.Error("unsupported_in_mode", f"{what}: not available in {mode.value} mode",
                              request_id))]
