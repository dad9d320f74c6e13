"""`selchat-demo --cluster` end to end: a line crosses nodes through Redis, a stopped node's users leave."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from demopanes import TMUX, panes_by_role, process_ended, wait_for
from requirements import require, require_program
from selchat.bench.redis import redis_server_path

STARTUP_TIMEOUT = 40.0


def demo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selchat.demo", *args], capture_output=True, text=True,
                          timeout=90, env=env)


@pytest.fixture
def session_name():
    require_program("tmux")
    name = f"selchat-cluster-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    TMUX.kill_session(name)


def test_a_line_crosses_nodes_and_a_stopped_nodes_users_leave(session_name):
    if redis_server_path() is None:
        require("redis-server", "apt-get install redis-server")
    try:
        import hiredis  # noqa: F401
    except ImportError:
        require("hiredis", "uv sync (it is in the dev group; selchat[cluster] for users)")
    started = demo("--cluster", "--detach", "--session", session_name)
    assert started.returncode == 0, started.stderr
    assert "cluster demo runs" in started.stdout

    roles = panes_by_role(session_name)
    assert set(roles) == {"redis", "node", "client", "tips"} and len(roles["node"]) == len(roles["client"]) == 2
    redis, (_, n2), (alice, bob) = roles["redis"][0], roles["node"], roles["client"]
    screen = wait_for(redis, r"members: bob", STARTUP_TIMEOUT)
    redis_pid = int(re.search(r"\(pid (\d+)\)", screen).group(1))
    wait_for(redis, r"members: alice")
    for pane in (alice, bob):
        wait_for(pane, r"\bconnected\b", STARTUP_TIMEOUT)
    assert "node n1" in TMUX.pane_value(alice, "pane_title") and "node n2" in TMUX.pane_value(bob, "pane_title")

    TMUX.send_line(alice, "hello across nodes")
    wait_for(bob, r"<alice> hello across nodes")
    wait_for(redis, r"message alice@n1: hello across nodes")

    TMUX.run("send-keys", "-t", n2, "C-c")  # a graceful stop: its users leave at once
    wait_for(alice, r"bob has left")
    wait_for(redis, r"leave bob@n2")

    stopped = demo("--stop", "--session", session_name)
    assert stopped.returncode == 0, stopped.stderr
    assert process_ended(redis_pid), "redis-server outlived its demo session"


def test_without_redis_server_the_cluster_demo_says_how_to_install_it(session_name, tmp_path):
    env = dict(os.environ, SELCHAT_REDIS_SERVER=str(tmp_path / "no-redis-server"))
    refused = demo("--cluster", "--detach", "--session", session_name, env=env)
    assert refused.returncode == 1
    assert "redis-server is not installed" in refused.stderr and "apt install redis-server" in refused.stderr
    assert "Traceback" not in refused.stderr and not TMUX.has_session(session_name)


def test_each_node_gets_the_broker_its_own_id_and_the_trace_and_clients_alternate_nodes():
    from selchat.demo.cluster import node_command, placement
    from selchat.demo.layout import DemoOptions

    command = node_command(DemoOptions(), "n2", 4242, 6390)
    assert command[:2] == [sys.executable, "-m"]
    assert command[command.index("--broker") + 1] == "redis://127.0.0.1:6390"
    assert command[command.index("--node-id") + 1] == "n2" and "--trace" in command
    assert command[command.index("--port") + 1] == "4242"
    assert "--dashboard" in node_command(DemoOptions(dashboard=True), "n1", 1, 2)
    assert placement(DemoOptions(clients=3)) == {"alice": "n1", "bob": "n2", "dave": "n1"}


@pytest.mark.parametrize("view", ["trace", "dashboard"])
def test_the_cluster_note_fits_its_pane(view):
    from selchat.demo.tips import cluster_tips_text

    lines = cluster_tips_text({"alice": "n1", "bob": "n2"}, view, "Ctrl+B").splitlines()
    assert len(lines) <= 13 and max(len(line) for line in lines) <= 60
    assert "alice's pane (on n1)" in lines[1] and "bob on n2" in lines[1]


@pytest.mark.parametrize("args", [["--clients", "1"], ["--mode", "echo"], ["--irc"], ["--port", "4000"]])
def test_what_the_cluster_demo_cannot_do_is_refused_before_anything_starts(session_name, args):
    refused = demo("--cluster", "--detach", "--session", session_name, *args)
    assert refused.returncode == 1 and "--cluster" in refused.stderr and "Traceback" not in refused.stderr
    assert not TMUX.has_session(session_name)
