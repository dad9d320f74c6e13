"""IRC registration, as irssi 1.4 and WeeChat 3.8 actually do it (irc.md §1.3, §4).

A ``Registration`` takes the parsed lines of one connection until the client is
registered, and returns the bytes to send back. Nothing here touches a socket, a
clock or the room: the caller hands in ``fix_nick`` (which knows the room's nicks and
rules) and ``check_password`` (which knows ``--password-file``), and once ``state`` is
``DONE`` it reads ``registered`` and puts the user in the room.

What the clients need, in short:
- ``CAP LS`` gets an empty list and holds registration until ``CAP END`` (P2);
- anything else before registration gets 451, never silence and never 421, or irssi
  waits five minutes for an answer to its ``JOIN :`` probe (P1);
- a bad or taken nick is fixed up and the client is told so in 001, never refused with
  432/433, because irssi gives up for good on a 432 (P3, P4);
- a refused password gets 464 and an ERROR with the reason (P15).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

from .formatting import plain
from .identity import Person, safe_host, safe_user
from .message import Message, numeric, serialise

REALNAME_MAX = 64


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server says about itself in 001-005 and the MOTD."""

    name: str = "selchat.local"
    network: str = "selchat"
    version: str = "selchat-0.1"
    created: str = "at start-up"
    channel: str = "#selchat"
    nick_max: int = 16
    motd: tuple[str, ...] = ("one room: /join #selchat",)   # empty: 422 instead

    def isupport(self) -> tuple[str, ...]:
        """The 005 tokens. ``CASEMAPPING=ascii`` is the honest one for selchat (P12)."""
        return ("CHANTYPES=#", "PREFIX=(ov)@+", "CHANMODES=,,,nt", "CHANNELLEN=50",
                f"NICKLEN={self.nick_max}", "USERLEN=10", "HOSTLEN=63",
                "CASEMAPPING=ascii", f"NETWORK={self.network}")


@dataclass(frozen=True, slots=True)
class Registered:
    """The outcome: who joins the room. ``wanted_nick`` is what the client asked for."""

    person: Person
    wanted_nick: str
    password: str | None


class State(enum.Enum):
    OPEN = "open"          # still registering
    DONE = "done"          # welcomed: read `registered`, hand the lines to the command parser
    CLOSED = "closed"      # QUIT or bad password: send what handle() returned, then close


