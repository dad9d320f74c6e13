"""Start a real selchat-server on an ephemeral loopback port, for tests.

The server prints `listening on HOST:PORT (...)` to stderr once it accepts connections; we wait
for that line rather than sleeping.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

LISTENING = re.compile(r"listening on (\S+):(\d+) ")
IRC_LISTENING = re.compile(r"irc on (\S+):(\d+) ")  # logged before LISTENING with --irc-port


@dataclass
class ServerProcess:
    """A running server and the log lines it has written so far."""

    proc: subprocess.Popen
    host: str
    port: int
    log: list[str]  # appended by a reader thread; it notifies `log_changed` each time
    log_changed: threading.Condition

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def irc_port(self) -> int:
        """The IRC port of a server started with `--irc-port` (it logs it before listening)."""
        with self.log_changed:
            for line in self.log:
                if m := IRC_LISTENING.search(line):
                    return int(m.group(2))
        raise LookupError("this server logged no IRC port (start it with --irc-port 0)")

    @property
    def irc_address(self) -> tuple[str, int]:
        return (self.host, self.irc_port)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> str:
        """Block until a log line matches `pattern` (a regex); return that line."""
        regex = re.compile(pattern)
        with self.log_changed:
            ok = self.log_changed.wait_for(
                lambda: any(regex.search(line) for line in self.log), timeout
            )
            if not ok:
                raise TimeoutError(f"no log line matched {pattern!r}; log:\n" + "\n".join(self.log))
            return next(line for line in self.log if regex.search(line))

    def errors(self) -> list[str]:
        """Log lines at ERROR level, and tracebacks: a healthy run has none."""
        return [line for line in self.log if " ERROR " in line or "Traceback" in line]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(*args: str, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> ServerProcess:
    """Run `python -m selchat.server --host HOST --port PORT *args` and wait until it listens."""
    cmd = [sys.executable, "-m", "selchat.server", "--host", host, "--port", str(port), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    log: list[str] = []
    cond = threading.Condition()
    address: list[tuple[str, int]] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with cond:
                log.append(line.rstrip("\n"))
                if not address and (m := LISTENING.search(line)):
                    address.append((m.group(1), int(m.group(2))))
                cond.notify_all()
        with cond:
            cond.notify_all()

    threading.Thread(target=pump, daemon=True).start()
    with cond:
        if not cond.wait_for(lambda: address or proc.poll() is not None, timeout) or not address:
            proc.kill()
            raise RuntimeError("server did not start; log:\n" + "\n".join(log))
    return ServerProcess(proc, address[0][0], address[0][1], log, cond)
