"""Turn session events into rich `Text` lines for the conversation log.

`render(event, own_nick, stamp)` looks the event's type up in `RENDERERS`, one entry per event
that shows as a line of its own; an event without one (a delivery mark, lag, status) draws none.

Every piece of text from the network is appended to a `Text` as plain text, never parsed as
markup, so `[bold red]x[/]` from another user shows exactly as typed.  (`session.decode` has
already removed control characters and escape sequences.)
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any, Callable

from rich.text import Span, Text

from . import palette
from .backlog import Skipped
from .session import (
    ChatLine, Delivery, Joined, Left, NickChanged, Notice, OutgoingLine, Presence, Reply,
    ServerError, UserList, Welcome,
)

DELIVERY_MARKS = {
    Delivery.PENDING: ("◌", "dim"),
    Delivery.SENT: ("○", "dim"),
    Delivery.DELIVERED: ("✓", "green"),
    Delivery.FAILED: ("✗", "bold red"),
}

Timestamp = Callable[[float | None], str]

# The mark of a line that mentions our nick, or of a private message to us (weechat's highlight).
HIGHLIGHT_MARK = "●"
HIGHLIGHT_STYLE = "bold yellow"


@lru_cache(maxsize=16)
def _nick_pattern(nick: str) -> re.Pattern[str]:
    # A word of its own: `alice:` and `ALICE?` mention alice; `malice` and `alice_` do not.
    return re.compile(rf"(?<!\w){re.escape(nick)}(?!\w)", re.IGNORECASE)


def mentions(text: str, nick: str) -> bool:
    """Whether `text` names `nick` as a word, in any case."""
    return bool(nick) and _nick_pattern(nick).search(text) is not None


def is_highlight(event: object, own_nick: str) -> bool:
    """Someone else's private message to us, or a line of theirs that mentions us."""
    return isinstance(event, ChatLine) and bool(own_nick) and event.sender != own_nick \
        and (event.kind == "private" or mentions(event.text, own_nick))


def clock_time(ts: float | None) -> str:
    """HH:MM of a server timestamp, or of now when the event has none."""
    return time.strftime("%H:%M", time.localtime(ts if ts is not None else time.time()))


@lru_cache(maxsize=1024)  # a hash and a colour conversion per line otherwise
def nick_colour(nick: str) -> str:
    """The nick's colour from `palette`, as the user list draws it; the log makes it readable on
    the theme's background when it draws the line."""
    return palette.nick_colour(nick)


Pieces = list[tuple[str, str]]  # (text, style) in order; "" is no style


def _compose(pieces: Pieces) -> Text:
    """The `Text` that appending each piece in turn would make, built in one go.

    A flood formats thousands of lines a second and `Text.append` costs a microsecond or two a
    piece; here the plain text is joined once and the spans are counted alongside.  Text with a
    control character or a line break (which `Text` would strip or keep in its own way) takes
    the long way, so both ways always agree.
    """
    plain = "".join(piece for piece, _ in pieces)
    if not plain.isprintable():
        line = Text(no_wrap=False)
        for piece, style in pieces:
            line.append(piece, style)
        return line
    spans, offset = [], 0
    for piece, style in pieces:
        end = offset + len(piece)
        if style and end > offset:
            spans.append(Span(offset, end, style))
        offset = end
    return Text(plain, no_wrap=False, spans=spans)


def _start(stamp: str, mark: str = " ", mark_style: str = "") -> Pieces:
    return [(stamp, "dim"), (" ", ""), (mark, mark_style), (" ", "")]


def _body(kind: str, nick: str, text: str, own: bool) -> Pieces:
    """`* nick text` for an action, `<nick> text` otherwise; our own nick reversed, our text bold."""
    colour = nick_colour(nick)
    if kind == "action":
        return [("* ", "bold"), (nick, f"bold {colour}"), (" ", ""), (text, "italic")]
    return [("<", "dim"), (nick, f"bold {colour}" + (" reverse" if own else "")), ("> ", "dim"),
            (text, "bold" if own else "")]


