"""The wire vocabulary as the client sees it: server lines decoded into events, requests encoded.

Stateless on purpose: no connection, no clock, no client state, only what a line means.  A later
step moves this into one `wire/` package shared with the server and the test stub, so nothing here
may import the rest of the client except `sanitize` (the one "safe text" rule).  Every piece of text
from the server is passed through `sanitize.clean` here, once, so nothing downstream can forget to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .sanitize import clean

PROTOCOL_VERSION = 1
# What a server that does not say otherwise takes as its longest line (its --max-line default).
DEFAULT_MAX_LINE = 8192
# The text dialect's prefixes: a server that refuses a connection before it knows the dialect
# (full, too many from one address) says why in one such line.
TEXT_ERROR_PREFIXES = ("!!! error: ", "!!! ", "*** ")


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
    max_line: int = DEFAULT_MAX_LINE


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


# --- decoding and encoding ---------------------------------------------------------------------


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
                       _count(obj, "max_line", DEFAULT_MAX_LINE))
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


def text_line_reason(line: str | bytes) -> str:
    """What a text-dialect line says, without its prefix: '' for a JSON line or a blank one.

    Used for the lines a server sends before `welcome` (its greeting, or why it turns us away).
    """
    text = (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip()
    if text.startswith("{") or not text:
        return ""
    for prefix in TEXT_ERROR_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return clean(text)


# --- requests -----------------------------------------------------------------------------------


def hello_request(nick: str, client: str, password: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"type": "hello", "protocol": PROTOCOL_VERSION, "nick": nick,
                               "client": client}
    if password is not None:
        request["password"] = password
    return request


def chat_request(kind: str, text: str, line_id: str, to: str | None = None) -> dict[str, Any]:
    """A `message`, `action` or `private` line; the server echoes `line_id` on its copy."""
    request: dict[str, Any] = {"type": kind, "text": text, "id": line_id}
    if to is not None:
        request["to"] = to
    return request


def nick_request(nick: str, request_id: str) -> dict[str, Any]:
    return {"type": "nick", "nick": nick, "id": request_id}


def who_request() -> dict[str, Any]:
    return {"type": "who"}


def ping_request(ping_id: Any) -> dict[str, Any]:
    return {"type": "ping", "id": ping_id}


def pong_request(ping_id: Any) -> dict[str, Any]:
    return {"type": "pong", "id": ping_id}


def quit_request(reason: str = "") -> dict[str, Any]:
    return {"type": "quit", "reason": reason} if reason else {"type": "quit"}
