"""End to end in a real terminal: `selchat --server A --server B` in tmux; the server it is on is
killed, and it lands on the other and says so (in the log and in the status bar)."""

import signal
import sys

import pytest

from lineclient import text_user
from requirements import require_program
from tmuxterm import Tmux


@pytest.fixture(autouse=True)
def tmux_installed():
    require_program("tmux")


def test_the_tui_fails_over_to_the_other_server_and_says_so(run_server):
    a, b = run_server(), run_server()
    carol = text_user(b.address, "carol")
    carol.send_line("said on B before the TUI came")
    command = [sys.executable, "-m", "selchat.client",
               "--nick", "tuiuser", "--server", f"{a.host}:{a.port}", "--server", f"{b.host}:{b.port}"]
    tmux = Tmux(command, width=160)  # wide enough that no line the test looks for wraps
    try:
        tmux.wait_for(f"connected  │ {a.host}:{a.port}")
        tmux.type("first line, on A")
        tmux.wait_for("✓ <tuiuser> first line, on A")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        screen = tmux.wait_for(f"now on {b.host}:{b.port} (failed over from {a.host}:{a.port})")
        tmux.wait_for(f"connected  │ {b.host}:{b.port}")
        screen = tmux.wait_for("<carol> said on B before the TUI came")  # B's own history
        assert "the room's history started over" in screen  # another epoch: said, not hidden
        carol.expect("tuiuser has joined")
        tmux.type("second line, on B")
        assert carol.expect("second line") == "<tuiuser> second line, on B"
        carol.send_line("hello from B")
        screen = tmux.wait_for("<carol> hello from B")
        assert screen.count("first line, on A") == 1 and screen.count("said on B before") == 1
    finally:
        tmux.kill()
        carol.close()
