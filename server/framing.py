"""Line framing with no I/O: bytes in, one line at a time out, in linear time.

`LineFramer` is what `protocol.Connection` is built on; it is kept apart so that the rules for
cutting a stream into lines (over-long lines, CRLF, a UTF-8 character cut short by a
partial-line flush) can be read and tested on their own.
"""

from __future__ import annotations

import re

from selchat.wire.schema import DEFAULT_MAX_LINE  # noqa: F401  (re-exported)


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()

_BLANK_BYTES = frozenset(b" \t\r\n\x0b\x0c")  # what bytes.strip() removes
_VISIBLE = re.compile(rb"[^ \t\r\n\x0b\x0c]")

# LineFramer._skip: how the bytes of an over-long, still unterminated line are being dropped.
_KEEPING = 0
_CUT = 1  # its first bytes wait in the buffer behind earlier lines, to be refused when reached
_DROPPING = 2  # already refused: drop everything up to its newline


def incomplete_utf8_tail(data) -> int:
    """How many bytes at the end of `data` are the start of a UTF-8 character cut short (0-3)."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: the lead is further back
            continue
        needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return back if back < needed else 0
    return 0


def _may_hold_a_run_over(block: bytes, limit: int) -> bool:
    """False if `block` (which ends in b"\\n") surely has no run of more than `limit` bytes
    without a b"\\n"; True if it may (then check each line).

    A run of `limit` + 1 bytes covers a whole aligned window of (`limit` + 1) // 2 bytes, so it
    is enough to find a newline in each window: a few memchr calls a read instead of a bytes
    object per line (64 KiB of 40-byte lines: 2 µs instead of 55 µs).
    """
    width = (limit + 1) // 2
    if len(block) > 64 * width:
        return True  # a small --max-line: many windows; splitting is as cheap
    find = block.find
    for start in range(0, len(block), width):
        if find(b"\n", start, start + width) < 0:
            return True
    return False


class LineFramer:
    """Splits a byte stream into lines, one line per call, refusing over-long ones in linear time.

    `push()` only buffers; `next_line()` takes one line out (`feed()` does both). Nothing is parsed ahead of the
    caller, so a peer that is made to wait (flood control) costs its unread bytes, never a
    heap of line objects. Each byte is scanned for b"\\n" once, however the stream is split, and
    an unterminated line is never kept past `max_line` + 2 bytes.
    """

    __slots__ = ("max_line", "_buffer", "_start", "_scanned", "_tail_len", "_skip")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        # Unread input from _start: the read itself while it is taken whole, a bytearray once
        # more is appended. None when empty, so idle peers hold nothing.
        self._buffer: bytes | bytearray | None = None
        self._start = 0
        self._scanned = 0  # no b"\n" in _buffer[_start:_scanned]
        self._tail_len = 0  # bytes after the buffer's last b"\n": the unfinished line
        self._skip = _KEEPING

    @property
    def pending(self) -> int:
        """Bytes received and not yet taken out as lines."""
        buffer = self._buffer
        return len(buffer) - self._start if buffer is not None else 0

    def feed(self, data: bytes) -> list[bytes | None]:
        """Every line `data` completes, at once (None marks a refused line)."""
        self.push(data)
        lines = []
        while (line := self.next_line()) is not NEED_DATA:
            lines.append(line)
        return lines

    def push(self, data: bytes) -> None:
        """Buffer bytes from the stream; take lines out with `next_line()`."""
        if not data:
            return
        if self._skip:
            end = data.find(b"\n")
            if end < 0:
                return
            # A cut line keeps its newline, so that it is refused in its place among the lines.
            data = data[end + 1 :] if self._skip == _DROPPING else data[end:]
            self._skip = _KEEPING
            self._tail_len = 0
            if not data:
                return
        buffer = self._buffer
        if buffer is None:
            buffer = self._buffer = data
        else:
            if type(buffer) is not bytearray:
                buffer = self._buffer = bytearray(buffer[self._start :])
                self._scanned -= self._start
                self._start = 0
            buffer += data
        newline = data.rfind(b"\n")
        self._tail_len = self._tail_len + len(data) if newline < 0 else len(data) - newline - 1
        limit = self.max_line + 2  # +1 for the "\r" of a "\r\n", +1 to stay over the limit
        if self._tail_len >= limit:
            # Keep only enough of the unfinished line to know it is too long.
            keep = len(buffer) - self._tail_len + limit
            self._buffer = buffer[:keep] if type(buffer) is not bytearray else buffer
            if type(buffer) is bytearray:
                del buffer[keep:]
            self._tail_len = limit
            self._skip = _CUT

    def next_line(self):
        """The next complete line (without terminator), None for a refused over-long line, or
        NEED_DATA."""
        buffer = self._buffer
        if buffer is None:
            return NEED_DATA
        start = self._start
        end = buffer.find(b"\n", self._scanned)
        if end < 0:
            if self._skip == _CUT:
                self._reset()
                self._skip = _DROPPING
                return None
            if start:  # keep only the unfinished line, not the read it came in
                buffer = self._buffer = buffer[start:]
                self._start = 0
            self._scanned = len(buffer)
            return NEED_DATA
        stop = end - 1 if end > start and buffer[end - 1] == 13 else end  # drop "\r"
        line = None if stop - start > self.max_line else bytes(buffer[start:stop])
        if end + 1 == len(buffer):
            self._reset()
        else:
            self._start = self._scanned = end + 1
        return line

    def take_block(self, data: bytes) -> bytes | None:
        """Every line `data` completes, as one bytes object, each line ending in b"\\n" with the
        b"\\r" of a b"\\r\\n" dropped: what `next_line()` would return for each, joined.

        The rest of `data` (an unfinished line) is buffered as `push()` would. Only for the plain
        case (`peek_block`); otherwise nothing is taken and None is returned.
        """
        block = self.peek_block(data)
        if block is not None:
            self.commit_block(data)
        return block

    def peek_block(self, data: bytes) -> bytes | None:
        """What `take_block(data)` would return, without taking it.

        None unless the case is plain: no complete line is waiting in the buffer, nothing is
        being dropped, `data` ends at least one line, no line is over `max_line` and the
        unfinished rest is short. Otherwise the caller uses `push()` / `next_line()`, whose rules
        (a refused line's place among the others, the dropping state) then apply exactly. The
        checks are C-level bytes methods over the whole read: linear, and about 50 ns a line.
        """
        newline = data.rfind(b"\n")
        if newline < 0 or self._skip:
            return None
        rest = len(data) - newline - 1
        if rest >= self.max_line + 2:  # push() would cut it: the refusal comes from next_line()
            return None
        buffer = self._buffer
        if buffer is None:
            block = data[: newline + 1] if rest else data
        else:
            if buffer.find(b"\n", self._start) >= 0:
                return None  # complete lines wait (flood control): they come first, one by one
            block = bytes(buffer[self._start :]) + data[: newline + 1]
        max_line = self.max_line
        if len(block) > max_line + 1 and _may_hold_a_run_over(block, max_line):
            # A line of max_line bytes and its "\r" is still allowed: let next_line() decide.
            if max(len(line) - line.endswith(b"\r") for line in block.split(b"\n")) > max_line:
                return None
        if b"\r" in block:
            # next_line() drops one "\r" before each "\n"; a left-to-right, non-overlapping
            # replace does exactly that ("a\r\r\n" -> "a\r\n").
            block = block.replace(b"\r\n", b"\n")
        return block

    def commit_block(self, data: bytes) -> None:
        """Take what `peek_block(data)` showed: buffer only the unfinished rest of `data`."""
        self._reset()
        rest = len(data) - data.rfind(b"\n") - 1
        if rest:
            self._buffer = data[-rest:]
            self._tail_len = rest

    def skip_blank_lines(self) -> bool:
        """Drop the complete lines of nothing but whitespace at the front, at C speed: a peer
        sending newlines by the megabyte must cost no more than the bytes. True if any went."""
        buffer = self._buffer
        if buffer is None or buffer[self._start] not in _BLANK_BYTES:  # the common case: a word first
            return False
        start = self._start
        visible = _VISIBLE.search(buffer, start)
        stop = buffer.rfind(b"\n", start, visible.start() if visible else len(buffer))
        if stop < 0:
            return False
        if stop + 1 == len(buffer):
            self._reset()
        else:
            self._start = stop + 1
            self._scanned = max(self._scanned, stop + 1)
        return True

    def _reset(self) -> None:
        self._buffer = None
        self._start = self._scanned = self._tail_len = 0

    def take_partial(self, hold_incomplete: bool = True) -> bytes:
        """Hand over the unfinished line as if it were complete (call when `next_line()` said
        NEED_DATA). A UTF-8 character cut short at its end stays behind, unless told otherwise."""
        buffer = self._buffer
        if buffer is None:
            return b""
        data = bytes(buffer[self._start :])
        held = incomplete_utf8_tail(data) if hold_incomplete else 0
        if held:
            self._buffer = data[-held:]
            self._start = 0
            self._scanned = self._tail_len = held
            return data[:-held]
        self._reset()
        return data
