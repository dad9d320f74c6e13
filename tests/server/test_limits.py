"""Abuse limits and access control, against the real server: each refusal says why, in one line.

The timed rules (flood control's pace, password penalties, pings, idle, slowloris) are checked on
a fake clock in test_service.py; what stays here is one wire-level check per limit."""

import socket
import ssl
import subprocess
import sys

import pytest

from credentials import PASSWORD
from lineclient import LineClient, text_user
from selchat.server.cli import read_password
from selchat.server.limits import TokenBucket


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.ready_at(0.0) == pytest.approx(0.5)
    assert not bucket.take(0.4) and bucket.take(0.5)
    assert bucket.take(10.0) and bucket.take(10.0) and bucket.take(10.0) and not bucket.take(10.0)


@pytest.mark.parametrize("rate, start", [(7.0, 1000.0), (0.3, 1000.0), (3.0, 123456.789),
                                         (10.0, 1_764_000_000.0), (3.0, 1_764_000_000.0)])
def test_ready_at_is_a_time_when_a_token_is_there_not_now_again(rate, start):
    # Found by float rounding: with the bucket a hair short of a token, `now + deficit / rate`
    # rounded back to `now`, so a throttled session's timer fired again at once, forever.
    bucket = TokenBucket(rate, 1.0, start)
    assert bucket.take(start)
    when = bucket.ready_at(start)
    for _ in range(50):
        if not bucket.take(when):
            later = bucket.ready_at(when)
            assert later > when, "ready_at() said now, yet no token is there"
            when = later
            assert bucket.take(when)
        when = bucket.ready_at(when)


def joined(server, nick, **kwargs) -> LineClient:
    return text_user(server.address, nick, **kwargs)


def test_a_flooder_is_slowed_with_a_notice_and_loses_nothing_on_the_wire(run_server):
    # The pace and the overtaking are test_service.py's; this checks the notice and the order end
    # to end, with a fast rate so it waits little.
    server = run_server("--rate", "20", "--burst", "5")
    with joined(server, "flood") as flooder, joined(server, "watch") as watcher:
        flooder.send("".join(f"flood {n}\n" for n in range(12)))
        flooder.expect(r"^\*\*\* flood control: more than 20 lines a second; your lines are delayed, not lost$")
        order = [watcher.expect(r"^<flood> ") for _ in range(12)]
        assert order == [f"<flood> flood {n}" for n in range(12)]
        assert sum("flood control" in line for line in flooder.lines) == 1


def test_connections_per_address_are_limited_with_a_reason(run_server):
    server = run_server("--max-per-ip", "2")
    first, second = LineClient(server.address), LineClient(server.address)
    first.expect("welcome")
    second.expect("welcome")
    with LineClient(server.address) as third:
        assert third.read_until_closed() == ["!!! error: too many connections from your address (limit 2)"]
    first.close()
    second.expect(r"has left \(connection closed\)$")  # the server has let go of the first
    with joined(server, "later") as later:
        later.send_line("/ping")
        later.expect(r"^\*\*\* pong$")
    second.close()


def test_text_users_must_give_the_password_before_they_can_chat(run_server, password_file):
    server = run_server("--password-file", password_file)
    assert "password" in server.log[0]
    with LineClient(server.address) as guesser:
        guesser.expect(r"^\*\*\* this server needs a password: type /pass PASSWORD$")
        guesser.send_line("hello?")
        guesser.expect(r"^!!! error: this server needs a password")
        guesser.send_line("/pass guess")
        guesser.expect(r"^!!! error: wrong password$")
        server.wait_for_log(r"WARNING guest\d+ \(127\.0\.0\.1\): wrong password \(attempt 1\)")
    # A second connection, so as not to wait out the guesser's penalty (test_service.py times it).
    with LineClient(server.address) as client:
        client.expect(r"^\*\*\* this server needs a password")
        client.send_line("/pass open sesame")
        client.expect(r"^\*\*\* welcome to selchat")
        client.send_line("in at last")
        client.expect(r"^<guest\d+> in at last$")


def test_json_clients_give_the_password_in_the_hello(run_server, password_file):
    server = run_server("--password-file", password_file)
    good = LineClient(server.address)
    good.send_json({"type": "hello", "protocol": 1, "nick": "robot", "password": "open sesame"})
    assert good.expect_json("welcome")["nick"] == "robot"
    bad = LineClient(server.address)
    bad.send_json({"type": "hello", "protocol": 1, "password": "nope"})
    assert bad.expect_json("error")["code"] == "bad_password"  # closed after the penalty (test_service.py)
    bad.close()
    missing = LineClient(server.address)
    missing.send_json({"type": "hello", "protocol": 1})
    assert missing.expect_json("error")["code"] == "auth_required"
    missing.read_until_closed()
    good.close()


