"""The events that cross the protocol boundary, as small frozen dataclasses.

Requests come from a client (parsed from a text line or a JSON object); notifications go to
clients (encoded into a text line or a JSON object by `protocol`). Neither kind knows about
sockets. `ConnectionClosed` turns "the peer vanished" into an ordinary event, as wsproto does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# A client's own tag for a request: echoed on the sender's copy and on errors it causes.
RequestId = Union[str, int, float, None]


# --- requests: client -> server -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """Opens the JSON dialect (only as a connection's first line)."""

    protocol: int
    nick: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line from a text-dialect user, before any command is parsed out of it."""

    text: str


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Act:
    text: str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Whisper:
    to: str
    text: str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class SetNick:
    nick: str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Who:
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping in either direction: the receiver answers `Pong` with the same id."""

    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Pong:
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Authenticate:
    """`/pass SECRET` from a text user on a server with a password."""

    password: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed (`reason` says how); no more requests will come."""

    reason: str = "connection closed"


# --- notifications: server -> client --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    server: str
    mode: str
    nick: str
    users: tuple[str, ...]
    user_count: int
    max_line: int


@dataclass(frozen=True, slots=True)
class ChatLine:
    """What the room hears and keeps in its history: a `Message` or an `Action`."""

    sender: str
    text: str
    ts: float
    id: RequestId = None
    replay: bool = False


@dataclass(frozen=True, slots=True)
class Message(ChatLine):
    """`<alice> hello`."""


@dataclass(frozen=True, slots=True)
class Action(ChatLine):
    """`* alice waves` (`/me waves`)."""


@dataclass(frozen=True, slots=True)
class Private:
    sender: str
    to: str
    text: str
    ts: float
    id: RequestId = None
    # True on the sender's own copy, which the text dialect shows as "-> *bob* ...".
    confirmation: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """The echo / upper modes' answer to one line."""

    text: str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Joined:
    nick: str
    ts: float


@dataclass(frozen=True, slots=True)
class Left:
    nick: str
    reason: str
    ts: float


@dataclass(frozen=True, slots=True)
class NickChanged:
    old: str
    new: str
    ts: float


@dataclass(frozen=True, slots=True)
class Users:
    users: tuple[str, ...]
    user_count: int


@dataclass(frozen=True, slots=True)
class Presence:
    """Joins and leaves in a large room, summed up instead of announced one by one."""

    joined: tuple[str, ...]
    left: tuple[str, ...]
    joined_count: int
    left_count: int
    user_count: int


@dataclass(frozen=True, slots=True)
class History:
    """Recent chat lines replayed to a newcomer."""

    events: tuple[ChatLine, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class HelpText:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str
    id: RequestId = None


# --- instructions to the loop: never sent on the wire ---------------------------------------


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close this connection once its output is flushed, after `delay` seconds."""

    reason: str = ""
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Pause:
    """Read nothing more from this connection for `seconds` (a penalty, e.g. a wrong password)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class LogLine:
    """Something the operator should see in the server log about this connection."""

    level: int
    message: str


# What a protocol `Connection` can hand to the chat core.
Request = Union[Hello, TextLine, Say, Act, Whisper, SetNick, Who, Ping, Pong, Quit, Help, Authenticate,
                ConnectionClosed, Error]

