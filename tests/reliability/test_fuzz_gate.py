"""Fuzzing the hostile-input rules with Hypothesis: the password gate, the nick rules, clean().

Pure and fast (no sockets, a fake clock); `--hypothesis-seed` or `.hypothesis/` replays a failure.
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from selchat.server import events as ev
from selchat.server.chat import Mode, Room
from selchat.server.gate import PasswordGate
from selchat.wire.text import clean, is_valid_nick, nick_key

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every code point, lone surrogates included (they reach the server from JSON "\ud800" escapes).
ANY_CHAR = st.characters(blacklist_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=40)
# What clean() output may never hold: C0 but tab, DEL, C1, line/paragraph separators, bidi controls.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
ESCAPE_BITS = st.sampled_from(["\x1b", "\x1b[", "\x1b]", "\x1bP", "\x9b", "\x9d", "\x90", "\x9c", "\x07",
                               "\x1b\\", "[2J", "0;t", "\u202e", "\u2066", "\u2028", "\t", "x", "é"])
# Characters that look alike or fold together: NFKC and case folding must make one nick of them.
LOOK_ALIKES = st.sampled_from(list("aAａＡаeеEfﬀsSſßẞkKKμµÅÅåǆǄǅ1①_-") + ["\u3164", "\u0301", "i", "İ", "ı"])
NICKS = st.one_of(st.text(LOOK_ALIKES, min_size=1, max_size=6), st.text(ANY_CHAR, min_size=1, max_size=6))


@FUZZ
@given(password=ANY_TEXT.filter(str.strip), supplied=ANY_TEXT, json=st.booleans(),
       peer=st.sampled_from(["10.0.0.1", "10.0.0.2", None]), now=st.floats(0, 1e6))
@example(password="open sesame", supplied="\ud800", json=True, peer="10.0.0.1", now=0.0)
def test_the_password_check_never_raises_on_any_string(password, supplied, json, peer, now):
    room = Room(password=password)
    member = room.connect(peer=peer)
    if json:
        out = room.join(member, now, ev.Hello(1, None, password=supplied))
    else:
        room.join(member, now)
        out = room.handle(member, ev.Authenticate(supplied), now)
    welcomed = any(type(event) is ev.Welcome for _, event in out)
    assert welcomed == (supplied.strip() == password.strip())


@FUZZ
@given(attempts=st.lists(st.tuples(ANY_TEXT, st.sampled_from(["a", "b", "c"]), st.floats(0, 5000)), max_size=40))
def test_the_gate_never_lets_a_locked_address_in_and_never_raises(attempts):
    gate = PasswordGate("right")
    for supplied, peer, now in sorted(attempts, key=lambda a: a[2]):
        locked = gate.locked_for(peer, now)
        assert locked >= 0
        if locked == 0 and not gate.matches(supplied):
            assert gate.failed(peer, now) >= 0
        gate.log_due(peer, now)


@FUZZ
@given(moves=st.lists(st.tuples(st.integers(0, 3), NICKS, st.sampled_from(["nick", "hello", "leave"])),
                      max_size=30))
@example(moves=[(0, "alice", "nick"), (1, "\uff41lice", "nick"), (2, "\uff21LICE", "hello")])
@example(moves=[(0, "ss", "nick"), (1, "\u00df", "hello"), (2, "\u017fs", "nick"), (3, "K", "nick"), (1, "\u212a", "nick")])
def test_two_nicks_that_fold_to_one_are_never_both_held(moves):
    room = Room()
    members = [room.connect() for _ in range(4)]
    for member in members:
        room.join(member, 0.0)
    for index, nick, how in moves:
        member = members[index]
        if how == "nick":
            room.handle(member, ev.SetNick(nick), 0.0)
        else:  # a new connection in its place, claiming the nick in a hello or not at all
            room.leave(member, "quit", 0.0)
            member = members[index] = room.connect()
            room.join(member, 0.0, ev.Hello(1, nick) if how == "hello" else None)
        held = [m.nick for m in members]
        folded = [unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", n).casefold()) for n in held]
        assert len(set(folded)) == len(held), held
        assert all(is_valid_nick(n) for n in held), held


@FUZZ
@given(nick=NICKS)
def test_a_valid_nick_is_valid_once_normalised_and_its_key_is_stable(nick):
    if is_valid_nick(nick):
        assert is_valid_nick(unicodedata.normalize("NFKC", nick))
        assert nick_key(nick) == nick_key(unicodedata.normalize("NFKC", nick)) == nick_key(nick_key(nick))
        assert not any(unicodedata.category(ch) in ("Cf", "Zs", "Cc") for ch in nick)


@FUZZ
@given(nicks=st.lists(NICKS, min_size=2, max_size=6), mode=st.sampled_from([Mode.ECHO, Mode.UPPER]))
def test_echo_and_upper_modes_never_name_another_connection(nicks, mode):
    room = Room(mode)
    members = []
    for nick in nicks:
        member = room.connect()
        out = room.join(member, 0.0, ev.Hello(1, nick))
        members.append(member)
        for _, event in out:
            if type(event) is ev.Welcome:
                assert event.users == (member.nick,)
    for member in members:
        [(_, users)] = room.handle(member, ev.Who(), 0.0)
        assert users.users == (member.nick,)


@FUZZ
@given(text=st.one_of(ANY_TEXT, st.lists(st.one_of(ESCAPE_BITS, ANY_TEXT), max_size=12).map("".join)))
def test_clean_output_never_holds_a_control_or_bidi_character(text):
    shown = clean(text)
    assert not UNSAFE.search(shown), repr(shown)
    assert clean(shown) == shown  # nothing left for a second pass
