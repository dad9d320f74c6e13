"""End to end in a real terminal, on a real cluster: two selchat-server nodes share one room
through a real redis-server; `selchat --server A --server B` runs in tmux on node A while bob,
on node B, talks.  Node A is SIGKILLed while bob talks and the TUI user types: the TUI lands on B,
and every line is shown exactly once, in order, on both sides (the TUI's --log-file holds every
line it showed, so lines scrolled off the pane are checked too)."""

import contextlib
import re
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest

from lineclient import text_user
from requirements import require_program
from tmuxterm import Tmux

sys.path.insert(0, str(Path(__file__).parents[1] / "server" / "cluster"))  # the Redis fixture
from redis_fixture import redis_server  # noqa: E402,F401  (a fixture)


@pytest.fixture(autouse=True)
def tmux_installed():
    require_program("tmux")


def start_node(run_server, redis, node_id):
    node = run_server("--broker", redis.url, "--node-id", node_id)
    node.wait_for_log(rf"cluster: node {node_id} ready")
    return node


class OneWayProxy:
    """A TCP relay to `target` whose server-to-client direction can be muted: the client's lines
    still reach the server, which takes them, but its answers never come back.  That is a node
    dying after it stored a line and before its copy reached the client."""

    def __init__(self, target):
        self.target = target
        self.muted = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                try:
                    upstream = socket.create_connection(self.target)
                except OSError:
                    client.close()  # the node is gone: refused, as it would be
                    continue
                self.sockets += [client, upstream]
                threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client, self.muted), daemon=True).start()

    @staticmethod
    def _pump(source, sink, muted):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if muted is None or not muted.is_set():
                    sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # pass the end on

    def close(self):
        for sock in self.sockets:
            sock.close()


def said(lines, prefix):
    """The texts `prefix N` in these lines, in the order they appear."""
    return [m.group(0) for line in lines for m in [re.search(rf"\b{prefix} \d+\b", line)] if m]


def test_a_killed_node_loses_and_doubles_nothing(run_server, redis_server, tmp_path):
    a, b = start_node(run_server, redis_server, "A"), start_node(run_server, redis_server, "B")
    bob = text_user(b.address, "bob")
    to_a = OneWayProxy(a.address)  # the TUI reaches node A through it
    transcript = tmp_path / "tui.log"
    command = [sys.executable, "-m", "selchat.client",
               "--nick", "tuiuser", "--log-file", str(transcript),
               "--server", f"127.0.0.1:{to_a.port}", "--server", f"{b.host}:{b.port}"]
    tmux = Tmux(command, width=160, height=50)
    try:
        tmux.wait_for(f"connected  │ 127.0.0.1:{to_a.port}")
        bob.expect("tuiuser has joined")
        for n in range(1, 6):
            bob.send_line(f"bob {n}")
        tmux.wait_for("<bob> bob 5")
        for n in range(1, 4):
            tmux.type(f"tui {n}")
        tmux.wait_for("✓ <tuiuser> tui 3")

        # Node A takes "tui 4" (bob hears it) and dies before its copy reaches the TUI: B will
        # replay it to the TUI without its id, and answer its re-send with the stored copy.
        to_a.muted.set()
        tmux.type("tui 4")
        bob.expect(r"^<tuiuser> tui 4$")
        a.proc.send_signal(signal.SIGKILL)
        for n in range(6, 16):  # bob talks on while the TUI has no node
            bob.send_line(f"bob {n}")
        for n in range(5, 8):  # and the TUI user types on
            tmux.type(f"tui {n}")

        tmux.wait_for(f"now on {b.host}:{b.port} (failed over from 127.0.0.1:{to_a.port})")
        tmux.wait_for(f"connected  │ {b.host}:{b.port}")
        bob.send_line("bob 16")
        tmux.wait_for("<bob> bob 16")
        tmux.wait_for("✓ <tuiuser> tui 7", timeout=30)
        for n in range(5, 8):
            bob.expect(rf"^<tuiuser_?> tui {n}$")
        bob.send_line("/who")  # everything the TUI sent has reached bob by the time this answers
        bob.expect(r"here:|users")
        screen = tmux.screen()
    finally:
        tmux.kill()
        bob.close()
        to_a.close()

    shown = transcript.read_text().splitlines()
    assert said(shown, "bob") == [f"bob {n}" for n in range(1, 17)], shown  # none missed, none twice
    assert said(shown, "tui") == [f"tui {n}" for n in range(1, 8)], shown
    assert "history started over" not in screen and "were missed" not in screen
    heard_by_bob = said(bob.lines, "tui")
    assert heard_by_bob == [f"tui {n}" for n in range(1, 8)], bob.lines  # the cluster stored each once
