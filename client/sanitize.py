"""Make untrusted text safe to show in a terminal: the one rule, `selchat.wire.text.clean`.

The server already strips what it relays, but the client must not rely on that: a different
server, a bug or a future protocol change must never be able to move our cursor, retitle the
window or inject hyperlinks. The decoder applies this to every piece of text a server sends.
"""

from __future__ import annotations

from selchat.wire.text import clean as _clean


def clean(text: str) -> str:
    """`text` without escape sequences or control characters; tabs become spaces (the log lays
    text out in cells, and a tab's width depends on its column)."""
    return _clean(text, tab=" ")
