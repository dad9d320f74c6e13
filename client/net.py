"""The client's network layer: asyncio streams around `session.ClientSession`.

`ChatClient.run()` connects, says hello, reads events and reconnects with exponential backoff and
jitter for as long as the client lives.  Everything it learns goes to one `on_event` callback as
`session` events (server events, `StatusChanged`, `LagMeasured`, `DeliveryChanged`), so a caller
(the Textual app, a test, a script) needs nothing else.  This module must not import textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

from .session import (
    ClientSession, ConnectionState, DeliveryChanged, Event, LagMeasured, Notice, OutgoingLine, Pong, ServerError,
    ServerPing, StatusChanged, Welcome, decode, encode,
)

# A line may be up to the server's --max-line (8 KiB by default) as JSON-escaped text; leave room.
READ_LIMIT = 1 << 20


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


class FatalConnectError(Exception):
    """A connection problem that retrying cannot fix (e.g. a port number out of range)."""


def describe_connect_error(exc: BaseException, host: str, port: int | str) -> str:
    """A short human reason for a failed connection attempt, never a traceback."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.gaierror, UnicodeError)):
        return f"unknown host {host!r}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timed out connecting"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "connection reset"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def check_port(port: int | str) -> int:
    """The port as an int, or `FatalConnectError` saying why it cannot be one."""
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise FatalConnectError(f"bad port {port!r}: not a number") from None
    if not 1 <= number <= 65535:
        raise FatalConnectError(f"bad port {number}: must be 1-65535")
    return number


