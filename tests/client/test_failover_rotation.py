"""The failover plan without sockets: which server comes next and how long to wait, on a fake
clock (the times are plain numbers handed in), and how server addresses are written."""

import pytest

from selchat.client.failover import (
    STABLE_AFTER, Backoff, Rotation, ServerAddress, parse_server, parse_server_list,
)
from selchat.client.session import Ending

A, B, C = ServerAddress("10.0.0.1", 8081), ServerAddress("10.0.0.2", 8081), ServerAddress("::1", 9000)
REFUSED = Ending("connection refused")
DROPPED = Ending("connection reset", welcomed=True)


def steady():
    """Backoff without jitter: attempt n waits n seconds' worth, easy to read in a test."""
    return Backoff(first=1.0, cap=30.0, jitter=0.0)


def test_a_drop_after_a_working_connection_moves_to_the_next_server_at_once():
    rotation = Rotation([A, B], steady())
    rotation.welcomed(0.0)
    after = rotation.ended(DROPPED, STABLE_AFTER + 5)
    assert (after.server, after.delay, after.switched) == (B, 0.0, True)


def test_it_stays_on_the_server_it_failed_over_to():
    rotation = Rotation([A, B], steady())
    rotation.welcomed(0.0)
    assert rotation.ended(DROPPED, 100.0).server == B
    rotation.welcomed(100.1)
    # B works for an hour; A is long back, but nothing makes the client leave B meanwhile.
    assert rotation.current == B
    assert rotation.ended(DROPPED, 3700.0).server == A


def test_backoff_comes_only_after_a_whole_round_failed_and_grows_per_round():
    rotation = Rotation([A, B, C], steady())
    plan = [(n.server, n.delay, n.attempt) for n in (rotation.ended(REFUSED, t) for t in range(7))]
    assert plan == [
        (B, 0.0, 1), (C, 0.0, 2), (A, 1.0, 3),  # round 1 failed: wait 1 s, go on around
        (B, 0.0, 4), (C, 0.0, 5), (A, 2.0, 6),  # round 2 failed: 2 s
        (B, 0.0, 7),
    ]


def test_a_working_connection_starts_the_backoff_over():
    rotation = Rotation([A, B], steady())
    for t in range(6):  # three rounds failed
        rotation.ended(REFUSED, t)
    rotation.welcomed(10.0)
    first = rotation.ended(DROPPED, 10.0 + STABLE_AFTER)
    second = rotation.ended(REFUSED, 30.0)
    assert (first.delay, first.attempt) == (0.0, 1)
    assert (second.delay, second.attempt) == (1.0, 2)  # back to the first round's wait


def test_a_server_that_welcomes_and_drops_at_once_is_a_failure_not_a_success():
    # Otherwise two flapping servers would be retried in a tight loop for ever.
    rotation = Rotation([A, B], steady())
    delays = []
    for t in range(4):
        rotation.welcomed(float(t))
        delays.append(rotation.ended(DROPPED, t + 0.1).delay)
    assert delays == [0.0, 1.0, 0.0, 2.0]


def test_one_server_backs_off_from_the_first_failure_as_before():
    rotation = Rotation([A], steady())
    rotation.welcomed(0.0)
    after_drop = rotation.ended(DROPPED, 60.0)
    assert (after_drop.server, after_drop.delay, after_drop.switched) == (A, 1.0, False)
    assert [rotation.ended(REFUSED, 61 + t).delay for t in range(3)] == [2.0, 4.0, 8.0]


def test_a_password_request_keeps_the_client_on_that_server():
    rotation = Rotation([A, B], steady())
    rotation.ended(REFUSED, 0.0)
    after = rotation.ended(Ending("the server needs a password", needs_password=True), 1.0)
    assert (after.server, after.delay, after.attempt, after.give_up) == (B, 0.0, 0, "")


def test_a_protocol_refusal_drops_that_server_and_is_fatal_only_when_none_is_left():
    rotation = Rotation([A, B], steady())
    refused = Ending("server refused protocol 1: we speak 2", fatal=True)
    after = rotation.ended(refused, 0.0)
    assert (after.server, after.give_up) == (B, "")
    assert rotation.ended(REFUSED, 1.0).server == B  # A is out of the rotation
    assert rotation.ended(refused, 2.0).give_up == refused.reason


def test_the_same_server_twice_is_one_server():
    assert Rotation([A, A, B]).servers == [A, B]


@pytest.mark.parametrize("text, expected", [
    ("chat.example:8082", ServerAddress("chat.example", 8082)),
    ("chat.example", ServerAddress("chat.example", 8081)),
    ("[::1]:9000", ServerAddress("::1", 9000)),
    ("[fe80::1]", ServerAddress("fe80::1", 8081)),
    (" 127.0.0.1:1 ", ServerAddress("127.0.0.1", 1)),
])
def test_server_addresses(text, expected):
    assert parse_server(text, 8081) == expected


@pytest.mark.parametrize("text, words", [
    ("::1", "in brackets"),
    ("[::1", "closing ']'"),
    ("[::1]9000", "expected ':PORT'"),
    ("host:http", "'http' is not a port number"),
    ("host:0", "0 is not a port number"),
    (":8081", "no host"),
    ("", "empty"),
])
def test_bad_server_addresses_say_why(text, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_server(text, 8081)


def test_a_list_of_servers_and_how_they_are_written():
    servers = parse_server_list("a:1, [::1]:2,,b", 8081)
    assert [str(s) for s in servers] == ["a:1", "[::1]:2", "b:8081"]
    with pytest.raises(ValueError):
        parse_server_list(" , ", 8081)


def test_a_silent_server_found_dead_by_the_session_is_left_for_the_next_at_once():
    # The session and the rotation on one fake clock: welcomed at 0, then the server says nothing;
    # the session's pings go unanswered until it hangs up, and the rotation moves on.
    from selchat.client.session import ClientSession, encode

    session, rotation = ClientSession("alice"), Rotation([A, B], steady())
    session.connection_made(0.0)
    step = session.receive(encode({"type": "welcome", "protocol": 1, "nick": "alice", "mode": "chat",
                                   "users": ["alice"], "user_count": 1}), 0.0)
    assert step.welcomed
    rotation.welcomed(0.0)
    now = 0.0
    while not step.hang_up:
        now = session.next_timer()
        step = session.tick(now)
    after = rotation.ended(session.connection_lost(), now)
    assert now >= STABLE_AFTER  # it worked until it fell silent
    assert (after.server, after.delay, after.attempt) == (B, 0.0, 1)
