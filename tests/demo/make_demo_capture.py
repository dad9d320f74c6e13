"""Write docs/images/demo.txt and demo.svg: `uv run python tests/demo/make_demo_capture.py`.

tmux cannot capture a whole window, borders and status line included, so the demo is attached
inside an outer tmux on a private socket, as a person's terminal would show it, and the outer
pane is captured: once as plain text, once with its colours for Rich to turn into an SVG.
"""

import io
import os
import subprocess
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from demopanes import TMUX, attached_in_a_terminal, panes_by_role, wait_for

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"
SESSION = f"selchat-demo-capture-{os.getpid()}"
WIDTH, HEIGHT = 160, 44
# What the finished screen shows once every pane has drawn: each TUI's mark on its own line, and
# bob's action in all three chat panes.
FINISHED = ("✓ <alice> hi carol", "✓ * bob waves")


def outer_screen(outer: list[str], *flags: str) -> str:
    pane = subprocess.run([*outer, "list-panes", "-F", "#{pane_id}"], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    return subprocess.run([*outer, "capture-pane", "-p", *flags, "-t", pane], capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    try:
        with attached_in_a_terminal(SESSION, WIDTH, HEIGHT, timeout=30) as outer:
            roles = panes_by_role(SESSION)
            raw, (alice, bob) = roles["raw"][0], roles["client"]
            wait_for(raw, "is now known as carol", 30)
            for pane in (alice, bob):
                wait_for(pane, "connected  │", 30)
            TMUX.send_line(raw, "hello from a raw TCP client")
            wait_for(alice, "<carol> hello from a raw TCP client")
            TMUX.send_line(alice, "hi carol! alice here, in the TUI")
            wait_for(raw, "<alice> hi carol")
            TMUX.send_line(bob, "/me waves")
            wait_for(raw, r"\* bob waves")
            TMUX.send_line(raw, "/who")
            wait_for(raw, "3 users here")
            # The capture is of the terminal, which redraws a moment after the demo's panes do.
            deadline = time.monotonic() + 30
            while True:
                plain = outer_screen(outer)
                if all(text in plain for text in FINISHED) and plain.count("* bob waves") == 3:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("the TUIs never drew their last lines:\n" + plain)
                time.sleep(0.05)
            coloured = outer_screen(outer, "-e")
    finally:
        TMUX.kill_session(SESSION)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "demo.txt").write_text("\n".join(line.rstrip() for line in plain.splitlines()) + "\n")
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")
    console.print(Text.from_ansi(coloured.rstrip("\n")), no_wrap=True, overflow="crop")
    console.save_svg(str(OUT / "demo.svg"), title="selchat-demo")


if __name__ == "__main__":
    main()
