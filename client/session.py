"""The client side of the conversation, without any I/O: every protocol decision is made here.

`ClientSession` is fed what the connection brings (`connection_made`, `receive(line, now)`,
`tick(now)` when `next_timer()` is due, `connection_lost`) and answers with a `Step`: the events
the UI should see, the bytes to write, and whether to hang up.  It decides the handshake's
outcome (welcome, a refused protocol or password, a server's refusal text), answers pings,
measures lag, notices a dead server, checks a line fits the server's limit and skips replayed
history already shown.  It reads no clock: `now` is handed in, so the tests drive it with plain
strings and numbers.  `net.py` does the I/O and the reconnect timing; `events.py` is the wire
vocabulary (re-exported here, so `from .session import Welcome` keeps working).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from dataclasses import dataclass, field
from typing import Any

from .conversation import Conversation, Delivery, DeliveryChanged, OutgoingLine  # noqa: F401
from .events import (  # noqa: F401  (re-exported: the vocabulary the rest of the client uses)
    DEFAULT_MAX_LINE, PROTOCOL_VERSION, ChatLine, Event, Joined, Left, NickChanged, Notice, Pong,
    Presence, Reply, ServerError, ServerPing, UserList, Welcome, chat_request, decode, encode,
    hello_request, ping_request, pong_request, quit_request, text_line_reason, who_request,
)

CLIENT_NAME = "selchat 0.1.0"
# Pings in a row with nothing at all received meanwhile: the connection is dead.
DEAD_AFTER_PINGS = 3
# While a ping is unanswered the lag shown counts up this often (weechat's lag_refresh_interval).
LAG_REFRESH = 1.0
# The longest piece of a server's pre-welcome text line shown as a reason.
REASON_MAX = 200
# An id at least as long as the ones `ClientSession` makes, for sizing a line before it has one.
_LONGEST_ID = "c000000-0000000"
# A resume that could not be exact is always said in words (a server sends its own; these are
# for one that sends none): a hole in the conversation must never be silent.
RESUME_WORDS = {
    "history_gap": "some lines were missed while you were away; here is the recent history",
    "history_reset": "the room's history started over on this server: here is its recent history; "
                     "lines you missed meanwhile cannot be shown",
}


# --- events the client makes up itself ----------------------------------------------------------


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class StatusChanged(Event):
    """The connection changed state, or the reconnect countdown ticked."""

    state: ConnectionState
    host: str
    port: int | str
    attempt: int = 0
    retry_in: float | None = None
    reason: str = ""

    def describe(self) -> str:
        """The state in words, e.g. `reconnecting in 4s (attempt 3): connection refused`."""
        if self.state is ConnectionState.RECONNECTING and self.retry_in is not None:
            words = f"reconnecting in {max(0, round(self.retry_in))}s (attempt {self.attempt})"
        else:
            words = self.state.value
        return f"{words}: {self.reason}" if self.reason else words


@dataclass(frozen=True)
class LagMeasured(Event):
    seconds: float


@dataclass(frozen=True)
class PasswordNeeded(Event):
    """The server wants a password we do not have (or ours was wrong).

    The network layer has stopped reconnecting: it waits for `ChatClient.set_password()`.
    """

    reason: str
    wrong: bool = False  # True: a password was given and refused


# --- what the I/O layer is told to do ---------------------------------------------------------------


@dataclass
class Step:
    """The session's answer to a line or a timer: show `events`, write `data`, maybe hang up."""

    events: list[Event] = field(default_factory=list)
    data: bytes = b""
    welcomed: bool = False  # this step completed the handshake: the connection is up
    hang_up: bool = False  # close the connection now; `connection_lost` will say why


@dataclass(frozen=True)
class Ending:
    """Why a connection ended, in words, and what the reconnect loop should make of it."""

    reason: str
    welcomed: bool = False  # it got as far as welcome: start the backoff over
    fatal: bool = False  # retrying cannot help (the server refused our protocol)
    needs_password: bool = False  # wait for a (new) password before trying again
    wrong_password: bool = False  # ... because the one given was refused


class Phase(enum.Enum):
    AWAITING_WELCOME = "awaiting welcome"
    WELCOMED = "welcomed"


