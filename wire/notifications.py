"""JSON notifications, server -> client: the server's encoder and the client's decoder.

`encode_json(event)` is what a server puts on the wire; `decode(line)` is what a client makes of
it, with every piece of text passed through `text.clean` (tabs as spaces) once, here, so nothing
downstream can forget to. tests/wire/test_roundtrip.py puts the two face to face.
"""

from __future__ import annotations

import json

from . import events as ev
from .resume import parse_sid
from .schema import DEFAULT_MAX_LINE, PROTOCOL_VERSION
from .text import clean


def json_line(obj: dict) -> bytes:
    """One JSON object as one line of compact UTF-8 (both directions write with it)."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8", "replace")


# --- the server's side: encoding ----------------------------------------------------------------


def _with_id(obj: dict, rid) -> dict:
    if rid is not None:
        obj["id"] = rid
    return obj


def _with_sid(obj: dict, sid) -> dict:
    if sid is not None:
        obj["sid"] = sid
    return obj


def _json_chat_line(event: ev.ChatLine) -> dict:
    if event.kind == "private":
        return _with_sid(_with_id({"type": "private", "from": event.sender, "to": event.to,
                                   "text": event.text, "ts": event.ts}, event.id), event.sid)
    obj = {"type": event.kind, "from": event.sender, "text": event.text, "ts": event.ts}
    if event.replay:
        obj["replay"] = True
    return _with_sid(_with_id(obj, event.id), event.sid)


def _json_welcome(e: ev.Welcome) -> dict:
    obj = {"type": "welcome", "protocol": PROTOCOL_VERSION, "server": e.server, "mode": e.mode,
           "nick": e.nick, "users": list(e.users), "user_count": e.user_count, "max_line": e.max_line}
    if e.epoch is not None:
        obj["epoch"] = e.epoch
    if e.session is not None:
        obj["session"] = e.session
    return obj


_JSON_ENCODERS = {
    ev.Welcome: lambda e: [_json_welcome(e)],
    ev.Message: lambda e: [_json_chat_line(e)],
    ev.Action: lambda e: [_json_chat_line(e)],
    ev.Private: lambda e: [_json_chat_line(e)],
    ev.ChatLine: lambda e: [_json_chat_line(e)],
    ev.Reply: lambda e: [_with_id({"type": "reply", "text": e.text}, e.id)],
    ev.Joined: lambda e: [_with_sid({"type": "join", "nick": e.nick, "ts": e.ts}, e.sid)],
    ev.Left: lambda e: [_with_sid({"type": "leave", "nick": e.nick, "reason": e.reason, "ts": e.ts}, e.sid)],
    ev.NickChanged: lambda e: [_with_sid({"type": "nick", "old": e.old, "new": e.new, "ts": e.ts}, e.sid)],
    ev.Users: lambda e: [{"type": "users", "users": list(e.users), "user_count": e.user_count}],
    ev.Presence: lambda e: [{"type": "presence", "joined": list(e.joined), "left": list(e.left),
                             "joined_count": e.joined_count, "left_count": e.left_count,
                             "user_count": e.user_count}],
    ev.History: lambda e: [_json_chat_line(x) for x in e.events],
    ev.Notice: lambda e: [{"type": "notice", "text": e.text, "code": e.code}],
    ev.HelpText: lambda e: [{"type": "notice", "text": line, "code": "help"} for line in e.lines],
    ev.Error: lambda e: [_with_id({"type": "error", "code": e.code, "message": e.message}, e.id)],
    ev.Ping: lambda e: [{"type": "ping", "id": e.id}],
    ev.Pong: lambda e: [{"type": "pong", "id": e.id}],
}


def encode_json(event) -> bytes:
    """One notification as JSON lines."""
    return b"".join(json_line(obj) for obj in _JSON_ENCODERS[type(event)](event))


# --- the client's side: decoding ----------------------------------------------------------------


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    return clean(value if isinstance(value, str) else str(value), tab=" ")


def _code(obj: dict) -> str | None:
    """A notice's code: absent and null are both "none"."""
    return _text(obj, "code") or None


def _ts(obj: dict) -> float | None:
    ts = obj.get("ts")
    return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None


