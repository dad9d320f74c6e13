"""ClusterNode alone on a fake clock: Redis's replies are written by hand, no socket anywhere."""

import random

import pytest
from redis_fixture import require_hiredis

from selchat.server.cluster import outputs as out
from selchat.server.cluster import scripts
from selchat.server.cluster.node import ClusterNode, NodeConfig
from selchat.server.cluster.resp import parse_broker_url


@pytest.fixture(autouse=True)
def _hiredis():
    require_hiredis()


class Error(str):
    """An error reply in `wire()`."""


def wire(value) -> bytes:
    """Python value -> the RESP2 bytes Redis would send for it."""
    if isinstance(value, Error):
        return b"-" + value.encode() + b"\r\n"
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, (str, bytes)):
        data = value.encode() if isinstance(value, str) else value
        return b"$%d\r\n%s\r\n" % (len(data), data)
    return b"*%d\r\n" % len(value) + b"".join(wire(v) for v in value)


def entry(sid, *fields):
    return [sid, list(fields)]


class Clock:
    def __init__(self):
        self.now = 1000.0


def make(**config):
    clock = Clock()
    node = ClusterNode(NodeConfig(parse_broker_url("redis://h"), node_id="A", room="r", **config),
                       clock.now, rng=random.Random(0))
    return node, clock


def connect_cmd(node, clock):
    node.links_to_open(clock.now)
    node.link_opened("cmd", clock.now)
    node.data_to_send("cmd")
    node.receive_data("cmd", wire("OK") + wire("sha") * len(scripts.ALL), clock.now)


def connected(**config):
    """A node whose cmd link is up (its feed not yet)."""
    node, clock = make(**config)
    node.links_to_open(clock.now)
    connect_cmd(node, clock)
    return node, clock


def connect_feed(node, clock, epoch="E1", top="5-0", history=()):
    node.link_opened("feed", clock.now)
    node.data_to_send("feed")
    node.receive_data("feed", wire("OK") + wire([epoch, 1, top, "0-0", ["bo", "B"], list(history)]),
                      clock.now)


def test_both_links_are_opened_and_retried_with_backoff():
    node, clock = make(backoff_min=0.1, backoff_max=1.0)
    assert node.links_to_open(clock.now) == ["cmd", "feed"]
    assert node.links_to_open(clock.now) == []  # already being connected
    node.link_closed("cmd", clock.now, "connection refused")
    assert node.links_to_open(clock.now) == []  # not at once: backoff
    clock.now += 0.1
    assert node.links_to_open(clock.now) == ["cmd"]
    for _ in range(6):
        node.links_to_open(clock.now + 5)
        node.link_closed("cmd", clock.now, "connection refused")
    assert node.next_timer() <= clock.now + 1.0  # the backoff is capped
    node.link_closed("cmd", clock.now, "reported twice")  # idempotent: no second backoff step
    assert node.links_to_open(clock.now + 1.0) == ["cmd"]


def test_the_first_snapshot_gives_epoch_members_and_history_then_reads_from_its_top():
    node, clock = connected()
    connect_feed(node, clock, history=[entry("5-0", "k", "message", "n", "bo", "t", "hi"),
                                       entry("4-0", "k", "epoch", "e", "E1")])
    snapshot, = node.outputs()
    assert snapshot == out.Snapshot("E1", "5-0", (("bo", "B"),), snapshot.history)
    assert [e.text for e in snapshot.history] == ["hi"]  # the epoch marker is not a line
    assert node.ready and node.epoch == "E1"
    assert b"XREAD" in node.data_to_send("feed") and node.last_sid == "5-0"


def test_xread_delivers_valid_entries_in_order_and_reads_past_damaged_ones():
    node, clock = make()
    node.links_to_open(clock.now)
    connect_feed(node, clock)
    node.outputs(), node.data_to_send("feed")
    reply = [["selchat:{r}:log", [entry("6-0", "k", "join", "n", "cy"), entry("7-0", "junk"),
                                  entry("8-0", "k", "message", "n", "cy", "t", "yo")]]]
    node.receive_data("feed", wire(reply), clock.now)
    assert [o.event.sid for o in node.outputs()] == ["6-0", "8-0"]
    assert node.last_sid == "8-0"
    assert b"8-0" in node.data_to_send("feed")  # the next read starts after the damaged entry too


