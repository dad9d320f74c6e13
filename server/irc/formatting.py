"""mIRC formatting and CTCP framing, removed the IRC way before the room sees a line.

selchat's generic control stripper would turn ``\\x0304red`` into ``04red`` and
``\\x01ACTION waves\\x01`` into ``ACTIONwaves`` (irc.md P10), so IRC text goes through
here first: colour codes go with their digits, ACTION becomes an action, and any
other CTCP (VERSION, PING, TIME...) is dropped rather than passed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# \x03 colour: up to two fg digits, then ",bg" only when fg digits were given (mIRC rule).
_COLOUR = r"\x03(?:\d{1,2}(?:,\d{1,2})?)?"
# \x04 hex colour: six hex digits, then ",bg" in six more, both optional.
_HEX_COLOUR = r"\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
# bold, reset, monospace, reverse, italic, strikethrough, underline
_TOGGLES = r"[\x02\x0f\x11\x16\x1d\x1e\x1f]"
_FORMATTING = re.compile(f"{_COLOUR}|{_HEX_COLOUR}|{_TOGGLES}")

CTCP_MARK = "\x01"


def strip_formatting(text: str) -> str:
    """``text`` without mIRC bold/italic/colour codes (and without the colour digits)."""
    return _FORMATTING.sub("", text)


@dataclass(frozen=True, slots=True)
class Ctcp:
    """A CTCP request found in a PRIVMSG/NOTICE body: ``command`` upper-cased, ``body`` after it."""

    command: str
    body: str


def split_ctcp(text: str) -> Ctcp | None:
    """The CTCP in ``text``, or None for plain text.

    The closing ``\\x01`` is optional (clients and the modern CTCP spec allow leaving it
    off); stray ``\x01`` inside the body are removed, formatting is left to the caller.
    """
    if not text.startswith(CTCP_MARK):
        return None
    inner = text[1:]
    if inner.endswith(CTCP_MARK):
        inner = inner[:-1]
    command, _, body = inner.partition(" ")
    return Ctcp(command.upper(), body.replace(CTCP_MARK, ""))


def plain(text: str) -> str:
    """Text for the room from a non-CTCP body: formatting and stray ``\\x01`` removed."""
    return strip_formatting(text).replace(CTCP_MARK, "")
