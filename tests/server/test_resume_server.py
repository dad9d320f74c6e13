"""Resume against a real server process: a client that reconnects with `since` gets exactly
what it missed, and its re-sent line is stored once."""

import json

import pytest

from lineclient import LineClient, json_client
from serverproc import start_server


@pytest.fixture(scope="module")
def server():
    proc = start_server()
    yield proc
    proc.stop()


def test_a_reconnect_with_since_gets_what_it_missed_and_a_resent_line_once(server):
    alice, welcome = json_client(server.address, "ralice")
    alice.send_json({"type": "message", "text": "before", "id": "a-1"})
    seen = alice.expect_json("message", text="before")
    alice.close()
    bob, _ = json_client(server.address, "rbob")
    bob.send_json({"type": "message", "text": "while away"})
    bob.expect_json("message", text="while away")
    again = LineClient(server.address)
    again.send_json({"type": "hello", "protocol": 1, "nick": "ralice", "session": welcome["session"],
                     "since": {"epoch": welcome["epoch"], "sid": seen["sid"]}})
    assert again.expect_json("welcome")["epoch"] == welcome["epoch"]
    missed = again.expect_json("message")
    assert missed["text"] == "while away" and missed["replay"] is True
    again.send_json({"type": "message", "text": "before", "id": "a-1"})  # the outbox re-sends
    copy = again.expect_json("message", id="a-1")
    assert copy["sid"] == seen["sid"]
    bob.send_json({"type": "message", "text": "marker"})
    got = bob.expect_json("message", text="marker")
    assert not [m for m in map(json.loads, filter(lambda l: l.startswith("{"), bob.lines))
                if m.get("text") == "before" and m.get("sid") != seen["sid"]], "stored twice"
    bob.close()
    again.close()
