"""Write docs/images/demo.txt and demo.svg: `uv run python tests/demo/make_demo_capture.py`.

tmux cannot capture a whole window, borders and status line included, so the demo is attached
inside an outer tmux on a private socket, as a person's terminal would show it, and the outer
pane is captured: once as plain text, once with its colours for Rich to turn into an SVG.
"""

import io
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"
SESSION = f"selchat-demo-capture-{os.getpid()}"
OUTER = ["tmux", "-L", f"{SESSION}-outer"]
WIDTH, HEIGHT = 160, 44


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def wait_for(pane: str, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in tmux("capture-pane", "-p", "-t", pane):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} never showed in {pane}")
        time.sleep(0.05)


def type_line(pane: str, text: str) -> None:
    tmux("send-keys", "-t", pane, "-l", text)
    tmux("send-keys", "-t", pane, "Enter")


def main() -> None:
    command = f"env -u TMUX {shlex.quote(sys.executable)} -m selchat.demo --session {SESSION}"
    subprocess.run([*OUTER, "new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), command], check=True)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["tmux", "list-clients", "-t", f"={SESSION}"], capture_output=True,
                             text=True).stdout.strip() == "":
            if time.monotonic() > deadline:
                raise TimeoutError("the demo did not attach")
            time.sleep(0.05)
        roles: dict[str, list[str]] = {}
        for line in tmux("list-panes", "-t", f"={SESSION}:", "-F", "#{@selchat-role} #{pane_id}").splitlines():
            role, pane = line.split()
            roles.setdefault(role, []).append(pane)
        raw, (alice, bob) = roles["raw"][0], roles["client"]
        wait_for(raw, "is now known as carol")
        for pane in (alice, bob):
            wait_for(pane, "connected  │")
        type_line(raw, "hello from a raw TCP client")
        wait_for(alice, "<carol> hello from a raw TCP client")
        type_line(alice, "hi carol! alice here, in the TUI")
        wait_for(raw, "<alice> hi carol")
        type_line(bob, "/me waves")
        wait_for(raw, "* bob waves")
        type_line(raw, "/who")
        wait_for(raw, "3 users here")
        time.sleep(0.5)  # let the TUIs draw their last delivery marks
        outer_pane = subprocess.run([*OUTER, "list-panes", "-F", "#{pane_id}"], capture_output=True,
                                    text=True, check=True).stdout.split()[0]
        plain = subprocess.run([*OUTER, "capture-pane", "-p", "-t", outer_pane], capture_output=True,
                               text=True, check=True).stdout
        coloured = subprocess.run([*OUTER, "capture-pane", "-p", "-e", "-t", outer_pane], capture_output=True,
                                  text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={SESSION}"], capture_output=True)
        subprocess.run([*OUTER, "kill-server"], capture_output=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "demo.txt").write_text("\n".join(line.rstrip() for line in plain.splitlines()) + "\n")
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")
    console.print(Text.from_ansi(coloured.rstrip("\n")), no_wrap=True, overflow="crop")
    console.save_svg(str(OUT / "demo.svg"), title="selchat-demo")


if __name__ == "__main__":
    main()