@dataclass
class _Link:
    """What the session knows about the current connection only; a new one per connection."""

    started: float
    last_heard: float
    phase: Phase = Phase.AWAITING_WELCOME
    refusal: str = ""  # why the server turned us away, if it said so before welcome
    shutting_down: bool = False  # the server announced a shutdown
    ending: Ending | None = None  # set when we decided to hang up
    pings: dict[str, float] = field(default_factory=dict)  # unanswered ping ids -> sent at
    silent_pings: int = 0  # pings sent since the server last sent anything
    next_ping: float | None = None
    next_lag_refresh: float | None = None
    shown_lag: float = 0.0


# --- state ------------------------------------------------------------------------------------------


@dataclass
class ClientSession(Conversation):
    """The conversation (`Conversation`: nick, users, outbox) plus the rules of one connection.

    One lives as long as the client, across reconnects; each connection's own state is a `_Link`
    made by `connection_made` and dropped by `connection_lost`.
    """

    ping_interval: float = 5.0
    welcome_timeout: float = 10.0
    tls: bool = False  # only for the hint when a plain connection is hung up on
    lag: float | None = None
    _ping_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _link: _Link | None = field(default=None, repr=False)

    # -- the connection's life --

    def connection_made(self, now: float, password: str | None = None) -> bytes:
        """A new connection is open: the hello to send first (it re-claims the nick after a
        reconnect).  The password is put in the hello and not kept."""
        self.connected = False
        self._link = _Link(started=now, last_heard=now)
        return encode(hello_request(self.wanted_nick, CLIENT_NAME, password, **self.resume_fields()))

    def receive(self, line: bytes | str, now: float) -> Step:
        """One line from the server."""
        link = self._link
        if link is None or link.ending is not None:
            return Step()  # we are hanging up: nothing more it says matters
        link.last_heard = now
        link.silent_pings = 0  # the server is alive, even if it is slow to answer pings
        event = decode(line)
        if link.phase is Phase.AWAITING_WELCOME:
            return self._before_welcome(link, line, event, now)
        if event is None:
            return Step()
        if isinstance(event, ServerPing):
            return Step(data=encode(pong_request(event.id)))
        if isinstance(event, Pong):
            return Step(self._on_pong(link, event, now))
        if isinstance(event, Notice) and event.code == "shutdown":
            link.shutting_down = True
        elif isinstance(event, Notice) and event.code in RESUME_WORDS and not event.text.strip():
            event = Notice(RESUME_WORDS[event.code], event.code)
        events = self.apply(event)
        return Step(events, b"".join(encode(request) for request in self.reclaim_freed_nick(event)))

    def next_timer(self) -> float | None:
        """When `tick` must next be called (on the clock `now` is read from), or None."""
        link = self._link
        if link is None or link.ending is not None:
            return None
        if link.phase is Phase.AWAITING_WELCOME:
            return link.started + self.welcome_timeout
        times = [t for t in (link.next_ping, link.next_lag_refresh) if t is not None]
        return min(times) if times else None

    def tick(self, now: float) -> Step:
        """Time passed: give up waiting for a welcome, ping, count the lag up, or call it dead."""
        link = self._link
        if link is None or link.ending is not None:
            return Step()
        if link.phase is Phase.AWAITING_WELCOME:
            if now >= link.started + self.welcome_timeout:
                return self._hang_up(link, Ending("no welcome from the server (is it a selchat server?)"))
            return Step()
        step = Step()
        if link.next_lag_refresh is not None and now >= link.next_lag_refresh:
            step.events += self._lag_refresh(link, now)
        if link.next_ping is not None and now >= link.next_ping:
            if link.silent_pings >= DEAD_AFTER_PINGS:
                # Pings unanswered and nothing else heard: dead even if TCP has not said so.
                silence = round(now - link.last_heard)
                return self._hang_up(link, Ending(f"no answer from the server for {silence} s"))
            step.data = self._ping(link, now)
        return step

    def connection_lost(self, error: str | None = None) -> Ending:
        """The connection is gone (`error`: the I/O layer's words for why, None for a plain end of
        file), or never came up.  Says why, truly: our own reason if we hung up."""
        link, welcomed = self._link, self.connected
        self._link, self.connected = None, False
        if link is not None and link.ending is not None:
            return dataclasses.replace(link.ending, welcomed=welcomed)
        if link is None:
            return Ending(error or "server closed the connection")
        if welcomed:
            shutdown = "server shutting down" if link.shutting_down else "server closed the connection"
            return Ending(error or shutdown, welcomed=True)
        return Ending(self._ended_before_welcome(link, error or "server closed the connection"))

    def _hang_up(self, link: _Link, ending: Ending) -> Step:
        link.ending = ending
        return Step(hang_up=True)

    def _before_welcome(self, link: _Link, line: bytes | str, event: Event | None, now: float) -> Step:
        """The handshake: text lines (a greeting, or a refusal) and errors until `welcome`."""
        if event is None:
            reason = text_line_reason(line)
            if reason:
                link.refusal = reason[:REASON_MAX]
            return Step()
        if isinstance(event, ServerError):
            if event.code == "unsupported_protocol":  # retrying will not teach the server ours
                return self._hang_up(link, Ending(
                    f"server refused protocol {PROTOCOL_VERSION}: {event.message}", fatal=True))
            if event.code in ("auth_required", "bad_password"):
                # Hang up at once: the server closes anyway (after a penalty, for a wrong one).
                wrong = event.code == "bad_password"
                return self._hang_up(link, Ending(
                    "wrong password" if wrong else "the server needs a password",
                    needs_password=True, wrong_password=wrong))
            link.refusal = event.message or event.code
            return Step()
        if not isinstance(event, Welcome):
            return Step()
        data = b"".join(encode(request) for request in self.on_welcome(event))
        link.phase = Phase.WELCOMED
        data += self._ping(link, now)
        events: list[Event] = [event, *(DeliveryChanged(line) for line in self.pending())]
        return Step(events, data, welcomed=True)

    def _ended_before_welcome(self, link: _Link, reason: str) -> str:
        """Why a connection ended before `welcome`: the server's own words if it sent any.

        A server refusing a connection (full, too many from one address) says why in one text line,
        since it does not know the dialect yet (docs/protocol.md, "Limits a client meets").
        """
        if link.refusal:
            return link.refusal
        if not self.tls and reason in ("server closed the connection", "connection reset"):
            # What a TLS-only server does to a plain hello: hang up without a word.
            return f"{reason} before welcome (if the server uses TLS, try --tls)"
        return reason

    # -- pings and lag --

    def _ping(self, link: _Link, now: float) -> bytes:
        ping_id = f"lag-{next(self._ping_ids)}"
        link.pings[ping_id] = now
        while len(link.pings) > 2 * DEAD_AFTER_PINGS:  # unanswered ones: keep it small
            del link.pings[next(iter(link.pings))]
        link.silent_pings += 1
        link.next_ping = now + self.ping_interval
        if link.next_lag_refresh is None:
            link.next_lag_refresh = now + LAG_REFRESH
        return encode(ping_request(ping_id))

    def _on_pong(self, link: _Link, pong: Pong, now: float) -> list[Event]:
        sent = link.pings.pop(str(pong.id), None)
        if sent is None:
            return []
        link.pings.clear()  # older pings are answered by implication
        link.next_lag_refresh = None
        self.lag = link.shown_lag = now - sent
        return [LagMeasured(self.lag)]

    def _lag_refresh(self, link: _Link, now: float) -> list[Event]:
        """The lag counts up while a ping waits for its answer, so a stalled server shows."""
        if not link.pings:
            link.next_lag_refresh = None
            return []
        link.next_lag_refresh = now + LAG_REFRESH
        waited = now - next(iter(link.pings.values()))
        if waited <= link.shown_lag:
            return []
        link.shown_lag = waited
        return [LagMeasured(waited)]

    # -- the user's actions: each returns what to write now (b"" when nothing can be) --

    def send(self, kind: str, text: str, to: str | None = None) -> tuple[OutgoingLine, bytes]:
        """Put a typed line in the outbox; it goes out now if connected, else on the next welcome."""
        line = self.submit(kind, text, to)
        return line, encode(line.request()) if self.connected else b""

    def oversize(self, kind: str, text: str, to: str | None = None) -> int:
        """The line's size on the wire if it is over the server's `max_line`, else 0."""
        size = len(encode(chat_request(kind, text, _LONGEST_ID, to)))
        return size if size > self.max_line else 0

    def change_nick(self, nick: str) -> bytes:
        """Ask for a new nick; it is also the nick re-claimed after a reconnect."""
        return self._if_open(self.request_nick(nick))

    def who(self) -> bytes:
        return self._if_open(who_request())

    def quit(self, reason: str = "") -> bytes:
        return self._if_open(quit_request(reason))

    def _if_open(self, request: dict[str, Any]) -> bytes:
        return encode(request) if self._link is not None else b""
