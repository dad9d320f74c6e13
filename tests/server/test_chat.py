"""The chat core: requests in, (recipients, notification) pairs out. No sockets, no clock."""

import pytest

from selchat.server import events as ev
from selchat.server.chat import EVERYONE, Member, Mode, Room
from selchat.server.room import LARGE_ROOM


def inbox(room: Room, outgoing) -> dict[str, list]:
    """Who gets what, by nick."""
    got: dict[str, list] = {}
    for recipients, event in outgoing:
        for member in room.resolve(recipients):
            got.setdefault(member.nick, []).append(event)
    return got


def joined(room: Room, nick: str | None = None, json: bool = False) -> Member:
    member = room.connect()
    hello = ev.Hello(1, nick) if json else None
    room.join(member, 0.0, hello)
    if nick and not json:
        room.handle(member, ev.TextLine(f"/nick {nick}"), 0.0)
    return member


def test_newcomers_get_guest_nicks_and_a_welcome():
    room = Room()
    member = room.connect()
    assert member.nick == "guest1" and not member.joined
    out = inbox(room, room.join(member, 5.0))
    assert isinstance(out["guest1"][0], ev.Welcome)
    assert out["guest1"][0].nick == "guest1"
    assert ev.Joined("guest1", 5.0) in out["guest1"]


def test_a_line_goes_to_everyone_including_the_sender():
    room = Room()
    alice, bob = joined(room, "alice"), joined(room, "bob")
    out = inbox(room, room.handle(alice, ev.TextLine("hello"), 9.0))
    assert out == {"alice": [ev.Message("alice", "hello", 9.0)], "bob": [ev.Message("alice", "hello", 9.0)]}


def test_the_sender_of_a_tagged_message_gets_its_tag_back_and_others_do_not():
    room = Room()
    alice, bob = joined(room, "alice", json=True), joined(room, "bob")
    out = inbox(room, room.handle(alice, ev.Say("hi", "c-1"), 1.0))
    assert out["alice"] == [ev.Message("alice", "hi", 1.0, "c-1")]
    assert out["bob"] == [ev.Message("alice", "hi", 1.0)]


def test_control_characters_never_reach_others():
    room = Room()
    alice, bob = joined(room, "alice"), joined(room, "bob")
    out = inbox(room, room.handle(alice, ev.TextLine("\x1b[2Jgotcha\x07"), 0.0))
    assert out["bob"] == [ev.Message("alice", "gotcha", 0.0)]


def test_nicks_are_unique_without_regard_to_case():
    room = Room()
    alice, other = joined(room, "alice"), joined(room)
    [(to, error)] = room.handle(other, ev.SetNick("ALICE"), 0.0)
    assert to is other and error.code == "nick_in_use"
    assert other.nick.startswith("guest")


def test_a_member_may_change_the_case_of_its_own_nick():
    room = Room()
    alice = joined(room, "alice")
    [(to, event)] = room.handle(alice, ev.SetNick("Alice"), 2.0)
    assert to is EVERYONE and event == ev.NickChanged("alice", "Alice", 2.0)


def test_an_invalid_nick_is_refused_to_the_sender_only():
    room = Room()
    alice = joined(room, "alice")
    [(to, error)] = room.handle(alice, ev.TextLine("/nick 9lives"), 0.0)
    assert to is alice and error.code == "bad_nick"


def test_a_nick_is_free_again_once_its_owner_leaves():
    room = Room()
    alice = joined(room, "alice")
    room.leave(alice, "connection closed", 0.0)
    newcomer = joined(room)
    guest = newcomer.nick
    [(to, event)] = room.handle(newcomer, ev.SetNick("alice"), 0.0)
    assert event == ev.NickChanged(guest, "alice", 0.0)


def test_leaving_twice_does_not_free_someone_elses_nick():
    room = Room()
    alice = joined(room, "alice")
    room.leave(alice, "connection closed", 0.0)
    alice2 = joined(room, "alice")
    assert alice2.nick == "alice"
    room.leave(alice, "connection lost", 0.0)  # the old connection's second goodbye
    [(to, error)] = room.handle(joined(room), ev.SetNick("alice"), 0.0)
    assert error.code == "nick_in_use"


def test_json_hello_claims_its_nick_or_the_nearest_free_variant():
    room = Room()
    joined(room, "alice")
    member = room.connect()
    out = inbox(room, room.join(member, 0.0, ev.Hello(1, "Alice")))
    assert member.nick == "Alice_" and out["Alice_"][0].nick == "Alice_"


