"""End to end in a real terminal: tmux runs `selchat`, a raw text-dialect client shares the room."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from lineclient import text_user

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


def test_tui_and_raw_client_chat_in_tmux(run_server):
    server = run_server()
    nc = text_user(server.address, "rawuser")
    command = [sys.executable, "-m", "selchat.client", "--host", server.host,
               "--port", str(server.port), "--nick", "tuiuser"]
    tmux = Tmux(command)
    try:
        tmux.wait_for("connected  │")
        tmux.wait_for("rawuser")  # in the user list
        nc.expect("tuiuser has joined")
        tmux.run("send-keys", "-t", "main", "-l", "hello from the tui")
        tmux.run("send-keys", "-t", "main", "Enter")
        assert nc.expect("hello from the tui") == "<tuiuser> hello from the tui"
        nc.send_line("hello from nc")
        tmux.wait_for("<rawuser> hello from nc")
        tmux.wait_for("✓ <tuiuser> hello from the tui")
        tmux.run("send-keys", "-t", "main", "-l", "/quit see you")
        tmux.run("send-keys", "-t", "main", "Enter")
        nc.expect("tuiuser has left")
    finally:
        tmux.kill()
        nc.close()
