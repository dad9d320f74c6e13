"""The wire protocol, with no I/O: bytes in, events out; events in, bytes out.

One `Connection` per peer, driven as h11 drives HTTP:

    conn.receive_data(data, now)        # b"" for end of input, None for a lost connection
    while (event := conn.next_event()) is not NEED_DATA:
        ...                             # a request for the chat core, or an Error for the peer
    wire_bytes = conn.send(notification)

The dialects' encoders and the JSON request parser are the shared `selchat.wire` package's;
this module is the server's state machine over them (re-exporting `encode_json`, `encode_text`,
`parse_json_request` and the constants under the names they always had).

The caller hands in the clock (`now`, monotonic seconds) so that the partial-line rule can be
tested without waiting: text bytes with no newline that have sat for `PARTIAL_LINE_QUIET`
seconds count as a line (see `flush_partial`). docs/protocol.md describes the dialects.
"""

from __future__ import annotations

import enum

from selchat.wire.notifications import encode_json
from selchat.wire.requests import parse_json_request
from selchat.wire.schema import HELLO_GRACE, PROTOCOL_VERSION, REQUEST_ID_MAX  # noqa: F401  (re-exported)
from selchat.wire.text_dialect import encode_text

from . import events as ev
from .framing import DEFAULT_MAX_LINE, NEED_DATA, LineFramer, incomplete_utf8_tail  # noqa: F401

# An unfinished text line counts as complete after this many quiet seconds (the server's rule, so
# that `nc` users whose terminal sends no newline are still heard).
PARTIAL_LINE_QUIET = 0.2


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
    """One peer's side of the protocol: framing, dialect negotiation, and which codec to use.

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

    def receive_block(self, data: bytes, now: float = 0.0) -> bytes | None:
        """The bulk form of `receive_data` + `next_event` for a settled text connection: every
        line `data` completes, as one bytes object of lines ending in b"\\n" (`take_block`), for
        a caller that answers them all at once (echo and upper: `EchoRoom.reply_block`).

        None when the read holds anything the per-line path must see (see `take_block`), or the
        connection is not in the plain state (dialect not settled or not text, events or
        complete lines waiting, reading paused, input ended, blank lines dropped): then nothing
        was taken, and the caller hands `data` to `receive_data` instead. Each line is exactly
        the bytes `next_event()` would have decoded into its `TextLine`, in order.
        """
        if self.dialect is not Dialect.TEXT or self._events is not None or self._flags or self._eof is not None:
            return None
        block = self.take_block(data)
        if block is not None:
            self._last_data = now
        return block

    def receive_request_block(self, data: bytes, now: float, kind: type) -> list | None:
        """The bulk form for a JSON connection: the requests of every line `data` completes, if
        all of them are of type `kind` (echo's `Say`); otherwise None, and nothing was taken
        (the caller hands `data` to `receive_data`, and each line is parsed again, in its place,
        one by one). Each line is parsed exactly as `next_event()` parses it; what the block
        saves is the framing, the queue and the trip through the room for each line.
        """
        if self.dialect is not Dialect.JSON or self._events is not None or self._flags or self._eof is not None:
            return None
        block = self.peek_block(data)
        if block is None:
            return None
        requests = []
        for line in block.split(b"\n")[:-1]:
            request = parse_json_request(line.decode("utf-8", "replace"))
            if type(request) is not kind:
                return None
            requests.append(request)
        self.commit_block(data)
        self._last_data = now
        return requests

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
