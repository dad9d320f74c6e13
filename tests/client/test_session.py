"""The sans-I/O half of the client: decoding, outbox and delivery tracking."""

import json
import random

from hypothesis import given, strategies as st

from selchat.client.net import Backoff
from selchat.client.sanitize import clean
from selchat.client.session import (
    ChatLine, ClientSession, Delivery, DeliveryChanged, Reply, ServerError, StatusChanged,
    ConnectionState, Welcome, decode, encode,
)


def welcome(nick="alice", mode="chat", users=("alice",)):
    return Welcome(nick, mode, tuple(users), len(users))


def test_non_json_lines_decode_to_nothing():
    assert decode(b"*** welcome to selchat 0.1.0 (mode=chat). you are guest1.\n") is None
    assert decode(b"[1, 2]\n") is None
    assert decode(b'{"type": "something-new"}\n') is None


def test_decode_sanitizes_text():
    line = decode(json.dumps({"type": "message", "from": "ev\x1b[2Jil", "text": "a\x1b]0;x\x07b\x00c"}))
    assert line == ChatLine("message", "evil", "abc")


def test_encode_is_one_json_line():
    data = encode({"type": "message", "text": "é\nx"})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"type": "message", "text": "é\nx"}


def test_outbox_resent_in_order_on_welcome():
    session = ClientSession("alice")
    first, second = session.submit("message", "one"), session.submit("action", "two")
    assert first.delivery is Delivery.PENDING
    requests = session.on_welcome(welcome())
    assert [r["text"] for r in requests] == ["one", "two"]
    assert [r["id"] for r in requests] == [first.id, second.id]
    assert first.delivery is Delivery.SENT


def test_server_copy_marks_delivered_and_is_not_shown_twice():
    session = ClientSession("alice")
    session.on_welcome(welcome())
    line = session.submit("message", "hi")
    out = session.apply(ChatLine("message", "alice", "hi", 1.0, id=line.id))
    assert out == [DeliveryChanged(line)] and line.delivery is Delivery.DELIVERED
    assert not session.outbox


def test_error_with_id_marks_failed():
    session = ClientSession("alice")
    session.on_welcome(welcome())
    line = session.submit("private", "psst", to="nobody")
    session.apply(ServerError("no_such_nick", "no such nick", line.id))
    assert line.delivery is Delivery.FAILED and "no such nick" in line.error


def test_reply_without_id_confirms_oldest_in_flight():
    session = ClientSession("alice")
    session.on_welcome(welcome(mode="echo"))
    first, second = session.submit("message", "a"), session.submit("message", "b")
    session.apply(Reply("a"))
    assert first.delivery is Delivery.DELIVERED and second.delivery is Delivery.SENT


def test_nick_reclaimed_when_server_gave_another():
    session = ClientSession("alice")
    requests = session.on_welcome(welcome(nick="alice_"))
    assert [(r["type"], r["nick"]) for r in requests] == [("nick", "alice")]
    assert requests[0]["id"]  # the error, if the nick is still taken, will carry it


def test_only_an_error_for_the_newest_nick_request_undoes_it():
    session = ClientSession("alice")
    session.on_welcome(welcome())
    older = session.request_nick("bob")
    newer = session.request_nick("carol")
    assert older["id"] != newer["id"]
    session.apply(ServerError("nick_in_use", 'nick "bob" is in use', older["id"]))
    assert session.wanted_nick == "carol"  # the newer request is still in flight
    session.apply(ServerError("nick_in_use", 'nick "carol" is in use', newer["id"]))
    assert session.wanted_nick == "alice"


def test_replayed_history_already_seen_is_skipped():
    session = ClientSession("alice")
    session.on_welcome(welcome())
    assert session.apply(ChatLine("message", "bob", "x", 5.0))
    assert session.apply(ChatLine("message", "bob", "x", 5.0, replay=True)) == []
    assert session.apply(ChatLine("message", "bob", "y", 6.0, replay=True))


def test_status_in_words():
    status = StatusChanged(ConnectionState.RECONNECTING, "h", 1, attempt=3, retry_in=3.6,
                           reason="connection refused")
    assert status.describe() == "reconnecting in 4s (attempt 3): connection refused"


def test_backoff_doubles_to_cap_with_jitter():
    backoff = Backoff(rng=random.Random(1))
    delays = [backoff.delay(n) for n in range(1, 12)]
    assert 0.4 <= delays[0] <= 0.6 and 0.8 <= delays[1] <= 1.2
    assert all(d <= 30 for d in delays) and delays[-1] >= 24


@given(st.text())
def test_clean_leaves_no_control_characters(text):
    cleaned = clean(text)
    assert "\x1b" not in cleaned and "\n" not in cleaned
    assert all(not (ord(c) < 32 or 0x7f <= ord(c) <= 0x9f) for c in cleaned)
