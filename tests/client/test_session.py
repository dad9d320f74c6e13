"""The sans-I/O half of the client: decoding, outbox and delivery tracking, and every protocol
decision of a connection (handshake, pings, lag, refusals, hang-up reasons) on a fake clock."""

import json

import pytest
from hypothesis import given, strategies as st

from selchat.client.sanitize import clean
from selchat.client.session import (
    DEAD_AFTER_PINGS, LAG_REFRESH, ChatLine, ClientSession, ConnectionState, Delivery,
    DeliveryChanged, Ending, LagMeasured, Notice, Reply, ServerError, StatusChanged, Welcome, decode,
    encode,
)


def welcome(nick="alice", mode="chat", users=("alice",)):
    return Welcome(nick=nick, mode=mode, users=tuple(users), user_count=len(users))


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


def test_reply_confirms_the_line_whose_id_it_carries():
    session = ClientSession("alice")
    session.on_welcome(welcome(mode="echo"))
    first, second = session.submit("message", "a"), session.submit("message", "b")
    session.apply(Reply("B", second.id))
    assert first.delivery is Delivery.SENT and second.delivery is Delivery.DELIVERED
    session.apply(Reply("a"))  # the server always echoes the id; a reply without one settles nothing
    assert first.delivery is Delivery.SENT


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


@given(st.text())
def test_clean_leaves_no_control_characters(text):
    cleaned = clean(text)
    assert "\x1b" not in cleaned and "\n" not in cleaned
    assert all(not (ord(c) < 32 or 0x7f <= ord(c) <= 0x9f) for c in cleaned)


# --- one connection, on a fake clock ----------------------------------------------------------------

WELCOME = b'{"type":"welcome","protocol":1,"server":"selchat 0.1.0","mode":"chat","nick":"alice",' \
          b'"users":["alice"],"user_count":1,"max_line":8192}\n'


