"""Resume on the client: replayed lines deduped by sid (not ts), and the hello carrying
`since` and `session` after a reconnect. Pure state, no sockets."""

import json

from hypothesis import given, strategies as st

from selchat.client.session import ChatLine, ClientSession, Joined, Welcome
from selchat.wire.resume import sid_after


def welcome(epoch="e1", session="s1", users=("alice",)):
    return Welcome(nick="alice", mode="chat", users=tuple(users), user_count=len(users),
                   epoch=epoch, session=session)


def line(text, ts, sid, replay=False):
    return ChatLine("message", "bob", text, ts, replay=replay, sid=sid)


def test_a_replayed_line_sharing_a_ts_with_one_seen_is_not_dropped():
    # Issue 13, defect 3: the dedupe compared ts, so a line said in the same instant as the last
    # one seen (or on a node whose clock is behind) vanished from the replay.
    session = ClientSession("alice")
    session.on_welcome(welcome())
    assert session.apply(line("seen", 5.0, "0-1"))
    assert session.apply(line("seen", 5.0, "0-1", replay=True)) == []
    assert session.apply(line("missed", 5.0, "0-2", replay=True))
    assert session.apply(line("older clock", 4.0, "0-3", replay=True))


def test_after_a_new_epoch_the_replay_is_shown_in_full():
    session = ClientSession("alice")
    session.on_welcome(welcome())
    session.apply(line("seen", 5.0, "0-9"))
    session.on_welcome(welcome(epoch="e2"))
    assert session.apply(line("new log", 1.0, "0-1", replay=True))


def test_the_hello_after_a_reconnect_carries_since_and_session():
    session = ClientSession("alice")
    first = json.loads(session.connection_made(0.0))
    assert "since" not in first and "session" not in first
    session.receive(json.dumps({"type": "welcome", "protocol": 1, "server": "s", "mode": "chat",
                                "nick": "alice", "users": ["alice"], "user_count": 1,
                                "epoch": "e1", "session": "s1"}), 0.1)
    session.receive(json.dumps({"type": "join", "nick": "bob", "ts": 1.0, "sid": "0-4"}), 0.2)
    session.connection_lost("connection reset")
    hello = json.loads(session.connection_made(1.0))
    assert hello["since"] == {"epoch": "e1", "sid": "0-4"} and hello["session"] == "s1"


def test_events_without_a_sid_fall_back_to_the_ts_rule():
    session = ClientSession("alice")
    session.on_welcome(Welcome(nick="alice", mode="chat", users=("alice",), user_count=1))
    assert session.apply(ChatLine("message", "bob", "x", 5.0))
    assert session.apply(ChatLine("message", "bob", "x", 5.0, replay=True)) == []
    assert session.apply(Joined("carol", 6.0))


SIDS = st.one_of(st.builds(lambda ms, seq: f"{ms}-{seq}", st.integers(0, 3), st.integers(0, 3)),
                 st.sampled_from(["junk", "1-", "-1", "²-1"]))


@given(st.lists(st.tuples(SIDS, st.booleans()), max_size=12))
def test_the_last_sid_parsed_once_keeps_the_rule_of_comparing_sids_each_time(lines):
    # The rule as it was, comparing the sid strings with `sid_after` on every line.
    session = ClientSession("alice")
    session.on_welcome(welcome())
    last = None
    for n, (sid, replay) in enumerate(lines):
        duplicate = replay and last is not None and not sid_after(sid, last)
        shown = session.apply(line(f"l{n}", float(n), sid, replay=replay))
        assert shown == ([] if duplicate else [line(f"l{n}", float(n), sid, replay=replay)])
        if not duplicate and (last is None or sid_after(sid, last)):
            last = sid
        assert session.last_sid == last
