"""Keys that come faster than the app takes them (a paste tool, a chorded keyboard, a loaded
machine): every typed line still reaches the room exactly once, in order, and whole."""

import sys

import pytest

from lineclient import text_user
from requirements import require_program
from tmuxterm import Tmux


@pytest.fixture(autouse=True)
def tmux_installed():
    require_program("tmux")


def test_lines_typed_in_one_burst_arrive_each_once_in_order(run_server):
    server = run_server()
    nc = text_user(server.address, "rawuser")
    command = [sys.executable, "-m", "selchat.client", "--host", server.host,
               "--port", str(server.port), "--nick", "tuiuser"]
    tmux = Tmux(command)
    try:
        tmux.wait_for("connected  │")
        nc.expect("tuiuser has joined")
        typed = [f"burst line {n}" for n in range(12)]
        keys: list[str] = []
        for line in typed:
            keys += [line, "Enter"]
        # One send-keys: tmux writes the whole burst into the pane at once, as a fast typist's
        # keys pile up behind a busy loop.  A BSpace and a Left among them must apply in place too.
        keys += ["fixx", "BSpace", "ed", *["Left"] * 5, "-", "Enter"]
        tmux.run("send-keys", "-t", "main", *keys)
        tmux.type("the end")  # after the burst: everything before it has been sent
        nc.expect("the end")
        said = [line.removeprefix("<tuiuser> ") for line in nc.lines if line.startswith("<tuiuser> ")]
        assert said == typed + ["-fixed", "the end"]
    finally:
        tmux.kill()
        nc.close()
