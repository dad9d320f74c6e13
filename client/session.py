"""The client side of the JSON-lines dialect, without any I/O.

`decode()` turns one line from the server into a typed event; `ClientSession` keeps what the
client knows (its nick, the users, the outbox of lines the user typed) and says what to write.
`net.py` feeds it lines and writes out what it returns; the tests drive it with plain strings.
Every piece of text from the server is passed through `sanitize.clean` here, once, so nothing
downstream can forget to.
"""

from __future__ import annotations

import enum
import itertools
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable

from .sanitize import clean

PROTOCOL_VERSION = 1
CLIENT_NAME = "selchat 0.1.0"


# --- events from the server -------------------------------------------------------------------


class Event:
    """Base of everything the network layer reports to its user."""

    __slots__ = ()


@dataclass(frozen=True)
class Welcome(Event):
    """The server accepted our hello."""

    nick: str
    mode: str
    users: tuple[str, ...]
    user_count: int
    server: str = ""
    max_line: int = 8192


@dataclass(frozen=True)
class ChatLine(Event):
    """A `message`, `action` or `private` line from someone (possibly ourselves)."""

    kind: str  # "message" | "action" | "private"
    sender: str
    text: str
    ts: float | None = None
    to: str | None = None
    id: str | int | None = None
    replay: bool = False


@dataclass(frozen=True)
class Reply(Event):
    """The server's answer to our line in echo or upper mode."""

    text: str
    id: str | int | None = None


@dataclass(frozen=True)
class Joined(Event):
    nick: str
    ts: float | None = None


@dataclass(frozen=True)
class Left(Event):
    nick: str
    reason: str = ""
    ts: float | None = None


@dataclass(frozen=True)
class NickChanged(Event):
    old: str
    new: str
    ts: float | None = None


@dataclass(frozen=True)
class UserList(Event):
    """The full list of users (answer to `who`)."""

    users: tuple[str, ...]
    user_count: int


@dataclass(frozen=True)
class Presence(Event):
    """A once-a-second summary of joins and leaves in a big room."""

    joined: tuple[str, ...]
    left: tuple[str, ...]
    joined_count: int
    left_count: int
    user_count: int


@dataclass(frozen=True)
class Notice(Event):
    text: str
    code: str = ""


@dataclass(frozen=True)
class ServerError(Event):
    code: str
    message: str
    id: str | int | None = None


@dataclass(frozen=True)
class ServerPing(Event):
    id: Any


@dataclass(frozen=True)
class Pong(Event):
    id: Any


# --- events the client makes up itself ----------------------------------------------------------


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class StatusChanged(Event):
    """The connection changed state, or the reconnect countdown ticked."""

    state: ConnectionState
    host: str
    port: int | str
    attempt: int = 0
    retry_in: float | None = None
    reason: str = ""

    def describe(self) -> str:
        """The state in words, e.g. `reconnecting in 4s (attempt 3): connection refused`."""
        if self.state is ConnectionState.RECONNECTING and self.retry_in is not None:
            words = f"reconnecting in {max(0, round(self.retry_in))}s (attempt {self.attempt})"
        else:
            words = self.state.value
        return f"{words}: {self.reason}" if self.reason else words


@dataclass(frozen=True)
class LagMeasured(Event):
    seconds: float


@dataclass(frozen=True)
class PasswordNeeded(Event):
    """The server wants a password we do not have (or ours was wrong).

    The network layer has stopped reconnecting: it waits for `ChatClient.set_password()`.
    """

    reason: str
    wrong: bool = False  # True: a password was given and refused


class Delivery(enum.Enum):
    PENDING = "pending"  # typed while disconnected, waiting in the outbox
    SENT = "sent"  # written to the server, its copy not back yet
    DELIVERED = "delivered"  # the server's copy came back
    FAILED = "failed"  # the server refused it (error with our id)


@dataclass
class OutgoingLine:
    """One line the user typed, tracked until the server confirms or refuses it."""

    id: str
    kind: str  # "message" | "action" | "private"
    text: str
    to: str | None = None
    delivery: Delivery = Delivery.PENDING
    error: str = ""

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"type": self.kind, "text": self.text, "id": self.id}
        if self.to is not None:
            request["to"] = self.to
        return request


@dataclass(frozen=True)
class DeliveryChanged(Event):
    """An outgoing line moved on: sent, delivered or failed."""

    line: OutgoingLine