def test_an_epoch_entry_with_a_new_epoch_is_an_epoch_change_in_stream_order():
    node, clock = connected()
    connect_feed(node, clock)
    node.outputs()
    reply = [["selchat:{r}:log", [entry("9-0", "k", "epoch", "e", "E2"),
                                  entry("9-1", "k", "join", "n", "al")]]]
    node.receive_data("feed", wire(reply), clock.now)
    assert [type(o) for o in node.outputs()] == [out.EpochChanged, out.Delivered]


def test_lines_are_held_while_paused_and_released_in_order():
    node, clock = connected()
    node.post(0, "message", "al", "in flight", clock.now)
    node.post(9, "message", "al", "also in flight", clock.now)
    assert b"also in flight" in node.data_to_send("cmd")
    node.link_closed("cmd", clock.now, "reset")  # its reply never came
    assert node.outputs() == [out.Paused("broker unreachable: reset")]
    node.post(1, "message", "al", "held", clock.now)
    clock.now += 1
    connect_cmd(node, clock)
    sent = node.data_to_send("cmd")
    # the unanswered lines first, in their order
    assert sent.index(b"$9\r\nin flight") < sent.index(b"also in flight") < sent.index(b"held")
    assert b"$2\r\n#1\r\n" in sent  # with the dedupe key it had, so a line that did land is kept once
    assert node.outputs() == [out.Resumed()]


def test_held_lines_are_refused_after_the_grace_and_beyond_the_bound():
    node, clock = connected(hold_limit=2, grace=10)
    node.link_closed("cmd", clock.now, "reset")
    node.release("al", clock.now, session="s")  # a leave is never refused
    for n in range(3):
        node.post(n, "message", "al", f"line {n}", clock.now)
    assert node.outputs()[1:] == [out.Refused(2, "chat unavailable: too many lines held")]
    assert node.next_timer() <= clock.now + 10
    clock.now += 10
    node.on_timer(clock.now)
    assert [o.handle for o in node.outputs() if isinstance(o, out.Refused)] == [0, 1]
    clock.now += 1
    connect_cmd(node, clock)
    sent = node.data_to_send("cmd")
    assert scripts.RELEASE.sha.encode() in sent and b"line" not in sent


def test_claims_and_privates_are_answered_unavailable_while_paused():
    node, clock = make()
    node.claim("c", "al", clock.now, session="s")
    node.private("p", "al", "bo", "hi", clock.now)
    assert node.outputs() == [out.ClaimDone("c", "al", "unavailable"), out.PrivateDone("p", "unavailable")]


def test_a_feed_that_does_not_answer_its_block_in_time_is_closed():
    node, clock = make(block_ms=2000, reply_margin=2.0)
    node.links_to_open(clock.now)
    connect_feed(node, clock)
    node.outputs()
    clock.now += 3.9
    node.on_timer(clock.now)
    assert node.outputs() == []  # still inside BLOCK + margin
    clock.now += 0.2
    node.on_timer(clock.now)
    assert node.outputs() == [out.CloseLink("feed", "no reply from the broker in time (hung or unreachable)")]
    assert node.links_to_open(clock.now + 1) == ["feed"]


def test_a_hung_command_link_is_closed_and_pauses_the_node():
    node, clock = connected(reply_margin=2.0)
    node.post(0, "message", "al", "x", clock.now)
    clock.now += 2.1
    node.on_timer(clock.now)
    kinds = [type(o) for o in node.outputs()]
    assert kinds[:2] == [out.CloseLink, out.Paused] and node.paused


def test_noscript_resends_the_same_call_as_eval():
    node, clock = connected()
    node.post(0, "message", "al", "x", clock.now)
    node.data_to_send("cmd")
    node.receive_data("cmd", wire(Error("NOSCRIPT No matching script.")), clock.now)
    resent = node.data_to_send("cmd")
    assert resent.startswith(b"*") and b"EVAL\r\n" in resent and b"redis.call" in resent
    node.receive_data("cmd", wire(["7-0", 0]), clock.now)
    assert node.outputs() == [out.Posted(0, "7-0", False)]


