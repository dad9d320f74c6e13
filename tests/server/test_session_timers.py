"""Session timers against the transport's state, on a fake clock: no sockets, no waiting.

The session's deadlines (the hello grace, a partial line going quiet, the end of a flood-control
pause) must know whether the transport is closing and whether the server has stopped reading.
The fake loop (tests/fakeloop.py) runs the timers in order as the test moves its clock; its
transport keeps what is written and, like the real one, stays "closing" until its output has
drained.
"""

from __future__ import annotations

import json

from fakeloop import World
from selchat.server.chat import Mode


def test_a_user_who_quits_with_output_queued_never_comes_back_as_a_ghost():
    # Report #5: the departed member, still draining, was greeted and joined 0.3 s later.
    world = World()
    alice, mallory = world.text_user("alice"), world.text_user("mallory")
    alice.take()
    world.send(mallory, b"/quit bye\nx")  # a partial line after the quit
    assert mallory.closing and not mallory.closed  # its goodbye is still queued
    world.reactor.advance(5.0)
    bob = world.text_user("bob")
    world.send(bob, b"/nick mallory\n/who\n")
    world.reactor.advance(1.0)
    mallory.drained()
    seen = alice.take()
    assert "*** mallory has left (quit: bye)" in seen
    assert not [line for line in seen if "mallory has joined" in line]
    assert [line for line in bob.lines() if "users here" in line][-1] == "*** 2 users here: alice, mallory"
    assert seen.count("*** mallory has left (quit: bye)") == 1  # the ghost's late leave never comes
    assert [m.nick for m in world.room.members] == ["alice", "mallory"]


def test_a_paste_that_flood_control_slows_arrives_line_for_line():
    # Report #6: 70 lines of 995 bytes in one write; the server stops reading after the burst and
    # the 0.2 s partial-line timer took the wait for the client pausing, cutting a line in two.
    world = World(rate=10.0, burst=30.0)
    alice, paster = world.text_user("alice"), world.text_user("paster")
    alice.take()
    lines = [(f"{i:03d}" + "x" * 992).encode() for i in range(70)]
    stream = b"".join(line + b"\n" for line in lines)
    while stream or world.reactor._timers:
        if stream and paster.reading:
            chunk, stream = stream[:65536], stream[65536:]  # one recv() at a time
            world.send(paster, chunk)
        world.reactor.advance(0.05)
        if not stream and len([x for x in alice.lines() if x.startswith("<paster>")]) >= 70:
            break
    got = [line for line in alice.lines() if line.startswith("<paster>")]
    assert got == [f"<paster> {line.decode()}" for line in lines]


def test_a_json_hello_after_the_grace_still_switches_to_json():
    # Report #7: the text greeting came at 0.3 s, then the hello was refused, and the connection
    # was left half JSON (replies) and half text (broadcasts).
    world = World()
    bob = world.text_user("bob")
    late = world.connect()
    world.reactor.advance(0.6)
    assert late.take()[0].startswith("*** welcome")  # greeted as a text user
    world.send(bob, b"before\n")
    assert late.take() == ["<bob> before"]
    world.send(late, b'{"type":"hello","protocol":1,"nick":"alice"}\n')
    world.send(bob, b"hi alice\n")
    events = [json.loads(line) for line in late.take()]  # every line is JSON from here on
    assert events[0]["type"] == "welcome" and events[0]["nick"] == "alice"
    assert sorted(events[0]["users"]) == ["alice", "bob"]
    assert [(e["type"], e.get("text"), e.get("replay")) for e in events[1:]] == [
        ("message", "before", True), ("message", "hi alice", None)]
    assert "*** guest2 is now known as alice" in bob.lines()
    assert [m.nick for m in world.room.members] == ["bob", "alice"]


