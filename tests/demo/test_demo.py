"""The demo end to end: `selchat-demo --detach`, then type into its panes and read the others."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from requirements import require_program
from demopanes import LINE_TIMEOUT, TMUX, attached_in_a_terminal, panes_by_role, process_ended, wait_for



@pytest.fixture(autouse=True)
def tmux_installed():
    require_program("tmux")

STARTUP_TIMEOUT = 40.0


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selchat.demo", *args], capture_output=True, text=True,
                          timeout=90)


def pane_pid(pane: str) -> int:
    return int(TMUX.pane_value(pane, "pane_pid"))


@pytest.fixture
def session_name():
    name = f"selchat-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    TMUX.kill_session(name)


def test_a_line_typed_anywhere_arrives_everywhere(session_name):
    started = demo("--detach", "--session", session_name)
    assert started.returncode == 0, started.stderr
    assert f"tmux attach -t {session_name}" in started.stdout

    roles = panes_by_role(session_name)
    assert len(roles["client"]) == 2 and set(roles) == {"server", "client", "raw", "tips"}
    server, raw, (alice, bob) = roles["server"][0], roles["raw"][0], roles["client"]
    server_pid = pane_pid(server)
    assert "What to try" in TMUX.capture(roles["tips"][0])

    wait_for(raw, r"is now known as carol", STARTUP_TIMEOUT)
    for pane in (alice, bob):
        wait_for(pane, r"\bconnected\b", STARTUP_TIMEOUT)

    TMUX.send_line(raw, "hello from the raw client")
    for pane in (alice, bob):
        wait_for(pane, r"<carol> hello from the raw client")
    # Each busy loop turn is traced with the ready connections and their nicks.
    wait_for(server, r"turn \d+: read \[\d+:carol\] write \[")

    TMUX.send_line(alice, "hello from alice")
    wait_for(raw, r"<alice> hello from alice")
    wait_for(bob, r"<alice> hello from alice")

    stopped = demo("--stop", "--session", session_name)
    assert stopped.returncode == 0, stopped.stderr
    assert not TMUX.has_session(session_name)
    assert process_ended(server_pid), "the server outlived its demo session"


def test_a_second_demo_with_the_same_name_is_refused(session_name):
    TMUX.run("new-session", "-d", "-s", session_name, "sleep", "60")
    refused = demo("--detach", "--session", session_name)
    assert refused.returncode == 1
    assert "already running" in refused.stderr and "Traceback" not in refused.stderr


def test_stop_without_a_demo_says_so(session_name):
    stopped = demo("--stop", "--session", session_name)
    assert stopped.returncode == 0
    assert "no demo running" in stopped.stdout


def test_detaching_ends_the_demo(session_name):
    """Attached in a terminal (an outer tmux on a private socket), detaching removes the session."""
    with attached_in_a_terminal(session_name, 160, 48, STARTUP_TIMEOUT):
        server_pid = pane_pid(panes_by_role(session_name)["server"][0])
        TMUX.run("detach-client", "-s", f"={session_name}")
        deadline = time.monotonic() + LINE_TIMEOUT
        while TMUX.has_session(session_name):
            assert time.monotonic() < deadline, "the session outlived the detach"
            time.sleep(0.05)
        assert process_ended(server_pid)


def test_irc_adds_an_irssi_pane_in_the_same_room(session_name):
    require_program("irssi")
    started = demo("--detach", "--irc", "--clients", "1", "--session", session_name)
    assert started.returncode == 0, started.stderr
    assert "IRC on" in started.stdout
    roles = panes_by_role(session_name)
    assert set(roles) == {"server", "client", "raw", "tips", "irc"}
    raw, irc = roles["raw"][0], roles["irc"][0]
    wait_for(irc, r"ivan \[ivan@127\.0\.0\.1\] has joined #selchat", STARTUP_TIMEOUT)
    wait_for(raw, r"is now known as carol", STARTUP_TIMEOUT)
    TMUX.send_line(raw, "hello irssi")
    wait_for(irc, r"< carol> hello irssi")
    TMUX.send_line(irc, "hello nc")
    wait_for(raw, r"<ivan> hello nc")
