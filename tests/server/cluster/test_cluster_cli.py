"""`selchat-server --broker ...`: what it refuses at start, and how it says so (no Redis needed)."""

from __future__ import annotations

import logging
import sys

import pytest

from selchat.server import cli
from redis_fixture import require_hiredis
from selchat.server.cluster.resp import INSTALL_HINT


def refused(caplog, *argv: str) -> str:
    with caplog.at_level(logging.ERROR, logger="selchat.server"):
        assert cli.main(["--port", "0", *argv]) == 2
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_without_hiredis_the_server_says_how_to_install_it(caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "hiredis", None)  # `import hiredis` now fails
    message = refused(caplog, "--broker", "redis://127.0.0.1:6379")
    assert INSTALL_HINT in message and "uv sync --extra cluster" in message


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:6379", "must start with redis:// or rediss://"),
    ("redis://127.0.0.1:port", "bad port"),
    ("redis:///0", "no host"),
    ("redis://127.0.0.1:6379/lobby", "must be a number"),
])
def test_a_bad_broker_url_is_refused_with_what_is_wrong(caplog, url, says):
    require_hiredis()
    assert says in refused(caplog, "--broker", url)


def test_cluster_mode_is_for_chat_only(caplog):
    assert "--broker needs --mode chat" in refused(caplog, "--broker", "redis://127.0.0.1", "--mode", "echo")


def test_a_room_or_node_id_redis_cannot_hold_is_refused(caplog):
    require_hiredis()
    assert "--room" in refused(caplog, "--broker", "redis://127.0.0.1", "--room", "two words")
    assert "--node-id" in refused(caplog, "--broker", "redis://127.0.0.1", "--node-id", "a b")


def test_an_unknown_broker_host_is_refused_at_start(caplog):
    require_hiredis()
    assert "cannot resolve" in refused(caplog, "--broker", "redis://no-such-host.invalid")


def test_room_and_node_id_without_a_broker_are_refused_not_ignored(caplog):
    assert "give --broker" in refused(caplog, "--room", "lobby")
    assert "give --broker" in refused(caplog, "--node-id", "n1")
