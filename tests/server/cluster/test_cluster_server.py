"""Cluster mode end to end: real selchat-server processes sharing a room through a real redis-server.

Each test reads until the line it expects (with a timeout); nothing sleeps. Nodes are started
with `--broker` and counted as up once they log `cluster: node ... ready`.
"""

from __future__ import annotations

import json

import pytest

from lineclient import LineClient, json_client, text_user
from redis_fixture import RedisServer, require_hiredis
from serverproc import start_server


def start_node(redis: RedisServer, node_id: str, *extra: str):
    node = start_server("--broker", redis.url, "--node-id", node_id, *extra)
    node.wait_for_log(rf"cluster: node {node_id} ready")
    return node


@pytest.fixture(scope="module")
def two_nodes(redis_server):
    a = start_node(redis_server, "A", "--room", "lobby", "--irc-port", "0")
    b = start_node(redis_server, "B", "--room", "lobby")
    yield a, b
    for node in (a, b):
        node.stop()
        assert not node.errors(), node.log


def messages(client: LineClient) -> list[dict]:
    return [e for e in map(json.loads, filter(lambda line: line.startswith("{"), client.lines))
            if e["type"] in ("message", "action")]


def wait_for_lines(client: LineClient, texts: set[str]) -> None:
    """Read until every one of these lines has come, in whatever order."""
    left = set(texts)
    while left:
        event = json.loads(client.expect(r"^\{"))
        if event["type"] in ("message", "action"):
            left.discard(event["text"])


def test_lines_from_both_nodes_reach_everyone_in_one_order(two_nodes):
    a, b = two_nodes
    alice, _ = json_client(a.address, "alice")
    bob, _ = json_client(b.address, "bob")
    for n in range(5):  # interleaved, without waiting: the stream decides the order
        alice.send_json({"type": "message", "text": f"a{n}", "id": f"a-{n}"})
        bob.send_json({"type": "message", "text": f"b{n}"})
    for client in (alice, bob):
        wait_for_lines(client, {f"{who}{n}" for who in "ab" for n in range(5)})
    seen_by_alice = [(m["text"], m["sid"]) for m in messages(alice)]
    seen_by_bob = [(m["text"], m["sid"]) for m in messages(bob)]
    assert seen_by_alice == seen_by_bob
    assert sorted(t for t, _ in seen_by_alice) == sorted([f"a{n}" for n in range(5)] + [f"b{n}" for n in range(5)])
    # The sender's own copy comes from the stream too, tagged with its id; the others' untagged.
    assert [m.get("id") for m in messages(alice) if m["text"].startswith("a")] == [f"a-{n}" for n in range(5)]
    assert all("id" not in m for m in messages(bob))
    alice.close()
    bob.close()


def test_welcome_and_who_cover_every_node(two_nodes):
    a, b = two_nodes
    carol, _ = json_client(a.address, "carol")
    dave, welcome = json_client(b.address, "dave")
    assert {"carol", "dave"} <= set(welcome["users"])
    carol.expect_json("join", nick="dave")
    carol.send_json({"type": "who"})
    users = carol.expect_json("users")
    assert {"carol", "dave"} <= set(users["users"]) and users["user_count"] == len(users["users"])
    dave.close()
    carol.expect_json("leave", nick="dave")
    carol.send_json({"type": "who"})
    assert "dave" not in carol.expect_json("users")["users"]
    carol.close()


def test_a_nick_taken_on_one_node_is_fixed_up_or_refused_on_the_other(two_nodes):
    a, b = two_nodes
    erin, _ = json_client(a.address, "erin")
    other, welcome = json_client(b.address, "erin")
    assert welcome["nick"] == "erin_"  # the same fix-up as a clash in one process
    other.send_json({"type": "nick", "nick": "ERIN", "id": "n1"})
    assert other.expect_json("error", id="n1")["code"] == "nick_in_use"
    other.send_json({"type": "nick", "nick": "frank", "id": "n2"})
    erin.expect_json("nick", old="erin_", new="frank")
    other.expect_json("nick", old="erin_", new="frank")
    erin.close()
    other.close()


def test_msg_reaches_a_user_on_another_node(two_nodes):
    a, b = two_nodes
    gina, _ = json_client(a.address, "gina")
    hank, _ = json_client(b.address, "hank")
    gina.send_json({"type": "private", "to": "hank", "text": "psst", "id": "p1"})
    got = hank.expect_json("private", text="psst")
    assert got["from"] == "gina" and got["to"] == "hank"
    assert gina.expect_json("private", id="p1")["to"] == "hank"
    gina.send_json({"type": "private", "to": "nobody-here", "text": "x", "id": "p2"})
    assert gina.expect_json("error", id="p2")["code"] == "no_such_nick"
    gina.close()
    hank.close()


