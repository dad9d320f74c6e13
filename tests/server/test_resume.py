"""Resume ids in single-process mode: sids from the room's counter, `since` in a hello, and a
re-sent line stored once per session. Pure room code, no sockets."""

from selchat.server import events as ev
from selchat.server.chat import Member, Room
from selchat.server.resume import ResumeLog
from selchat.wire.notifications import decode, encode_json


def inbox(room, outgoing) -> dict[str, list]:
    got: dict[str, list] = {}
    for recipients, event in outgoing:
        for member in room.resolve(recipients):
            got.setdefault(member.nick, []).append(event)
    return got


def json_member(room, nick, since=None, session=None) -> tuple[Member, list]:
    member = room.connect()
    out = inbox(room, room.join(member, 0.0, ev.Hello(1, nick, since=since, session=session)))
    return member, out.get(nick, [])


def test_every_room_event_carries_a_sid_in_order_and_welcome_the_epoch():
    room = Room()
    alice, greeting = json_member(room, "alice")
    assert greeting[0].epoch == room.epoch and greeting[0].session
    bob, _ = json_member(room, "bob")
    events = [e for _, e in room.handle(alice, ev.Say("hi", "c-1"), 1.0)]
    events += [e for _, e in room.handle(bob, ev.SetNick("bobby"), 2.0)]
    events += [e for _, e in room.handle(bob, ev.Act("waves"), 3.0)]
    events += [e for _, e in room.leave(bob, "quit", 4.0)]
    sids = [e.sid for e in events]
    assert all(sids) and sids[0] == sids[1]  # the sender's tagged copy is the same event
    numbers = [int(s.split("-")[1]) for s in dict.fromkeys(sids)]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers) == 4


def test_the_sid_and_epoch_go_on_the_wire_and_come_back():
    room = Room()
    alice, greeting = json_member(room, "alice")
    line = room.handle(alice, ev.Say("hi"), 1.0)[-1][1]
    assert decode(encode_json(line)).sid == line.sid
    welcome = decode(encode_json(greeting[0]))
    assert (welcome.epoch, welcome.session) == (room.epoch, greeting[0].session)


def test_a_hello_with_since_gets_exactly_the_events_after_it_once_in_order():
    room = Room()
    alice, _ = json_member(room, "alice")
    first = room.handle(alice, ev.Say("one"), 1.0)[-1][1]
    room.handle(alice, ev.Say("two"), 2.0)
    room.handle(alice, ev.SetNick("al"), 3.0)
    room.handle(alice, ev.Say("three"), 4.0)
    _, got = json_member(room, "bob", since=(room.epoch, first.sid))
    replayed = got[1:]
    assert [type(e).__name__ for e in replayed] == ["Message", "NickChanged", "Message", "Joined"]
    assert [getattr(e, "text", None) for e in replayed[:3:2]] == ["two", "three"]
    assert replayed[0].replay and replayed[0].id is None
    assert not any(isinstance(e, ev.History) for e in got)


def test_a_since_older_than_the_window_is_a_gap_then_the_recent_history():
    room = Room()
    room.log = ResumeLog(window=3)
    alice, _ = json_member(room, "alice")
    first = room.handle(alice, ev.Say("one"), 1.0)[-1][1]
    for n in range(5):
        room.handle(alice, ev.Say(f"line {n}"), 2.0)
    _, got = json_member(room, "bob", since=(room.epoch, first.sid))
    assert got[1] == ev.Notice(got[1].text, "history_gap")
    assert isinstance(got[2], ev.History) and got[2].events[-1].text == "line 4"


def test_a_since_from_another_epoch_is_a_reset_then_the_recent_history():
    room = Room()
    alice, _ = json_member(room, "alice")
    room.handle(alice, ev.Say("one"), 1.0)
    _, got = json_member(room, "bob", since=("another-epoch", "0-1"))
    assert got[1].code == "history_reset" and isinstance(got[2], ev.History)


def test_a_since_that_is_not_one_of_ours_is_a_gap_never_a_guess():
    room = Room()
    json_member(room, "alice")
    _, got = json_member(room, "bob", since=(room.epoch, "0-999"))
    assert got[1].code == "history_gap"


def test_a_line_resent_with_the_same_id_and_session_is_stored_once():
    room = Room()
    alice, greeting = json_member(room, "alice")
    bob, _ = json_member(room, "bob")
    original = room.handle(alice, ev.Say("hi", "c-1"), 1.0)[-1][1]
    room.leave(alice, "connection lost", 2.0)
    again, _ = json_member(room, "alice", session=greeting[0].session)
    out = inbox(room, room.handle(again, ev.Say("hi", "c-1"), 3.0))
    assert out == {"alice": [ev.Message("alice", "hi", 1.0, "c-1")]}
    assert out["alice"][0].sid == original.sid
    assert [e.text for e in room.history] == ["hi"]


def test_the_same_id_from_another_session_is_a_new_line():
    room = Room()
    alice, _ = json_member(room, "alice")
    room.handle(alice, ev.Say("hi", "c-1"), 1.0)
    bob, _ = json_member(room, "bob")
    out = inbox(room, room.handle(bob, ev.Say("hi", "c-1"), 2.0))
    assert set(out) == {"alice", "bob"} and len(room.history) == 2


def test_the_resume_log_and_the_taken_lines_are_bounded():
    log = ResumeLog(window=10, taken_max=5)
    for n in range(100):
        log.take("s", n, log.stamp(ev.Joined(f"n{n}")))
    assert len(log._events) == 10 and len(log._taken) == 5
    assert log.after(log.epoch, "0-89")[0] == "gap"
    assert [e.nick for e in log.after(log.epoch, "0-95")[1]] == ["n95", "n96", "n97", "n98", "n99"]
