"""Nicks in the room: look-alikes clash, blank and mixed-script nicks are refused, and in echo and
upper modes no connection learns another's nick. Pure: no sockets, no clock."""

import pytest

from selchat.server import events as ev
from selchat.server.chat import Mode, Room


def joined(room: Room, nick: str | None = None, json: bool = True):
    member = room.connect()
    out = room.join(member, 0.0, ev.Hello(1, nick) if json else None)
    return member, out


def codes(out) -> list[str]:
    return [event.code for _, event in out if type(event) is ev.Error]


@pytest.mark.parametrize("look_alike", ["\uff41lice", "\uff21lice", "ALICE", "ａｌｉｃｅ"])
def test_a_nick_that_normalises_to_a_held_one_is_in_use(look_alike):
    """Report #11: fullwidth ａlice (NFKC: alice) was accepted beside alice."""
    room = Room()
    joined(room, "alice")
    other, _ = joined(room)
    assert codes(room.handle(other, ev.SetNick(look_alike), 0.0)) == ["nick_in_use"]
    newcomer, _ = joined(room, look_alike)  # in a hello: a free variant, never the look-alike
    assert newcomer.nick == look_alike + "_"


@pytest.mark.parametrize("spoof", ["\u0430lice", "alic\u0435", "\u3164", "\u3164\u3164\u3164"])
def test_look_alike_and_blank_nicks_are_refused(spoof):
    room = Room()
    joined(room, "alice")
    other, _ = joined(room)
    assert codes(room.handle(other, ev.SetNick(spoof), 0.0)) == ["bad_nick"]
    assert other.nick.startswith("guest")


@pytest.mark.parametrize("nick", ["ёжик", "名前", "josé", "김철수"])
def test_single_script_nicks_in_any_script_are_welcome(nick):
    room = Room()
    member, out = joined(room, nick)
    assert member.nick == nick and codes(out) == []


def test_the_nick_a_member_holds_keeps_out_its_look_alikes_after_renames():
    room = Room()
    alice, _ = joined(room, "alice")
    room.handle(alice, ev.SetNick("ａlice"), 0.0)  # its own look-alike: allowed, it is the holder
    assert alice.nick == "ａlice"
    bob, _ = joined(room)
    assert codes(room.handle(bob, ev.SetNick("alice"), 0.0)) == ["nick_in_use"]
    room.handle(alice, ev.SetNick("carol"), 0.0)
    assert room.handle(bob, ev.SetNick("alice"), 0.0) != [] and bob.nick == "alice"


@pytest.mark.parametrize("mode", [Mode.ECHO, Mode.UPPER])
def test_echo_and_upper_modes_reveal_no_other_connection(mode):
    """Report #21: welcome.users, who and nick clashes listed everyone connected."""
    room = Room(mode)
    text_user, _ = joined(room, json=False)
    bob, _ = joined(room, "bob")
    room.handle(bob, ev.SetNick("secretagent"), 0.0)
    carol, out = joined(room, "carol")
    [welcome] = [event for _, event in out if type(event) is ev.Welcome]
    assert welcome.users == ("carol",) and welcome.user_count == 1
    assert room.handle(carol, ev.Who(), 0.0) == [(carol, ev.Users(("carol",), 1))]
    # No clash either: each connection is a private service, so a taken nick cannot be probed.
    assert room.handle(carol, ev.SetNick("secretagent"), 0.0) == [
        (carol, ev.NickChanged("carol", "secretagent", 0.0))]
    dup, out = joined(room, "bob")
    assert dup.nick == "bob" and codes(out) == []
    assert room.connected_count == 4
    for member in (text_user, bob, carol, dup):
        room.leave(member, "quit", 0.0)
        room.leave(member, "connection closed", 0.0)  # as the loop may: twice
    assert room.connected_count == 0


def test_chat_mode_still_lists_everyone():
    room = Room()
    joined(room, "alice")
    bob, out = joined(room, "bob")
    [welcome] = [event for _, event in out if type(event) is ev.Welcome]
    assert welcome.users == ("alice", "bob")


def test_the_registry_compares_by_key_skips_taken_guest_nicks_and_frees_a_renamed_nick():
    from selchat.server.members import Member
    from selchat.server.nicks import NickRegistry
    nicks = NickRegistry()
    squatter = Member("GUEST1")
    nicks.add(squatter)
    first = Member(nicks.guest_nick())
    nicks.add(first)
    assert first.nick == "guest2"  # guest1 is taken, by key
    assert nicks.holder("ｇｕｅｓｔ1") is squatter
    assert nicks.free_variant("guest1", first) == "guest1_" and nicks.free_variant("guest2", first) == "guest2"
    nicks.rename(first, "alice")
    assert nicks.holder("guest2") is None and nicks.holder("ALICE") is first and len(nicks) == 2
    nicks.remove(squatter)
    assert nicks.members() == [first]
