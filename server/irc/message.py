"""IRC lines: parse what clients send, serialise what we send, keep every line in 512 bytes.

Pure code, no sockets. Parsing is lenient the way real servers are (modern IRC docs,
"Message format"): LF alone ends a line as well as CRLF, empty lines are skipped,
message tags are ignored, runs of spaces between parameters count as one. What we
send is strict: never longer than 512 bytes including CRLF (RFC 2812 §2.3), never
with a CR, LF or NUL inside, and the last parameter is written with ':' whenever it
needs to be.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 512                   # bytes, CRLF included (RFC 2812 §2.3)
MAX_BODY = MAX_LINE - 2          # what is left for the line itself
_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed IRC line. ``command`` is upper-cased; ``params`` includes the trailing one."""

    command: str
    params: tuple[str, ...] = ()
    prefix: str | None = None

    def param(self, index: int, default: str | None = None) -> str | None:
        return self.params[index] if index < len(self.params) else default


def decode(raw: bytes) -> str:
    """UTF-8 if it is UTF-8, else Latin-1, as IRC clients do (no byte is ever lost)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse(line: bytes | str) -> Message | None:
    """Parse one line (with or without its CRLF); None for an empty or prefix-only line."""
    text = decode(line) if isinstance(line, bytes) else line
    # A lone CR or a NUL inside a line would end up inside a word we echo back (421 FOO\rBAR).
    text = text.rstrip("\r\n").translate(_UNSAFE).lstrip(" ")
    if text.startswith("@"):                       # IRCv3 tags: we negotiated none, so ignore
        _, _, text = text.partition(" ")
        text = text.lstrip(" ")
    prefix = None
    if text.startswith(":"):
        prefix, _, text = text[1:].partition(" ")
        text = text.lstrip(" ")
    params: list[str] = []
    while text:
        if text.startswith(":"):
            params.append(text[1:])
            break
        word, _, text = text.partition(" ")
        params.append(word)
        text = text.lstrip(" ")
    if not params:
        return None
    return Message(params[0].upper(), tuple(params[1:]), prefix)


def serialise(command: str, *params: str, prefix: str | None = None,
              trailing: bool = False) -> bytes:
    """One line, CRLF included, at most 512 bytes (an over-long last parameter is cut).

    Every parameter but the last must be a non-empty word not starting with ':'; the last
    is written as trailing (``:text``) when it is empty, has a space or starts with ':',
    or always with ``trailing=True`` (what real servers do for free text such as 353's
    nick list, so a one-word list looks like a ten-word one).
    CR, LF and NUL are replaced by spaces so no user text can inject a second line.
    """
    head = [f":{prefix}"] if prefix else []
    head.append(command)
    middle, last = params[:-1], (params[-1] if params else None)
    for word in middle:
        if not word or " " in word or word.startswith(":") or word != word.translate(_UNSAFE):
            raise ValueError(f"bad middle parameter {word!r}")
        head.append(word)
    line = " ".join(head)
    if last is not None:
        last = last.translate(_UNSAFE)
        if trailing or not last or " " in last or last.startswith(":"):
            last = ":" + last
        line = f"{line} {last}"
    data = line.encode("utf-8")
    if len(data) > MAX_BODY:
        data = cut_utf8(data, MAX_BODY)
    return data + b"\r\n"


def cut_utf8(data: bytes, limit: int) -> bytes:
    """The longest prefix of ``data`` of at most ``limit`` bytes that ends on a character."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and (data[end] & 0xC0) == 0x80:  # continuation byte: step back to a lead
        end -= 1
    return data[:end]


def split_text(text: str, room: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``room`` UTF-8 bytes each.

    A cut falls on the last space that fits, and that one space is dropped; only a run
    with no space in it is cut hard, and then between characters, never inside one.
    Empty text gives one empty piece, so a caller always has something to send.
    """
    if room < 4:                                   # one 4-byte character must always fit
        raise ValueError(f"no room for text: {room} bytes")
    data = text.encode("utf-8")
    pieces: list[str] = []
    while len(data) > room:
        space = data.rfind(b" ", 1, room + 1)      # a space at index `room` ends a full piece
        if space > 0:
            pieces.append(data[:space].decode("utf-8"))
            data = data[space + 1:]
        else:
            piece = cut_utf8(data, room)
            pieces.append(piece.decode("utf-8"))
            data = data[len(piece):]
    pieces.append(data.decode("utf-8"))
    return pieces


def text_lines(command: str, target: str, text: str, *, prefix: str | None,
               wrap: tuple[str, str] = ("", "")) -> list[bytes]:
    """``:prefix COMMAND target :text`` as as many lines of at most 512 bytes as it takes.

    ``wrap`` is put around every piece (CTCP ACTION's ``\\x01ACTION `` and ``\\x01``), so
    each piece of a long action is an action of its own.
    """
    head = f":{prefix} " if prefix else ""
    overhead = len(f"{head}{command} {target} :".encode()) + len("".join(wrap).encode())
    lines = []
    for piece in split_text(text.translate(_UNSAFE), MAX_BODY - overhead):
        lines.append(_trailing_line(head, command, target, f"{wrap[0]}{piece}{wrap[1]}"))
    return lines


def _trailing_line(head: str, command: str, target: str, body: str) -> bytes:
    # Always the ':' form, so the byte count text_lines planned for is the byte count sent.
    return f"{head}{command} {target} :{body}\r\n".encode()


class LineFramer:
    """Bytes in, complete lines out, in bounded memory.

    ``feed`` returns the lines completed by this chunk (without CR/LF, empty ones
    dropped) and the marker ``TOO_LONG`` in place of any line longer than ``max_line``,
    whose bytes are discarded up to its newline. Only the new chunk is searched, so a
    line trickling in byte by byte costs linear time (miniircd's regex on the whole
    buffer is quadratic).
    """

    TOO_LONG = object()

    def __init__(self, max_line: int = 8192) -> None:
        self.max_line = max_line
        self._pending = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list:
        out: list = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self._finish(data[start:end], out)
            start = end + 1
        rest = data[start:]
        if not self._discarding:
            if len(self._pending) + len(rest) > self.max_line:
                self._pending.clear()
                self._discarding = True
                out.append(self.TOO_LONG)
            else:
                self._pending += rest
        return out

    def _finish(self, chunk: bytes, out: list) -> None:
        if self._discarding:
            self._discarding = False
            return
        line = bytes(self._pending) + chunk
        self._pending.clear()
        if len(line) > self.max_line + 1:           # +1: the CR of a CRLF does not count
            out.append(self.TOO_LONG)
            return
        line = line.rstrip(b"\r")
        if line.strip(b" "):
            out.append(line)


def numeric(server: str, code: str, target: str, *params: str, trailing: bool = True) -> bytes:
    """``:server CODE target params...``: a numeric reply, its last parameter trailing.

    The middle parameters often echo what a client typed (``401 N <nick>``, ``421 N <cmd>``),
    and a client can type a "nick" such as ``:x y`` or an empty one, so they go through
    ``safe_word`` instead of raising.
    """
    if not params:
        return serialise(code, safe_word(target), prefix=server, trailing=trailing)
    words = [safe_word(word) for word in (target, *params[:-1])]
    return serialise(code, *words, params[-1], prefix=server, trailing=trailing)


def safe_word(word: str, limit: int = 64) -> str:
    """``word`` made into a valid middle parameter: one word, no leading ':', never empty."""
    word = word.translate(_UNSAFE).strip(" ").split(" ", 1)[0].lstrip(":")[:limit]
    return word or "*"
