"""The servers the bench can start and measure, by name, and the code that starts and stops them.

A server is started fresh for every measurement, on 127.0.0.1 with port 0. Its stderr goes to a
temporary file (a pipe nobody drains would block a server that logs 10,000 joins); the bench
polls that file for the ``listening on HOST:PORT`` line both selchat-server and the reference
servers print.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

LISTENING = re.compile(r"listening on (\S+):(\d+)")

SELCHAT_BACKENDS = ("select", "poll", "epoll")
# Line-by-line references (framing, one reply per line), then chunk-echo references (one write
# back per received chunk, no framing: echo and upper only).
LINE_REFERENCES = ("asyncio-protocol", "asyncio-streams", "uvloop-protocol", "uvloop-streams")
CHUNK_REFERENCES = ("asyncio-chunk", "uvloop-chunk")
REFERENCE_SERVERS = LINE_REFERENCES + CHUNK_REFERENCES
SELCHAT_SERVERS = tuple(f"selchat-{b}" for b in SELCHAT_BACKENDS)
ALL_SERVERS = SELCHAT_SERVERS + REFERENCE_SERVERS

# select() cannot watch a descriptor numbered FD_SETSIZE (1024) or above.
FD_SETSIZE = 1024
SELCHAT_DEFAULT_MAX_CLIENTS = 10_000

# selchat-server runs with its default flags except this one, which the bench must set:
# - --rate 0 in chat mode: the broadcast senders flood by design, which flood control exists to
#   stop. Echo and upper have no rate limit by default, and loopback peers are not counted
#   against --max-per-ip unless it is given, so those modes run with the defaults as shipped.
SELCHAT_BENCH_FLAGS = {
    "chat": ["--rate", "0"],
    "echo": [],
    "upper": [],
}


@dataclass(frozen=True)
class ServerSpec:
    """A named server the bench knows how to start in echo or chat mode."""

    name: str

    @property
    def is_selchat(self) -> bool:
        return self.name.startswith("selchat-")

    @property
    def backend(self) -> str:
        return self.name.split("-", 1)[1]

    @property
    def modes(self) -> tuple[str, ...]:
        """The server modes this server can run in."""
        if self.name in CHUNK_REFERENCES:
            return ("echo", "upper")
        return ("chat", "echo", "upper")

    @property
    def max_connections(self) -> int | None:
        """How many client connections this server can hold at most, if it has a hard limit."""
        if self.name == "selchat-select":
            return FD_SETSIZE - 24  # listening socket, stdio, selector, and some slack
        return None

    def command(self, mode: str, max_clients: int | None = None) -> list[str]:
        if self.is_selchat:
            cmd = [sys.executable, "-m", "selchat.server", "--host", "127.0.0.1", "--port", "0",
                   "--mode", mode, "--backend", self.backend] + SELCHAT_BENCH_FLAGS[mode]
            if max_clients is not None and max_clients > SELCHAT_DEFAULT_MAX_CLIENTS:  # the 10,000-client join storm and idle runs
                cmd += ["--max-clients", str(max_clients)]
            return cmd
        loop, style = self.name.split("-")
        return [sys.executable, "-m", "selchat.bench.reference_servers", "--host", "127.0.0.1",
                "--port", "0", "--mode", mode, "--style", style, "--loop", loop]

    def unavailable_reason(self) -> str | None:
        """Why this server cannot run here, or None when it can."""
        if self.name.startswith("uvloop-") and importlib.util.find_spec("uvloop") is None:
            return "uvloop not installed (uv sync --extra bench)"
        return None


def expand_server_names(names: list[str]) -> list[ServerSpec]:
    """Turn user-given names (with the groups ``all``, ``selchat``, ``reference``) into specs."""
    groups = {"all": ALL_SERVERS, "selchat": SELCHAT_SERVERS, "reference": REFERENCE_SERVERS}
    result: list[ServerSpec] = []
    for raw in names:
        for name in raw.split(","):
            name = name.strip()
            if not name:
                continue
            for member in groups.get(name, (name,)):
                if member not in ALL_SERVERS:
                    raise ValueError(f"unknown server {member!r}; known: {', '.join(ALL_SERVERS)}")
                if ServerSpec(member) not in result:
                    result.append(ServerSpec(member))
    return result


@dataclass
class RunningServer:
    """A server process the bench started: its address, pid and log."""

    spec: ServerSpec
    proc: subprocess.Popen
    host: str
    port: int
    log_path: str

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(spec: ServerSpec, mode: str, *, max_clients: int | None = None, cpu: int | None = None,
                 extra_args: list[str] | None = None, timeout: float = 15.0) -> RunningServer:
    """Start `spec` in `mode` and return once it listens; pin it to `cpu` when given."""
    cmd = spec.command(mode, max_clients) + list(extra_args or [])
    log_fd, log_path = tempfile.mkstemp(prefix=f"selchat-bench-{spec.name}-", suffix=".log")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, env=env)
    finally:
        os.close(log_fd)
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(proc.pid, {cpu})
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            match = LISTENING.search(f.read())
        if match:
            return RunningServer(spec, proc, match.group(1), int(match.group(2)), log_path)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    with open(log_path, errors="replace") as f:
        log = f.read()
    os.unlink(log_path)
    raise RuntimeError(f"{spec.name} did not start ({' '.join(cmd)}):\n{log[-2000:]}")