def test_a_wrong_password_closes_the_link_with_the_reason():
    node, clock = make()
    node.links_to_open(clock.now)
    node.link_opened("cmd", clock.now)
    node.receive_data("cmd", wire(Error("WRONGPASS invalid username-password pair")), clock.now)
    close = node.outputs()[0]
    assert isinstance(close, out.CloseLink) and "WRONGPASS" in close.reason


def test_node_ids_and_timings_that_cannot_work_are_refused():
    with pytest.raises(ValueError):
        NodeConfig(parse_broker_url("redis://h"), node_id="a b")
    with pytest.raises(ValueError):
        NodeConfig(parse_broker_url("redis://h"), heartbeat=5, heartbeat_ttl=5)


def test_a_reply_dribbled_in_pieces_is_no_answer_until_it_is_whole():
    node, clock = connected(reply_margin=2.0)
    node.post(0, "message", "al", "x", clock.now)
    node.data_to_send("cmd")  # two turns: two calls
    node.post(1, "message", "al", "y", clock.now)
    node.data_to_send("cmd")
    clock.now += 1.5
    node.receive_data("cmd", wire(["7-0", 0]), clock.now)  # the first answered: the clock moves
    clock.now += 1.5
    node.receive_data("cmd", wire(["8-0", 0])[:5], clock.now)  # part of the second: it does not
    node.on_timer(clock.now)
    assert [type(o) for o in node.outputs()] == [out.Posted]
    clock.now += 0.6
    node.on_timer(clock.now)
    assert [type(o) for o in node.outputs()][:2] == [out.CloseLink, out.Paused]


def test_a_turns_lines_are_answered_in_order_from_one_call_and_refused_together():
    node, clock = connected()
    for n in range(3):
        node.post(n, "message", "al", f"line {n}", clock.now)
    assert node.data_to_send("cmd").count(b"EVALSHA") == 1
    node.receive_data("cmd", wire(["7-0", 0, "5-0", 1, "8-0", 0]), clock.now)
    # the repeat's copy (5-0) is at or before what the feed has read (nothing yet: 0-0)? no
    assert node.outputs() == [out.Posted(0, "7-0", False), out.Posted(1, "5-0", True, False),
                              out.Posted(2, "8-0", False)]
    node.post(3, "message", "al", "x", clock.now)
    node.post(4, "message", "al", "y", clock.now)
    node.data_to_send("cmd")
    node.receive_data("cmd", wire(Error("OOM command not allowed")), clock.now)
    assert [(type(o), o.handle) for o in node.outputs()] == [(out.Refused, 3), (out.Refused, 4)]


def test_a_repeat_is_marked_read_when_the_feed_had_read_its_first_copy_before_the_answer():
    node, clock = connected()
    connect_feed(node, clock, top="5-0")
    node.post("old", "message", "al", "x", clock.now, session="s", request_id="1")
    node.post("new", "message", "al", "y", clock.now, session="s", request_id="2")
    node.data_to_send("cmd")
    node.outputs()
    node.receive_data("cmd", wire(["4-0", 1, "6-0", 1]), clock.now)  # both stored before
    assert node.outputs() == [out.Posted("old", "4-0", True, True), out.Posted("new", "6-0", True, False)]


def test_lines_not_yet_sent_when_the_link_dies_go_first_once_it_is_back():
    node, clock = connected()
    node.post(0, "message", "al", "sent", clock.now)
    node.data_to_send("cmd")
    node.post(1, "message", "al", "not sent", clock.now)
    node.link_closed("cmd", clock.now, "reset")
    node.post(2, "message", "al", "held", clock.now)
    clock.now += 5
    connect_cmd(node, clock)
    again = node.data_to_send("cmd")
    assert again.count(b"EVALSHA") == 1
    assert again.index(b"sent") < again.index(b"not sent") < again.index(b"held")


def test_a_dedupe_key_never_names_two_different_lines():
    from selchat.server.cluster.posting import dedupe_key

    assert dedupe_key("a", "str:b") != dedupe_key("a:str", "b")
    assert dedupe_key("s1", "x") == dedupe_key("s1", "x")
