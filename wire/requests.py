"""JSON requests, client -> server: the builders a client calls and the parser a server runs.

A request is an event (`events.Say`, `events.SetNick`, ...). `request_object(event)` is its JSON
object, which a client sends with `encode`; `parse_json_request(line)` is the server making the
event again, or an `Error` saying what is wrong. The `*_request` builders are the client's
shorthand: each returns the object it will send (a dict, so the client can keep and resend it).
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import events as ev
from .notifications import json_line
from .resume import parse_sid
from .schema import PROTOCOL_VERSION, REQUEST_ID_MAX

# --- the client's side: building ----------------------------------------------------------------


def _with_id(obj: dict, rid) -> dict:
    if rid is not None:
        obj["id"] = rid
    return obj


def _hello_object(e: ev.Hello) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "hello", "protocol": e.protocol}
    for name in ("nick", "client", "password", "session"):
        if (value := getattr(e, name)) is not None:
            obj[name] = value
    if e.since is not None:
        obj["since"] = {"epoch": e.since[0], "sid": e.since[1]}
    return obj


_REQUEST_OBJECTS = {
    ev.Hello: _hello_object,
    ev.Say: lambda e: _with_id({"type": "message", "text": e.text}, e.id),
    ev.Act: lambda e: _with_id({"type": "action", "text": e.text}, e.id),
    ev.Whisper: lambda e: {**_with_id({"type": "private", "text": e.text}, e.id), "to": e.to},
    ev.SetNick: lambda e: _with_id({"type": "nick", "nick": e.nick}, e.id),
    ev.Who: lambda e: _with_id({"type": "who"}, e.id),
    ev.Ping: lambda e: {"type": "ping", "id": e.id},
    ev.Pong: lambda e: {"type": "pong", "id": e.id},
    ev.Quit: lambda e: {"type": "quit", "reason": e.reason} if e.reason else {"type": "quit"},
}


def request_object(request: ev.Event) -> dict[str, Any]:
    """A request event as the JSON object that carries it."""
    return _REQUEST_OBJECTS[type(request)](request)


def encode(request: dict[str, Any] | ev.Event) -> bytes:
    """One request (an event, or the object `request_object` made of one) as a JSON line."""
    return json_line(request if isinstance(request, dict) else request_object(request))


def hello_request(nick: str, client: str, password: str | None = None, *,
                  since: tuple[str, str] | None = None, session: str | None = None) -> dict[str, Any]:
    """`since` = (epoch, sid) of the last room event seen; `session` = the token a welcome gave."""
    return request_object(ev.Hello(PROTOCOL_VERSION, nick, password, client, since, session))


_CHAT_REQUESTS = {"message": ev.Say, "action": ev.Act}


def chat_request(kind: str, text: str, line_id: str, to: str | None = None) -> dict[str, Any]:
    """A `message`, `action` or `private` line; the server echoes `line_id` on its copy."""
    if kind == "private":
        return request_object(ev.Whisper(to, text, line_id))
    return request_object(_CHAT_REQUESTS[kind](text, line_id))


def nick_request(nick: str, request_id: str) -> dict[str, Any]:
    return request_object(ev.SetNick(nick, request_id))


def who_request() -> dict[str, Any]:
    return request_object(ev.Who())


def ping_request(ping_id: Any) -> dict[str, Any]:
    return request_object(ev.Ping(ping_id))


def pong_request(ping_id: Any) -> dict[str, Any]:
    return request_object(ev.Pong(ping_id))


def quit_request(reason: str = "") -> dict[str, Any]:
    return request_object(ev.Quit(reason))


# --- the server's side: parsing -----------------------------------------------------------------


def _field(obj: dict, name: str, kind, required: bool = True, default=None):
    value = obj.get(name, default)
    if value is None:
        if required:
            raise ValueError(f"{name!r} is required")
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{name!r} must be a {kind.__name__}")
    return value


def _request_id(obj: dict, any_value: bool = False):
    """The request's `id`: a string or number, or for ping and pong any JSON value."""
    rid = obj.get("id")
    if rid is None:
        return None
    if isinstance(rid, str):
        if len(rid) <= REQUEST_ID_MAX:
            return rid
    elif any_value or isinstance(rid, (int, float)) and not isinstance(rid, bool):
        if len(json.dumps(rid, ensure_ascii=False, separators=(",", ":"))) <= REQUEST_ID_MAX:
            return rid
    else:
        raise ValueError("'id' must be a string or a number")
    raise ValueError(f"'id' must be at most {REQUEST_ID_MAX} characters")


def _text(obj: dict) -> str:
    text = _field(obj, "text", str)
    if not text:
        raise LookupError("empty message")
    return text


def _client_name(obj: dict) -> str | None:
    """Only for the log: a client name that is not a string is dropped, not refused."""
    name = obj.get("client")
    return name if isinstance(name, str) else None


_JSON_REQUESTS = {
    "hello": lambda o, rid: ev.Hello(_field(o, "protocol", int, False, PROTOCOL_VERSION),
                                     _field(o, "nick", str, False), _field(o, "password", str, False),
                                     _client_name(o), _since(o), _session(o)),
    "message": lambda o, rid: ev.Say(_text(o), rid),
    "action": lambda o, rid: ev.Act(_text(o), rid),
    "private": lambda o, rid: ev.Whisper(_field(o, "to", str), _text(o), rid),
    "nick": lambda o, rid: ev.SetNick(_field(o, "nick", str), rid),
    "who": lambda o, rid: ev.Who(rid),
    "ping": lambda o, rid: ev.Ping(rid),
    "pong": lambda o, rid: ev.Pong(rid),
    "quit": lambda o, rid: ev.Quit(_field(o, "reason", str, False, "")),
}


def _since(obj: dict) -> tuple[str, str] | None:
    """`since: {"epoch": E, "sid": S}`: both strings, S a sid; refused otherwise (never guessed)."""
    since = obj.get("since")
    if since is None:
        return None
    if not isinstance(since, dict):
        raise ValueError("'since' must be an object {\"epoch\": ..., \"sid\": ...}")
    epoch, sid = since.get("epoch"), since.get("sid")
    if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
        raise ValueError("'since.epoch' must be a string of 1 to 64 characters")
    if parse_sid(sid) is None:
        raise ValueError("'since.sid' must be a sid like \"0-42\"")
    return epoch, sid


def _session(obj: dict) -> str | None:
    session = _field(obj, "session", str, False)
    if session is not None and not 0 < len(session) <= 64:
        raise ValueError("'session' must be 1 to 64 characters")
    return session


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999: it would go back out as Infinity, which is not JSON
        raise ValueError(f"{literal} is out of range")
    return value


def parse_json_request(text: str):
    """Turn one JSON line into a request event, or an `Error` event saying what is wrong.

    NaN, Infinity and numbers too large for a float are refused: whatever is accepted may be
    echoed (an `id`), and the server must never put anything but strict JSON on the wire.
    """
    try:
        obj = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        return ev.Error("bad_json", "not a JSON object: expected one JSON object per line")
    kind = obj.get("type")
    build = _JSON_REQUESTS.get(kind) if isinstance(kind, str) else None
    try:
        rid = _request_id(obj, any_value=kind in ("ping", "pong"))
    except ValueError as exc:
        return ev.Error("bad_request", str(exc))
    if build is None:
        return ev.Error("unknown_type", f"unknown request type {kind!r}", rid)
    try:
        return build(obj, rid)
    except LookupError as exc:
        return ev.Error("empty_message", str(exc), rid)
    except ValueError as exc:
        return ev.Error("bad_request", f"{kind}: {exc}", rid)
