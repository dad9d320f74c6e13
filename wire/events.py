"""The event vocabulary: one set of classes for both directions and both sides.

Requests come from a client (the client builds them, `requests` puts them on the wire, the
server's parser makes them again); notifications go to clients (the server makes them,
`notifications` and `text_dialect` encode them, the client's decoder makes them again).
Neither kind knows about sockets. `ConnectionClosed` turns "the peer vanished" into an ordinary
event, as wsproto does.

Plain slots dataclasses, not frozen ones: a frozen dataclass pays `object.__setattr__` per
field, 0.2-0.4 µs per event on the echo path. Treat them as values all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .schema import DEFAULT_MAX_LINE

# A client's own tag for a request: echoed on the sender's copy and on errors it causes.
RequestId = Union[str, int, float, None]


class Event:
    """Base of every event, on the wire or made up by one side for itself."""

    __slots__ = ()


# --- requests: client -> server -------------------------------------------------------------


@dataclass(slots=True)
class Hello(Event):
    """Opens the JSON dialect (only as a connection's first line)."""

    protocol: int
    nick: str | None = None
    password: str | None = None
    client: str | None = None  # the client's name and version, for the server's log
    # Resume: the (epoch, sid) of the last room event this client saw; the room then sends
    # what came after it instead of the usual history.
    since: tuple[str, str] | None = None
    # The session token an earlier welcome gave; re-sent lines with the same id are stored once.
    session: str | None = None


@dataclass(slots=True)
class TextLine(Event):
    """One line from a text-dialect user, before any command is parsed out of it."""

    text: str


@dataclass(slots=True)
class Say(Event):
    text: str
    id: RequestId = None


@dataclass(slots=True)
class Act(Event):
    text: str
    id: RequestId = None


@dataclass(slots=True)
class Whisper(Event):
    to: str
    text: str
    id: RequestId = None


@dataclass(slots=True)
class SetNick(Event):
    nick: str
    id: RequestId = None


@dataclass(slots=True)
class Who(Event):
    id: RequestId = None


@dataclass(slots=True)
class Ping(Event):
    """A ping in either direction: the receiver answers `Pong` with the same id."""

    id: RequestId = None


@dataclass(slots=True)
class Pong(Event):
    id: RequestId = None


@dataclass(slots=True)
class Quit(Event):
    reason: str = ""


@dataclass(slots=True)
class Help(Event):
    pass


@dataclass(slots=True)
class Authenticate(Event):
    """`/pass SECRET` from a text user on a server with a password."""

    password: str


@dataclass(slots=True)
class ConnectionClosed(Event):
    """The peer closed (`reason` says how); no more requests will come."""

    reason: str = "connection closed"


# --- notifications: server -> client --------------------------------------------------------

@dataclass(slots=True, kw_only=True)
class Welcome(Event):
    """The server took us in: who we are, where, and the line limit."""

    server: str = ""
    mode: str
    nick: str
    users: tuple[str, ...]
    user_count: int
    max_line: int = DEFAULT_MAX_LINE
    # The room's history epoch (chat mode; sids compare only within one) and this connection's
    # session token (to present in a later hello). Random per room and connection, so not part
    # of equality.
    epoch: str | None = field(default=None, compare=False)
    session: str | None = field(default=None, compare=False)


@dataclass(slots=True, eq=False)
class ChatLine(Event):
    """A line someone said: `kind` is "message", "action" or "private".

    `Message`, `Action` and `Private` are its three kinds, built in the order their sender
    knows them; `ChatLine(kind, sender, text, ...)` is the same line built by kind, as a
    decoder does. Lines are equal when their fields are, whichever way they were built.
    """

    kind: str
    sender: str
    text: str
    ts: float | None = None
    to: str | None = None  # private only
    id: RequestId = None
    replay: bool = False  # history replayed to a newcomer (message and action)
    # True on the sender's own copy of a private line, which the text dialect shows as
    # "-> *bob* ..."; not on the wire in JSON.
    confirmation: bool = False
    # The event's position in the room's log ("<int>-<int>", ordered within one epoch): what a
    # client resumes from. Not part of equality: it says where a line is, not what it is.
    sid: str | None = None

    def _key(self) -> tuple:
        return (self.kind, self.sender, self.text, self.ts, self.to, self.id, self.replay, self.confirmation)

    def __eq__(self, other) -> bool:
        if not isinstance(other, ChatLine):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # mutable, as every event here


class Message(ChatLine):
    """`<alice> hello`."""

    __slots__ = ()

    # kind, to and confirmation are accepted because dataclasses.replace passes every field.
    def __init__(self, sender: str, text: str, ts: float | None = None, id: RequestId = None,
                 replay: bool = False, *, kind: str = "message", to: None = None,
                 confirmation: bool = False, sid: str | None = None) -> None:
        ChatLine.__init__(self, "message", sender, text, ts, None, id, replay, False, sid)


class Action(ChatLine):
    """`* alice waves` (`/me waves`)."""

    __slots__ = ()

    def __init__(self, sender: str, text: str, ts: float | None = None, id: RequestId = None,
                 replay: bool = False, *, kind: str = "action", to: None = None,
                 confirmation: bool = False, sid: str | None = None) -> None:
        ChatLine.__init__(self, "action", sender, text, ts, None, id, replay, False, sid)


class Private(ChatLine):
    """`*alice* psst` to bob, and `-> *bob* psst` (a confirmation) to alice."""

    __slots__ = ()

    def __init__(self, sender: str, to: str, text: str, ts: float | None = None, id: RequestId = None,
                 confirmation: bool = False, *, kind: str = "private", replay: bool = False,
                 sid: str | None = None) -> None:
        ChatLine.__init__(self, "private", sender, text, ts, to, id, False, confirmation, sid)


@dataclass(slots=True)
class Reply(Event):
    """The echo / upper modes' answer to one line."""

    text: str
    id: RequestId = None


@dataclass(slots=True)
class Joined(Event):
    nick: str
    ts: float | None = None
    sid: str | None = field(default=None, compare=False)  # see ChatLine.sid


@dataclass(slots=True)
class Left(Event):
    nick: str
    reason: str = ""
    ts: float | None = None
    sid: str | None = field(default=None, compare=False)  # see ChatLine.sid


@dataclass(slots=True)
class NickChanged(Event):
    old: str
    new: str
    ts: float | None = None
    sid: str | None = field(default=None, compare=False)  # see ChatLine.sid


@dataclass(slots=True)
class Users(Event):
    """The full list of users (the answer to `who`)."""

    users: tuple[str, ...]
    user_count: int


@dataclass(slots=True)
class Presence(Event):
    """Joins and leaves in a large room, summed up instead of announced one by one."""

    joined: tuple[str, ...]
    left: tuple[str, ...]
    joined_count: int
    left_count: int
    user_count: int


@dataclass(slots=True)
class History(Event):
    """Recent chat lines replayed to a newcomer (on the wire: the lines, marked replay)."""

    events: tuple[ChatLine, ...]


@dataclass(slots=True)
class Notice(Event):
    text: str
    code: str | None = None


@dataclass(slots=True)
class HelpText(Event):
    """The lines of /help (on the wire: one notice coded "help" per line)."""

    lines: tuple[str, ...]


@dataclass(slots=True)
class Error(Event):
    code: str
    message: str
    id: RequestId = None


# The names the client has always used for the same classes.
UserList = Users
ServerError = Error
ServerPing = Ping

# What a server-side `Connection` can hand to the chat core.
Request = Union[Hello, TextLine, Say, Act, Whisper, SetNick, Who, Ping, Pong, Quit, Help, Authenticate,
                ConnectionClosed, Error]
# What the server may put on the wire.
Notification = Union[Welcome, Message, Action, Private, Reply, Joined, Left, NickChanged, Users, Presence,
                     History, Notice, HelpText, Error, Ping, Pong]

__all__ = [
    "RequestId", "Event", "Hello", "TextLine", "Say", "Act", "Whisper", "SetNick", "Who",
    "Ping", "Pong", "Quit", "Help", "Authenticate", "ConnectionClosed", "Welcome", "ChatLine",
    "Message", "Action", "Private", "Reply", "Joined", "Left", "NickChanged", "Users",
    "Presence", "History", "Notice", "HelpText", "Error", "UserList", "ServerError",
    "ServerPing", "Request", "Notification",
]
