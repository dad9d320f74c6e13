"""Rules for untrusted text: what may reach a terminal, and what makes a nick.

One `clean` for both sides: the server applies it to what it relays, the client's decoder to
everything a server sends (a different server, or a bug, must never drive the client's
terminal either). Both sides validate nicks by `is_valid_nick`.
"""

from __future__ import annotations

import re
import unicodedata

# Escape sequences first (so their parameters go with them), then any lone control character:
# CSI (7- and 8-bit), OSC / DCS / SOS / PM / APC strings (7-bit, and their C1 introducers) up to
# BEL or ST, other ESC sequences with their intermediates, then C0 except tab, DEL, C1, the line
# and paragraph separators, and the bidi embeddings, overrides and isolates that can make a line
# lie about its own content (`exe.txt` shown for `txt.exe`). Every other character is kept.
_UNSAFE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?                   # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c|$)   # OSC, DCS ... ST
    | \x1b [ -/]* [0-~]?                                     # other ESC sequences (charsets...)
    | [\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]
    """,
    re.VERBOSE | re.DOTALL,
)

NICK_MAX = 16
_NICK = re.compile(r"(?:[^\W\d]|[\[\]\\^{}|])[\w\-\[\]\\^{}|]{0,%d}" % (NICK_MAX - 1))

# Letters that render as nothing, or as a blank, though Unicode calls them letters (the Hangul
# fillers), and the default-ignorable code points: a nick made of them reads as a line from
# nobody. Most are not letters and the pattern refuses them anyway; these are checked by name.
_INVISIBLE = frozenset("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u2800\u3164\ufeff\uffa0")
_INVISIBLE_RANGES = ((0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F),
                     (0xFE00, 0xFE0F), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                     (0xE0000, 0xE0FFF))
# Scripts that are written together: Japanese mixes Han with both kanas, Korean Han with Hangul.
_SCRIPTS_WRITTEN_TOGETHER = (frozenset({"HAN", "HIRAGANA", "KATAKANA"}), frozenset({"HAN", "HANGUL"}))
_SCRIPT_ALIASES = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KATAKANA-HIRAGANA": "KATAKANA"}


def clean(text: str, tab: str = "\t") -> str:
    """Remove control characters, terminal escape sequences and bidi controls.

    Tabs are kept, or replaced by `tab`: a terminal UI that lays text out in cells asks for a
    space, since a tab's width depends on the column it lands in.
    """
    # Nearly every line is plain printable text (every character removed here is unprintable to
    # str.isprintable, the tab too); skip the regex for it.
    if text.isprintable():
        return text
    text = _UNSAFE.sub("", text)
    return text if tab == "\t" else text.replace("\t", tab)


def is_valid_nick(nick: str) -> bool:
    """1-16 letters, digits or _-[]\\^{}|, not starting with a digit or '-', both as typed and
    NFKC-normalised; the letters all of one script (or of Han with kana, or Han with Hangul);
    nothing invisible."""
    if _NICK.fullmatch(nick) is None:
        return False
    if nick.isascii():
        return True  # the common case: ASCII letters are all Latin and all visible
    folded = unicodedata.normalize("NFKC", nick)
    if folded != nick and _NICK.fullmatch(folded) is None:
        return False  # `①x` is `1x`, `ﷺ` a phrase with spaces
    return not any(_is_invisible(ch) for ch in nick + folded) and _one_script(folded)


def nick_key(nick: str) -> str:
    """The form under which nicks are unique: NFKC and case-folded, so `Alice`, `alice` and
    fullwidth `ａlice` are one nick."""
    if nick.isascii():
        key = nick.lower()
    else:
        key = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", nick).casefold())
    return nick if key == nick else key  # most nicks are lower case already: share the string


def _is_invisible(ch: str) -> bool:
    if ch in _INVISIBLE or unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp"):
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES) or \
        "FILLER" in unicodedata.name(ch, "")


def _script(ch: str) -> str | None:
    """A letter's script, by the first word of its Unicode name (LATIN, CYRILLIC, CJK...); None
    for digits and punctuation, which go with any script."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    word = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(word, word)


def _one_script(nick: str) -> bool:
    scripts = {s for s in map(_script, nick) if s is not None}
    return len(scripts) <= 1 or any(scripts <= group for group in _SCRIPTS_WRITTEN_TOGETHER)