def test_json_hello_with_an_invalid_nick_keeps_the_guest_nick_and_says_why():
    room = Room()
    member = room.connect()
    out = inbox(room, room.join(member, 0.0, ev.Hello(1, "no spaces")))
    assert member.nick.startswith("guest")
    assert any(isinstance(e, ev.Error) and e.code == "bad_nick" for e in out[member.nick])


def test_private_messages_reach_only_the_two_ends():
    room = Room()
    alice, bob, carol = joined(room, "alice"), joined(room, "bob"), joined(room, "carol")
    out = inbox(room, room.handle(alice, ev.TextLine("/msg BOB psst"), 3.0))
    assert out["bob"] == [ev.Private("alice", "bob", "psst", 3.0)]
    assert out["alice"] == [ev.Private("alice", "bob", "psst", 3.0, confirmation=True)]
    assert "carol" not in out


def test_a_private_message_to_nobody_is_an_error():
    room = Room()
    alice = joined(room, "alice")
    [(to, error)] = room.handle(alice, ev.Whisper("ghost", "hello?", 4), 0.0)
    assert error.code == "no_such_nick" and error.id == 4


def test_who_lists_everyone_in_join_order():
    room = Room()
    alice, bob = joined(room, "alice"), joined(room, "bob")
    [(to, users)] = room.handle(bob, ev.TextLine("/who"), 0.0)
    assert to is bob and users == ev.Users(("alice", "bob"), 2)


def test_unknown_commands_answer_the_sender_only():
    room = Room()
    alice, bob = joined(room, "alice"), joined(room, "bob")
    out = inbox(room, room.handle(alice, ev.TextLine("/dance"), 0.0))
    assert list(out) == ["alice"] and out["alice"][0].code == "unknown_command"


def test_history_is_replayed_to_newcomers_and_bounded():
    room = Room(history=2)
    alice = joined(room, "alice")
    for text in ("one", "two", "three"):
        room.handle(alice, ev.TextLine(text), 0.0)
    room.handle(alice, ev.TextLine("/me waves"), 0.0)
    room.handle(alice, ev.TextLine("/msg alice private stays out"), 0.0)
    out = inbox(room, room.join(room.connect(), 0.0))
    [history] = [e for e in out["guest2"] if isinstance(e, ev.History)]
    assert [(type(e), e.text, e.replay) for e in history.events] == [
        (ev.Message, "three", True), (ev.Action, "waves", True)]


def test_quit_tells_the_others_and_disconnects_the_quitter():
    room = Room()
    alice, bob = joined(room, "alice"), joined(room, "bob")
    out = room.handle(alice, ev.TextLine("/quit off to lunch"), 7.0)
    got = inbox(room, out)
    assert got["bob"] == [ev.Left("alice", "quit: off to lunch", 7.0)]
    assert (alice, ev.Disconnect("off to lunch")) in out
    assert [m.nick for m in room.members] == ["bob"]


def test_echo_mode_returns_each_line_unchanged_to_its_sender_only():
    room = Room(Mode.ECHO)
    alice, bob = joined(room), joined(room)
    assert room.handle(alice, ev.TextLine("/nick x stays text \x1b"), 0.0) == [
        (alice, ev.Reply("/nick x stays text \x1b"))]


@pytest.mark.parametrize("text, upper", [("straße", "STRASSE"), ("café", "CAFÉ"), ("ǆ", "Ǆ"), ("abc 123", "ABC 123")])
def test_upper_mode_is_unicode_aware(text, upper):
    room = Room(Mode.UPPER)
    member = joined(room)
    assert room.handle(member, ev.TextLine(text), 0.0) == [(member, ev.Reply(upper))]


def test_json_users_in_echo_mode_get_tagged_replies_and_no_chat_features():
    room = Room(Mode.ECHO)
    member = room.connect()
    [(to, welcome)] = room.join(member, 0.0, ev.Hello(1, "robot"))
    assert welcome.mode == "echo"
    assert room.handle(member, ev.Say("ping me", 3), 0.0) == [(member, ev.Reply("ping me", 3))]
    [(to, error)] = room.handle(member, ev.Whisper("x", "y"), 0.0)
    assert error.code == "unsupported_in_mode"


