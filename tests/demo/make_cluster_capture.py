"""Write docs/images/demo-cluster.txt and .svg: `uv run python tests/demo/make_cluster_capture.py`.

As make_demo_capture.py does for the plain demo: `selchat-demo --cluster` attached inside an outer
tmux on a private socket, as a person's terminal shows it; alice (node n1) and bob (node n2) talk,
and the outer pane is captured once as text and once with colours for Rich to turn into an SVG.
"""

import contextlib
import io
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from demopanes import TMUX, panes_by_role, tmux_clients, wait_for

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"
SESSION = f"selchat-cluster-capture-{os.getpid()}"
WIDTH, HEIGHT = 160, 46
FINISHED = ("✓ <alice> hi bob, this line went through Redis", "✓ <bob> and back again")


@contextlib.contextmanager
def attached(width: int, height: int):
    outer = ["tmux", "-L", f"{SESSION}-outer"]
    command = f"env -u TMUX {shlex.quote(sys.executable)} -m selchat.demo --cluster --session {SESSION}; sleep 30"
    subprocess.run([*outer, "new-session", "-d", "-x", str(width), "-y", str(height), command], check=True)
    try:
        deadline = time.monotonic() + 40
        while not tmux_clients(SESSION):
            if time.monotonic() > deadline:
                raise TimeoutError("the demo never attached")
            time.sleep(0.05)
        yield outer
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True)


def outer_screen(outer: list[str], *flags: str) -> str:
    pane = subprocess.run([*outer, "list-panes", "-F", "#{pane_id}"], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    return subprocess.run([*outer, "capture-pane", "-p", *flags, "-t", pane], capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    try:
        with attached(WIDTH, HEIGHT) as outer:
            roles = panes_by_role(SESSION)
            alice, bob = roles["client"]
            for pane in (alice, bob):
                wait_for(pane, "connected  │", 40)
            TMUX.send_line(alice, "hi bob, this line went through Redis")
            wait_for(bob, "<alice> hi bob")
            TMUX.send_line(bob, "and back again")
            wait_for(alice, "<bob> and back again")
            wait_for(roles["redis"][0], "message bob@n2: and back again")
            deadline = time.monotonic() + 30
            while True:
                plain = outer_screen(outer)
                if all(text in plain for text in FINISHED):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("the TUIs never drew their last lines:\n" + plain)
                time.sleep(0.05)
            coloured = outer_screen(outer, "-e")
    finally:
        TMUX.kill_session(SESSION)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "demo-cluster.txt").write_text("\n".join(line.rstrip() for line in plain.splitlines()) + "\n")
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    console.print(Text.from_ansi(coloured.rstrip("\n")), no_wrap=True, overflow="crop")
    console.save_svg(str(OUT / "demo-cluster.svg"), title="selchat-demo --cluster")


if __name__ == "__main__":
    main()