class ChatClient:
    """One user's connection to a selchat server, kept alive across drops and restarts."""

    def __init__(
        self,
        host: str,
        port: int | str,
        nick: str,
        on_event: Callable[[Event], None],
        *,
        ping_interval: float = 5.0,
        connect_timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.session = ClientSession(wanted_nick=nick)
        self.on_event = on_event
        self.ping_interval = ping_interval
        self.connect_timeout = connect_timeout
        self.backoff = backoff or Backoff()
        self.state = ConnectionState.CONNECTING
        self.lag: float | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._ping_ids = itertools.count(1)
        self._pings_sent: dict[str, float] = {}

    # -- public API ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    async def run(self) -> None:
        """Connect and keep reconnecting until `close()`; returns when closed or fatally failed."""
        attempt = 0
        try:
            port = check_port(self.port)
        except FatalConnectError as exc:
            self._set_state(ConnectionState.DISCONNECTED, reason=str(exc))
            return
        while not self._closing:
            self._set_state(ConnectionState.CONNECTING, attempt=attempt)
            reason = await self._connect_once(port)
            if self._closing:
                break
            if self.session.connected or reason.startswith("server closed"):
                attempt = 0  # it worked for a while: start the backoff over
            self.session.connection_lost()
            attempt += 1
            await self._wait_before_retry(attempt, reason)
        self._set_state(ConnectionState.DISCONNECTED, reason="quit" if self._closing else "")

    def send_message(self, text: str) -> OutgoingLine:
        """Send a chat line (or queue it while disconnected); track it until confirmed."""
        return self._submit("message", text)

    def send_action(self, text: str) -> OutgoingLine:
        return self._submit("action", text)

    def send_private(self, to: str, text: str) -> OutgoingLine:
        return self._submit("private", text, to)

    def change_nick(self, nick: str) -> None:
        """Ask for a new nick; it is also the nick re-claimed after a reconnect."""
        request = self.session.request_nick(nick)
        self._write(request)

    def request_users(self) -> None:
        self._write({"type": "who"})

    def reconnect_now(self) -> None:
        """Cut the reconnect countdown short."""
        self._wake.set()

    async def close(self, reason: str = "") -> None:
        """Say goodbye (if connected) and stop reconnecting."""
        self._closing = True
        self._wake.set()
        writer = self._writer
        if writer is not None:
            request: dict[str, Any] = {"type": "quit"}
            if reason:
                request["reason"] = reason
            self._write(request)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), 1.0)
            writer.close()

    # -- internals ------------------------------------------------------------------------------

    def _submit(self, kind: str, text: str, to: str | None = None) -> OutgoingLine:
        line = self.session.submit(kind, text, to)
        if self.session.connected:
            self._write(line.request())
        return line

    def _write(self, request: dict[str, Any]) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(encode(request))
        return True

    def _emit(self, event: Event) -> None:
        self.on_event(event)

    def _set_state(self, state: ConnectionState, *, attempt: int = 0,
                   retry_in: float | None = None, reason: str = "") -> None:
        self.state = state
        self._emit(StatusChanged(state, self.host, self.port, attempt, retry_in, reason))

    async def _wait_before_retry(self, attempt: int, reason: str) -> None:
        """Count down to the next attempt, once a second, so the status bar can show it."""
        deadline = time.monotonic() + self.backoff.delay(attempt)
        self._wake.clear()
        while not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._set_state(ConnectionState.RECONNECTING, attempt=attempt,
                            retry_in=remaining, reason=reason)
            tick = remaining - int(remaining) or 1.0  # wake when the whole second changes
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(tick, remaining))
            if self._wake.is_set():
                return

    async def _connect_once(self, port: int) -> str:
        """One connection, from connect to loss; returns why it ended, in words."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, port, limit=READ_LIMIT), self.connect_timeout)
        except (OSError, asyncio.TimeoutError, UnicodeError, ValueError) as exc:
            # UnicodeError: a host name IDNA cannot encode, e.g. "a..b"; say so, do not crash.
            return describe_connect_error(exc, self.host, port)
        self._writer = writer
        self._pings_sent.clear()
        pinger: asyncio.Task | None = None
        try:
            self._write(self.session.hello())
            reason = await self._await_welcome(reader)
            if reason:
                return reason
            pinger = asyncio.create_task(self._ping_forever())
            return await self._read_forever(reader)
        except (OSError, asyncio.IncompleteReadError) as exc:
            return describe_connect_error(exc, self.host, port)
        finally:
            self._writer = None
            if pinger is not None:
                pinger.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _await_welcome(self, reader: asyncio.StreamReader) -> str:
        """Read until `welcome`, skipping text-dialect lines; return '' or why it failed."""
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                return "no welcome from the server (is it a selchat server?)"
            if not raw:
                return "server closed the connection"
            event = decode(raw)
            if isinstance(event, ServerError) and event.code == "unsupported_protocol":
                self._closing = True  # retrying will not teach the server our protocol
                return f"server refused protocol {self.session.hello()['protocol']}: {event.message}"
            if isinstance(event, Welcome):
                for request in self.session.on_welcome(event):
                    self._write(request)
                self._set_state(ConnectionState.CONNECTED)
                self._emit(event)
                for line in self.session.pending():
                    self._emit(DeliveryChanged(line))  # pending -> sent
                return ""

    async def _read_forever(self, reader: asyncio.StreamReader) -> str:
        shutting_down = False
        while True:
            try:
                raw = await reader.readline()
            except ValueError:  # a line over READ_LIMIT: drop it, keep the connection
                continue
            if not raw:
                return "server shutting down" if shutting_down else "server closed the connection"
            event = decode(raw)
            if event is None:
                continue
            if isinstance(event, ServerPing):
                self._write({"type": "pong", "id": event.id})
                continue
            if isinstance(event, Pong):
                self._on_pong(event)
                continue
            if isinstance(event, Notice) and event.code == "shutdown":
                shutting_down = True
            for out in self.session.apply(event):
                self._emit(out)

    async def _ping_forever(self) -> None:
        """Measure lag, and notice a peer that has silently gone away."""
        while True:
            if len(self._pings_sent) >= 3:
                # Three pings unanswered: the connection is dead even if TCP has not said so.
                if self._writer is not None:
                    self._writer.transport.abort()
                return
            ping_id = f"lag-{next(self._ping_ids)}"
            self._pings_sent[ping_id] = time.monotonic()
            self._write({"type": "ping", "id": ping_id})
            await asyncio.sleep(self.ping_interval)

    def _on_pong(self, pong: Pong) -> None:
        sent = self._pings_sent.pop(str(pong.id), None)
        if sent is None:
            return
        self._pings_sent.clear()  # older pings are answered by implication
        self.lag = time.monotonic() - sent
        self._emit(LagMeasured(self.lag))