def test_a_large_room_sums_up_joins_and_leaves_instead_of_announcing_each():
    room = Room()
    members = [joined(room) for _ in range(LARGE_ROOM)]
    announced = room.join(room.connect(), 0.0)
    assert not any(isinstance(e, ev.Joined) for _, e in announced)
    room.leave(members[0], "connection closed", 0.0)
    [(to, summary)] = room.presence_summary()
    assert to is EVERYONE
    assert (summary.joined_count, summary.left_count, summary.user_count) == (1, 1, LARGE_ROOM)
    assert room.presence_summary() == []


def test_a_small_room_announces_joins_one_by_one():
    room = Room()
    joined(room, "alice")
    out = room.join(room.connect(), 1.0)
    assert (EVERYONE, ev.Joined("guest2", 1.0)) in out
    assert room.presence_summary() == []


def users_seen(room: Room, observer: Member, outgoings: list) -> list[str]:
    """The user list a client keeps by applying, in order, what `observer` was sent (as
    client/session.py does)."""
    users: list[str] = []
    for outgoing in outgoings:
        for event in inbox(room, outgoing).get(observer.nick, []):
            if isinstance(event, ev.Welcome):
                users = list(event.users)
            elif isinstance(event, ev.Joined) and event.nick not in users:
                users.append(event.nick)
            elif isinstance(event, ev.Left) and event.nick in users:
                users.remove(event.nick)
            elif isinstance(event, ev.NickChanged):
                assert event.old in users, f"told of a rename of {event.old}, never announced"
                users = [event.new if u == event.old else u for u in users]
            elif isinstance(event, ev.Presence):
                users = [u for u in users if u not in event.left] + [n for n in event.joined if n not in users]
            elif isinstance(event, (ev.Message, ev.Action)):
                assert event.sender in users, f"a line from {event.sender}, never announced"
    return users


def test_in_a_large_room_a_newcomer_that_renames_and_speaks_is_announced_under_its_current_nick():
    """Report #14: observers got `nick guest103->newbie`, a line from newbie, then a summary
    naming guest103: clients listed a phantom."""
    room = Room()
    observer = joined(room, "observer")
    for _ in range(LARGE_ROOM):
        joined(room)
    newcomer = room.connect()
    outgoings = [room.join(newcomer, 1.0),
                 room.handle(newcomer, ev.TextLine("/nick newbie"), 1.1),
                 room.handle(newcomer, ev.TextLine("hello all"), 1.2),
                 room.presence_summary()]
    seen = users_seen(room, observer, outgoings)
    assert "newbie" in seen and newcomer.nick == "newbie"
    assert not any(nick.startswith("guest") and nick not in [m.nick for m in room.members] for nick in seen)


def test_in_a_large_room_a_silent_newcomer_is_summed_up_under_its_current_nick():
    room = Room()
    observer = joined(room, "observer")
    for _ in range(LARGE_ROOM - 1):  # the room is full: the next joins are summed up
        joined(room)
    assert room.presence_summary() == []
    quiet, talker = room.connect(), room.connect()
    outgoings = [room.join(quiet, 1.0), room.join(talker, 1.0),
                 room.handle(talker, ev.Say("hi", None), 1.1),  # announced at once, before its line
                 room.presence_summary()]
    assert outgoings[2][0] == (EVERYONE, ev.Joined(talker.nick, 1.1))
    [(_, summary)] = outgoings[3]
    assert summary.joined == (quiet.nick,) and summary.joined_count == 1
    assert quiet.nick in users_seen(room, observer, outgoings)


def test_in_a_large_room_a_newcomer_that_leaves_unannounced_is_summed_up_as_leaving():
    """A later joiner's welcome listed it; the summary must take it off that list too."""
    room = Room()
    for _ in range(LARGE_ROOM):
        joined(room)
    ghost = room.connect()
    room.join(ghost, 1.0)
    later = room.connect()
    outgoings = [room.join(later, 1.1)]
    assert ghost.nick in users_seen(room, later, outgoings)
    ghost_nick = ghost.nick
    outgoings += [room.leave(ghost, "connection closed", 1.2), room.presence_summary()]
    assert ghost_nick not in users_seen(room, later, outgoings)


@pytest.mark.parametrize("request_", [ev.Say("\u0007\u001b[2J", "t1"), ev.Act("\x1b]0;title\x07", "t1"),
                                      ev.Say("   ", "t1"), ev.Say("\x01\x02\x1b[0m", "t1"),
                                      ev.Whisper("bob", "\u202e\u2028", "t1")])
