"""Drive a running selchat-demo from outside, as test_demo.py and make_demo_capture.py do.

Plain tmux commands go through the demo's own thin `Tmux` wrapper; what is here is what only a
test or a script needs: finding panes by role, waiting for a pattern, attaching in a terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Iterator

from selchat.demo.layout import ROLE_OPTION
from selchat.demo.tmux import Tmux

TMUX = Tmux()
# Polls of a pane, not guesses: each wait ends as soon as the text shows.
LINE_TIMEOUT = 20.0


def panes_by_role(session: str) -> dict[str, list[str]]:
    """Pane ids of the demo's session by their `@selchat-role`, in tmux's order."""
    roles: dict[str, list[str]] = {}
    listing = TMUX.run("list-panes", "-t", f"={session}:", "-F", f"#{{{ROLE_OPTION}}} #{{pane_id}}")
    for line in listing.splitlines():
        role, pane = line.split()
        roles.setdefault(role, []).append(pane)
    return roles


def wait_for(pane: str, pattern: str, timeout: float = LINE_TIMEOUT) -> str:
    """Poll the pane's screen until `pattern` (a regex) matches; return the screen."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        screen = TMUX.capture(pane)
        if regex.search(screen):
            return screen
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pattern!r} never appeared in pane {pane}; screen:\n{screen}")
        time.sleep(0.05)


def tmux_clients(session: str) -> list[str]:
    """The terminals attached to the session (none if it does not exist)."""
    listed = subprocess.run(["tmux", "list-clients", "-t", f"={session}"], capture_output=True, text=True)
    return listed.stdout.splitlines() if listed.returncode == 0 else []


@contextlib.contextmanager
def attached_in_a_terminal(session: str, width: int, height: int, timeout: float,
                           demo_args: str = "") -> Iterator[list[str]]:
    """Run `selchat-demo [DEMO_ARGS] --session NAME` attached, as in a person's terminal; yield once
    attached.

    The terminal is an outer tmux on a private socket; what is yielded is its command prefix
    (`tmux -L ...`), to capture it. Its pane lingers after the demo exits, and the outer tmux is
    killed (and its socket file removed) on the way out; removing the demo's own session is the
    caller's business.
    """
    outer = ["tmux", "-L", f"{session}-outer"]
    command = f"env -u TMUX {shlex.quote(sys.executable)} -m selchat.demo {demo_args} --session {session}; sleep 30"
    subprocess.run([*outer, "new-session", "-d", "-x", str(width), "-y", str(height), command], check=True,
                   timeout=10)
    socket_path = subprocess.run([*outer, "display-message", "-p", "#{socket_path}"], capture_output=True,
                                 text=True, timeout=10).stdout.strip()
    try:
        deadline = time.monotonic() + timeout
        while not tmux_clients(session):
            if time.monotonic() > deadline:
                raise TimeoutError("the demo never attached")
            time.sleep(0.05)
        yield outer
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True, timeout=10)
        if socket_path:  # kill-server leaves the socket file behind
            with contextlib.suppress(OSError):
                os.unlink(socket_path)


def outer_screen(outer: list[str], *flags: str) -> str:
    """What the outer terminal shows (`-e` for its colours too)."""
    pane = subprocess.run([*outer, "list-panes", "-F", "#{pane_id}"], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    return subprocess.run([*outer, "capture-pane", "-p", *flags, "-t", pane], capture_output=True, text=True,
                          check=True).stdout


def screen_once_drawn(outer: list[str], done, timeout: float = 30) -> tuple[str, str]:
    """The terminal's text and coloured capture once `done(text)`: it redraws a moment after the
    demo's panes do."""
    deadline = time.monotonic() + timeout
    while True:
        plain = outer_screen(outer)
        if done(plain):
            return plain, outer_screen(outer, "-e")
        if time.monotonic() > deadline:
            raise TimeoutError("the TUIs never drew their last lines:\n" + plain)
        time.sleep(0.05)


def save_capture(plain: str, coloured: str, stem: str, width: int, title: str) -> None:
    """docs/images/STEM.txt (the text) and STEM.svg (the colours, through Rich)."""
    import io
    from pathlib import Path

    from rich.console import Console
    from rich.text import Text

    out = Path(__file__).resolve().parents[2] / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.txt").write_text("\n".join(line.rstrip() for line in plain.splitlines()) + "\n")
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    console.print(Text.from_ansi(coloured.rstrip("\n")), no_wrap=True, overflow="crop")
    console.save_svg(str(out / f"{stem}.svg"), title=title)


def process_ended(pid: int, timeout: float = 10.0) -> bool:
    """Whether process `pid` is gone within `timeout` (polled: a pid has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