# --- decoding -------------------------------------------------------------------------------------


def _text(obj: dict, key: str) -> str:
    value = obj.get(key, "")
    return clean(value if isinstance(value, str) else str(value))


def _ts(obj: dict) -> float | None:
    ts = obj.get("ts")
    return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None


def _nicks(obj: dict, key: str) -> tuple[str, ...]:
    value = obj.get(key)
    return tuple(clean(str(n)) for n in value) if isinstance(value, list) else ()


def _count(obj: dict, key: str, default: int) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _id(obj: dict) -> str | int | None:
    value = obj.get("id")
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def decode(line: str | bytes) -> Event | None:
    """Parse one server line; return None for anything that is not a JSON object we know.

    Before `welcome` a server may send text-dialect lines (its greeting); they decode to None and
    are ignored, as the protocol asks.  Unknown types are ignored too, so the server can grow.
    """
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind == "welcome":
        users = _nicks(obj, "users")
        return Welcome(_text(obj, "nick"), _text(obj, "mode") or "chat", users,
                       _count(obj, "user_count", len(users)), _text(obj, "server"),
                       _count(obj, "max_line", 8192))
    if kind in ("message", "action", "private"):
        to = _text(obj, "to") if kind == "private" else None
        return ChatLine(kind, _text(obj, "from"), _text(obj, "text"), _ts(obj), to, _id(obj),
                        obj.get("replay") is True)
    if kind == "reply":
        return Reply(_text(obj, "text"), _id(obj))
    if kind == "join":
        return Joined(_text(obj, "nick"), _ts(obj))
    if kind == "leave":
        return Left(_text(obj, "nick"), _text(obj, "reason"), _ts(obj))
    if kind == "nick":
        return NickChanged(_text(obj, "old"), _text(obj, "new"), _ts(obj))
    if kind == "users":
        users = _nicks(obj, "users")
        return UserList(users, _count(obj, "user_count", len(users)))
    if kind == "presence":
        return Presence(_nicks(obj, "joined"), _nicks(obj, "left"), _count(obj, "joined_count", 0),
                        _count(obj, "left_count", 0), _count(obj, "user_count", 0))
    if kind == "notice":
        return Notice(_text(obj, "text"), _text(obj, "code"))
    if kind == "error":
        return ServerError(_text(obj, "code") or "error", _text(obj, "message"), _id(obj))
    if kind == "ping":
        return ServerPing(obj.get("id"))
    if kind == "pong":
        return Pong(obj.get("id"))
    return None


def encode(request: dict[str, Any]) -> bytes:
    """One request as a JSON line."""
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# --- state ------------------------------------------------------------------------------------------


