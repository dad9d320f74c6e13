"""ClusterRoom on a recording node: what it asks the node, and what it tells members when the
node answers. Pure bookkeeping, no Redis (the end-to-end behaviour: test_cluster_server.py)."""

from __future__ import annotations

from types import SimpleNamespace

from selchat.server import events as ev
from selchat.server.cluster import outputs as out
from selchat.server.cluster.room import ClusterRoom
from selchat.server.cluster.room_log import StreamEvent
from selchat.server.room import LARGE_ROOM


class RecordingNode:
    """Records every request; the test answers them with the outputs a real node would give."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.epoch = "e1"
        self.ready = True
        self.config = SimpleNamespace(node_id="n1")

    def __getattr__(self, name):
        if name in ("claim", "release", "post", "private", "replay_after"):
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))
        raise AttributeError(name)

    def last(self, name: str) -> tuple:
        return next(c for c in reversed(self.calls) if c[0] == name)


def make_room() -> tuple[ClusterRoom, RecordingNode]:
    room, node = ClusterRoom(), RecordingNode()
    room.attach(node, SimpleNamespace(now=0.0))
    room.cluster_event(out.Snapshot("e1", "0-0", (), ()), 0.0)
    return room, node


def inbox(room, outgoing) -> dict[str, list]:
    got: dict[str, list] = {}
    for recipients, event in outgoing:
        for member in room.resolve(recipients):
            got.setdefault(member.nick, []).append(event)
    return got


def claimed(room, node, member, status="claimed"):
    _, args, _ = node.last("claim")
    return room.cluster_event(out.ClaimDone(args[0], args[1], status, "1-0"), 0.0)


def joined_and_said(nick, text, request_id):
    """A room whose member `nick` is in and has said `text`: (room, node, member, the post's
    handle, the StreamEvent the stream will give that line back as, under sid `sid`)."""
    room, node = make_room()
    member = room.connect()
    room.receive(member, ev.Hello(1, nick), 0.0)
    claimed(room, node, member)
    room.receive(member, ev.Say(text, request_id), 0.0)
    _, args, kwargs = node.last("post")

    def echo(sid, **more):
        return StreamEvent(sid, "message", nick, text, session=kwargs["session"],
                           request_id=kwargs["request_id"], **more)

    return room, node, member, args[0], echo


def test_requests_typed_before_the_claim_answers_wait_and_run_after_the_welcome():
    room, node = make_room()
    alice = room.connect()
    assert room.receive(alice, ev.Hello(1, "alice"), 0.0) == []  # no welcome before the claim
    assert room.receive(alice, ev.Say("first", "s-1"), 0.0) == []
    assert room.receive(alice, ev.Ping("p"), 0.0) == [(alice, ev.Pong("p"))]  # at once
    assert not any(c[0] == "post" for c in node.calls)
    got = claimed(room, node, alice)
    assert isinstance(got[0][1], ev.Welcome) and got[0][1].nick == "alice"
    _, args, kwargs = node.last("post")
    assert args[1:3] == ("message", "alice") and args[3] == "first" and kwargs["request_id"]


def test_requests_waiting_for_a_claim_are_bounded_and_the_rest_refused():
    from selchat.server.cluster.claims import UNAVAILABLE, WAITING_MAX

    room, node = make_room()
    alice = room.connect()
    room.receive(alice, ev.Hello(1, "alice"), 0.0)
    for n in range(WAITING_MAX):
        assert room.receive(alice, ev.Say(f"line {n}", f"s-{n}"), 0.0) == []
    refused = room.receive(alice, ev.Say("one too many", "s-x"), 0.0)
    assert refused == [(alice, ev.Error("unavailable", UNAVAILABLE, "s-x"))]
    claimed(room, node, alice)
    assert sum(c[0] == "post" for c in node.calls) == WAITING_MAX


def test_a_nick_taken_elsewhere_gets_underscores_until_a_claim_succeeds():
    room, node = make_room()
    bob = room.connect()
    room.receive(bob, ev.Hello(1, "bob"), 0.0)
    assert claimed(room, node, bob, "taken") == []
    assert node.last("claim")[1][1] == "bob_"
    assert claimed(room, node, bob)[0][1].nick == "bob_"


def test_a_member_that_leaves_while_its_claim_is_under_way_gives_the_nick_back():
    room, node = make_room()
    carol = room.connect()
    room.receive(carol, ev.Hello(1, "carol"), 0.0)
    room.leave(carol, "gone", 0.0)
    assert not any(c[0] == "release" for c in node.calls)  # not ours yet
    assert claimed(room, node, carol) == []
    assert node.last("release")[1][0] == "carol"


def test_a_line_is_shown_from_the_stream_and_its_sender_gets_the_tagged_copy():
    room, node, dave, _, echo = joined_and_said("dave", "hi", "d-1")
    got = inbox(room, room.cluster_event(out.Delivered(echo("5-0")), 0.0))
    assert got["dave"][0].id == "d-1" and got["dave"][0].sid == "5-0"


def test_a_refused_line_is_an_unavailable_error_with_its_id():
    room, node = make_room()
    erin = room.connect()
    room.receive(erin, ev.Hello(1, "erin"), 0.0)
    claimed(room, node, erin)
    room.receive(erin, ev.Say("lost?", 7), 0.0)
    handle = node.last("post")[1][0]
    got = room.cluster_event(out.Refused(handle, "chat unavailable: the broker is down"), 0.0)
    assert got == [(erin, ev.Error("unavailable", "chat unavailable: the broker is down", 7))]


def test_who_and_presence_summaries_cover_other_nodes_members():
    room, node = make_room()
    fay = room.connect()
    room.receive(fay, ev.Hello(1, "fay"), 0.0)
    claimed(room, node, fay)
    for n in range(LARGE_ROOM + 5):
        room.cluster_event(out.Delivered(StreamEvent(f"{n + 1}-0", "join", nick=f"u{n}", node="B")), 0.0)
    users = room.receive(fay, ev.Who(), 0.0)[0][1]
    assert users.user_count == LARGE_ROOM + 5 and "u0" in users.users
    summary = room.presence_summary()[0][1]
    assert isinstance(summary, ev.Presence) and summary.joined_count == 5


def test_a_join_the_broker_cannot_take_waits_and_one_it_refuses_is_told_and_closed():
    room, node = make_room()
    gus = room.connect()
    room.receive(gus, ev.Hello(1, "gus"), 0.0)
    waiting = claimed(room, node, gus, "unavailable")
    assert waiting[0][1].code == "paused"
    node.calls.clear()
    node.ready = False
    assert room.cluster_turn(0.0) == [] and node.calls == []  # not while the node is paused
    node.ready = True
    room.cluster_turn(0.0)
    assert node.last("claim")[1][1] == "gus"  # tried again once it is back
    refused = claimed(room, node, gus, "error")
    assert [type(e) for _, e in refused] == [ev.Error, ev.Disconnect]
    node.calls.clear()
    room.cluster_turn(0.0)
    assert node.calls == []  # and not tried again: no loop of refused claims


def test_a_silent_connection_is_shown_the_room_but_claims_its_nick_only_when_it_speaks():
    room, node = make_room()
    quiet = room.connect()
    greeting = room.greet_silently(quiet, 0.0)
    assert isinstance(greeting[0][1], ev.Welcome) and node.calls == []  # nothing in Redis
    assert room.receive(quiet, ev.TextLine("   "), 0.0) == [] and node.calls == []  # no sign of life
    room.receive(quiet, ev.TextLine("hello"), 0.0)
    assert node.last("claim")[1][1] == quiet.nick and not any(c[0] == "post" for c in node.calls)
    told = quiet.nick
    claimed(room, node, quiet, "taken")  # a guest nick another node gave out too
    got = claimed(room, node, quiet)
    assert got[0] == (quiet, ev.NickChanged(told, told + "_", 0.0))  # no second welcome
    assert node.last("post")[1][3] == "hello"


def test_a_silent_connection_that_leaves_without_a_word_costs_redis_nothing():
    room, node = make_room()
    quiet = room.connect()
    room.greet_silently(quiet, 0.0)
    room.leave(quiet, "gone", 0.0)
    assert node.calls == []


def test_a_late_json_hello_keeps_the_session_its_claim_was_made_with():
    room, node = make_room()
    text = room.connect()
    room.join(text, 0.0)  # a text member's first line joins it
    claimed(room, node, text)
    claim_session = node.last("claim")[2]["session"]
    welcome = room.receive(text, ev.Hello(1, session="s-from-client"), 0.0)[0][1]
    assert welcome.session == claim_session
    room.leave(text, "gone", 0.0)
    assert node.last("release")[2]["session"] == claim_session  # so Redis lets the nick go


def test_a_msg_to_a_nick_not_yet_in_the_mirror_asks_redis_before_saying_no_such_nick():
    # The target was welcomed on another node, whose join this node has not read yet: Redis's
    # claims decide whether it exists, not this node's mirror of the stream.
    room, node = make_room()
    gina = room.connect()
    room.receive(gina, ev.Hello(1, "gina"), 0.0)
    claimed(room, node, gina)
    assert room.receive(gina, ev.Whisper("hank", "psst", "p1"), 0.0) == []
    _, args, _ = node.last("private")
    assert args[1:4] == ("gina", "hank", "psst")
    assert room.cluster_event(out.PrivateDone(args[0], "sent", "9-0"), 0.0) == [
        (gina, ev.Private("gina", "hank", "psst", 0.0, "p1", confirmation=True))]
    room.receive(gina, ev.Whisper("nobody", "x", "p2"), 0.0)
    handle = node.last("private")[1][0]
    got = room.cluster_event(out.PrivateDone(handle, "nosuch"), 0.0)
    assert got == [(gina, ev.Error("no_such_nick", "no such nick: nobody", "p2"))]


def test_a_held_line_that_reaches_a_new_epoch_before_its_snapshot_is_shown_once_tagged():
    # Redis restarted empty and the command link came back first: the held line was stored in
    # the new epoch, so the feed's new snapshot holds it and no Delivered will ever bring it.
    room, node = make_room()
    mona, nina = room.connect(), room.connect()
    for member, nick in ((mona, "mona"), (nina, "nina")):
        room.receive(member, ev.Hello(1, nick), 0.0)
        claimed(room, node, member)
    room.receive(mona, ev.Say("typed meanwhile", "m-1"), 0.0)
    _, args, kwargs = node.last("post")
    line = StreamEvent("7-0", "message", nick="mona", text="typed meanwhile",
                       session=kwargs["session"], request_id=kwargs["request_id"])
    got = inbox(room, room.cluster_event(out.EpochChanged("e1", "e2"), 0.0))
    assert [e.code for e in got["mona"]] == ["history_reset"]
    members = (("mona", "A"), ("nina", "A"))
    got = inbox(room, room.cluster_event(out.Snapshot("e2", "7-0", members, (line,)), 0.0))
    assert [(e.text, e.id, e.sid) for e in got["mona"]] == [("typed meanwhile", "m-1", "7-0")]
    assert [(e.text, e.id) for e in got["nina"]] == [("typed meanwhile", None)]


def test_guest_nicks_carry_a_tag_of_their_node():
    from selchat.server.cluster.claims import guest_tag
    from selchat.wire.text import NICK_MAX, is_valid_nick

    assert guest_tag("n2") == "n2"
    tags = {guest_tag(f"vm-{pid}-a1b2c3") for pid in range(1000, 1100)}
    assert len(tags) == 100 and all(len(tag) == 4 and tag.isalnum() for tag in tags)
    assert is_valid_nick(f"guest99999-{guest_tag('a-long-node-id')}")
    assert len(f"guest99999-{guest_tag('x' * 60)}") <= NICK_MAX


def test_a_run_of_lines_read_in_one_go_shows_what_each_line_shows_alone():
    def scene():
        room, _, _, _, echo = joined_and_said("alice", "mine", "s-1")
        events = [StreamEvent("2-0", "message", "bob", "hi", node="n2", ts=5000),
                  echo("3-0", node="n1"),
                  StreamEvent("4-0", "join", "carol", node="n2"),
                  StreamEvent("5-0", "action", "carol", "waves", node="n2")]
        return room, [out.Delivered(e) for e in events]

    alone_room, items = scene()
    alone = [pair for item in items for pair in alone_room.cluster_event(item, 0.0)]
    run_room, items = scene()
    together: list = []
    for item in items:
        run_room.delivered_into(item, 0.0, together)
    assert inbox(run_room, together) == inbox(alone_room, alone)
    assert [line.sid for line in run_room.history] == [line.sid for line in alone_room.history]
    assert [e.id for e in inbox(run_room, together)["alice"] if isinstance(e, ev.Message)] == [None, "s-1"]


def test_a_resent_line_whose_echo_is_read_in_the_same_turn_reaches_its_sender_once():
    # Redis hung with the line, the node re-sent it on a new link; when Redis woke, the re-send's
    # answer (stored before: a repeat) and the feed's read of the line came in one turn, so the
    # node had read past the line before the room saw the answer.
    room, node, _, handle, echo = joined_and_said("alice", "typed into a hung Redis", "s-1")
    node.last_sid = "3-0"
    shown = room.cluster_event(out.Posted(handle, "3-0", True, already_read=False), 0.0)
    shown += room.cluster_event(out.Delivered(echo("3-0", node="n1")), 0.0)
    lines = [e for e in inbox(room, shown)["alice"] if isinstance(e, ev.Message)]
    assert [(e.text, e.id) for e in lines] == [("typed into a hung Redis", "s-1")]


def test_a_resent_line_read_before_its_sender_came_is_shown_to_it_again():
    room, node, _, handle, _ = joined_and_said("alice", "said on a node that died", "s-1")
    node.last_sid = "3-0"
    shown = room.cluster_event(out.Posted(handle, "2-0", True, already_read=True), 0.0)
    assert [(e.text, e.id, e.sid) for e in inbox(room, shown)["alice"]] == [
        ("said on a node that died", "s-1", "2-0")]
