"""Who the rooms talk to and about: the mode, a `Member`, and the recipient forms of an answer.

A room answers with a list of `(recipients, notification)` pairs, where recipients is one
`Member`, a list of them, `EVERYONE` (every member who has joined) or `AllExcept(member)`. The
caller encodes each notification once per dialect and queues the same bytes for every recipient,
so a broadcast costs one encoding.
"""

from __future__ import annotations

import enum
from typing import Union

from .gate import Login


class Mode(enum.Enum):
    CHAT = "chat"
    ECHO = "echo"
    UPPER = "upper"


class _Everyone:
    def __repr__(self) -> str:
        return "EVERYONE"


EVERYONE = _Everyone()


class AllExcept:
    """Every joined member but one (the sender, who gets its own tagged copy)."""

    __slots__ = ("member",)

    def __init__(self, member: "Member") -> None:
        self.member = member


class Member:
    """One connection as the chat sees it. `link` is the caller's; the room never reads it.
    `peer` is the address it came from (interned by the caller, so shared), the key by which the
    password gate slows guessers down."""

    __slots__ = ("nick", "joined", "json", "irc", "link", "login", "peer")

    def __init__(self, nick: str, link=None, peer: str | None = None) -> None:
        self.nick = nick
        self.joined = False
        self.json = False
        self.irc = False  # an IRC connection (server/irc/): encoded per viewer, see Service.deliver
        self.link = link
        self.peer = peer
        # Only on a server with a password, from the member's first attempt: memory per idle
        # connection is a target.
        self.login: Login | None = None

    @property
    def asked_password(self) -> bool:
        """Told that this server needs a password (and not in yet)."""
        return self.login is not None and self.login.asked

    def __repr__(self) -> str:
        return f"<Member {self.nick}{' joined' if self.joined else ''}>"


Recipients = Union[Member, list, _Everyone, AllExcept]
Outgoing = list  # list[tuple[Recipients, notification]]
