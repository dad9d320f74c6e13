"""RESP over a connection the caller owns: commands in, bytes out; bytes in, replies to callbacks.

`RedisLink` is to Redis what `protocol.Connection` is to a chat client: it never touches a
socket. `send()` only appends to an outbound buffer, so every command of one loop turn leaves
in one `send()` syscall; `receive_data()` feeds `hiredis.Reader` and hands each reply to the
callback of the oldest command still waiting (Redis answers a connection's commands in order).
A Redis error reply is passed to the callback as a `ReplyError` value, never raised.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

INSTALL_HINT = "cluster mode needs hiredis: install selchat[cluster] (uv sync --extra cluster)"
DEFAULT_PORT = 6379


class BrokerError(Exception):
    """Base of every failure a callback can be handed instead of a reply."""


class ReplyError(BrokerError):
    """Redis answered with an error reply (`-ERR ...`, `-NOSCRIPT ...`)."""

    @property
    def code(self) -> str:
        """The first word of the error: ERR, NOSCRIPT, WRONGPASS, ..."""
        return str(self).split(" ", 1)[0]


class LinkLost(BrokerError):
    """The connection ended before this command was answered; it may or may not have run."""


class BadBrokerURL(ValueError):
    """A --broker value that is not a usable redis:// or rediss:// URL."""


def load_hiredis():
    """Import hiredis only when cluster mode is used; single-process mode never needs it."""
    try:
        import hiredis
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return hiredis


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr or traceback
    tls: bool = False

    def __str__(self) -> str:  # never print the password
        scheme = "rediss" if self.tls else "redis"
        auth = "***@" if self.password else ""
        return f"{scheme}://{auth}{self.host}:{self.port}/{self.db}"


