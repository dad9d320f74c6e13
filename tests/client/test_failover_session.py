"""Failing over without sockets: the session after its server died mid-line resumes on another
one, and what comes back is shown once each, in order, with the resume notices in words."""

import json

from selchat.client.session import (
    ChatLine, ClientSession, Delivery, DeliveryChanged, Notice, encode,
)


def welcome(session: ClientSession, now: float, *, epoch="e1", token="s1", nick="alice"):
    """Connect and be welcomed; returns (the hello sent, what the welcome made the session write)."""
    hello = json.loads(session.connection_made(now))
    step = session.receive(encode({"type": "welcome", "protocol": 1, "server": "s", "mode": "chat",
                                   "nick": nick, "users": [nick, "bob"], "user_count": 2,
                                   "epoch": epoch, "session": token}), now)
    return hello, [json.loads(line) for line in step.data.splitlines()]


def line(nick, text, sid, *, replay=False, id=None):
    obj = {"type": "message", "from": nick, "text": text, "ts": 1.0, "sid": sid}
    if replay:
        obj["replay"] = True
    if id is not None:
        obj["id"] = id
    return encode(obj)


def shown(session, data, now=5.0):
    """What the UI is given for one server line: chat lines' texts, notices, delivery changes."""
    out = []
    for event in session.receive(data, now).events:
        if isinstance(event, ChatLine):
            out.append(event.text)
        elif isinstance(event, Notice):
            out.append(f"notice {event.code}: {event.text}")
        elif isinstance(event, DeliveryChanged):
            out.append(f"{event.line.text} {event.line.delivery.value}")
    return out


def test_a_line_the_dead_server_took_is_shown_once_when_replayed_and_once_more_echoed():
    # The cluster case: node A stored our line and died before we saw its copy; node B replays
    # it (replayed lines carry no id) and then answers our re-send with the copy tagged with our id.
    session = ClientSession("alice")
    welcome(session, 0.0)
    assert shown(session, line("bob", "before", "5-0")) == ["before"]
    sent, _ = session.send("message", "in flight when A died")
    session.connection_lost("connection reset")

    hello, written = welcome(session, 1.0)
    assert hello["since"] == {"epoch": "e1", "sid": "5-0"} and hello["session"] == "s1"
    assert [m["id"] for m in written if m["type"] == "message"] == [sent.id]  # the same id again
    replay = [shown(session, line(n, t, sid, replay=True))
              for n, t, sid in [("bob", "missed 1", "6-0"), ("alice", "in flight when A died", "7-0"),
                                ("bob", "missed 2", "8-0")]]
    assert replay == [["missed 1"], ["in flight when A died delivered"], ["missed 2"]]
    assert sent.delivery is Delivery.DELIVERED and not session.outbox
    # B's answer to the re-send: the same line (same sid) tagged with our id; already shown.
    assert shown(session, line("alice", "in flight when A died", "7-0", id=sent.id)) == []
    assert shown(session, line("bob", "live", "9-0")) == ["live"]


def test_a_line_typed_while_disconnected_is_not_mistaken_for_a_replayed_one():
    # Only lines that were on the wire when the connection died can be in the replay: one typed
    # offline with the same text as an earlier line of ours waits for its own copy.
    session = ClientSession("alice")
    welcome(session, 0.0)
    session.connection_lost("connection reset")
    offline, _ = session.send("message", "hi")
    welcome(session, 1.0)
    assert shown(session, line("alice", "hi", "3-0", replay=True)) == ["hi"]
    assert offline.delivery is Delivery.SENT
    assert shown(session, line("alice", "hi", "10-0", id=offline.id)) == ["hi delivered"]


def test_the_replay_match_uses_the_nick_the_line_was_said_under():
    # On B the old connection may still hold our nick, so we come back as alice_; the replayed
    # line was said as alice.
    session = ClientSession("alice")
    welcome(session, 0.0)
    sent, _ = session.send("action", "waves")
    session.connection_lost("connection reset")
    welcome(session, 1.0, nick="alice_")
    data = encode({"type": "action", "from": "alice", "text": "waves", "ts": 1.0, "sid": "2-0",
                   "replay": True})
    assert shown(session, data) == ["waves delivered"]


