"""The client's network layer: asyncio streams around `session.ClientSession`.

`ChatClient.run()` connects (over TLS if given a context), says hello, reads events and
reconnects with exponential backoff and jitter for as long as the client lives.  Everything it
learns goes to one `on_event` callback as `session` events (server events, `StatusChanged`,
`LagMeasured`, `DeliveryChanged`, `PasswordNeeded`), so a caller (the Textual app, a test, a
script) needs nothing else.  This module must not import textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

from .sanitize import clean
from .session import (
    PROTOCOL_VERSION, ClientSession, ConnectionState, DeliveryChanged, Event, LagMeasured, Notice,
    OutgoingLine, PasswordNeeded, Pong, ServerError, ServerPing, StatusChanged, Welcome, decode,
    encode,
)

# A line may be up to the server's --max-line (8 KiB by default) as JSON-escaped text; leave room.
READ_LIMIT = 1 << 20
# How long a TLS connection may take to say goodbye (close_notify) before it is just dropped.
TLS_SHUTDOWN_TIMEOUT = 2.0
# Pings in a row with nothing at all received meanwhile: the connection is dead.
DEAD_AFTER_PINGS = 3
# The longest piece of a server's pre-welcome text line shown as a reason.
REASON_MAX = 200
# OpenSSL's verify codes for "I do not know who signed this".
UNTRUSTED_CODES = {2, 18, 19, 20, 21}
EXPIRED, NOT_YET_VALID, HOST_MISMATCH, IP_MISMATCH = 10, 9, 62, 64
# SSL errors that mean the peer answered our TLS hello with something that is not TLS.
NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG",
                   "RECORD_LAYER_FAILURE", "UNEXPECTED_MESSAGE", "RECORD_TOO_LARGE"}


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


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context that checks the server's certificate and its host name.

    Without `ca_file` it trusts the system's certificate authorities.  With it, it trusts only the
    certificates in that PEM file: a private CA, or the server's own self-signed certificate.
    Raises `OSError` or `ssl.SSLError` if the file cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def describe_certificate_error(exc: ssl.SSLCertVerificationError, host: str) -> str:
    code, detail = exc.verify_code, (exc.verify_message or "").rstrip(".")
    if code in UNTRUSTED_CODES:
        return f"TLS certificate not trusted (use --tls-ca): {detail}"
    if code == EXPIRED:
        return "TLS certificate has expired"
    if code == NOT_YET_VALID:
        return "TLS certificate is not valid yet (check the clocks)"
    if code in (HOST_MISMATCH, IP_MISMATCH):
        return f"TLS certificate is not for {host} (connect by the name it was issued for)"
    return f"TLS certificate rejected: {detail or exc.reason or 'verification failed'}"


def describe_connect_error(exc: BaseException, host: str, port: int | str) -> str:
    """A short human reason for a failed connection attempt, never a traceback."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_certificate_error(exc, host)
    if isinstance(exc, ssl.SSLError):  # before OSError: SSLError is one, with an unreadable strerror
        reason = exc.reason or ""
        if reason in NOT_TLS_REASONS:
            return "the server answered in plain text, not TLS (try without --tls)"
        if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
            return "the server hung up during the TLS handshake"
        return f"TLS error: {reason.replace('_', ' ').lower() or exc}"
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
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
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
        self._silent_pings = 0  # pings sent since the server last sent anything
        self._fatal = ""  # why the client gave up for good, if it did
        # The password lives here only: never in the session (whose repr tests print), never logged.
        self._password = password or None
        self._password_serial = 0  # bumped by set_password(): a newer one than a refused one?
        self._password_refused: ServerError | None = None  # auth_required / bad_password this time
        self.awaiting_password = False  # stopped until set_password() (or reconnect_now())
        self._refusal = ""  # a non-JSON (or error) line the server sent before welcome

    # -- public API ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    async def run(self) -> None:
        """Connect and keep reconnecting until `close()`; returns when closed or fatally failed.

        A refused password stops the reconnecting (retrying it would only earn more penalties): the
        client emits `PasswordNeeded` and waits for `set_password()`.
        """
        attempt = 0
        try:
            port = check_port(self.port)
        except FatalConnectError as exc:
            self._set_state(ConnectionState.DISCONNECTED, reason=str(exc))
            return
        while not self._closing and not self._fatal:
            self._set_state(ConnectionState.CONNECTING, attempt=attempt)
            serial = self._password_serial
            self._password_refused = None
            reason = await self._connect_once(port)
            welcomed = self.session.connected
            self.session.connection_lost()
            if self._closing or self._fatal:
                break
            if welcomed:
                attempt = 0  # it worked for a while: start the backoff over
            refused = self._password_refused
            if refused is not None:
                if serial == self._password_serial:  # no newer password came meanwhile
                    await self._wait_for_password(reason, wrong=refused.code == "bad_password")
                attempt = 0
                continue
            attempt += 1
            await self._wait_before_retry(attempt, reason)
        self._set_state(ConnectionState.DISCONNECTED, reason=self._fatal or "quit")

    def set_password(self, password: str) -> None:
        """Use `password` from the next connection on, and reconnect now if waiting for one."""
        self._password = password or None
        self._password_serial += 1
        self._wake.set()

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

    def _write(self, request: dict[str, Any]) -> None:
        """Write one request if connected; otherwise drop it (the session re-sends what matters)."""
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(encode(request))

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

    async def _wait_for_password(self, reason: str, *, wrong: bool) -> None:
        """Stay disconnected until `set_password()`, `reconnect_now()` or `close()`."""
        self._wake.clear()
        self.awaiting_password = True
        self._set_state(ConnectionState.DISCONNECTED, reason=reason)
        self._emit(PasswordNeeded(reason, wrong))
        try:
            await self._wake.wait()
        finally:
            self.awaiting_password = False

    def _hello(self) -> dict[str, Any]:
        hello = self.session.hello()
        if self._password is not None:
            hello["password"] = self._password
        return hello

    def _connection_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        return {"ssl": self.tls, "server_hostname": self.host,
                "ssl_handshake_timeout": self.connect_timeout,
                "ssl_shutdown_timeout": TLS_SHUTDOWN_TIMEOUT}

    async def _connect_once(self, port: int) -> str:
        """One connection, from connect to loss; returns why it ended, in words."""
        self._refusal = ""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, port, limit=READ_LIMIT, **self._connection_options()),
                self.connect_timeout)
        except (OSError, asyncio.TimeoutError, UnicodeError, ValueError) as exc:
            # UnicodeError: a host name IDNA cannot encode, e.g. "a..b"; say so, do not crash.
            # ValueError: also ssl.SSLCertVerificationError's other base; described above it.
            return describe_connect_error(exc, self.host, port)
        self._writer = writer
        self._pings_sent.clear()
        self._silent_pings = 0
        pinger: asyncio.Task | None = None
        try:
            self._write(self._hello())
            reason = await self._await_welcome(reader)
            if reason:
                return reason
            pinger = asyncio.create_task(self._ping_forever())
            return await self._read_forever(reader)
        except (OSError, asyncio.IncompleteReadError) as exc:
            reason = describe_connect_error(exc, self.host, port)
            return reason if self.session.connected else self._ended_before_welcome(reason)
        finally:
            self._writer = None
            if pinger is not None:
                pinger.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), TLS_SHUTDOWN_TIMEOUT)

    def _ended_before_welcome(self, reason: str) -> str:
        """Why a connection ended before `welcome`: the server's own words if it sent any.

        A server refusing a connection (full, too many from one address) says why in one text line,
        since it does not know the dialect yet (docs/protocol.md, "Limits a client meets").
        """
        if self._refusal:
            return self._refusal
        if self.tls is None and reason in ("server closed the connection", "connection reset"):
            # What a TLS-only server does to a plain hello: hang up without a word.
            return f"{reason} before welcome (if the server uses TLS, try --tls)"
        return reason

    def _note_refusal(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if text.startswith("{") or not text:
            return
        for prefix in ("!!! error: ", "!!! ", "*** "):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
        self._refusal = clean(text)[:REASON_MAX]

    async def _await_welcome(self, reader: asyncio.StreamReader) -> str:
        """Read until `welcome`, skipping text-dialect lines; return '' or why it failed."""
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                return "no welcome from the server (is it a selchat server?)"
            except ValueError:  # a line over READ_LIMIT: not a selchat greeting
                continue
            if not raw:
                return self._ended_before_welcome("server closed the connection")
            event = decode(raw)
            if event is None:
                self._note_refusal(raw)
                continue
            if isinstance(event, ServerError) and event.code == "unsupported_protocol":
                # Retrying will not teach the server our protocol.
                self._fatal = f"server refused protocol {PROTOCOL_VERSION}: {event.message}"
                return self._fatal
            if isinstance(event, ServerError) and event.code in ("auth_required", "bad_password"):
                # Hang up at once: the server closes anyway (after a penalty, for a wrong one).
                self._password_refused = event
                return "wrong password" if event.code == "bad_password" else "the server needs a password"
            if isinstance(event, ServerError):
                self._refusal = event.message or event.code
                continue
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
            self._silent_pings = 0  # the server is alive, even if it is slow to answer pings
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
        """Measure lag, and notice a peer that has silently gone away.

        Only silence counts: a server throttling us (flood control) reads our pings late, but
        still sends us lines meanwhile, and that connection is alive.
        """
        while True:
            if self._silent_pings >= DEAD_AFTER_PINGS:
                # Pings unanswered and nothing else heard: dead even if TCP has not said so.
                if self._writer is not None:
                    self._writer.transport.abort()
                return
            ping_id = f"lag-{next(self._ping_ids)}"
            self._pings_sent[ping_id] = time.monotonic()
            while len(self._pings_sent) > 2 * DEAD_AFTER_PINGS:  # unanswered ones: keep it small
                del self._pings_sent[next(iter(self._pings_sent))]
            self._silent_pings += 1
            self._write({"type": "ping", "id": ping_id})
            await asyncio.sleep(self.ping_interval)

    def _on_pong(self, pong: Pong) -> None:
        sent = self._pings_sent.pop(str(pong.id), None)
        if sent is None:
            return
        self._pings_sent.clear()  # older pings are answered by implication
        self.lag = time.monotonic() - sent
        self._emit(LagMeasured(self.lag))
