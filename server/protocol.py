"""The wire protocol, with no I/O: bytes in, events out; events in, bytes out.

One `Connection` per peer, driven as h11 drives HTTP:

    conn.receive_data(data, now)        # b"" for end of input, None for a lost connection
    while (event := conn.next_event()) is not NEED_DATA:
        ...                             # a request for the chat core, or an Error for the peer
    wire_bytes = conn.send(notification)

The caller hands in the clock (`now`, monotonic seconds) so that the partial-line rule can be
tested without waiting: text bytes with no newline that have sat for `PARTIAL_LINE_QUIET`
seconds count as a line (see `flush_partial`). docs/protocol.md describes the dialects.
"""

from __future__ import annotations

import enum
import json
import math

from . import events as ev
from .framing import DEFAULT_MAX_LINE, NEED_DATA, LineFramer, incomplete_utf8_tail

PROTOCOL_VERSION = 1
PARTIAL_LINE_QUIET = 0.2
# A JSON client must send its hello within this long, or it is greeted as a text user first.
HELLO_GRACE = 0.3


class Dialect(enum.Enum):
    PENDING = "pending"  # nothing decided yet: no complete line seen
    TEXT = "text"
    JSON = "json"


# What may come before the "{" of a first line that is a JSON attempt: a UTF-8 byte-order mark
# and ASCII whitespace, as editors and some runtimes add them.
_HELLO_LEAD = "\ufeff \t\r\f\v"

# Connection._flags
_PAUSED = 1  # the server stopped reading: silence now says nothing about the peer
_DROP_BLANK = 2  # blank lines ask nothing (chat mode); echo and upper modes answer every line
_FINISHED = 4  # the end-of-input events have been queued


