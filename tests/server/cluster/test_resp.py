"""resp: command encoding, broker URLs and the RedisLink state machine, on bytes only."""

import sys

import pytest

from redis_fixture import require_hiredis

from selchat.server.cluster import resp
from selchat.server.cluster.resp import (
    BadBrokerURL, BrokerURL, LinkLost, LinkState, RedisLink, ReplyError, encode_command,
    parse_broker_url,
)


@pytest.fixture(autouse=True)
def _hiredis():
    require_hiredis()


def test_encode_command_is_an_array_of_bulk_strings():
    assert encode_command("SET", b"k", 5, 1.5, "é") == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$3\r\n1.5\r\n$2\r\n\xc3\xa9\r\n")


@pytest.mark.parametrize("bad", [True, None, [1], object()])
def test_encode_command_refuses_what_redis_would_misread(bad):
    with pytest.raises(TypeError):
        encode_command("SET", "k", bad)


@pytest.mark.parametrize("url, expected", [
    ("redis://h", BrokerURL("h")),
    ("redis://h:7000/3", BrokerURL("h", 7000, 3)),
    ("rediss://:s%40cret@h", BrokerURL("h", password="s@cret", tls=True)),
    ("redis://secret@h/0", BrokerURL("h", password="secret")),
    ("redis://al:pw@[::1]:6380", BrokerURL("::1", 6380, username="al", password="pw")),
])
def test_parse_broker_url(url, expected):
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize("url, says", [
    ("http://h", "redis:// or rediss://"),
    ("h:6379", "redis:// or rediss://"),
    ("redis://:6379", "no host"),
    ("redis://h:port", "bad port"),
    ("redis://h:99999", "bad port"),
    ("redis://h/x", "must be a number"),
    ("redis://h/0?timeout=1", "no ?query"),
])
def test_parse_broker_url_says_what_is_wrong(url, says):
    with pytest.raises(BadBrokerURL, match=says.replace("?", r"\?")):
        parse_broker_url(url)


def test_url_never_prints_its_password():
    assert "pw" not in str(parse_broker_url("redis://al:pw@h"))
    assert "hunter2" not in repr(parse_broker_url("redis://:hunter2@h"))


@pytest.mark.parametrize("url", ["redis://:hunter2@h:99x", "redis://al:hunter2@h/0?x=1", "http://:hunter2@h"])
def test_a_refused_url_never_quotes_its_password(url):
    with pytest.raises(BadBrokerURL) as refused:
        parse_broker_url(url)
    assert "hunter2" not in str(refused.value) and "***@h" in str(refused.value)


def test_missing_hiredis_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "hiredis", None)
    with pytest.raises(ImportError, match=r"install selchat\[cluster\] \(uv sync --extra cluster\)"):
        RedisLink(BrokerURL("h"))


def link(url="redis://h", **kw):
    return RedisLink(parse_broker_url(url), "t", **kw)


def test_handshake_sends_auth_and_select_from_the_url():
    done = []
    connection = link("redis://al:pw@h/2", on_handshake=done.append)
    sent = connection.data_to_send()
    assert sent == encode_command("HELLO", "2", "AUTH", "al", "pw", "SETNAME", "t") + encode_command("SELECT", 2)
    connection.receive_data(b"*2\r\n$6\r\nserver\r\n$5\r\nredis\r\n+OK\r\n")
    assert done == [None]


def test_handshake_error_reaches_on_handshake():
    done = []
    connection = link("redis://:bad@h", on_handshake=done.append)
    connection.receive_data(b"-WRONGPASS invalid username-password pair\r\n")
    assert isinstance(done[0], ReplyError) and done[0].code == "WRONGPASS"


def test_commands_of_a_turn_leave_in_one_buffer_and_replies_pair_in_order():
    connection = link()
    connection.data_to_send()
    got = []
    for n in range(3):
        connection.send(["GET", f"k{n}"], lambda reply, n=n: got.append((n, reply)))
    assert connection.data_to_send() == b"".join(encode_command("GET", f"k{n}") for n in range(3))
    assert connection.data_to_send() == b""
    hello = b"%1\r\n+a\r\n+b\r\n"  # whatever HELLO answered; RESP3 map works too
    data = hello + b"$1\r\na\r\n-ERR no\r\n$-1\r\n"
    for i in range(len(data)):  # one byte at a time: partial replies wait for the rest
        connection.receive_data(data[i:i + 1])
    assert [n for n, _ in got] == [0, 1, 2]
    assert got[0][1] == b"a" and isinstance(got[1][1], ReplyError) and got[2][1] is None


def test_connection_lost_fails_every_pending_callback_once():
    connection = link()
    got = []
    connection.send(["PING"], got.append)
    connection.send(["PING"], got.append)
    connection.connection_lost("reset by peer")
    assert len(got) == 2 and all(isinstance(r, LinkLost) and "reset by peer" in str(r) for r in got)
    connection.send(["PING"], got.append)  # too late: answered at once, never raised
    assert isinstance(got[2], LinkLost) and connection.data_to_send() == b""


def test_a_corrupt_stream_breaks_the_link_instead_of_raising():
    connection = link()
    got = []
    connection.send(["PING"], got.append)
    connection.receive_data(b"?what\r\n")
    assert connection.state is LinkState.BROKEN and "protocol error" in connection.broken_reason
    assert len(got) == 1 and isinstance(got[0], LinkLost)


def test_a_reply_nobody_asked_for_breaks_the_link():
    connection = link()
    connection.receive_data(b"+OK\r\n+OK\r\n")  # one for HELLO, one extra
    assert connection.state is LinkState.BROKEN and "nobody asked" in connection.broken_reason


def test_hint_text_is_the_documented_one():
    assert resp.INSTALL_HINT.startswith("cluster mode needs hiredis")
