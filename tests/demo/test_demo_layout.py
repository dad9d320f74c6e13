"""What the demo runs in each pane, without tmux."""

import itertools
import sys

import pytest

from selchat.demo.layout import MAX_CLIENTS, RAW_NICK, DemoOptions, client_command, raw_client_command, server_command
from selchat.demo.tips import tips_text


def test_every_pane_runs_this_python_without_a_shell():
    options = DemoOptions(port=4242, clients=3, raw_client="python")
    for command in (server_command(options), client_command(options, "alice"), raw_client_command(options)):
        assert command[:2] == [sys.executable, "-m"]
        assert "4242" in command


def test_the_server_pane_traces_or_shows_the_dashboard():
    assert "--trace" in server_command(DemoOptions(port=1))
    dashboard = server_command(DemoOptions(port=1, dashboard=True))
    assert "--dashboard" in dashboard and "--trace" not in dashboard


def test_options_reach_the_server():
    command = server_command(DemoOptions(port=1, mode="upper", backend="poll"))
    assert command[command.index("--mode") + 1] == "upper"
    assert command[command.index("--backend") + 1] == "poll"


def test_nicks_are_distinct_from_the_raw_clients():
    nicks = DemoOptions(clients=MAX_CLIENTS).nicks
    assert len(set(nicks)) == MAX_CLIENTS and RAW_NICK not in nicks


@pytest.mark.parametrize("mode, view, clients",
                         list(itertools.product(["chat", "echo", "upper"], ["trace", "dashboard"], [1, 2, 6])))
def test_the_note_fits_its_pane(mode, view, clients):
    text = tips_text(mode, DemoOptions(clients=clients).nicks, RAW_NICK, view, "Ctrl+B")
    lines = text.splitlines()
    assert len(lines) <= 13
    assert max(len(line) for line in lines) <= 60


def test_irc_gives_the_server_an_irc_port_in_chat_mode_only():
    command = server_command(DemoOptions(port=1, irc=True, irc_port=6667))
    assert command[command.index("--irc-port") + 1] == "6667"
    assert "--irc-port" not in server_command(DemoOptions(port=1))
    assert "--irc-port" not in server_command(DemoOptions(port=1, mode="echo", irc=True, irc_port=6667))