def _nicks(obj: dict, key: str) -> tuple[str, ...]:
    value = obj.get(key)
    return tuple(clean(str(n), tab=" ") for n in value) if isinstance(value, list) else ()


def _count(obj: dict, key: str, default: int) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _id(obj: dict) -> str | int | None:
    value = obj.get("id")
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _sid(obj: dict) -> str | None:
    """A sid that is one (`"<int>-<int>"`); anything else is dropped, never trusted."""
    value = obj.get("sid")
    if value is None:  # most events carry none: skip the call
        return None
    return value if parse_sid(value) is not None else None


def _token(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    return clean(value) if isinstance(value, str) and value and len(value) <= 64 else None


def _welcome(obj: dict) -> ev.Welcome:
    users = _nicks(obj, "users")
    return ev.Welcome(server=_text(obj, "server"), mode=_text(obj, "mode") or "chat", nick=_text(obj, "nick"),
                      users=users, user_count=_count(obj, "user_count", len(users)),
                      max_line=_count(obj, "max_line", DEFAULT_MAX_LINE), epoch=_token(obj, "epoch"),
                      session=_token(obj, "session"))


def _chat_line(obj: dict) -> ev.ChatLine:
    kind = obj["type"]
    to = _text(obj, "to") if kind == "private" else None
    sender, text = obj.get("from"), obj.get("text")
    # A flood is thousands of these a second: take printable strings as they are (what `_text`
    # would return for them) and leave the rest to `_text`.
    if type(sender) is not str or not sender.isprintable():
        sender = _text(obj, "from")
    if type(text) is not str or not text.isprintable():
        text = _text(obj, "text")
    return ev.ChatLine(kind, sender, text, _ts(obj), to, _id(obj) if "id" in obj else None,
                       obj.get("replay") is True, False, _sid(obj))


def _users(obj: dict) -> ev.Users:
    users = _nicks(obj, "users")
    return ev.Users(users, _count(obj, "user_count", len(users)))


_DECODERS = {
    "welcome": _welcome,
    "message": _chat_line,
    "action": _chat_line,
    "private": _chat_line,
    "reply": lambda o: ev.Reply(_text(o, "text"), _id(o)),
    "join": lambda o: ev.Joined(_text(o, "nick"), _ts(o), _sid(o)),
    "leave": lambda o: ev.Left(_text(o, "nick"), _text(o, "reason"), _ts(o), _sid(o)),
    "nick": lambda o: ev.NickChanged(_text(o, "old"), _text(o, "new"), _ts(o), _sid(o)),
    "users": _users,
    "presence": lambda o: ev.Presence(_nicks(o, "joined"), _nicks(o, "left"), _count(o, "joined_count", 0),
                                      _count(o, "left_count", 0), _count(o, "user_count", 0)),
    "notice": lambda o: ev.Notice(_text(o, "text"), _code(o)),
    "error": lambda o: ev.Error(_text(o, "code") or "error", _text(o, "message"), _id(o)),
    "ping": lambda o: ev.Ping(o.get("id")),
    "pong": lambda o: ev.Pong(o.get("id")),
}


_scan_object = json.JSONDecoder().scan_once


def _parse(line: str | bytes):
    """`json.loads(line)`, a third cheaper for the usual line: a JSON object and nothing else.

    `json.loads` finds where the value starts, scans it and checks what follows, in Python, per
    call; a server line that starts with `{` is scanned straight away, and anything else (bytes,
    whitespace around it, a second value after it) goes to `json.loads` after all, so both
    accept and refuse exactly the same lines.
    """
    if type(line) is str and line[:1] == "{":
        try:
            obj, end = _scan_object(line, 0)
        except StopIteration:  # the scanner's "no value here"
            obj, end = None, -1
        if end == len(line):
            return obj
    return json.loads(line)


def decode(line: str | bytes) -> ev.Event | None:
    """Parse one server line; None for anything that is not a JSON object of a known type.

    Before `welcome` a server may send text-dialect lines (its greeting); they decode to None and
    are ignored, as the protocol asks. Unknown types are ignored too, so the server can grow.
    """
    try:
        obj = _parse(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    return decoder(obj) if decoder is not None else None
