"""The demo end to end: `selchat-demo --detach`, then type into its panes and read the others."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# Polls of a pane, not guesses: each wait ends as soon as the text shows.
STARTUP_TIMEOUT = 40.0
LINE_TIMEOUT = 20.0


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selchat.demo", *args], capture_output=True, text=True,
                          timeout=90)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def panes_by_role(session: str) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for line in tmux("list-panes", "-t", f"={session}:", "-F", "#{@selchat-role} #{pane_id}").splitlines():
        role, pane = line.split()
        roles.setdefault(role, []).append(pane)
    return roles


def wait_for(pane: str, pattern: str, timeout: float = LINE_TIMEOUT) -> str:
    """Poll the pane's screen until `pattern` (a regex) matches; return the screen."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-t", pane)
        if regex.search(screen):
            return screen
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pattern!r} never appeared in pane {pane}; screen:\n{screen}")
        time.sleep(0.05)


def type_line(pane: str, text: str) -> None:
    tmux("send-keys", "-t", pane, "-l", text)
    tmux("send-keys", "-t", pane, "Enter")


def process_ended(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def session_exists(session: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", f"={session}"], capture_output=True).returncode == 0


@pytest.fixture
def session_name():
    name = f"selchat-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", f"={name}"], capture_output=True, timeout=10)


def test_a_line_typed_anywhere_arrives_everywhere(session_name):
    started = demo("--detach", "--session", session_name)
    assert started.returncode == 0, started.stderr
    assert f"tmux attach -t {session_name}" in started.stdout

    roles = panes_by_role(session_name)
    assert len(roles["client"]) == 2 and set(roles) == {"server", "client", "raw", "tips"}
    server, raw, (alice, bob) = roles["server"][0], roles["raw"][0], roles["client"]
    server_pid = int(tmux("display-message", "-p", "-t", server, "#{pane_pid}").strip())
    assert "What to try" in tmux("capture-pane", "-p", "-t", roles["tips"][0])

    wait_for(raw, r"is now known as carol", STARTUP_TIMEOUT)
    for pane in (alice, bob):
        wait_for(pane, r"\bconnected\b", STARTUP_TIMEOUT)

    type_line(raw, "hello from the raw client")
    for pane in (alice, bob):
        wait_for(pane, r"<carol> hello from the raw client")
    # Each busy loop turn is traced with the ready connections and their nicks.
    wait_for(server, r"turn \d+: read \[\d+:carol\] write \[")

    type_line(alice, "hello from alice")
    wait_for(raw, r"<alice> hello from alice")
    wait_for(bob, r"<alice> hello from alice")

    stopped = demo("--stop", "--session", session_name)
    assert stopped.returncode == 0, stopped.stderr
    assert not session_exists(session_name)
    assert process_ended(server_pid), "the server outlived its demo session"


def test_a_second_demo_with_the_same_name_is_refused(session_name):
    tmux("new-session", "-d", "-s", session_name, "sleep", "60")
    refused = demo("--detach", "--session", session_name)
    assert refused.returncode == 1
    assert "already running" in refused.stderr and "Traceback" not in refused.stderr


def test_stop_without_a_demo_says_so(session_name):
    stopped = demo("--stop", "--session", session_name)
    assert stopped.returncode == 0
    assert "no demo running" in stopped.stdout


def test_detaching_ends_the_demo(session_name):
    """Attached in a terminal (an outer tmux on a private socket), detaching removes the session."""
    outer = ["tmux", "-L", f"{session_name}-outer"]
    command = f"env -u TMUX {shlex.quote(sys.executable)} -m selchat.demo --session {session_name}; sleep 30"
    subprocess.run([*outer, "new-session", "-d", "-x", "160", "-y", "48", command], check=True, timeout=10)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not tmux_clients(session_name):
            assert time.monotonic() < deadline, "the demo never attached"
            time.sleep(0.05)
        server = panes_by_role(session_name)["server"][0]
        server_pid = int(tmux("display-message", "-p", "-t", server, "#{pane_pid}").strip())
        tmux("detach-client", "-s", f"={session_name}")
        deadline = time.monotonic() + LINE_TIMEOUT
        while session_exists(session_name):
            assert time.monotonic() < deadline, "the session outlived the detach"
            time.sleep(0.05)
        assert process_ended(server_pid)
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True, timeout=10)


def tmux_clients(session: str) -> list[str]:
    listed = subprocess.run(["tmux", "list-clients", "-t", f"={session}"], capture_output=True, text=True)
    return listed.stdout.splitlines() if listed.returncode == 0 else []
