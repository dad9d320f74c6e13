"""Make untrusted text safe to show in a terminal.

The server already strips control characters from what it relays, but the client must not rely
on that: a different server, a bug or a future protocol change must never be able to move our
cursor, retitle the window or inject hyperlinks.
"""

from __future__ import annotations

import re

# An escape sequence, whole, so its parameters do not survive as visible junk after the ESC
# itself is removed: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC strings (ended by BEL or
# ST), and two-character escapes (ESC + one byte).  Also the 8-bit C1 forms of CSI and OSC.
_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?            # CSI
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])      # OSC, DCS, SOS, PM, APC ...
        .*?(?:\x07|\x1b\\|\x9c|$)                #   ... up to BEL or ST (or end of text)
  | \x1b[ -~]?                                   # any other escape (ESC + one byte)
    """,
    re.VERBOSE | re.DOTALL,
)
# C0 controls except tab, DEL and C1 controls; also the Unicode line/paragraph separators and
# bidi overrides that can make a line lie about its own content.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Return `text` without escape sequences or control characters; tabs become spaces."""
    if text.isprintable():  # the common case, and much cheaper than two regex passes
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL.sub("", text).replace("\t", " ")