def trusting(cert: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert)


def test_tls_chat_between_text_and_json_users(run_server, certificate):
    cert, key = certificate
    server = run_server("--tls-cert", cert, "--tls-key", key)
    assert "tls" in server.log[0]
    alice = joined(server, "alice", tls=trusting(cert))
    robot = LineClient(server.address, tls=trusting(cert))
    robot.send_json({"type": "hello", "protocol": 1, "nick": "robot"})
    robot.expect_json("welcome")
    robot.send_json({"type": "message", "text": "over tls"})
    alice.expect(r"^<robot> over tls$")


def test_tls_moves_large_bursts_intact_both_ways(run_server, certificate):
    # Many records per read (data buffered inside the SSL object, invisible to select) and
    # partial writes of large replies.
    cert, key = certificate
    server = run_server("--tls-cert", cert, "--tls-key", key, "--mode", "upper", "--rate", "0")
    client = LineClient(server.address, tls=trusting(cert))
    lines = [f"line {n} " + "x" * 2000 for n in range(1000)]
    client.send("".join(line + "\n" for line in lines))
    for line in lines:
        assert client.expect(r".") == line.upper()


def test_a_plain_client_on_a_tls_port_is_dropped_and_harms_no_one(run_server, certificate):
    cert, key = certificate
    server = run_server("--tls-cert", cert, "--tls-key", key)
    alice = joined(server, "alice", tls=trusting(cert))
    with socket.create_connection(server.address, timeout=10) as plain:
        plain.sendall(b"hello in the clear\n")
        try:
            while plain.recv(4096):
                pass
        except ConnectionResetError:
            pass  # the server hung up on it: that is the point
    alice.send_line("/ping")
    alice.expect(r"^\*\*\* pong$")
    server.wait_for_log(r"TLS handshake with 127\.0\.0\.1 failed")


def test_a_tls_client_over_a_limit_is_told_why_inside_tls(run_server, certificate):
    cert, key = certificate
    server = run_server("--tls-cert", cert, "--tls-key", key, "--max-per-ip", "1")
    first = joined(server, "first", tls=trusting(cert))
    with LineClient(server.address, tls=trusting(cert)) as second:
        assert second.read_until_closed() == ["!!! error: too many connections from your address (limit 1)"]
    first.send_line("/ping")
    first.expect(r"^\*\*\* pong$")


@pytest.mark.parametrize("option, value", [("--idle-timeout", "nan"), ("--burst", "nan"), ("--rate", "nan"),
                                           ("--idle-timeout", "inf"), ("--burst", "inf"), ("--rate", "inf")])
def test_a_limit_that_is_not_a_finite_number_is_refused_at_start_up(option, value):
    # nan gets past a `< 0` check: --idle-timeout nan spun a core and stopped every timer.
    result = subprocess.run([sys.executable, "-m", "selchat.server", "--port", "0", option, value],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{option} must be a finite number" in result.stderr and "0 turns the limit off" in result.stderr
    assert "listening on" not in result.stderr


@pytest.mark.parametrize("content", [b"open sesame \n", b"\xef\xbb\xbfopen sesame\n", b"open sesame\r\n",
                                     b"\xef\xbb\xbf open sesame\t \r\nsecond line\n"])
def test_the_password_file_is_read_without_its_bom_and_surrounding_whitespace(tmp_path, content):
    path = tmp_path / "password"
    path.write_bytes(content)
    assert read_password(str(path)) == PASSWORD


def test_a_password_file_of_only_a_bom_and_spaces_is_refused(tmp_path):
    path = tmp_path / "password"
    path.write_bytes(b"\xef\xbb\xbf  \n")
    with pytest.raises(ValueError, match="the first line is empty"):
        read_password(str(path))


@pytest.mark.parametrize("content", [b"\xef\xbb\xbfopen sesame\n", b"open sesame \n"])
def test_text_users_can_log_in_with_a_password_file_that_has_a_bom_or_a_trailing_space(run_server, tmp_path, content):
    path = tmp_path / "password"
    path.write_bytes(content)
    server = run_server("--password-file", str(path))
    with LineClient(server.address) as client:
        client.expect(r"^\*\*\* this server needs a password")
        client.send_line("/pass open sesame")
        client.expect(r"^\*\*\* welcome to selchat")
    robot = LineClient(server.address)  # and the same password in a JSON hello
    robot.send_json({"type": "hello", "protocol": 1, "nick": "robot", "password": PASSWORD})
    assert robot.expect_json("welcome")["nick"] == "robot"
    robot.close()