def _masked(url: str) -> str:
    """The URL as a refusal may quote it: whatever stands before an @ (the password) hidden."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def parse_broker_url(url: str) -> BrokerURL:
    """`redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS."""
    parts = urlsplit(url)
    shown = _masked(url)
    if parts.scheme not in ("redis", "rediss"):
        raise BadBrokerURL(f"broker URL must start with redis:// or rediss://, got {shown!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise BadBrokerURL(f"broker URL has a bad port: {shown!r}") from None
    if not parts.hostname:
        raise BadBrokerURL(f"broker URL has no host: {shown!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise BadBrokerURL(f"broker URL database must be a number (/0 .. /15), got /{path}")
    if parts.query or parts.fragment:
        raise BadBrokerURL(f"broker URL takes no ?query or #fragment: {shown!r}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and password is None:
        # redis://secret@host is the common shorthand for a password with no user name.
        username, password = None, username
    return BrokerURL(
        host=parts.hostname,
        port=port,
        db=int(path) if path else 0,
        username=username,
        password=password,
        tls=parts.scheme == "rediss",
    )


def _as_bytes(arg: Any) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):  # bool is an int: refuse the surprise of b"True"
        raise TypeError("RESP command arguments cannot be bool")
    if isinstance(arg, (int, float)):
        return repr(arg).encode()
    raise TypeError(f"RESP command arguments are bytes, str, int or float, not {type(arg).__name__}")


def encode_command(*args: Any) -> bytes:
    """A RESP array of bulk strings, the only form Redis accepts from clients."""
    if not args:
        raise ValueError("a Redis command needs at least a name")
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _as_bytes(arg)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


Callback = Callable[[Any], None]


class LinkState(Enum):
    OPEN = "open"
    BROKEN = "broken"  # the byte stream is corrupt; the caller must close the socket
    CLOSED = "closed"


class RedisLink:
    """One Redis connection's protocol state: an outbound buffer and a FIFO of callbacks.

    On creation it queues the handshake the URL asks for (HELLO 2 with AUTH, SELECT); the
    handshake's replies go to `on_handshake(error_or_None)`. The caller writes
    `data_to_send()` to the socket, feeds what it reads to `receive_data()`, and calls
    `connection_lost()` when the socket ends. A callback may call `send()` again.
    """

    def __init__(self, url: BrokerURL, name: str = "selchat", on_handshake: Callable | None = None,
                 *, text: bool = False):
        hiredis = load_hiredis()
        # text: bulk strings come as str, decoded in C (bad UTF-8 replaced), not as bytes.
        encoding = {"encoding": "utf-8", "errors": "replace"} if text else {}
        self._reader = hiredis.Reader(replyError=ReplyError, notEnoughData=_NEED_DATA, **encoding)
        self._protocol_error = hiredis.ProtocolError
        self._pack = hiredis.pack_command  # C: ~5 us a post where encode_command takes ~25
        self._outbound: list[bytes] = []
        self._pending: collections.deque[Callback | None] = collections.deque()
        self.state = LinkState.OPEN
        self.broken_reason = ""
        self.replies = 0
        self._on_handshake = on_handshake
        self._handshake_left = 0
        self._handshake(url, name)

    # --- handshake ---------------------------------------------------------------------------
    def _handshake(self, url: BrokerURL, name: str) -> None:
        hello: list[Any] = ["HELLO", "2"]
        if url.password is not None:
            hello += ["AUTH", url.username or "default", url.password]
        hello += ["SETNAME", name]
        steps = [hello] + ([["SELECT", url.db]] if url.db else [])
        self._handshake_left = len(steps)
        for step in steps:
            self.send(step, self._handshake_step)

    def _handshake_step(self, reply: Any) -> None:
        self._handshake_left -= 1
        if isinstance(reply, BrokerError):
            self._handshake_left = 0
            if self._on_handshake:
                self._on_handshake(reply)
            self._on_handshake = None
        elif self._handshake_left == 0 and self._on_handshake:
            self._on_handshake(None)
            self._on_handshake = None

    # --- commands ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Commands sent (or queued) and not answered yet."""
        return len(self._pending)

    def send(self, command: list | tuple, callback: Callback | None = None) -> None:
        """Queue one command; `callback(reply)` runs when its reply (or its failure) arrives."""
        if self.state is not LinkState.OPEN:
            if callback:
                callback(LinkLost(f"broker connection is {self.state.value}: {self.broken_reason}"))
            return
        self._outbound.append(self._pack(command if type(command) is tuple else tuple(command)))
        self._pending.append(callback)

    @property
    def has_data(self) -> bool:
        """Commands queued and not yet taken by data_to_send()."""
        return bool(self._outbound)

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one buffer for one send()."""
        if not self._outbound:
            return b""
        data = b"".join(self._outbound)
        self._outbound.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; each complete reply goes to its callback in order."""
        if self.state is not LinkState.OPEN:
            return
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except self._protocol_error as error:
                self._break(f"protocol error from the broker: {error}")
                return
            if reply is _NEED_DATA:
                return
            if not self._pending:
                self._break("the broker sent a reply nobody asked for")
                return
            self.replies += 1
            callback = self._pending.popleft()
            if callback:
                callback(reply)
            if self.state is not LinkState.OPEN:  # a callback gave up on this link
                return

    def _break(self, reason: str) -> None:
        self.broken_reason = reason
        self.state = LinkState.BROKEN
        self._fail_pending(reason)

    def connection_lost(self, reason: str = "connection closed") -> None:
        """The socket ended: every command still waiting gets a LinkLost, in order."""
        if self.state is LinkState.OPEN:
            self.broken_reason = reason
        self.state = LinkState.CLOSED
        self._fail_pending(reason)

    def _fail_pending(self, reason: str) -> None:
        self._outbound.clear()
        pending, self._pending = self._pending, collections.deque()
        for callback in pending:
            if callback:
                callback(LinkLost(f"broker connection lost before the reply: {reason}"))


_NEED_DATA = object()  # gets() returns False for RESP3 false too, so use a sentinel
