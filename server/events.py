"""The server's events: the wire vocabulary (`selchat.wire.events`), plus the instructions the chat
core gives the loop, which never go on the wire.

`from . import events as ev` gives the server one namespace for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from selchat.wire.events import *  # noqa: F401,F403  (the vocabulary, under the names it always had)


@dataclass(slots=True)
class Disconnect:
    """Close this connection once its output is flushed, after `delay` seconds."""

    reason: str = ""
    delay: float = 0.0


@dataclass(slots=True)
class Pause:
    """Read nothing more from this connection for `seconds` (a penalty, e.g. a wrong password)."""

    seconds: float


@dataclass(slots=True)
class LogLine:
    """Something the operator should see in the server log about this connection."""

    level: int
    message: str