class Connection(LineFramer):
    """One peer's side of the protocol: framing, dialect negotiation, parsing and encoding.

    It *is* a framer rather than having one only to save an object per connection: memory per
    idle connection is one of the benchmark's targets. Lines are parsed one per `next_event()`
    call, so what waits for flood control is bytes, not events.
    """

    __slots__ = ("dialect", "_events", "_last_data", "_eof", "_flags")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, drop_blank_lines: bool = False) -> None:
        super().__init__(max_line)
        self.dialect = Dialect.PENDING
        self._events: list | None = None  # made on the first queued event: idle peers have none
        self._last_data = 0.0
        self._eof: str | None = None  # why the input ended, once it has
        self._flags = _DROP_BLANK if drop_blank_lines else 0

    @property
    def closed(self) -> bool:
        """The input has ended: nothing more is taken in."""
        return self._eof is not None

    # --- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes | None, now: float = 0.0) -> None:
        """Buffer bytes from the peer. b"" means end of input; None means the connection was lost.

        Read more only after `next_event()` has said NEED_DATA: the unread lines are the only
        buffer, so that keeps a connection's memory near one read plus `max_line`.
        """
        if self._eof is not None:
            return
        if not data:
            self._eof = "connection closed" if data is not None else "connection lost"
            return
        self._last_data = now
        self.push(data)

    def pause_reading(self) -> None:
        """The server stopped reading from this peer: the quiet that follows is not the peer's."""
        self._flags |= _PAUSED

    def resume_reading(self, now: float) -> None:
        """Reading again: an unfinished line gets a fresh quiet period from `now`."""
        if self._flags & _PAUSED:
            self._flags &= ~_PAUSED
            self._last_data = now

    def partial_deadline(self) -> float | None:
        """When an unfinished text line will count as complete, or None if there is none.

        None while reading is paused (the peer's next bytes wait in the kernel), while unread
        complete lines remain, and while all that is left is a UTF-8 character cut short.
        """
        buffer = self._buffer
        if buffer is None or self._flags & _PAUSED or self.dialect is Dialect.JSON or self._eof is not None:
            return None
        if self._scanned != len(buffer):
            if buffer.find(b"\n", self._scanned) >= 0:
                return None  # complete lines come first
            self._scanned = len(buffer)
        if self.pending <= 3 and incomplete_utf8_tail(buffer) == self.pending:
            return None
        return self._last_data + PARTIAL_LINE_QUIET

    def flush_partial(self, now: float) -> bool:
        """Take an unfinished text line as complete if it has been quiet long enough."""
        deadline = self.partial_deadline()
        if deadline is None or now < deadline:
            return False
        self._partial_line(self.take_partial())
        return True

    def _partial_line(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > self.max_line:
            self._emit(self._too_long())
        elif (event := self._line(raw)) is not None:
            self._emit(event)

    def _too_long(self) -> ev.Error:
        return ev.Error("line_too_long", f"line too long (max {self.max_line} bytes)")

    def next_event(self):
        """The next request or error for this peer, or NEED_DATA. Parses at most what it returns."""
        while True:
            events = self._events
            if events:
                event = events.pop(0)
                if not events:
                    self._events = None
                return event
            if self._flags & _DROP_BLANK and self.skip_blank_lines():
                if self.dialect is Dialect.PENDING:
                    self.dialect = Dialect.TEXT  # a blank first line is still the first line
            line = self.next_line()
            if line is NEED_DATA:
                if self._eof is None or self._flags & _FINISHED:
                    return NEED_DATA
                self._flags |= _FINISHED
                if self._eof == "connection closed" and self.pending and self.dialect is not Dialect.JSON:
                    self._partial_line(self.take_partial(hold_incomplete=False))  # a last line still counts
                self._emit(ev.ConnectionClosed(self._eof))
                continue
            if line is None:
                return self._too_long()
            event = self._line(line)
            if event is not None:
                return event

    def _emit(self, event) -> None:
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

    def _line(self, raw: bytes):
        """The request one line makes, or None for a line that asks nothing (a blank one)."""
        dialect = self.dialect
        if self._flags & _DROP_BLANK and not raw.strip():
            # Blank lines cost nothing: no object, no flood-control token. They decide nothing
            # either, but a blank first line is still the first line.
            if dialect is Dialect.PENDING:
                self.dialect = Dialect.TEXT
            return None
        text = raw.decode("utf-8", "replace")
        if dialect is Dialect.JSON:
            return parse_json_request(text)
        if dialect is Dialect.PENDING:  # this is the connection's first line: it decides
            attempt = text.lstrip(_HELLO_LEAD)
            if attempt.startswith("{"):
                return self._first_json_line(attempt)
            self.dialect = Dialect.TEXT
        return ev.TextLine(text)

    def _first_json_line(self, text: str):
        """A first line that starts with "{" is a JSON attempt: a hello, or an error for its
        sender alone. It is never chat (a hello may carry a password), and a failed attempt
        leaves the choice open for the next line."""
        request = parse_json_request(text)
        if isinstance(request, ev.Error):
            return request
        if not isinstance(request, ev.Hello):
            return ev.Error("bad_request", 'the first JSON line must be a "hello"', getattr(request, "id", None))
        if request.protocol != PROTOCOL_VERSION:
            self.dialect = Dialect.TEXT
            return ev.Error("unsupported_protocol", f"protocol {request.protocol!r} is not spoken here; "
                            f"this server speaks {PROTOCOL_VERSION}")
        self.dialect = Dialect.JSON
        return request

    # --- output --------------------------------------------------------------------------

    def send(self, event) -> bytes:
        """Encode a notification in this peer's dialect."""
        if self.dialect is Dialect.JSON:
            return encode_json(event)
        return encode_text(event)


# --- JSON requests ----------------------------------------------------------------------------


def _field(obj: dict, name: str, kind, required: bool = True, default=None):
    value = obj.get(name, default)
    if value is None:
        if required:
            raise ValueError(f"{name!r} is required")
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{name!r} must be a {kind.__name__}")
    return value


# An id is at most this many characters: a string's own length, any other value's as JSON.
REQUEST_ID_MAX = 128


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


_JSON_REQUESTS = {
    "hello": lambda o, rid: ev.Hello(_field(o, "protocol", int, False, PROTOCOL_VERSION),
                                     _field(o, "nick", str, False), _field(o, "password", str, False)),
    "message": lambda o, rid: ev.Say(_text(o), rid),
    "action": lambda o, rid: ev.Act(_text(o), rid),
    "private": lambda o, rid: ev.Whisper(_field(o, "to", str), _text(o), rid),
    "nick": lambda o, rid: ev.SetNick(_field(o, "nick", str), rid),
    "who": lambda o, rid: ev.Who(rid),
    "ping": lambda o, rid: ev.Ping(rid),
    "pong": lambda o, rid: ev.Pong(rid),
    "quit": lambda o, rid: ev.Quit(_field(o, "reason", str, False, "")),
}


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


# --- encoding ---------------------------------------------------------------------------------


def _dump(obj: dict) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8", "replace")


def _with_id(obj: dict, rid) -> dict:
    if rid is not None:
        obj["id"] = rid
    return obj


def _json_chat_line(kind: str, event) -> dict:
    obj = {"type": kind, "from": event.sender, "text": event.text, "ts": event.ts}
    if event.replay:
        obj["replay"] = True
    return _with_id(obj, event.id)


_JSON_ENCODERS = {
    ev.Welcome: lambda e: [{"type": "welcome", "protocol": PROTOCOL_VERSION, "server": e.server, "mode": e.mode,
                            "nick": e.nick, "users": list(e.users), "user_count": e.user_count,
                            "max_line": e.max_line}],
    ev.Message: lambda e: [_json_chat_line("message", e)],
    ev.Action: lambda e: [_json_chat_line("action", e)],
    ev.Private: lambda e: [_with_id({"type": "private", "from": e.sender, "to": e.to, "text": e.text,
                                     "ts": e.ts}, e.id)],
    ev.Reply: lambda e: [_with_id({"type": "reply", "text": e.text}, e.id)],
    ev.Joined: lambda e: [{"type": "join", "nick": e.nick, "ts": e.ts}],
    ev.Left: lambda e: [{"type": "leave", "nick": e.nick, "reason": e.reason, "ts": e.ts}],
    ev.NickChanged: lambda e: [{"type": "nick", "old": e.old, "new": e.new, "ts": e.ts}],
    ev.Users: lambda e: [{"type": "users", "users": list(e.users), "user_count": e.user_count}],
    ev.Presence: lambda e: [{"type": "presence", "joined": list(e.joined), "left": list(e.left),
                             "joined_count": e.joined_count, "left_count": e.left_count,
                             "user_count": e.user_count}],
    ev.History: lambda e: [obj for x in e.events for obj in _JSON_ENCODERS[type(x)](x)],
    ev.Notice: lambda e: [{"type": "notice", "text": e.text, "code": e.code}],
    ev.HelpText: lambda e: [{"type": "notice", "text": line, "code": "help"} for line in e.lines],
    ev.Error: lambda e: [_with_id({"type": "error", "code": e.code, "message": e.message}, e.id)],
    ev.Ping: lambda e: [{"type": "ping", "id": e.id}],
    ev.Pong: lambda e: [{"type": "pong", "id": e.id}],
}


def encode_json(event) -> bytes:
    """One notification as JSON lines."""
    return b"".join(_dump(obj) for obj in _JSON_ENCODERS[type(event)](event))


def _users_here(count: int) -> str:
    return f"{count} user here" if count == 1 else f"{count} users here"


def _text_private(e: ev.Private) -> str:
    return f"-> *{e.to}* {e.text}" if e.confirmation else f"*{e.sender}* {e.text}"


def _text_presence(e: ev.Presence) -> str:
    parts = []
    if e.joined_count:
        parts.append(f"{e.joined_count} joined")
    if e.left_count:
        parts.append(f"{e.left_count} left")
    return f"*** {', '.join(parts)} ({_users_here(e.user_count)})"


def _text_history(e: ev.History) -> list[str]:
    if not e.events:
        return []
    lines = [f"*** --- last {len(e.events)} messages ---"]
    lines.extend(_TEXT_ENCODERS[type(x)](x)[0] for x in e.events)
    lines.append("*** --- end of history ---")
    return lines


def _text_welcome(e: ev.Welcome) -> list[str]:
    shown = ", ".join(e.users)
    more = f" and {e.user_count - len(e.users)} more" if e.user_count > len(e.users) else ""
    return [
        f"*** welcome to {e.server} (mode={e.mode}). you are {e.nick}. type /help for commands.",
        f"*** {_users_here(e.user_count)}: {shown}{more}",
    ]


_TEXT_ENCODERS = {
    ev.Welcome: _text_welcome,
    ev.Message: lambda e: [f"<{e.sender}> {e.text}"],
    ev.Action: lambda e: [f"* {e.sender} {e.text}"],
    ev.Private: lambda e: [_text_private(e)],
    ev.Reply: lambda e: [e.text],
    ev.Joined: lambda e: [f"*** {e.nick} has joined"],
    ev.Left: lambda e: [f"*** {e.nick} has left ({e.reason})"],
    ev.NickChanged: lambda e: [f"*** {e.old} is now known as {e.new}"],
    ev.Users: lambda e: [f"*** {_users_here(e.user_count)}: {', '.join(e.users)}"],
    ev.Presence: lambda e: [_text_presence(e)],
    ev.History: _text_history,
    ev.Notice: lambda e: [f"*** {e.text}"],
    ev.HelpText: lambda e: [f"*** {line}" for line in e.lines],
    ev.Error: lambda e: [f"!!! error: {e.message}"],
    ev.Ping: lambda e: ["*** ping"],
    ev.Pong: lambda e: ["*** pong"],
}


def encode_text(event) -> bytes:
    """One notification as text-dialect lines."""
    lines = _TEXT_ENCODERS[type(event)](event)
    if len(lines) == 1:
        return (lines[0] + "\n").encode("utf-8", "replace")
    return "".join(line + "\n" for line in lines).encode("utf-8", "replace")
