"""The client's network layer: asyncio streams around `session.ClientSession`.

`ChatClient.run()` connects (over TLS if given a context) and reconnects for as long as the client
lives, going round the servers it was given with backoff and jitter as `failover.Rotation` says.
It makes no protocol decision: it hands the session each line read and each timer that falls due,
writes the bytes the session returns and hangs up when the session says so; the session also says
why a connection ended.  Everything the client learns goes to one `on_event` callback as `session`
events (server events, `StatusChanged` with the server in use, `LagMeasured`, `DeliveryChanged`,
`PasswordNeeded`), so a caller (the Textual app, a test, a script) needs nothing else.  This
module must not import textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any, Callable, Sequence

from .errors import (  # noqa: F401  (tls_context re-exported: cli.py and scripts import it here)
    FatalConnectError, check_port, describe_connect_error, tls_context,
)
from .failover import Backoff, NextTry, Rotation, ServerAddress  # noqa: F401  (Backoff re-exported)
from .session import (
    ClientSession, ConnectionState, Ending, Event, OutgoingLine, PasswordNeeded, StatusChanged, Step,
)

# A line may be up to the server's --max-line (8 KiB by default) as JSON-escaped text; leave room.
READ_LIMIT = 1 << 20
# Bytes taken from the stream per read, handed to the session at once: some 150 lines, a
# millisecond or so of decoding.  The loop yields after each, and a key needs several turns of
# the loop to reach the screen: at 64 KiB a turn took 5-15 ms during a burst, and key echo p99
# was 110-135 ms; smaller turns let the key through sooner at no cost in throughput.
READ_CHUNK = 1 << 14
# How long a TLS connection may take to say goodbye (close_notify) before it is just dropped.
TLS_SHUTDOWN_TIMEOUT = 2.0


class LineSplitter:
    """Bytes in, complete lines out (without their b"\\n"); a line longer than `limit` is
    dropped whole, as no selchat line is that long."""

    def __init__(self, limit: int = READ_LIMIT) -> None:
        self.limit = limit
        self._partial = b""
        self._discarding = False  # inside an over-long line: drop up to its end

    def feed(self, data: bytes) -> list[bytes] | list[str]:
        """The lines `data` completes: as text when they are all valid UTF-8 (the usual case,
        decoded in one go, which JSON parses faster), else as bytes, for the session to judge."""
        complete, newline, self._partial = (self._partial + data).rpartition(b"\n")
        if not newline and self._discarding:
            self._partial = b""  # still inside the over-long line
        discard, self._discarding = self._discarding and newline, self._discarding and not newline
        if len(self._partial) > self.limit:
            self._partial, self._discarding = b"", True
        if not newline:
            return []
        try:
            lines: list = complete.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            lines = complete.split(b"\n")
        if discard:
            lines.pop(0)  # the tail of an over-long line
        return [line for line in lines if len(line) <= self.limit]


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
        servers: Sequence[ServerAddress] | None = None,
    ) -> None:
        """`servers`, if given, are the servers of the room to fail over between, in order
        (`host` and `port` are then ignored); otherwise the one server is `host:port`."""
        self.tls = tls
        self.session = ClientSession(wanted_nick=nick, ping_interval=ping_interval,
                                     welcome_timeout=connect_timeout, tls=tls is not None)
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self.backoff = backoff or Backoff()
        self.rotation = Rotation(list(servers or [ServerAddress(host, port)]), self.backoff)
        self.state = ConnectionState.CONNECTING
        self._writer: asyncio.StreamWriter | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None  # the session's next_timer(), armed
        self._timer_when: float | None = None
        self._fatal = ""  # why the client gave up for good, if it did
        # The password lives here only: never in the session (whose repr tests print), never logged.
        self._password = password or None
        self._password_serial = 0  # bumped by set_password(): a newer one than a refused one?
        self.awaiting_password = False  # stopped until set_password() (or reconnect_now())

    # -- public API ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The host of the server in use (or being tried)."""
        return self.rotation.current.host

    @property
    def port(self) -> int | str:
        return self.rotation.current.port

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def lag(self) -> float | None:
        """The round trip of the last answered ping, in seconds."""
        return self.session.lag

    async def run(self) -> None:
        """Connect and keep reconnecting until `close()`; returns when closed or fatally failed.

        A refused password stops the reconnecting (retrying it would only earn more penalties): the
        client emits `PasswordNeeded` and waits for `set_password()`.
        """
        loop = asyncio.get_running_loop()
        try:
            for server in self.rotation.servers:
                check_port(server.port)
        except FatalConnectError as exc:
            self._set_state(ConnectionState.DISCONNECTED, reason=str(exc))
            return
        attempt = 0
        while not self._closing and not self._fatal:
            self._set_state(ConnectionState.CONNECTING, attempt=attempt)
            serial = self._password_serial
            ending = await self._connect_once(check_port(self.port))
            # Where next, and when, is the rotation's decision (failover.py); here it is carried out.
            next_try = self.rotation.ended(ending, loop.time())
            self._fatal = next_try.give_up
            if self._closing or self._fatal:
                break
            if ending.needs_password:
                if serial == self._password_serial:  # no newer password came meanwhile
                    await self._wait_for_password(ending.reason, wrong=ending.wrong_password)
                attempt = 0
                continue
            attempt = next_try.attempt
            await self._wait_before_retry(next_try, ending.reason)
        self._set_state(ConnectionState.DISCONNECTED, reason=self._fatal or "quit")

    def set_password(self, password: str) -> None:
        """Use `password` from the next connection on, and reconnect now if waiting for one."""
        self._password = password or None
        self._password_serial += 1
        self._wake.set()

    def send_message(self, text: str) -> OutgoingLine:
        """Send a chat line (or queue it while disconnected); track it until confirmed."""
        return self._send("message", text)

    def send_action(self, text: str) -> OutgoingLine:
        return self._send("action", text)

    def send_private(self, to: str, text: str) -> OutgoingLine:
        return self._send("private", text, to)

    def change_nick(self, nick: str) -> None:
        """Ask for a new nick; it is also the nick re-claimed after a reconnect."""
        self._write(self.session.change_nick(nick))

    def request_users(self) -> None:
        self._write(self.session.who())

    def reconnect_now(self) -> None:
        """Cut the reconnect countdown short."""
        self._wake.set()

    async def close(self, reason: str = "") -> None:
        """Say goodbye (if connected) and stop reconnecting."""
        self._closing = True
        self._wake.set()
        writer = self._writer
        if writer is not None:
            self._write(self.session.quit(reason))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), 1.0)
            writer.close()

    # -- internals ------------------------------------------------------------------------------

    def _send(self, kind: str, text: str, to: str | None = None) -> OutgoingLine:
        line, data = self.session.send(kind, text, to)
        self._write(data)
        return line

    def _write(self, data: bytes) -> None:
        """Write what the session said to; dropped if the connection is gone (the session
        re-sends what matters on the next one)."""
        writer = self._writer
        if data and writer is not None and not writer.is_closing():
            writer.write(data)

    def _emit(self, event: Event) -> None:
        self.on_event(event)

    def _set_state(self, state: ConnectionState, *, attempt: int = 0,
                   retry_in: float | None = None, reason: str = "") -> None:
        self.state = state
        self._emit(StatusChanged(state, self.host, self.port, attempt, retry_in, reason))

    async def _wait_before_retry(self, next_try: NextTry, reason: str) -> None:
        """Count down to the next attempt, once a second, so the status bar can show it.

        Moving to the next server at once still says so once (with no countdown): the status
        carries the reason the last connection ended, and the address tried next."""
        deadline = time.monotonic() + next_try.delay
        self._wake.clear()
        if next_try.delay <= 0:
            self._set_state(ConnectionState.RECONNECTING, attempt=next_try.attempt, reason=reason)
            return
        while not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._set_state(ConnectionState.RECONNECTING, attempt=next_try.attempt,
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

    def _connection_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        return {"ssl": self.tls, "server_hostname": self.host,
                "ssl_handshake_timeout": self.connect_timeout,
                "ssl_shutdown_timeout": TLS_SHUTDOWN_TIMEOUT}

    async def _connect_once(self, port: int) -> Ending:
        """One connection, from connect to loss; the session says why it ended."""
        loop = asyncio.get_running_loop()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, port, limit=READ_LIMIT, **self._connection_options()),
                self.connect_timeout)
        except (OSError, asyncio.TimeoutError, UnicodeError, ValueError) as exc:
            # UnicodeError: a host name IDNA cannot encode, e.g. "a..b"; say so, do not crash.
            # ValueError: also ssl.SSLCertVerificationError's other base; described above it.
            return self.session.connection_lost(describe_connect_error(exc, self.host, port))
        self._writer = writer
        error: str | None = None
        try:
            self._write(self.session.connection_made(loop.time(), self._password))
            self._arm_timer()
            lines = LineSplitter()
            # Read at network speed: a chunk at a time, every line of it to the session at once
            # (the UI takes its events from a backlog later, a frame at a time).
            while (data := await reader.read(READ_CHUNK)) and self._receive_all(lines.feed(data)):
                # Buffered data would be returned without a pause: let keys and frames in.
                await asyncio.sleep(0)
        except (OSError, asyncio.IncompleteReadError) as exc:
            error = describe_connect_error(exc, self.host, port)
        finally:
            self._writer = None
            self._cancel_timer()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), TLS_SHUTDOWN_TIMEOUT)
        return self.session.connection_lost(error)

    def _receive_all(self, lines: list[bytes] | list[str]) -> bool:
        """Hand the session each line of a read; False when it said to hang up.

        The same as `_carry_out` per line, but the timer is armed once per read, not per line.
        """
        now = asyncio.get_running_loop().time()
        receive, emit, write = self.session.receive, self._emit, self._write
        for line in lines:
            step = receive(line, now)
            if step.data:
                write(step.data)
            if step.welcomed:
                self._welcomed(now)
            for event in step.events:
                emit(event)
            if step.hang_up:
                return False
        self._arm_timer()
        return True

    def _carry_out(self, step: Step) -> bool:
        """Do what the session said; False when it said to hang up."""
        self._write(step.data)
        if step.welcomed:
            self._welcomed(asyncio.get_running_loop().time())
        for event in step.events:
            self._emit(event)
        if step.hang_up:
            return False
        self._arm_timer()
        return True

    def _welcomed(self, now: float) -> None:
        self.rotation.welcomed(now)
        self._set_state(ConnectionState.CONNECTED)

    def _arm_timer(self) -> None:
        """Have `_on_timer` called when the session next needs the time (it rarely changes)."""
        when = self.session.next_timer()
        if when == self._timer_when:
            return
        self._cancel_timer()
        if when is not None:
            self._timer_when = when
            self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_when = None

    def _on_timer(self) -> None:
        self._timer = self._timer_when = None
        if self._carry_out(self.session.tick(asyncio.get_running_loop().time())):
            return
        # The session gave up on this connection (no welcome, or a silent server): cut it; the
        # reading loop then sees the end and asks the session why.
        writer = self._writer
        if writer is not None:
            writer.transport.abort()
