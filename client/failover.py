"""Which server to try next, and when: the client's failover plan, with no I/O and no clock.

`selchat --server A --server B` names several servers of one room (the nodes of a cluster, or a
spare).  `Rotation` is told when a connection was welcomed and when it ended (with the session's
`Ending` and the time, handed in) and answers with the next server to try and how long to wait
first.  The rules:

- Stay on a server while it works: a client never moves back to the first server by itself, so a
  failover does not undo itself when the first one comes back.
- A connection that was welcomed and lasted `STABLE_AFTER` seconds *worked*.  When it drops, the
  next server is tried at once; the one that dropped counts as the first failure of a new round.
- Any other ending (refused, timed out, hung up before welcome, or dropped soon after welcome, a
  server that flaps) is a failure, and the next server is tried at once too, until every server in
  the list has failed in a row: a whole round.  Then the usual backoff (0.5 s doubling to 30 s,
  ±20%, by the number of rounds failed) comes before the next round, which goes on around the
  list rather than starting it over.
- A server that wants a password keeps the client where it is: the password is the room's, and
  the client waits for one from the user.
- A server that refuses our protocol leaves the rotation; it is fatal only when none is left.

With one server this is the old behaviour: every failure is a whole round, so the waits grow from
the first one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # only a type here: `selchat --help` need not import the protocol
    from .session import Ending

# A welcomed connection that lasted this long worked: its drop starts the backoff over.  Shorter
# ones count as failures, so servers that welcome and drop at once are not hammered in a loop.
STABLE_AFTER = 10.0


@dataclass
class Backoff:
    """Exponential backoff with jitter: 0.5 s doubling up to 30 s, each delay shaken by ±20%.

    The jitter keeps a room full of clients from all reconnecting in the same instant after a
    server restart.
    """

    first: float = 0.5
    cap: float = 30.0
    jitter: float = 0.2
    rng: random.Random | None = None

    def delay(self, attempt: int) -> float:
        """The wait before reconnect attempt number `attempt` (1-based)."""
        nominal = min(self.cap, self.first * 2 ** min(attempt - 1, 32))
        rng = self.rng or random
        return min(self.cap, nominal * rng.uniform(1 - self.jitter, 1 + self.jitter))


@dataclass(frozen=True)
class ServerAddress:
    """One server to connect to; `str()` is how a person writes it (`[::1]:8081` for IPv6)."""

    host: str
    port: int | str

    def __str__(self) -> str:
        return format_address(self.host, self.port)


def format_address(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_server(text: str, default_port: int) -> ServerAddress:
    """`HOST:PORT`, `HOST` (the default port), `[IPv6]:PORT` or `[IPv6]`; ValueError saying why not."""
    text = text.strip()
    if not text:
        raise ValueError("empty server address")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"{text!r}: an IPv6 address needs its closing ']', as in [::1]:8081")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    elif text.count(":") > 1:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, as in [::1]:8081")
    else:
        host, _, port_text = text.partition(":")
        if not host:
            raise ValueError(f"{text!r}: no host before ':'")
    if not port_text:
        return ServerAddress(host, default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: {port_text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: {port} is not a port number (1-65535)")
    return ServerAddress(host, port)


def parse_server_list(text: str, default_port: int) -> list[ServerAddress]:
    """A comma-separated list (`SELCHAT_SERVERS`); blanks between commas are ignored."""
    servers = [parse_server(part, default_port) for part in text.split(",") if part.strip()]
    if not servers:
        raise ValueError("no server address in the list")
    return servers


@dataclass(frozen=True)
class NextTry:
    """What `Rotation` decided after a connection ended."""

    server: ServerAddress
    delay: float = 0.0  # seconds to wait first; 0: at once
    attempt: int = 0  # failures in a row so far
    switched: bool = False  # another server than the one that just ended
    give_up: str = ""  # not empty: no server is left to try, and this is why


@dataclass
class Rotation:
    """The servers in the order given, the one in use, and the failures since one last worked."""

    servers: Sequence[ServerAddress]
    backoff: Backoff = field(default_factory=Backoff)
    stable_after: float = STABLE_AFTER
    index: int = 0
    failures: int = 0  # endings in a row that were not a connection that worked
    _refused: set[int] = field(default_factory=set)  # refused our protocol: out of the rotation
    _welcomed_at: float | None = None

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("no server to connect to")
        self.servers = list(dict.fromkeys(self.servers))  # the same one twice is one server

    @property
    def current(self) -> ServerAddress:
        return self.servers[self.index]

    @property
    def usable(self) -> int:
        return len(self.servers) - len(self._refused)

    def welcomed(self, now: float) -> None:
        """The current connection got its welcome at `now`."""
        self._welcomed_at = now

    def ended(self, ending: Ending, now: float) -> NextTry:
        """The current connection ended at `now` (or never came up): where to go next, and when."""
        welcomed_at, self._welcomed_at = self._welcomed_at, None
        if ending.needs_password:  # stay: the caller waits for a password, then tries here again
            self.failures = 0
            return NextTry(self.current)
        if ending.fatal:
            self._refused.add(self.index)
            if not self.usable:
                return NextTry(self.current, give_up=ending.reason)
        worked = welcomed_at is not None and now - welcomed_at >= self.stable_after
        # One that worked starts a new round, in which it is the first to have failed.
        self.failures = 1 if worked else self.failures + 1
        previous = self.index
        self._advance()
        rounds, partway = divmod(self.failures, self.usable)
        delay = self.backoff.delay(rounds) if partway == 0 else 0.0
        return NextTry(self.current, delay, self.failures, switched=self.index != previous)

    def _advance(self) -> None:
        for step in range(1, len(self.servers) + 1):
            candidate = (self.index + step) % len(self.servers)
            if candidate not in self._refused:
                self.index = candidate
                return
