"""End to end in a real terminal: tmux runs `selchat`, a raw text-dialect client shares the room."""

import sys

import pytest

from lineclient import text_user
from requirements import require_program
from tmuxterm import Tmux


@pytest.fixture(autouse=True)
def tmux_installed():
    require_program("tmux")


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
        tmux.type("hello from the tui")
        assert nc.expect("hello from the tui") == "<tuiuser> hello from the tui"
        nc.send_line("hello from nc")
        tmux.wait_for("<rawuser> hello from nc")
        tmux.wait_for("✓ <tuiuser> hello from the tui")
        tmux.type("/quit see you")
        nc.expect("tuiuser has left")
    finally:
        tmux.kill()
        nc.close()