@dataclass(slots=True)
class Registration:
    """One connection's registration. Feed it ``Message``s with ``handle``."""

    host: str
    fix_nick: Callable[[str], str]
    # The password given (None: no PASS) -> None if it is accepted, else why it is not.
    check_password: Callable[[str | None], str | None] | None = None
    server: ServerInfo = field(default_factory=ServerInfo)
    state: State = State.OPEN
    registered: Registered | None = None
    close_reason: str | None = None
    _nick: str | None = None
    _user: str | None = None
    _realname: str = ""
    _password: str | None = None
    _cap_hold: bool = False

    def __post_init__(self) -> None:
        self.host = safe_host(self.host)

    def handle(self, message: Message) -> list[bytes]:
        """The replies to one line from the client (possibly the whole welcome burst)."""
        if self.state is not State.OPEN:
            return []
        handler = _HANDLERS.get(message.command)
        if handler is None:
            return [self._numeric("451", "You have not registered")]
        return handler(self, message)

    # -- commands -------------------------------------------------------------------

    def _cap(self, message: Message) -> list[bytes]:
        sub = (message.param(0) or "").upper()
        if not sub:
            return [self._numeric("461", "CAP", "Not enough parameters")]
        if sub == "LS":
            self._cap_hold = True                  # hold 001 until CAP END (P2)
            return [self._cap_reply("LS", "")]
        if sub == "LIST":
            return [self._cap_reply("LIST", "")]
        if sub == "REQ":
            self._cap_hold = True
            return [self._cap_reply("NAK", message.param(1, ""))]
        if sub == "END":
            self._cap_hold = False
            return self._try_complete()
        return [self._numeric("410", sub, "Invalid CAP command")]

    def _pass(self, message: Message) -> list[bytes]:
        if not message.params:
            return [self._numeric("461", "PASS", "Not enough parameters")]
        # "PASS :open sesame" and "PASS open sesame" (a client that adds no ':') mean the same.
        self._password = " ".join(message.params)
        return []

    def _nick_command(self, message: Message) -> list[bytes]:
        wanted = message.param(0) or ""
        if not wanted:
            return [self._numeric("431", "No nickname given")]
        self._nick = wanted[: self.server.nick_max * 4]   # bounded; fix_nick makes it valid
        return self._try_complete()

    def _user_command(self, message: Message) -> list[bytes]:
        # irssi: USER u u 127.0.0.1 :real; WeeChat: USER u 0 * :real; bots vary. Take the
        # first parameter as the user and the last as the real name (irc.md §2).
        if not message.params or not message.params[0]:
            return [self._numeric("461", "USER", "Not enough parameters")]
        self._user = safe_user(message.params[0])
        realname = message.params[-1] if len(message.params) > 1 else message.params[0]
        self._realname = "".join(c for c in plain(realname) if c.isprintable())[:REALNAME_MAX]
        return self._try_complete()

    def _ping(self, message: Message) -> list[bytes]:
        if not message.params or not message.params[0]:
            return [self._numeric("409", "No origin specified")]
        return [serialise("PONG", self.server.name, message.params[-1],
                          prefix=self.server.name, trailing=True)]

    def _pong(self, message: Message) -> list[bytes]:
        return []

    def _quit(self, message: Message) -> list[bytes]:
        reason = message.param(0) or "Client Quit"
        return self._close(f"Quit: {reason}")

    # -- completion -----------------------------------------------------------------

    def _try_complete(self) -> list[bytes]:
        if self._cap_hold or self._nick is None or self._user is None:
            return []
        refused = self.check_password(self._password) if self.check_password is not None else None
        if refused is not None:
            # "Unauthorized" in the ERROR stops irssi from reconnecting in a loop (P15).
            return [self._numeric("464", "Password incorrect"), *self._close(f"Unauthorized: {refused}")]
        wanted = self._nick
        nick = self.fix_nick(wanted)
        person = Person(nick, self._user, self.host, self._realname)
        self.registered = Registered(person, wanted, self._password)
        self.state = State.DONE
        return self._welcome(person, wanted)

    def _welcome(self, person: Person, wanted: str) -> list[bytes]:
        s, n = self.server, person.nick
        lines = [
            numeric(s.name, "001", n, f"Welcome to {s.network}, {person.prefix}"),
            numeric(s.name, "002", n, f"Your host is {s.name}, running {s.version}"),
            numeric(s.name, "003", n, f"This server was created {s.created}"),
            numeric(s.name, "004", n, s.name, s.version, "i", "nt", trailing=False),
            numeric(s.name, "005", n, *s.isupport(), "are supported by this server"),
        ]
        if s.motd:
            lines.append(numeric(s.name, "375", n, f"- {s.name} Message of the day - "))
            lines += [numeric(s.name, "372", n, f"- {text}") for text in s.motd]
            lines.append(numeric(s.name, "376", n, "End of /MOTD command"))
        else:
            lines.append(numeric(s.name, "422", n, "MOTD File is missing"))
        if wanted != n:
            # Both clients adopt 001's target as their nick (WeeChat irc_protocol_cb_001,
            # irssi event_connected), so no NICK line is needed; this says why.
            lines.append(serialise("NOTICE", n, f'Your nick "{wanted}" is taken or not allowed '
                                   f'here, so you are "{n}" (use /nick to pick another)',
                                   prefix=s.name, trailing=True))
        return lines

    def input_too_long(self) -> list[bytes]:
        """417 for a line over the input limit, before registration (ChannelView's after it)."""
        return [self._numeric("417", "Input line was too long")]

    def _close(self, reason: str) -> list[bytes]:
        self.state = State.CLOSED
        self.close_reason = reason
        return [serialise("ERROR", f"Closing Link: {self.host} ({reason})", trailing=True)]

    def _numeric(self, code: str, *params: str) -> bytes:
        return numeric(self.server.name, code, "*", *params)

    def _cap_reply(self, sub: str, caps: str) -> bytes:
        return serialise("CAP", "*", sub, caps, prefix=self.server.name, trailing=True)


_HANDLERS = {
    "CAP": Registration._cap,
    "PASS": Registration._pass,
    "NICK": Registration._nick_command,
    "USER": Registration._user_command,
    "PING": Registration._ping,
    "PONG": Registration._pong,
    "QUIT": Registration._quit,
}
