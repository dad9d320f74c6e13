"""Turn session events into rich `Text` lines for the conversation log.

Every piece of text from the network is appended to a `Text` as plain text, never parsed as
markup, so `[bold red]x[/]` from another user shows exactly as typed.  (`session.decode` has
already removed control characters and escape sequences.)
"""

from __future__ import annotations

import time
import zlib
from typing import Callable

from rich.text import Text

from .session import ChatLine, Delivery, OutgoingLine

# Colours that read well on dark and light backgrounds; red is left out so errors stand alone.
NICK_COLOURS = (
    "#5fafff", "#5fd75f", "#d7af5f", "#af87ff", "#5fd7d7", "#ff87d7", "#87d700", "#ffaf00",
    "#00afaf", "#d787af", "#87afd7", "#afaf00",
)

DELIVERY_MARKS = {
    Delivery.PENDING: ("◌", "dim"),
    Delivery.SENT: ("○", "dim"),
    Delivery.DELIVERED: ("✓", "green"),
    Delivery.FAILED: ("✗", "bold red"),
}

Timestamp = Callable[[float | None], str]


def clock_time(ts: float | None) -> str:
    """HH:MM of a server timestamp, or of now when the event has none."""
    return time.strftime("%H:%M", time.localtime(ts if ts is not None else time.time()))


def nick_colour(nick: str) -> str:
    """A colour for `nick` that is the same in every run and every client (crc32, not hash())."""
    return NICK_COLOURS[zlib.crc32(nick.casefold().encode()) % len(NICK_COLOURS)]


def _start(stamp: str, mark: str = " ", mark_style: str = "") -> Text:
    line = Text(no_wrap=False)
    line.append(stamp, "dim")
    line.append(" ")
    line.append(mark, mark_style)
    line.append(" ")
    return line


def _append_body(line: Text, kind: str, nick: str, text: str, own: bool) -> None:
    """`* nick text` for an action, `<nick> text` otherwise; our own nick reversed, our text bold."""
    colour = nick_colour(nick)
    if kind == "action":
        line.append("* ", "bold")
        line.append(nick, f"bold {colour}")
        line.append(" ")
        line.append(text, "italic")
    else:
        line.append("<", "dim")
        line.append(nick, f"bold {colour}" + (" reverse" if own else ""))
        line.append("> ", "dim")
        line.append(text, "bold" if own else "")


def chat_line(event: ChatLine, own_nick: str, stamp: Timestamp = clock_time) -> Text:
    """Someone's message, action or private message."""
    own = event.sender == own_nick
    line = _start(stamp(event.ts))
    if event.kind == "private":
        line.append("[private] " if not own else f"[private to {event.to}] ", "bold magenta")
    _append_body(line, event.kind, event.sender, event.text, own)
    return line


def outgoing_line(line: OutgoingLine, own_nick: str, stamp: Timestamp = clock_time) -> Text:
    """One of our own lines with its delivery mark; shown as soon as it is typed."""
    mark, mark_style = DELIVERY_MARKS[line.delivery]
    text = _start(stamp(None), mark, mark_style)
    if line.kind == "private":
        text.append(f"[private to {line.to}] ", "bold magenta")
    _append_body(text, line.kind, own_nick, line.text, own=True)
    if line.delivery is Delivery.PENDING:
        text.append("  (pending)", "dim italic")
    elif line.delivery is Delivery.FAILED:
        text.append(f"  (not delivered: {line.error})", "bold red")
    return text


def reply_line(text: str, stamp: Timestamp = clock_time) -> Text:
    """The server's answer in echo/upper mode."""
    line = _start(stamp(None), "↩", "cyan")
    line.append(text, "cyan")
    return line


def notice_line(text: str, stamp: Timestamp = clock_time, ts: float | None = None) -> Text:
    """Join/leave/nick changes and other info: quieter than conversation."""
    line = _start(stamp(ts))
    line.append("-- " + text, "dim italic")
    return line


def error_line(text: str, stamp: Timestamp = clock_time) -> Text:
    line = _start(stamp(None), "!", "bold red")
    line.append(text, "bold red")
    return line
