"""A throwaway redis-server for the cluster bench and demo, and a tiny blocking RESP client to ask it things.

The server runs on a free 127.0.0.1 port with `--save '' --appendonly no` in a temporary
directory (nothing persists, nothing is read back); it counts as up once its log says it is
ready and it answers PING. The client is plain RESP2 over a blocking socket, with no hiredis: it
is for the bench's and the demo's own questions (INFO, CLIENT LIST, XLEN, ZRANGE, HGETALL), never
for the code under test, and it must work where hiredis is not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from typing import Any

INSTALL_HINT = """\
redis-server is not installed (not on PATH). The cluster bench and demo start their own one.
Install it, then run again:
    Debian, Ubuntu:  sudo apt install redis-server
    Fedora:          sudo dnf install redis
    Arch:            sudo pacman -S redis
    macOS:           brew install redis
Or name another build with SELCHAT_REDIS_SERVER=/path/to/redis-server."""


class RedisMissing(RuntimeError):
    """No redis-server to start; the message says how to install one."""


class RedisReplyError(RuntimeError):
    """Redis answered a command with an error reply."""


def redis_server_path() -> str | None:
    """$SELCHAT_REDIS_SERVER if set, else redis-server on PATH or in the usual places."""
    wanted = os.environ.get("SELCHAT_REDIS_SERVER")
    if wanted:
        return wanted if os.access(wanted, os.X_OK) else None
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)), None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RedisProcess:
    """A child redis-server on 127.0.0.1 that keeps nothing on disk."""

    def __init__(self, executable: str | None = None, directory: str | None = None,
                 start_timeout: float = 20.0) -> None:
        found = executable or redis_server_path()
        if found is None:
            raise RedisMissing(INSTALL_HINT)
        self.executable = found
        # A directory of our own is removed at stop(); one we are given belongs to the caller
        # (the tests restart Redis in it).
        self._own_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="selchat-redis-")
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.start_timeout = start_timeout  # a server that says nothing is killed after this

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command_line(self, port: int) -> list[str]:
        return [self.executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.directory, "--logfile", ""]

    def start(self, port: int | None = None) -> "RedisProcess":
        for _attempt in range(5):
            self.port = port or free_port()
            self.process = subprocess.Popen(self.command_line(self.port), stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            log = []
            # Reading the log blocks until Redis says something; one that hangs silent is
            # killed at the deadline, which ends the log and so the loop.
            deadline = threading.Timer(self.start_timeout, self.process.kill)
            deadline.start()
            try:
                for line in self.process.stdout:
                    log.append(line)
                    if "Ready to accept connections" in line:
                        break
                else:
                    self.process.wait()
                    if not deadline.is_alive():
                        raise RuntimeError(f"redis-server was not ready within {self.start_timeout:g} s:\n"
                                           + "".join(log[-20:]))
                    if port is None and any("Address already in use" in line for line in log):
                        continue  # lost the race for the free port: pick another
                    raise RuntimeError("redis-server did not start:\n" + "".join(log[-20:]))
            finally:
                deadline.cancel()
            # Nobody reads the log from here on; closing it means Redis never blocks on a full pipe.
            self.process.stdout.close()
            with RedisClient(self.port) as client:
                client.call("PING")
            return self
        raise RuntimeError("no free port for redis-server after 5 attempts")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "RedisProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def encode_command(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RedisClient:
    """One blocking RESP2 connection: `call(*args)` sends a command and returns its decoded reply.

    Bulk strings come back as `str` (UTF-8, undecodable bytes replaced); an error reply raises
    `RedisReplyError`.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def call(self, *args: Any) -> Any:
        self.sock.sendall(encode_command(args))
        reply = self._reply()
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buffer += chunk

    def _reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buffer) < size + 2:
                self._fill()
            data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
            return data.decode(errors="replace")
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ConnectionError(f"not a RESP2 reply: {line[:40]!r}")

    def info(self, section: str) -> dict[str, str]:
        """INFO `section` as a dict of its `key:value` lines."""
        text = self.call("INFO", section)
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and not key.startswith("#"):
                fields[key] = value
        return fields

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RedisClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
