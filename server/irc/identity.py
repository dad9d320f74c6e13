"""Who someone is to an IRC client: ``nick!user@host`` and a real name.

Both irssi and WeeChat display ``[user@host]`` on joins and take their own host from
the JOIN echo to size split messages (irc.md P7), so every member, whatever dialect it
speaks, gets a well-formed prefix. Text and JSON users get a made-up one
(``carol!text@selchat``).
"""

from __future__ import annotations

from dataclasses import dataclass

USER_MAX = 10                     # USERLEN in 005; what IRC servers traditionally keep
HOST_MAX = 63                     # HOSTLEN in 005
_NOT_IN_USER = set(" !@:*?,\x00\r\n")
_NOT_IN_HOST = set(" !@*?,\x00\r\n")
DIALECT_HOST = "selchat"          # the made-up host of text and JSON users


@dataclass(frozen=True, slots=True)
class Person:
    """One room member as IRC sees it. ``nick`` must already be a valid selchat nick."""

    nick: str
    user: str = "user"
    host: str = DIALECT_HOST
    realname: str = ""

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"

    def renamed(self, nick: str) -> "Person":
        return Person(nick, self.user, self.host, self.realname)


def from_dialect(nick: str, dialect: str) -> Person:
    """A text or JSON user (``dialect`` is ``"text"`` or ``"json"``) as an IRC member."""
    return Person(nick, safe_user(dialect), DIALECT_HOST, f"selchat {dialect} user")


def safe_user(user: str) -> str:
    """A USER name cut to ``USER_MAX`` with the characters that would break a prefix dropped."""
    kept = "".join(c for c in user if c not in _NOT_IN_USER and c.isprintable())
    return kept[:USER_MAX] or "user"


def safe_host(host: str) -> str:
    """A peer address usable in a prefix: IPv6 ``::1`` becomes ``0::1`` as ircds write it,
    because a parameter starting with ':' would be read as the trailing one (352)."""
    kept = "".join(c for c in host if c not in _NOT_IN_HOST and c.isprintable())[:HOST_MAX]
    if not kept:
        return "unknown"
    return "0" + kept if kept.startswith(":") else kept