def test_a_resume_on_another_node_gets_exactly_what_was_missed(two_nodes):
    a, b = two_nodes
    ivy, welcome = json_client(a.address, "ivy")
    ivy.send_json({"type": "message", "text": "before", "id": "i-1"})
    seen = ivy.expect_json("message", id="i-1")
    jack, _ = json_client(a.address, "jack")
    ivy.close()
    jack.expect_json("leave", nick="ivy")
    jack.send_json({"type": "message", "text": "while away 1"})
    jack.send_json({"type": "action", "text": "while away 2"})
    jack.expect_json("action", text="while away 2")
    again = LineClient(b.address)
    again.send_json({"type": "hello", "protocol": 1, "nick": "ivy", "session": welcome["session"],
                     "since": {"epoch": welcome["epoch"], "sid": seen["sid"]}})
    assert again.expect_json("welcome")["epoch"] == welcome["epoch"]
    again.send_json({"type": "message", "text": "before", "id": "i-1"})  # re-sent after the drop
    copy = again.expect_json("message", id="i-1")
    assert copy["sid"] == seen["sid"]  # stored once: the sender is told its earlier sid
    missed = [(m["type"], m["text"], m.get("replay")) for m in messages(again)][:2]
    assert missed == [("message", "while away 1", True), ("action", "while away 2", True)]
    assert "history_gap" not in "".join(again.lines) and "history_reset" not in "".join(again.lines)
    jack.send_json({"type": "message", "text": "marker"})
    jack.expect_json("message", text="marker")
    live = [m["text"] for m in messages(jack) if not m.get("replay")]
    assert "marker" in live and "before" not in live  # not stored (nor shown) a second time
    again.close()
    jack.close()


def test_a_newcomer_gets_the_history_after_every_node_restarted(redis_server):
    first = start_node(redis_server, "H1", "--room", "restarts")
    second = start_node(redis_server, "H2", "--room", "restarts")
    kim, _ = json_client(first.address, "kim")
    lee, _ = json_client(second.address, "lee")
    kim.send_json({"type": "message", "text": "remember me"})
    lee.send_json({"type": "message", "text": "and me"})
    for client in (kim, lee):
        client.expect_json("message", text="and me")
    assert first.stop() == 0  # with kim still connected
    # A node that stops writes its users' leaves before it goes (no wait for the reaper).
    assert lee.expect_json("leave", nick="kim")["reason"] == "server shutting down"
    kim.close()
    lee.close()
    assert second.stop() == 0
    again = start_node(redis_server, "H3", "--room", "restarts")
    try:
        newcomer, welcome = json_client(again.address, "newcomer")
        assert welcome["users"] == ["newcomer"]  # the stopped nodes' users left
        history = [newcomer.expect_json("message")["text"] for _ in range(2)]
        assert sorted(history) == ["and me", "remember me"]
        assert all(m["replay"] for m in messages(newcomer))
        newcomer.close()
    finally:
        again.stop()
    assert not again.errors(), again.log


def test_a_stopped_redis_pauses_the_chat_and_no_line_is_lost_silently(tmp_path):
    require_hiredis()
    redis = RedisServer(str(tmp_path))
    redis.start()
    node = start_node(redis, "P")
    try:
        mona, _ = json_client(node.address, "mona")
        redis.stop()
        assert mona.expect_json("notice", code="paused")["text"].startswith("chat paused")
        mona.send_json({"type": "message", "text": "typed meanwhile", "id": "m-1"})
        mona.send_json({"type": "ping", "id": "still-here"})
        mona.expect_json("pong", id="still-here")  # connected, and the loop answers
        redis.start(redis.port)  # empty: a new epoch
        notices, outcome, rejoined = set(), None, False
        for _ in range(50):  # bounded: a node that flapped forever would fail here
            if {"resumed", "history_reset"} <= notices and outcome:
                break
            event = json.loads(mona.expect(r"^\{"))
            if event["type"] == "notice":
                notices.add(event["code"])  # resumed, and history_reset: Redis came back empty
            elif event.get("id") == "m-1":  # the line: delivered once Redis is back, or refused
                outcome = (event["type"], event.get("text") or event.get("code"))
            elif event["type"] == "join":  # the node re-claims its users: presence rebuilt
                rejoined = rejoined or event["nick"] == "mona"
        assert outcome in (("message", "typed meanwhile"), ("error", "unavailable"))
        # Presence rebuilt: the node re-claims its users, in the new snapshot or as a join after.
        mona.send_json({"type": "who"})
        users = mona.expect_json("users")["users"]
        if not rejoined and "mona" not in users:
            mona.expect_json("join", nick="mona")
            mona.send_json({"type": "who"})
            users = mona.expect_json("users")["users"]
        assert users == ["mona"]
        mona.close()
    finally:
        node.stop()
        redis.stop()
    assert not node.errors(), node.log


def test_text_and_irc_users_share_the_room_across_nodes_as_its_channel(two_nodes):
    a, b = two_nodes
    tina = text_user(b.address, "tina")
    irc = LineClient(a.irc_address)
    irc.send_line("NICK ira")
    irc.send_line("USER ira 0 * :Ira")
    irc.expect(" 001 ira ")
    irc.send_line("JOIN #lobby")  # the channel is the room's name (--room lobby)
    names = irc.expect(r" 353 ira = #lobby :")
    assert "tina" in names.split(":")[-1].split()
    tina.expect(r"^\*\*\* ira has joined")
    tina.send_line("hello irc")
    irc.expect(r"^:tina!\S+ PRIVMSG #lobby :hello irc\r?$")
    irc.send_line("PRIVMSG #lobby :hello text")
    tina.expect(r"^<ira> hello text$")
    irc.send_line("PRIVMSG tina :psst")
    tina.expect(r"^\*ira\* psst$")
    irc.close()
    tina.close()
