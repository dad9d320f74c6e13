"""The text dialect: notifications as the lines an `nc` user reads, and the prefixes they start with.

The server renders with `encode_text`; a client reads what a server says before its `welcome`
(a greeting, or why it turns the connection away) with `text_line_reason`. Requests in this
dialect are typed lines: `commands.parse_line` reads them.
"""

from __future__ import annotations

from . import events as ev
from .text import clean

# What a text line starts with: a notice (join, leave, info), or an error for its reader alone.
NOTICE_PREFIX = "*** "
ERROR_PREFIX = "!!! error: "
# Every prefix a server's line before `welcome` may carry, longest first.
TEXT_PREFIXES = (ERROR_PREFIX, "!!! ", NOTICE_PREFIX)


def refusal(message: str) -> bytes:
    """The one line a server sends a connection it will not take, before it knows the dialect
    (full, too many from one address): readable to an nc user, and a reason to a client."""
    return f"{ERROR_PREFIX}{message}\n".encode("utf-8", "replace")


def text_line_reason(line: str | bytes) -> str:
    """What a text-dialect line says, without its prefix: '' for a JSON line or a blank one.

    A client uses it for the lines a server sends before `welcome`.
    """
    text = (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip()
    if text.startswith("{") or not text:
        return ""
    for prefix in TEXT_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return clean(text, tab=" ")


def _users_here(count: int) -> str:
    return f"{count} user here" if count == 1 else f"{count} users here"


def _text_chat_line(e: ev.ChatLine) -> str:
    if e.kind == "message":
        return f"<{e.sender}> {e.text}"
    if e.kind == "action":
        return f"* {e.sender} {e.text}"
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
    lines.extend(_text_chat_line(x) for x in e.events)
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
    ev.Private: lambda e: [_text_chat_line(e)],
    ev.ChatLine: lambda e: [_text_chat_line(e)],
    ev.Reply: lambda e: [e.text],
    ev.Joined: lambda e: [f"*** {e.nick} has joined"],
    ev.Left: lambda e: [f"*** {e.nick} has left ({e.reason})"],
    ev.NickChanged: lambda e: [f"*** {e.old} is now known as {e.new}"],
    ev.Users: lambda e: [f"*** {_users_here(e.user_count)}: {', '.join(e.users)}"],
    ev.Presence: lambda e: [_text_presence(e)],
    ev.History: _text_history,
    ev.Notice: lambda e: [f"{NOTICE_PREFIX}{e.text}"],
    ev.HelpText: lambda e: [f"{NOTICE_PREFIX}{line}" for line in e.lines],
    ev.Error: lambda e: [f"{ERROR_PREFIX}{e.message}"],
    ev.Ping: lambda e: ["*** ping"],
    ev.Pong: lambda e: ["*** pong"],
}


def encode_reply_block(lines: bytes, upper: bool = False) -> bytes:
    """The replies to a block of received lines (each ending in b"\\n", as the framer hands them
    over), byte for byte what `encode_text(Reply(text))` gives for each line's decoded `text`
    (upper-cased if `upper`), joined.

    Done over the whole block at once, which gives the same bytes: b"\\n" never sits inside a
    UTF-8 sequence, so decoding (invalid bytes replaced) the block is decoding each line, and
    `str.upper` maps each character on its own (no context, unlike `lower`'s final sigma), so
    upper-casing the block is upper-casing each line: "straße" -> "STRASSE".
    """
    if lines.isascii():  # the common case: ASCII decodes and encodes to itself
        # (bytes.upper changes a-z only, and so does str.upper among ASCII characters.)
        return lines.upper() if upper else lines
    if not upper:
        try:
            lines.decode("utf-8")
            return lines  # valid UTF-8 comes back as it was sent
        except UnicodeDecodeError:
            pass
    text = lines.decode("utf-8", "replace")
    return (text.upper() if upper else text).encode("utf-8", "replace")


def encode_text(event) -> bytes:
    """One notification as text-dialect lines."""
    lines = _TEXT_ENCODERS[type(event)](event)
    if len(lines) == 1:
        return (lines[0] + "\n").encode("utf-8", "replace")
    return "".join(line + "\n" for line in lines).encode("utf-8", "replace")
