"""Rules for untrusted text: what may reach another user's terminal, and what makes a nick."""

from __future__ import annotations

import re

# Escape sequences first (so their parameters go with them), then any lone control character:
# C0 except tab, DEL, and C1. CSI / OSC / DCS-style strings are removed whole.
_UNSAFE = re.compile(
    r"""
      \x1b\[ [0-?]* [ -/]* [@-~]?            # CSI ... final byte
    | \x1b[\]PX^_] .*? (?:\x07|\x1b\\|$)     # OSC, DCS, SOS, PM, APC ... terminator
    | \x1b [ -/]* [0-~]?                     # other ESC sequences (charset selection, ...)
    | \x9b [0-?]* [ -/]* [@-~]?              # 8-bit CSI
    | [\x00-\x08\x0a-\x1f\x7f-\x9f]          # every other control character but tab
    """,
    re.VERBOSE | re.DOTALL,
)

NICK_MAX = 16
_NICK = re.compile(r"(?:[^\W\d]|[\[\]\\^{}|])[\w\-\[\]\\^{}|]{0,%d}" % (NICK_MAX - 1))


def clean(text: str) -> str:
    """Remove control characters and terminal escape sequences, keeping tabs."""
    # Nearly every line is plain printable text; skip the regex for it.
    if text.isprintable():
        return text
    return _UNSAFE.sub("", text)


def is_valid_nick(nick: str) -> bool:
    """1-16 letters, digits or _-[]\\^{}|, not starting with a digit or '-'."""
    return _NICK.fullmatch(nick) is not None


def nick_key(nick: str) -> str:
    """The form under which nicks are unique: `Alice` and `alice` are one nick."""
    key = nick.casefold()
    return nick if key == nick else key  # most nicks are lower case already: share the string
