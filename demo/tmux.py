"""A thin layer over the `tmux` command line: the few commands the demo needs, by name.

Sessions are always addressed as `=NAME`, which tmux matches exactly; a bare `NAME` would also
match any session whose name merely starts with it.
"""

from __future__ import annotations

import shutil
import subprocess
import time

INSTALL_HINT = """\
selchat-demo needs tmux to lay the terminals out, and tmux is not installed (not on PATH).
Install it, then run selchat-demo again:
    Debian, Ubuntu:  sudo apt install tmux
    Fedora:          sudo dnf install tmux
    Arch:            sudo pacman -S tmux
    macOS:           brew install tmux
    Windows:         use WSL and install it there
Or do the demo by hand, one terminal each:
    selchat-server --trace
    selchat --nick alice
    selchat --nick bob
    nc 127.0.0.1 8081"""

COMMAND_TIMEOUT = 10.0


class TmuxError(Exception):
    """A tmux command failed; the message is tmux's own."""


def find_tmux() -> str | None:
    """The tmux executable, or None if it is not installed."""
    return shutil.which("tmux")


class Tmux:
    """Runs tmux commands against the user's default tmux server."""

    def __init__(self, executable: str = "tmux") -> None:
        self.executable = executable

    def run(self, *args: str) -> str:
        """Run one tmux command; return its output, or raise `TmuxError` with tmux's message."""
        try:
            done = subprocess.run([self.executable, *args], capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TmuxError(f"tmux {args[0]} did not answer within {COMMAND_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            raise TmuxError(done.stderr.strip() or f"tmux {args[0]} failed ({done.returncode})")
        return done.stdout

    # --- sessions ------------------------------------------------------------------------

    def _succeeds(self, *args: str) -> bool:
        """Run one tmux command; whether it succeeded (tmux's message is not wanted)."""
        try:
            self.run(*args)
        except TmuxError:
            return False
        return True

    def has_session(self, name: str) -> bool:
        return self._succeeds("has-session", "-t", f"={name}")

    def kill_session(self, name: str) -> bool:
        """Kill the session (its processes get SIGHUP); False if there was none."""
        return self._succeeds("kill-session", "-t", f"={name}")

    def new_session(self, name: str, width: int, height: int, window_name: str, command: list[str]) -> str:
        """A detached session whose one pane runs `command` (argv, no shell); returns the pane id."""
        return self.run("new-session", "-d", "-s", name, "-n", window_name, "-x", str(width),
                        "-y", str(height), "-P", "-F", "#{pane_id}", *command).strip()

    def attach(self, name: str) -> int:
        """Attach this terminal to the session until the user detaches; returns tmux's status."""
        return subprocess.run([self.executable, "attach-session", "-t", f"={name}"]).returncode

    def switch_to(self, name: str) -> None:
        """From inside tmux: show the session in this client instead of nesting a second tmux."""
        self.run("switch-client", "-t", f"={name}")

    # --- panes ---------------------------------------------------------------------------

    def split(self, pane: str, command: list[str], *, side: str, percent: int, full: bool = False) -> str:
        """Split `pane`; the new pane, `percent` of it, goes to `side` (above/below/left/right).

        With `full`, the new pane spans the whole window's width (or height) rather than the
        pane's. Returns the new pane's id.
        """
        flags = {"above": ["-v", "-b"], "below": ["-v"], "left": ["-h", "-b"], "right": ["-h"]}[side]
        if full:
            flags.append("-f")
        return self.run("split-window", *flags, "-t", pane, "-l", f"{percent}%", "-P", "-F",
                        "#{pane_id}", *command).strip()

    def respawn(self, pane: str, command: list[str]) -> None:
        """Replace the pane's program with `command`, keeping the pane where and as big as it is."""
        self.run("respawn-pane", "-k", "-t", pane, *command)

    def capture(self, pane: str) -> str:
        """The text now visible in the pane."""
        return self.run("capture-pane", "-p", "-t", pane)

    def pane_value(self, pane: str, variable: str) -> str:
        """A format variable of the pane, e.g. `pane_pid` or `pane_dead`."""
        return self.run("display-message", "-p", "-t", pane, f"#{{{variable}}}").strip()

    def send_line(self, pane: str, text: str) -> None:
        """Type `text` into the pane literally, then Enter."""
        self.run("send-keys", "-t", pane, "-l", text)
        self.run("send-keys", "-t", pane, "Enter")

    def wait_for_text(self, pane: str, text: str, timeout: float) -> bool:
        """Poll the pane until `text` shows; False if the deadline passes or the pane's program ends."""
        deadline = time.monotonic() + timeout
        while True:
            if text in self.capture(pane):
                return True
            if time.monotonic() > deadline or self.pane_value(pane, "pane_dead") == "1":
                return False
            time.sleep(0.05)  # polling the screen against a deadline

    def prefix_key(self) -> str:
        """The user's prefix key, as people write it: `Ctrl+B` for tmux's `C-b`."""
        try:
            key = self.run("show-options", "-gv", "prefix").strip()
        except TmuxError:
            key = "C-b"
        if key.startswith("C-") and len(key) == 3:
            return f"Ctrl+{key[2].upper()}"
        return key.replace("C-", "Ctrl+").replace("M-", "Alt+")