@dataclass
class ClientSession:
    """What the client knows about its conversation, across reconnects.

    The outbox holds every line the user typed until the server has confirmed or refused it, so
    a line typed while disconnected, or in flight when the connection dropped, is (re)sent on the
    next connection.  This makes delivery at-least-once: a line the server handled just before the
    connection died may arrive twice, which we prefer to losing it.
    """

    wanted_nick: str
    nick: str = ""
    mode: str = ""
    users: list[str] = field(default_factory=list)
    user_count: int = 0
    max_line: int = 8192
    connected: bool = False
    outbox: OrderedDict[str, OutgoingLine] = field(default_factory=OrderedDict)
    # Ids only need to be unique among our own lines; the random part keeps two clients (or two
    # runs of one) from ever confusing each other's ids in a shared log.
    _id_prefix: str = field(default_factory=lambda: "c" + secrets.token_hex(3))
    _id_counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _last_seen_ts: float = 0.0
    _nick_request_id: str | None = None  # the id of our newest `nick` request

    # -- connection lifecycle --

    def hello(self) -> dict[str, Any]:
        """The first request on every connection; it re-claims the nick after a reconnect."""
        return {"type": "hello", "protocol": PROTOCOL_VERSION, "nick": self.wanted_nick,
                "client": CLIENT_NAME}

    def connection_lost(self) -> None:
        self.connected = False

    def on_welcome(self, welcome: Welcome) -> list[dict[str, Any]]:
        """Adopt the server's view; return the requests to send now (re-claim nick, outbox)."""
        self.connected = True
        self.nick = welcome.nick
        self.mode = welcome.mode
        self.users = list(welcome.users)
        self.user_count = welcome.user_count
        self.max_line = welcome.max_line
        requests: list[dict[str, Any]] = []
        if self.wanted_nick and welcome.nick.casefold() != self.wanted_nick.casefold():
            # Usually our old connection had not been reaped yet; ask once more explicitly.
            requests.append(self._nick_request(self.wanted_nick))
        for line in self.outbox.values():
            line.delivery = Delivery.SENT
            requests.append(line.request())
        return requests

    # -- the user's actions --

    def submit(self, kind: str, text: str, to: str | None = None) -> OutgoingLine:
        """Put a typed line in the outbox; the caller sends `line.request()` if connected."""
        line = OutgoingLine(f"{self._id_prefix}-{next(self._id_counter)}", kind, text, to)
        if self.connected:
            line.delivery = Delivery.SENT
        self.outbox[line.id] = line
        return line

    def request_nick(self, nick: str) -> dict[str, Any]:
        self.wanted_nick = nick
        return self._nick_request(nick)

    def _nick_request(self, nick: str) -> dict[str, Any]:
        # The id comes back on the error if the change fails, so a late error for an older
        # request cannot undo a newer one.
        self._nick_request_id = f"{self._id_prefix}-n{next(self._id_counter)}"
        return {"type": "nick", "nick": nick, "id": self._nick_request_id}

    # -- what the server says --

    def is_duplicate_replay(self, line: ChatLine) -> bool:
        """After a reconnect the server replays history we have already shown: skip it."""
        return line.replay and line.ts is not None and line.ts <= self._last_seen_ts

    def apply(self, event: Event) -> list[Event]:
        """Update state from one server event; return the events the UI should see for it.

        Usually that is just the event itself, plus `DeliveryChanged` when it confirms or refuses
        one of our lines.  Replayed history we have already shown is swallowed.
        """
        settled: list[Event] = []
        if isinstance(event, ChatLine):
            if self.is_duplicate_replay(event):
                return []
            if event.ts is not None:
                self._last_seen_ts = max(self._last_seen_ts, event.ts)
            settled = self._settle(event.id, Delivery.DELIVERED)
            if settled:
                return settled  # the UI already shows the line; it only needs to mark it delivered
        elif isinstance(event, Reply):
            # The protocol puts `id` on the sender's copy; if a server leaves it off a reply,
            # replies still come back in order, so the oldest line in flight is the one answered.
            line_id = event.id if event.id is not None else self._oldest_in_flight()
            settled = self._settle(line_id, Delivery.DELIVERED)
        elif isinstance(event, ServerError):
            settled = self._settle(event.id, Delivery.FAILED, event.message or event.code)
            if event.code in ("nick_in_use", "bad_nick") and self.nick \
                    and (event.id is None or str(event.id) == self._nick_request_id):
                self.wanted_nick = self.nick  # the change failed: re-claim what we have, later
        elif isinstance(event, Joined):
            if event.nick not in self.users:
                self.users.append(event.nick)
                self.user_count += 1
        elif isinstance(event, Left):
            if event.nick in self.users:
                self.users.remove(event.nick)
                self.user_count = max(0, self.user_count - 1)
        elif isinstance(event, NickChanged):
            self.users = [event.new if u == event.old else u for u in self.users]
            if event.old == self.nick:
                self.nick = event.new
                self.wanted_nick = event.new
        elif isinstance(event, UserList):
            self.users = list(event.users)
            self.user_count = event.user_count
        elif isinstance(event, Presence):
            gone = set(event.left)
            self.users = [u for u in self.users if u not in gone]
            self.users += [n for n in event.joined if n not in self.users]
            self.user_count = event.user_count
        return [event, *settled]

    def _oldest_in_flight(self) -> str | None:
        return next((line.id for line in self.outbox.values() if line.delivery is Delivery.SENT), None)

    def _settle(self, line_id: str | int | None, delivery: Delivery, error: str = "") -> list[Event]:
        """Take our line `line_id` out of the outbox as delivered or failed: `[DeliveryChanged]`,
        or `[]` if it is not one of ours (or there is no id)."""
        line = self.outbox.pop(str(line_id), None) if line_id is not None else None
        if line is None:
            return []
        line.delivery = delivery
        line.error = error
        return [DeliveryChanged(line)]

    def pending(self) -> Iterable[OutgoingLine]:
        """Lines not yet confirmed, oldest first."""
        return list(self.outbox.values())
