"""The chat itself: users, nicks, modes, commands and history, with no I/O.

`Room.handle(member, request, now)` takes one request from one member and returns what should be
sent as a list of `(recipients, notification)` pairs, where recipients is one `Member`, a list of
them, `EVERYONE` (every member who has joined) or `AllExcept(member)`. The caller encodes each
notification once per dialect and queues the same bytes for every recipient, so a broadcast
costs one encoding.
`now` is wall-clock time, handed in so tests control it; the password gate's back-off runs on it.

In echo and upper modes each connection is a private service: nicks are not shared (two
connections may hold the same one), and `welcome`, `who` and nick clashes reveal no one else.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from typing import Union

from . import events as ev
from .commands import HELP_LINES, parse_line
from .gate import Login, PasswordGate
from .text import NICK_MAX, clean, is_valid_nick, nick_key

# Above this many members, joins and leaves are summed up once a second rather than announced
# one by one: with n members a join storm would otherwise send O(n^2) notices.
LARGE_ROOM = 100
PRESENCE_NAMES_MAX = 10
# `welcome` lists at most this many nicks (and the true count): a join storm stays linear.
WELCOME_USERS_MAX = 500


class Mode(enum.Enum):
    CHAT = "chat"
    ECHO = "echo"
    UPPER = "upper"


class _Everyone:
    def __repr__(self) -> str:
        return "EVERYONE"


EVERYONE = _Everyone()


class AllExcept:
    """Every joined member but one (the sender, who gets its own tagged copy)."""

    __slots__ = ("member",)

    def __init__(self, member: "Member") -> None:
        self.member = member


class _Tally:
    """Leaves held back in a large room: the exact count and the first few nicks."""

    __slots__ = ("count", "names")

    def __init__(self) -> None:
        self.count = 0
        self.names: list[str] = []

    def add(self, nick: str) -> None:
        self.count += 1
        if len(self.names) < PRESENCE_NAMES_MAX:
            self.names.append(nick)

    def take(self) -> tuple[tuple[str, ...], int]:
        """The nicks and the count so far; starts again from zero."""
        taken = (tuple(self.names), self.count)
        self.count, self.names = 0, []
        return taken


class Member:
    """One connection as the chat sees it. `link` is the caller's; the room never reads it.
    `peer` is the address it came from (interned by the caller, so shared), the key by which the
    password gate slows guessers down."""

    __slots__ = ("nick", "joined", "json", "link", "login", "peer")

    def __init__(self, nick: str, link=None, peer: str | None = None) -> None:
        self.nick = nick
        self.joined = False
        self.json = False
        self.link = link
        self.peer = peer
        # Only on a server with a password, from the member's first attempt: memory per idle
        # connection is a target.
        self.login: Login | None = None

    @property
    def asked_password(self) -> bool:
        """Told that this server needs a password (and not in yet)."""
        return self.login is not None and self.login.asked

    def __repr__(self) -> str:
        return f"<Member {self.nick}{' joined' if self.joined else ''}>"


Recipients = Union[Member, list, _Everyone, AllExcept]
Outgoing = list  # list[tuple[Recipients, notification]]


class Room:
    """One room of members. Every method is pure bookkeeping and returns what to send."""

    def __init__(self, mode: Mode = Mode.CHAT, history: int = 50, max_line: int = 8192,
                 server_name: str = "selchat", password: str | None = None) -> None:
        self.mode = mode
        # Whitespace around the password is not part of it, in the file or typed (see gate.py).
        self.password_gate = PasswordGate(password) if password is not None else None
        self.max_line = max_line
        self.server_name = server_name
        self.history: deque = deque(maxlen=max(history, 0))
        self._shared = mode is Mode.CHAT  # whether members see each other and share nicks
        self._by_key: dict[str, Member] = {}  # chat mode: every connected member, joined or not, by nick_key
        # Echo and upper modes: every connected member (a dict: smaller than a set per entry).
        self._private: dict[Member, None] = {}
        self.members: list[Member] = []  # joined members, in join order: the broadcast list
        self._guest_counter = 0
        # Joined in a large room and not yet announced: told in the next presence_summary(), or at
        # once when the member first does something others see (so no client ever hears of a
        # rename or a line from someone it was not told had joined).
        self._unannounced: dict[Member, None] = {}
        self._leaves = _Tally()

    @property
    def connected_count(self) -> int:
        """Members connected, joined or not."""
        return len(self._by_key) + len(self._private)

    # --- membership ------------------------------------------------------------------------

    def connect(self, link=None, peer: str | None = None) -> Member:
        """A new connection from address `peer`: reserve a guest nick. It joins on its first line
        (see `join`)."""
        member = Member(self._guest_nick(), link, peer)
        if self._shared:
            self._by_key[nick_key(member.nick)] = member
        else:
            self._private[member] = None
        return member

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
        if hello is not None:
            if hello.nick is not None:
                wanted = hello.nick.strip()
                if is_valid_nick(wanted):
                    self._rename(member, self._free_variant(wanted, member))
                else:
                    out.append((member, ev.Error("bad_nick", _bad_nick_message(wanted))))
        member.joined = True
        if self.mode is not Mode.CHAT:
            self.members.append(member)
            if member.json:
                out.insert(0, (member, self._welcome(member)))
            return out
        announce = self._announce_join(member, now)
        self.members.append(member)
        out.insert(0, (member, self._welcome(member)))
        if self.history:
            out.append((member, ev.History(tuple(_as_replay(e) for e in self.history))))
        if announce is not None:
            out.append((EVERYONE, announce))
        return out

    def leave(self, member: Member, reason: str, now: float) -> Outgoing:
        """A connection went away, for whatever reason."""
        key = nick_key(member.nick)
        if self._by_key.get(key) is member:
            del self._by_key[key]
        self._private.pop(member, None)
        if not member.joined:
            return []
        member.joined = False
        self.members.remove(member)
        if self.mode is not Mode.CHAT:
            return []
        # One that was never announced is still summed up as leaving: a newcomer's welcome (or
        # `who`) may have listed it.
        unannounced = member in self._unannounced
        if unannounced:
            del self._unannounced[member]
        if len(self.members) >= LARGE_ROOM or unannounced:
            self._leaves.add(member.nick)
            return []
        return [(EVERYONE, ev.Left(member.nick, clean(reason), now))]

    def presence_summary(self) -> Outgoing:
        """The joins and leaves held back in a large room since the last call (call it each second)."""
        if not (self._unannounced or self._leaves.count):
            return []
        # Current nicks: a member renamed since it joined was announced then, so these are the
        # nicks the members still have.
        joined = tuple(m.nick for _, m in zip(range(PRESENCE_NAMES_MAX), self._unannounced))
        joined_count = len(self._unannounced)
        self._unannounced = {}
        left, left_count = self._leaves.take()
        return [(EVERYONE, ev.Presence(joined, left, joined_count, left_count, len(self.members)))]

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

    # --- requests --------------------------------------------------------------------------

    def handle(self, member: Member, request, now: float) -> Outgoing:
        """One request from one member; returns what to send to whom."""
        if type(request) is ev.TextLine:
            if self.mode is not Mode.CHAT and member.joined:
                return [(member, ev.Reply(self._transform(request.text)))]
            request = parse_line(request.text)
            if request is None:
                return []
        if not member.joined:
            return self._handle_unauthenticated(member, request, now)
        handler = self._HANDLERS.get(type(request))
        if handler is None:
            return [(member, ev.Error("bad_request", f"{type(request).__name__} is not allowed here"))]
        return handler(self, member, request, now)

    def _say(self, member: Member, request: ev.Say, now: float) -> Outgoing:
        if self.mode is not Mode.CHAT:
            return [(member, ev.Reply(self._transform(request.text), request.id))]
        return self._speak(member, ev.Message, request, now)

    def _act(self, member: Member, request: ev.Act, now: float) -> Outgoing:
        if self.mode is not Mode.CHAT:
            return _unsupported(member, "/me", self.mode, request.id)
        return self._speak(member, ev.Action, request, now)

    def _speak(self, member: Member, kind: type[ev.ChatLine], request, now: float) -> Outgoing:
        """A chat line for everyone: kept in the history; a tagged sender gets its tag back."""
        text = clean(request.text)
        if not text.strip():
            return _nothing_visible(member, request, kind is ev.Message)
        line = kind(member.nick, text, now)
        self.history.append(line)
        out = self._announce_now(member, now)
        if request.id is None:
            out.append((EVERYONE, line))
            return out
        out += [(AllExcept(member), line), (member, dataclasses.replace(line, id=request.id))]
        return out

    def _whisper(self, member: Member, request: ev.Whisper, now: float) -> Outgoing:
        if self.mode is not Mode.CHAT:
            return _unsupported(member, "private messages", self.mode, request.id)
        target = self._by_key.get(nick_key(request.to))
        if target is None or not target.joined:
            return [(member, ev.Error("no_such_nick", f"no such nick: {clean(request.to)[:NICK_MAX * 2]}",
                                      request.id))]
        text = clean(request.text)
        if not text.strip():
            return _nothing_visible(member, request, False)
        delivered = ev.Private(member.nick, target.nick, text, now)
        confirmation = ev.Private(member.nick, target.nick, text, now, request.id, confirmation=True)
        if target is member:
            return [(member, confirmation)]
        return self._announce_now(member, now) + [(target, delivered), (member, confirmation)]

    def _set_nick(self, member: Member, request: ev.SetNick, now: float) -> Outgoing:
        wanted = request.nick.strip()
        if not is_valid_nick(wanted):
            return [(member, ev.Error("bad_nick", _bad_nick_message(wanted), request.id))]
        holder = self._by_key.get(nick_key(wanted))
        if holder is not None and holder is not member:
            return [(member, ev.Error("nick_in_use", f'nick "{wanted}" is in use', request.id))]
        if wanted == member.nick:
            return []
        old = member.nick
        # Announced under the nick the member joined with, so the rename applies to someone known.
        out = self._announce_now(member, now)
        self._rename(member, wanted)
        changed = ev.NickChanged(old, wanted, now)
        if not self._shared:
            return [(member, changed)]
        out.append((EVERYONE, changed))
        return out

    def _who(self, member: Member, request: ev.Who, now: float) -> Outgoing:
        nicks = tuple(m.nick for m in self.members) if self._shared else (member.nick,)
        return [(member, ev.Users(nicks, len(nicks)))]

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

    _HANDLERS = {
        ev.Say: _say, ev.Act: _act, ev.Whisper: _whisper, ev.SetNick: _set_nick, ev.Who: _who,
        ev.Ping: _ping, ev.Pong: _pong, ev.Quit: _quit, ev.Help: _help, ev.Error: _error,
        ev.Hello: _hello, ev.Authenticate: _authenticate,
    }

    # --- the password gate -----------------------------------------------------------------

    def _handle_unauthenticated(self, member: Member, request, now: float) -> Outgoing:
        kind = type(request)
        if kind is ev.Authenticate:
            refused = self.password_gate.check(member, request.password, now)
            return refused if refused is not None else self.join(member, now)
        if kind in (ev.Quit, ev.Help, ev.Ping, ev.Pong, ev.Error):
            return self._HANDLERS[kind](self, member, request, now)
        return [(member, ev.Error("auth_required", "this server needs a password: type /pass PASSWORD"))]

    # --- helpers ---------------------------------------------------------------------------

    def _transform(self, text: str) -> str:
        return text.upper() if self.mode is Mode.UPPER else text

    def _welcome(self, member: Member) -> ev.Welcome:
        if not self._shared:
            return ev.Welcome(self.server_name, self.mode.value, member.nick, (member.nick,), 1,
                              self.max_line)
        shown = tuple(m.nick for m in self.members[:WELCOME_USERS_MAX])
        return ev.Welcome(self.server_name, self.mode.value, member.nick, shown, len(self.members),
                          self.max_line)

    def _announce_join(self, member: Member, now: float):
        if len(self.members) >= LARGE_ROOM:
            self._unannounced[member] = None
            return None
        return ev.Joined(member.nick, now)

    def _announce_now(self, member: Member, now: float) -> Outgoing:
        """A member not yet announced that does something others see is announced first."""
        if member not in self._unannounced:
            return []
        del self._unannounced[member]
        return [(EVERYONE, ev.Joined(member.nick, now))]

    def _rename(self, member: Member, nick: str) -> None:
        if self._shared:
            old_key = nick_key(member.nick)
            if self._by_key.get(old_key) is member:
                del self._by_key[old_key]
            self._by_key[nick_key(nick)] = member
        member.nick = nick

    def _guest_nick(self) -> str:
        while True:
            self._guest_counter += 1
            nick = f"guest{self._guest_counter}"
            if nick_key(nick) not in self._by_key:
                return nick

    def _free_variant(self, wanted: str, member: Member) -> str:
        """`wanted`, or `wanted_`, `wanted__`... whichever is free; else the member's guest nick."""
        if not self._shared:
            return wanted
        nick = wanted
        while len(nick) <= NICK_MAX:
            holder = self._by_key.get(nick_key(nick))
            if holder is None or holder is member:
                return nick
            nick += "_"
        return member.nick


def _bad_nick_message(nick: str) -> str:
    shown = clean(nick)[: NICK_MAX * 2]
    return (f'invalid nick "{shown}": 1-{NICK_MAX} letters (of one script, none invisible), digits or '
            "_-[]\\^{}|, not starting with a digit or -")


def _nothing_visible(member: Member, request, typed_line: bool) -> Outgoing:
    """A line with nothing left to see once cleaned (only escapes, controls or blanks): a typed
    text line is ignored like a blank one; anything else is told `empty_message`."""
    if typed_line and not member.json:
        return []
    return [(member, ev.Error("empty_message", "nothing left to show once control characters and "
                                               "escape sequences are removed", request.id))]


def _as_replay(event):
    return dataclasses.replace(event, id=None, replay=True)


def _unsupported(member: Member, what: str, mode: Mode, request_id) -> Outgoing:
    return [(member, ev.Error("unsupported_in_mode", f"{what}: not available in {mode.value} mode",
                              request_id))]
