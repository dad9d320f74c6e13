"""Write docs/images/demo-cluster.txt and .svg: `uv run python tests/demo/make_cluster_capture.py`.

As make_demo_capture.py does for the plain demo: `selchat-demo --cluster` attached inside an outer
tmux on a private socket, as a person's terminal shows it; alice (node n1) and bob (node n2) talk,
and the outer pane is captured once as text and once with colours for Rich to turn into an SVG.
"""

import os

from demopanes import TMUX, attached_in_a_terminal, panes_by_role, save_capture, screen_once_drawn, wait_for

SESSION = f"selchat-cluster-capture-{os.getpid()}"
WIDTH, HEIGHT = 160, 46
FINISHED = ("✓ <alice> hi bob, this line went through Redis", "✓ <bob> and back again")


def main() -> None:
    try:
        with attached_in_a_terminal(SESSION, WIDTH, HEIGHT, timeout=40, demo_args="--cluster") as outer:
            roles = panes_by_role(SESSION)
            alice, bob = roles["client"]
            for pane in (alice, bob):
                wait_for(pane, "connected  │", 40)
            TMUX.send_line(alice, "hi bob, this line went through Redis")
            wait_for(bob, "<alice> hi bob")
            TMUX.send_line(bob, "and back again")
            wait_for(alice, "<bob> and back again")
            wait_for(roles["redis"][0], "message bob@n2: and back again")
            plain, coloured = screen_once_drawn(outer, lambda plain: all(text in plain for text in FINISHED))
    finally:
        TMUX.kill_session(SESSION)
    save_capture(plain, coloured, "demo-cluster", WIDTH, "selchat-demo --cluster")


if __name__ == "__main__":
    main()