def test_a_message_with_nothing_visible_once_cleaned_is_refused_and_not_relayed(request_):
    """Report #19: `<alice> ` was broadcast and kept in history."""
    room = Room()
    alice, bob = joined(room, "alice", json=True), joined(room, "bob")
    out = room.handle(alice, request_, 0.0)
    assert [(to, e.code, e.id) for to, e in out] == [(alice, "empty_message", "t1")]
    assert not room.history


def test_a_typed_line_with_nothing_visible_is_ignored_like_a_blank_one():
    room = Room()
    alice, bob = joined(room, "alice"), joined(room, "bob")
    assert room.handle(alice, ev.TextLine("\x01\x02\x1b[0m"), 0.0) == []
    [(to, error)] = room.handle(alice, ev.TextLine("/me \x1b[0m"), 0.0)  # a command: told why
    assert to is alice and error.code == "empty_message"
    assert not room.history


# --- the join rules (the room's, not the glue's) -------------------------------------------

def test_the_first_request_joins_and_is_then_handled():
    room = Room()
    member = room.connect()
    out = room.receive(member, ev.TextLine("hello all"), 1.0)
    assert member.joined
    assert [type(e) for _, e in out] == [ev.Welcome, ev.Joined, ev.Message]


def test_a_hello_joins_as_json_and_a_hello_that_failed_to_parse_joins_nobody():
    room = Room()
    member = room.connect()
    failed = ev.Error("bad_json", "hello: not JSON")
    assert room.receive(member, failed, 1.0, negotiating=True) == [(member, failed)] and not member.joined
    out = room.receive(member, ev.Hello(1, "robot"), 1.0)
    assert member.joined and member.json and member.nick == "robot"
    assert type(out[0][1]) is ev.Welcome


def test_a_silent_connection_is_greeted_after_the_grace_and_not_announced_until_it_speaks():
    room = Room()
    alice = joined(room, "alice")
    lurker = room.connect()
    due = Room.greeting_due(lurker, last_active=5.0)
    assert due is not None and due > 5.0
    out = room.greet_silently(lurker, due)
    assert lurker.joined and inbox(room, out) == {"guest2": [room.welcome(lurker)]}
    assert Room.greeting_due(lurker, last_active=5.0) is None  # joined: no longer waiting
    spoke = room.receive(lurker, ev.TextLine("hi"), due + 1)
    assert [e for e in inbox(room, spoke)[alice.nick] if type(e) is ev.Joined] == [ev.Joined("guest2", due + 1)]


def test_a_late_hello_switches_the_member_to_json_with_its_welcome_and_nick():
    room = Room(history=5)
    bob = joined(room, "bob")
    room.handle(bob, ev.Say("earlier"), 1.0)
    late = room.connect()
    room.greet_silently(late, 2.0)
    out = room.receive(late, ev.Hello(1, "bob"), 3.0)  # "bob" is taken: gets "bob_"
    assert late.json and late.nick == "bob_"
    mine = inbox(room, [(to, e) for to, e in out if to is late])["bob_"]
    assert [type(e) for e in mine] == [ev.Welcome, ev.History] and mine[0].nick == "bob_"
    assert [e for e in inbox(room, out)["bob"] if type(e) is ev.NickChanged] == [ev.NickChanged("guest2", "bob_", 3.0)]


def test_blank_lines_are_no_sign_of_life():
    assert not Room.shows_life(ev.TextLine("   "))
    assert Room.shows_life(ev.TextLine(" x ")) and Room.shows_life(ev.Ping("1"))


@pytest.mark.parametrize("mode", list(Mode))
def test_a_tagged_rename_to_the_current_nick_is_answered_and_an_untagged_one_is_not(mode):
    room = Room(mode)
    member = joined(room, "alice", json=True)
    assert room.handle(member, ev.SetNick("alice", "n1"), 2.0) == [(member, ev.NickChanged("alice", "alice", 2.0))]
    assert room.handle(member, ev.SetNick("alice"), 2.0) == []


def test_each_mode_gets_its_own_room_class():
    from selchat.server.echo import EchoRoom
    from selchat.server.room import ChatRoom
    assert type(Room()) is ChatRoom and type(Room(Mode.CHAT)) is ChatRoom
    assert type(Room(Mode.ECHO)) is EchoRoom and type(Room(Mode.UPPER)) is EchoRoom