def requests(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def welcomed(session=None, now=0.0):
    """A session whose connection got its welcome at `now`; the first ping went out with it."""
    session = session or ClientSession("alice", ping_interval=5.0)
    session.connection_made(now)
    step = session.receive(WELCOME, now)
    assert step.welcomed
    return session, step


def test_hello_carries_the_password_but_the_session_keeps_none():
    session = ClientSession("alice")
    hello = requests(session.connection_made(0.0, password="open sesame"))
    assert hello == [{"type": "hello", "protocol": 1, "nick": "alice", "client": "selchat 0.1.0",
                      "password": "open sesame"}]
    assert "open sesame" not in repr(session)


def test_text_greeting_is_skipped_and_welcome_sends_outbox_then_a_ping():
    session = ClientSession("alice")
    queued = session.submit("message", "typed offline")
    session.connection_made(0.0)
    assert session.receive(b"*** welcome to selchat 0.1.0 (mode=chat). you are guest1.\n", 0.1).events == []
    step = session.receive(WELCOME, 0.2)
    assert step.welcomed and not step.hang_up
    assert [type(e) for e in step.events] == [Welcome, DeliveryChanged]
    assert step.events[1].line is queued and queued.delivery is Delivery.SENT
    sent = requests(step.data)
    assert [r["type"] for r in sent] == ["message", "ping"] and sent[0]["id"] == queued.id
    assert session.connected


@pytest.mark.parametrize("line, reason", [
    (b"!!! error: server full, try again later\n", "server full, try again later"),
    (b"*** too many connections from your address (limit 4)\n",
     "too many connections from your address (limit 4)"),
    (b'{"type":"error","code":"server_full","message":"server full"}\n', "server full"),
    (b"!!! \x1b[31mred\x1b[0m alert\n", "red alert"),
])
def test_a_refusal_before_welcome_is_the_reason_shown(line, reason):
    session = ClientSession("alice")
    session.connection_made(0.0)
    assert not session.receive(line, 0.1).hang_up  # the server hangs up itself
    ending = session.connection_lost()
    assert ending.reason == reason and not ending.fatal and not ending.welcomed


def test_unsupported_protocol_is_fatal_and_says_why():
    session = ClientSession("alice")
    session.connection_made(0.0)
    step = session.receive(b'{"type":"error","code":"unsupported_protocol","message":"we speak 2"}', 0.1)
    assert step.hang_up
    ending = session.connection_lost()
    assert ending.fatal and ending.reason == "server refused protocol 1: we speak 2"


@pytest.mark.parametrize("code, reason, wrong", [
    ("auth_required", "the server needs a password", False),
    ("bad_password", "wrong password", True),
])
def test_a_refused_password_hangs_up_and_waits_for_one(code, reason, wrong):
    session = ClientSession("alice")
    session.connection_made(0.0)
    step = session.receive(json.dumps({"type": "error", "code": code, "message": "x"}), 0.1)
    assert step.hang_up
    ending = session.connection_lost("connection reset")  # our own reason wins over the I/O's
    assert (ending.reason, ending.needs_password, ending.wrong_password) == (reason, True, wrong)
    assert not ending.fatal


def test_hung_up_on_before_welcome_without_a_word_suggests_tls():
    plain = ClientSession("alice")
    plain.connection_made(0.0)
    assert plain.connection_lost().reason == \
        "server closed the connection before welcome (if the server uses TLS, try --tls)"
    secure = ClientSession("alice", tls=True)
    secure.connection_made(0.0)
    assert secure.connection_lost().reason == "server closed the connection"


def test_no_welcome_in_time_hangs_up_and_says_so():
    session = ClientSession("alice", welcome_timeout=10.0)
    session.connection_made(100.0)
    assert session.next_timer() == 110.0
    assert session.tick(109.9).hang_up is False
    assert session.tick(110.0).hang_up
    assert session.next_timer() is None
    assert session.connection_lost().reason == "no welcome from the server (is it a selchat server?)"


def test_a_connect_failure_is_described_by_the_io_layer():
    session = ClientSession("alice")
    assert session.connection_lost("connection refused").reason == "connection refused"


def test_server_ping_is_answered_with_its_id():
    session, _ = welcomed()
    step = session.receive(b'{"type":"ping","id":"idle-7"}', 1.0)
    assert requests(step.data) == [{"type": "pong", "id": "idle-7"}] and step.events == []


def test_pong_measures_the_round_trip_on_the_given_clock():
    session, step = welcomed(now=10.0)
    ping = requests(step.data)[-1]
    assert ping["type"] == "ping"
    out = session.receive(json.dumps({"type": "pong", "id": ping["id"]}), 10.25)
    assert out.events == [LagMeasured(0.25)] and session.lag == 0.25
    assert session.receive(b'{"type":"pong","id":"not-ours"}', 10.3).events == []


def test_lag_counts_up_while_a_ping_is_unanswered():
    """tui-review defect I: a stalled server showed `lag 0 ms` for 15 s."""
    session, step = welcomed(now=0.0)
    ping = requests(step.data)[-1]["id"]
    session.receive(json.dumps({"type": "pong", "id": ping}), 0.004)  # a healthy lag first
    assert session.tick(5.0).data  # the next ping; the server has frozen since
    shown = []
    now = 5.0
    while (now := session.next_timer()) < 10.0:
        shown += [e.seconds for e in session.tick(now).events]
    assert shown == pytest.approx([LAG_REFRESH * n for n in range(1, 5)])


def test_silent_server_is_dead_after_three_pings_and_the_reason_is_true():
    """tui-review defect I: the client hung up itself but blamed the server."""
    session, _ = welcomed(now=0.0)
    pings = 1
    while True:
        now = session.next_timer()
        step = session.tick(now)
        if step.hang_up:
            break
        pings += bool(step.data)
    assert pings == DEAD_AFTER_PINGS and now == 15.0
    ending = session.connection_lost()  # after our abort the socket reads as a plain end of file
    assert ending.reason == "no answer from the server for 15 s" and ending.welcomed


def test_a_server_that_sends_anything_is_alive_even_if_pings_wait():
    """Flood control reads our pings late but sends us lines meanwhile: not dead."""
    session, _ = welcomed(now=0.0)
    for now in range(5, 60, 5):
        session.receive(b'{"type":"message","from":"bob","text":"x","ts":1.0}', now - 0.5)
        assert not session.tick(now).hang_up


def test_after_a_shutdown_notice_the_end_is_the_servers_shutdown():
    session, _ = welcomed()
    step = session.receive(b'{"type":"notice","text":"server shutting down","code":"shutdown"}', 1.0)
    assert step.events == [Notice("server shutting down", "shutdown")]
    assert session.connection_lost().reason == "server shutting down"
    session, _ = welcomed()
    assert session.connection_lost("connection reset") == Ending("connection reset", welcomed=True)


def test_lines_after_we_hung_up_are_ignored():
    session = ClientSession("alice")
    session.connection_made(0.0)
    session.receive(b'{"type":"error","code":"unsupported_protocol","message":"no"}', 0.1)
    assert session.receive(WELCOME, 0.2).events == [] and not session.connected


def test_what_the_user_does_goes_out_only_when_it_can():
    session = ClientSession("alice")
    line, data = session.send("message", "offline")
    assert data == b"" and line.delivery is Delivery.PENDING
    assert session.who() == b"" and session.quit("bye") == b""
    assert session.change_nick("bob") == b"" and session.wanted_nick == "bob"
    welcomed(session)
    line, data = session.send("private", "psst", "carol")
    assert requests(data) == [{"type": "private", "text": "psst", "id": line.id, "to": "carol"}]
    assert requests(session.who()) == [{"type": "who"}]
    assert requests(session.quit("bye")) == [{"type": "quit", "reason": "bye"}]
    assert requests(session.quit()) == [{"type": "quit"}]


def test_oversize_is_measured_on_the_wire_with_a_real_id_length():
    session, _ = welcomed()
    assert session.max_line == 8192
    assert session.oversize("message", "x" * 8000) == 0
    size = session.oversize("message", "é" * 4100)  # 2 bytes each in UTF-8
    line, data = session.send("message", "é" * 4100)
    assert size > 8192 and size >= len(data)
