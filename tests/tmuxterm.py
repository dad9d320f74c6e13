"""A program in a real terminal for end-to-end tests: a detached tmux session on a private
server socket (so no other tmux is touched), typed into with send-keys and read with capture-pane."""

from __future__ import annotations

import os
import subprocess
import time


# pytest exports COLUMNS=80 and LINES=24; reaching the pane (tmux's server passes its own
# environment on) they override the pane's real size, and a TUI draws at 80x24 whatever was asked.
SIZE_VARIABLES = ("COLUMNS", "LINES")


class Tmux:
    """One detached tmux session running `command`, in a pane of `width` x `height`."""

    def __init__(self, command: list[str], width: int = 100, height: int = 30) -> None:
        self.socket_name = f"selchat-test-{os.getpid()}-{time.monotonic_ns()}"
        self.environment = {name: value for name, value in os.environ.items() if name not in SIZE_VARIABLES}
        self.run("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), " ".join(command))

    def run(self, *args: str) -> str:
        # The first command starts the private server, which keeps this environment for every pane.
        return subprocess.run(["tmux", "-L", self.socket_name, *args], check=True,
                              capture_output=True, text=True, timeout=10, env=self.environment).stdout

    def type(self, line: str) -> None:
        """Type `line` literally, then Enter."""
        self.run("send-keys", "-t", "main", "-l", line)
        self.run("send-keys", "-t", "main", "Enter")

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
        subprocess.run(["tmux", "-L", self.socket_name, "kill-server"], capture_output=True, timeout=10)
