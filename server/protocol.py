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

from . import events as ev

PROTOCOL_VERSION = 1
DEFAULT_MAX_LINE = 8192
PARTIAL_LINE_QUIET = 0.2
# A JSON client must send its hello within this long, or it is greeted as a text user first.
HELLO_GRACE = 0.3


class Dialect(enum.Enum):
    PENDING = "pending"  # nothing decided yet: no complete line seen
    TEXT = "text"
    JSON = "json"


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


class LineFramer:
    """Splits a byte stream into lines, refusing over-long ones in linear time.

    Each byte is scanned for b"\\n" once, however the stream is split: the search resumes where
    the last one stopped, and an over-long line is dropped as it arrives rather than kept.
    """

    __slots__ = ("max_line", "_buffer", "_scanned", "_discarding")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer: bytearray | None = None  # made when a line is split across reads; idle peers have none
        self._scanned = 0
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back."""
        return len(self._buffer) if self._buffer else 0

    def feed(self, data: bytes) -> list[bytes | None]:
        """Return the complete lines in `data` (without terminators); None marks a refused line."""
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return []
            self._discarding = False
            data = data[end + 1 :]
        max_line = self.max_line
        if not self._buffer and data.endswith(b"\n"):
            # The common case: whole lines in one read. Split without copying into the buffer.
            lines: list = data[:-1].split(b"\n")
            for index, line in enumerate(lines):
                if line.endswith(b"\r"):
                    line = lines[index] = line[:-1]
                if len(line) > max_line:
                    lines[index] = None
            return lines
        if self._buffer is None:
            self._buffer = bytearray()
        buffer = self._buffer
        buffer += data
        lines = []
        start = 0
        scan = self._scanned
        while True:
            end = buffer.find(b"\n", scan)
            if end < 0:
                break
            stop = end - 1 if end > start and buffer[end - 1] == 13 else end  # drop "\r"
            lines.append(None if stop - start > max_line else bytes(buffer[start:stop]))
            start = scan = end + 1
        if start:
            del buffer[:start]
        self._scanned = len(buffer)
        if len(buffer) > max_line + 1:  # +1: the "\r" of a "\r\n" still to come
            lines.append(None)
            buffer.clear()
            self._scanned = 0
            self._discarding = True
        if not buffer:
            self._buffer = None
        return lines

    def take_partial(self) -> bytes:
        """Hand over the unfinished line as if it were complete."""
        data = bytes(self._buffer or b"")
        self._buffer = None
        self._scanned = 0
        return data


class Connection(LineFramer):
    """One peer's side of the protocol: framing, dialect negotiation, parsing and encoding.

    It *is* a framer rather than having one only to save an object per connection: memory per
    idle connection is one of the benchmark's targets.
    """

    __slots__ = ("dialect", "_events", "_next_event", "_last_data", "closed")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        super().__init__(max_line)
        self.dialect = Dialect.PENDING
        self._events: list | None = None  # made on the first event: idle peers have none
        self._next_event = 0
        self._last_data = 0.0
        self.closed = False

    # --- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes | None, now: float = 0.0) -> None:
        """Buffer bytes from the peer. b"" means end of input; None means the connection was lost."""
        if self.closed:
            return
        if not data:
            if data is not None and self.pending and self.dialect is not Dialect.JSON:
                self._partial_line()  # a last line with no newline still counts
            self.closed = True
            self._emit(ev.ConnectionClosed("connection closed" if data is not None else "connection lost"))
            return
        self._last_data = now
        for line in self.feed(data):
            if line is None:
                self._too_long()
            else:
                self._line(line)

    def partial_deadline(self) -> float | None:
        """When an unfinished text line will count as complete, or None if there is none."""
        if self.pending and self.dialect is not Dialect.JSON:
            return self._last_data + PARTIAL_LINE_QUIET
        return None

    def flush_partial(self, now: float) -> bool:
        """Take an unfinished text line as complete if it has been quiet long enough."""
        deadline = self.partial_deadline()
        if deadline is None or now < deadline:
            return False
        self._partial_line()
        return True

    def _partial_line(self) -> None:
        raw = self.take_partial()
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > self.max_line:
            self._too_long()
        else:
            self._line(raw)

    def _too_long(self) -> None:
        self._emit(ev.Error("line_too_long", f"line too long (max {self.max_line} bytes)"))

    def next_event(self):
        """The next request or error for this peer, or NEED_DATA."""
        events = self._events
        if events is None:
            return NEED_DATA
        event = events[self._next_event]
        self._next_event += 1
        if self._next_event == len(events):
            self._events = None
            self._next_event = 0
        return event

    def _emit(self, event) -> None:
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        dialect = self.dialect
        if dialect is Dialect.JSON:
            self._emit(parse_json_request(text))
            return
        if dialect is Dialect.PENDING:  # this is the connection's first line: it decides
            if text.startswith("{"):
                request = parse_json_request(text)
                if isinstance(request, ev.Hello):
                    if request.protocol != PROTOCOL_VERSION:
                        self.dialect = Dialect.TEXT
                        self._emit(
                            ev.Error("unsupported_protocol", f"protocol {request.protocol!r} is not spoken here; "
                                     f"this server speaks {PROTOCOL_VERSION}")
                        )
                        return
                    self.dialect = Dialect.JSON
                    self._emit(request)
                    return
            self.dialect = Dialect.TEXT
        self._emit(ev.TextLine(text))

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


def _request_id(obj: dict):
    rid = obj.get("id")
    if rid is None or isinstance(rid, (int, float)) and not isinstance(rid, bool):
        return rid
    if isinstance(rid, str) and len(rid) <= 128:
        return rid
    raise ValueError("'id' must be a number or a string of at most 128 characters")


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


def parse_json_request(text: str):
    """Turn one JSON line into a request event, or an `Error` event saying what is wrong."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        return ev.Error("bad_json", "not a JSON object: expected one JSON object per line")
    kind = obj.get("type")
    build = _JSON_REQUESTS.get(kind) if isinstance(kind, str) else None
    try:
        rid = _request_id(obj)
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
