"""A blocking line client for tests: it talks to the server as `nc` would."""

from __future__ import annotations

import json
import re
import socket
import ssl
import struct
import time


class LineClient:
    """Sends lines and waits, with a deadline, for lines that match."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=address[0])
        self.timeout = timeout
        self._buffer = b""
        self.lines: list[str] = []  # every line received so far
        self._cursor = 0  # lines before this have been consumed by expect()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def send_line(self, text: str) -> None:
        self.send(text + "\n")

    def send_json(self, obj: dict) -> None:
        self.send(json.dumps(obj) + "\n")

    def _receive(self, deadline: float) -> bool:
        """Read once; False on EOF."""
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines.extend(line.decode("utf-8", "replace") for line in complete)
        return True

    def expect(self, pattern: str, timeout: float | None = None) -> str:
        """Wait for the next line (after those already matched) that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for index in range(self._cursor, len(self.lines)):
                if regex.search(self.lines[index]):
                    self._cursor = index + 1
                    return self.lines[index]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no line matched {pattern!r}; got: {self.lines[self._cursor:]}")
            try:
                if not self._receive(deadline):
                    raise EOFError(f"closed before a line matched {pattern!r}; got: {self.lines[self._cursor:]}")
            except socket.timeout:
                continue

    def expect_json(self, kind: str, timeout: float | None = None, **fields) -> dict:
        """Wait for a JSON event of this type whose fields include `fields`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            line = self.expect(r'^\{', max(0.001, deadline - time.monotonic()))
            event = json.loads(line)
            if event.get("type") == kind and all(event.get(k) == v for k, v in fields.items()):
                return event

    def read_until_closed(self, timeout: float | None = None) -> list[str]:
        """Read until the server closes; return every line received."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._receive(deadline):
            if time.monotonic() >= deadline:
                raise TimeoutError("server did not close the connection")
        return self.lines

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "LineClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN and drops unsent data."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def stalled_reader(address: tuple[str, int], nick: str = "stalled") -> socket.socket:
    """A client that joins and then never reads: a small receive buffer, set before connecting."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(address)
    sock.sendall(f"/nick {nick}\n".encode())
    return sock


def text_user(address: tuple[str, int], nick: str, **kwargs) -> LineClient:
    """Connect as a text user, wait for the greeting, and take `nick`."""
    client = LineClient(address, **kwargs)
    client.expect(r"^\*\*\* welcome")
    client.send_line(f"/nick {nick}")
    client.expect(rf"is now known as {nick}$")
    return client


def json_client(address: tuple[str, int], nick: str | None = None) -> tuple[LineClient, dict]:
    """Connect, say hello in JSON, and return the client with its welcome event."""
    client = LineClient(address)
    hello = {"type": "hello", "protocol": 1}
    if nick:
        hello["nick"] = nick
    client.send_json(hello)
    return client, client.expect_json("welcome")