def test_a_broken_hello_after_the_grace_is_an_error_and_not_chat():
    world = World()
    bob = world.text_user("bob")
    late = world.connect()
    world.reactor.advance(0.6)
    late.take()
    bob.take()
    world.send(late, b'{"type":"hello","protocol":"1","password":"hunter2"}\n')
    assert late.take() == ["!!! error: hello: 'protocol' must be a int"]
    assert not [line for line in bob.lines() if "hunter2" in line]
    assert not world.room.history


def test_echo_and_upper_send_exactly_one_line_back_per_line_in():
    # Report #16: the flood-control notice was inserted among the replies.
    for mode, transform in ((Mode.ECHO, str), (Mode.UPPER, str.upper)):
        world = World(mode, rate=10.0, burst=30.0)
        client = world.connect()
        sent = [f"line {i}" for i in range(40)] + [""]
        world.send(client, "".join(line + "\n" for line in sent).encode())
        for _ in range(100):
            world.reactor.advance(0.1)
            if client.reading:
                break
        assert client.lines() == [transform(line) for line in sent]


def test_a_nick_request_naming_the_current_nick_is_answered():
    world = World()
    client = world.connect()
    world.send(client, b'{"type":"hello","protocol":1,"nick":"alice"}\n')
    client.take()
    world.send(client, b'{"type":"nick","nick":"alice","id":"n1"}\n')
    assert [json.loads(line) for line in client.take()] == [
        {"type": "nick", "old": "alice", "new": "alice", "ts": world.reactor.wall}]


def test_newlines_by_the_megabyte_cost_no_flood_tokens_and_are_not_kept():
    # Report #9: 64 KiB of newlines became 65,536 events, held while released ten a second.
    world = World(rate=10.0, burst=30.0)
    client = world.text_user("nl")
    for _ in range(16):
        world.send(client, b"\n" * 65536)
        assert client.reading and client.handler.conn.pending == 0
    world.send(client, b"still here\n")
    assert client.lines()[-1] == "<nl> still here"


def test_silent_connections_coming_and_going_are_not_announced():
    # Report #15: each silent connection was joined and announced at 0.3 s, and its leave too.
    world = World()
    alice = world.text_user("alice")
    alice.take()
    for _ in range(10):
        silent = [world.connect() for _ in range(63)]
        world.reactor.advance(0.35)
        assert all(s.lines()[0].startswith("*** welcome") for s in silent)  # still greeted
        for s in silent:
            s.close("connection closed")
            s.drained()
    assert alice.take() == []


def test_a_silent_user_is_announced_when_it_first_speaks_and_lists_stay_consistent():
    world = World()
    alice = world.text_user("alice")
    lurker = world.connect()
    world.reactor.advance(0.35)
    assert lurker.lines()[1] == "*** 2 users here: alice, guest2"  # it sees the room
    bob = world.text_user("bob")  # bob's welcome lists guest2: bob has heard of it
    assert "*** 3 users here: alice, guest2, guest3" in bob.lines()
    alice.take(), bob.take()
    world.send(lurker, b"/nick carol\n")
    # alice had never heard of guest2: she is told it joined; bob already lists it.
    assert alice.take() == ["*** guest2 has joined", "*** guest2 is now known as carol"]
    assert bob.take() == ["*** guest2 is now known as carol"]
    world.send(lurker, b"/quit\n")
    assert alice.take() == ["*** carol has left (quit)"] and bob.take() == ["*** carol has left (quit)"]


def test_a_silent_user_who_leaves_is_reported_gone_to_those_who_saw_it_listed():
    world = World()
    alice = world.text_user("alice")
    lurker = world.connect()
    world.reactor.advance(0.35)
    bob = world.text_user("bob")  # listed guest2 in bob's welcome
    world.send(alice, b"/who\n")  # and alice now has it in her list too
    carol = world.text_user("carol")
    alice.take(), bob.take(), carol.take()
    lurker.close("connection closed")
    lurker.drained()
    assert alice.take() == ["*** guest2 has left (connection closed)"]
    assert bob.take() == ["*** guest2 has left (connection closed)"]
    assert carol.take() == ["*** guest2 has left (connection closed)"]
