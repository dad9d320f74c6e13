"""Write docs/images/demo.txt and demo.svg: `uv run python tests/demo/make_demo_capture.py`.

tmux cannot capture a whole window, borders and status line included, so the demo is attached
inside an outer tmux on a private socket, as a person's terminal would show it, and the outer
pane is captured: once as plain text, once with its colours for Rich to turn into an SVG.
"""

import os

from demopanes import TMUX, attached_in_a_terminal, panes_by_role, save_capture, screen_once_drawn, wait_for

SESSION = f"selchat-demo-capture-{os.getpid()}"
WIDTH, HEIGHT = 160, 44
# What the finished screen shows once every pane has drawn: each TUI's mark on its own line, and
# bob's action in all three chat panes.
FINISHED = ("✓ <alice> hi carol", "✓ * bob waves")


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
            plain, coloured = screen_once_drawn(
                outer, lambda plain: all(text in plain for text in FINISHED) and plain.count("* bob waves") == 3)
    finally:
        TMUX.kill_session(SESSION)
    save_capture(plain, coloured, "demo", WIDTH, "selchat-demo")

if __name__ == "__main__":
    main()