def test_history_gap_and_reset_are_shown_in_words_even_when_the_server_sends_none():
    session = ClientSession("alice")
    welcome(session, 0.0)
    session.connection_lost("connection reset")
    welcome(session, 1.0, epoch="e2")
    reset = shown(session, encode({"type": "notice", "code": "history_reset", "text": ""}))
    gap = shown(session, encode({"type": "notice", "code": "history_gap"}))
    worded = shown(session, encode({"type": "notice", "code": "history_gap", "text": "server's own words"}))
    assert reset == ["notice history_reset: the room's history started over on this server: here "
                     "is its recent history; lines you missed meanwhile cannot be shown"]
    assert gap == ["notice history_gap: some lines were missed while you were away; "
                   "here is the recent history"]
    assert worded == ["notice history_gap: server's own words"]


def test_after_a_reset_the_new_servers_history_is_shown_in_full():
    session = ClientSession("alice")
    welcome(session, 0.0)
    shown(session, line("bob", "on A", "0-40"))
    session.connection_lost("connection reset")
    welcome(session, 1.0, epoch="eB")
    assert [shown(session, line("carol", f"on B {n}", f"0-{n}", replay=True)) for n in (1, 2)] \
        == [["on B 1"], ["on B 2"]]


def test_a_resume_notice_is_never_skipped_by_a_flood_that_outruns_the_screen():
    # The backlog drops the oldest lines the screen could never show; the notice that says lines
    # are missing must not be one of them.
    from selchat.client.backlog import Backlog, Skipped

    backlog = Backlog(keep=10)
    backlog.push(Notice("the room's history started over: here is the recent history", "history_reset"))
    backlog.push(Notice("just a notice"))
    backlog.extend(ChatLine("message", "bob", f"flood {n}") for n in range(100))
    events = backlog.take(1000)
    assert isinstance(events[0], Notice) and events[0].code == "history_reset"
    assert isinstance(events[1], Skipped) and events[1].count == 91  # the plain notice went too
    assert [e.text for e in events[2:]] == [f"flood {n}" for n in range(90, 100)]


def nick_requests(step) -> list[str]:
    return [m["nick"] for m in map(json.loads, step.data.splitlines()) if m["type"] == "nick"]


def came_back_as_alice_(session: ClientSession) -> None:
    """Fail over to a node that still holds alice for the dead node's connection."""
    welcome(session, 0.0)
    session.connection_lost("connection reset")
    _, written = welcome(session, 1.0, nick="alice_")
    reclaim = [m for m in written if m["type"] == "nick"]
    assert [m["nick"] for m in reclaim] == ["alice"]
    session.receive(encode({"type": "error", "code": "nick_in_use", "message": 'nick "alice" is in use',
                            "id": reclaim[0]["id"]}), 1.5)


def test_a_nick_held_by_our_dead_connection_is_taken_back_when_it_leaves():
    # irssi's and ZNC's keepnick: the nick is still wanted after the first re-claim failed, and
    # asked for again the moment its holder (our old connection, reaped) leaves.
    session = ClientSession("alice")
    came_back_as_alice_(session)
    assert session.nick == "alice_" and session.wanted_nick == "alice"
    assert nick_requests(session.receive(encode({"type": "leave", "nick": "bob"}), 2.0)) == []
    step = session.receive(encode({"type": "leave", "nick": "Alice", "reason": "node lost"}), 3.0)
    assert nick_requests(step) == ["alice"]
    session.receive(encode({"type": "nick", "old": "alice_", "new": "alice"}), 3.1)
    assert session.nick == "alice"
    # Ours again: another alice leaving (a replay, say) asks for nothing.
    assert nick_requests(session.receive(encode({"type": "leave", "nick": "alice"}), 4.0)) == []


def test_a_held_nick_freed_by_a_rename_or_in_a_large_room_summary_is_taken_back():
    for freed in ({"type": "nick", "old": "alice", "new": "alice_away"},
                  {"type": "presence", "joined": [], "left": ["carol", "alice"], "joined_count": 0,
                   "left_count": 9, "user_count": 40}):
        session = ClientSession("alice")
        came_back_as_alice_(session)
        assert nick_requests(session.receive(encode(freed), 3.0)) == ["alice"], freed


def test_a_nick_change_the_user_asked_for_and_failed_is_not_retried():
    session = ClientSession("alice")
    welcome(session, 0.0)
    request = json.loads(session.change_nick("bob"))
    session.receive(encode({"type": "error", "code": "nick_in_use", "message": 'nick "bob" is in use',
                            "id": request["id"]}), 1.0)
    assert session.wanted_nick == "alice"
    assert nick_requests(session.receive(encode({"type": "leave", "nick": "bob"}), 2.0)) == []
