"""End to end in a real terminal: tmux runs `selchat`, a raw text-dialect client shares the room."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One detached tmux session on a private server socket, so no other tmux is touched."""

    def __init__(self, command: list[str], width: int = 100, height: int = 30) -> None:
        self.socket_name = f"selchat-test-{os.getpid()}-{time.monotonic_ns()}"
        self.run("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height),
                 " ".join(command))

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket_name, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} never appeared; screen:\n{screen}")
            time.sleep(0.05)  # polling the pane with a deadline, not sleeping as a guess

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket_name, "kill-server"], capture_output=True,
                       timeout=10)


class TextClient:
    """An `nc`-style client of the text dialect."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buffer = b""

    def send_line(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def wait_for_line(self, text: str, timeout: float = 10.0) -> str:
        """Read lines until one contains `text`; return it (earlier lines are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode(errors="replace").rstrip("\r")
                if text in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line with {text!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def test_tui_and_raw_client_chat_in_tmux(run_server):
    server = run_server()
    nc = TextClient(server.host, server.port)
    nc.send_line("/nick rawuser")
    nc.wait_for_line("rawuser")
    command = [sys.executable, "-m", "selchat.client", "--host", server.host,
               "--port", str(server.port), "--nick", "tuiuser"]
    tmux = Tmux(command)
    try:
        tmux.wait_for("connected  │")
        tmux.wait_for("rawuser")  # in the user list
        nc.wait_for_line("tuiuser has joined")
        tmux.run("send-keys", "-t", "main", "-l", "hello from the tui")
        tmux.run("send-keys", "-t", "main", "Enter")
        assert nc.wait_for_line("hello from the tui") == "<tuiuser> hello from the tui"
        nc.send_line("hello from nc")
        tmux.wait_for("<rawuser> hello from nc")
        tmux.wait_for("✓ <tuiuser> hello from the tui")
        tmux.run("send-keys", "-t", "main", "-l", "/quit see you")
        tmux.run("send-keys", "-t", "main", "Enter")
        nc.wait_for_line("tuiuser has left")
    finally:
        tmux.kill()
        nc.close()