def chat_line(event: ChatLine, own_nick: str, stamp: Timestamp = clock_time) -> Text:
    """Someone's message, action or private message."""
    own = event.sender == own_nick
    highlight = is_highlight(event, own_nick)
    pieces = _start(stamp(event.ts), *((HIGHLIGHT_MARK, HIGHLIGHT_STYLE) if highlight else ()))
    if event.kind == "private":
        pieces.append(("[private] " if not own else f"[private to {event.to}] ", "bold magenta"))
    pieces += _body(event.kind, event.sender, event.text, own)
    line = _compose(pieces)
    if highlight:
        line.stylize("bold", len(line) - len(event.text))
    return line


def outgoing_line(line: OutgoingLine, own_nick: str, stamp: Timestamp = clock_time) -> Text:
    """One of our own lines with its delivery mark; shown as soon as it is typed."""
    mark, mark_style = DELIVERY_MARKS[line.delivery]
    pieces = _start(stamp(None), mark, mark_style)
    if line.kind == "private":
        pieces.append((f"[private to {line.to}] ", "bold magenta"))
    pieces += _body(line.kind, own_nick, line.text, own=True)
    if line.delivery is Delivery.PENDING:
        pieces.append(("  (pending)", "dim italic"))
    elif line.delivery is Delivery.FAILED:
        pieces.append((f"  (not delivered: {line.error})", "bold red"))
    return _compose(pieces)


def reply_line(text: str, stamp: Timestamp = clock_time) -> Text:
    """The server's answer in echo/upper mode."""
    return _compose(_start(stamp(None), "↩", "cyan") + [(text, "cyan")])


def notice_line(text: str, stamp: Timestamp = clock_time, ts: float | None = None) -> Text:
    """Join/leave/nick changes and other info: quieter than conversation."""
    return _compose(_start(stamp(ts)) + [("-- " + text, "dim italic")])


def error_line(text: str, stamp: Timestamp = clock_time) -> Text:
    return _compose(_start(stamp(None), "!", "bold red") + [(text, "bold red")])


def _welcome_line(event: Welcome, stamp: Timestamp) -> Text:
    return notice_line(f"connected to {event.server or 'server'} (mode={event.mode}) as {event.nick}; "
                       f"{event.user_count} here", stamp)


def _left_line(event: Left, stamp: Timestamp) -> Text:
    reason = f" ({event.reason})" if event.reason else ""
    return notice_line(f"{event.nick} has left{reason}", stamp, event.ts)


# Event type -> its line.  Each takes the event, our nick (so our own lines stand out) and the
# clock; keyed by exact type, like the server's encoders.
RENDERERS: dict[type, Callable[[Any, str, Timestamp], Text]] = {
    ChatLine: chat_line,
    Reply: lambda e, nick, stamp: reply_line(e.text, stamp),
    Welcome: lambda e, nick, stamp: _welcome_line(e, stamp),
    Joined: lambda e, nick, stamp: notice_line(f"{e.nick} has joined", stamp, e.ts),
    Left: lambda e, nick, stamp: _left_line(e, stamp),
    NickChanged: lambda e, nick, stamp: notice_line(f"{e.old} is now known as {e.new}", stamp, e.ts),
    UserList: lambda e, nick, stamp: notice_line(f"{e.user_count} here: {', '.join(e.users)}", stamp),
    Presence: lambda e, nick, stamp: notice_line(
        f"{e.joined_count} joined, {e.left_count} left ({e.user_count} here)", stamp),
    Notice: lambda e, nick, stamp: notice_line(e.text, stamp),
    Skipped: lambda e, nick, stamp: notice_line(
        f"… {e.count:,} lines skipped: they came faster than the screen could show them …", stamp),
    ServerError: lambda e, nick, stamp: error_line(f"error: {e.message or e.code}", stamp),
}


def render(event: object, own_nick: str, stamp: Timestamp = clock_time) -> Text | None:
    """The log line for `event`, or None if it draws none."""
    renderer = RENDERERS.get(type(event))
    return renderer(event, own_nick, stamp) if renderer is not None else None
