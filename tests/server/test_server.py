"""The real server on a loopback port, talked to as nc, telnet and the seed's client would."""

import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import lineclient
from lineclient import LineClient, json_client, reset, stalled_reader


def text_user(server, nick: str) -> LineClient:
    return lineclient.text_user(server.address, nick)


def test_startup_line_names_address_mode_and_backend(run_server):
    server = run_server("--mode", "upper", "--backend", "poll")
    assert re.search(rf"listening on 127\.0\.0\.1:{server.port} \(mode=upper, backend=poll\)", server.log[0])


def test_python_m_and_help_explain_every_option_with_its_default():
    result = subprocess.run([sys.executable, "-m", "selchat.server", "--help"], capture_output=True, text=True,
                            check=True)
    for option in ("--host", "--port", "--mode", "--backend", "--max-clients", "--max-line", "--max-sendq",
                   "--history", "--trace", "--verbose", "--quiet"):
        assert option in result.stdout
    text = " ".join(result.stdout.split())
    assert "(default: 8081)" in text and "(default: chat)" in text and "(default: 8192)" in text


def test_greeting_names_mode_guest_nick_and_help(run_server):
    server = run_server()
    with LineClient(server.address) as client:
        line = client.expect(r"^\*\*\* welcome")
        assert "mode=chat" in line and re.search(r"you are guest\d+", line) and "/help" in line


def test_chat_between_text_users(run_server):
    server = run_server()
    with text_user(server, "alice") as alice, text_user(server, "bob") as bob:
        alice.expect(r"^\*\*\* bob has joined|is now known as bob")
        alice.send_line("hello bob")
        assert bob.expect(r"^<alice>") == "<alice> hello bob"
        assert alice.expect(r"^<alice>") == "<alice> hello bob"  # the sender's copy confirms it
        bob.send_line("/me waves")
        alice.expect(r"^\* bob waves$")
        bob.send_line("/msg alice psst")
        alice.expect(r"^\*bob\* psst$")
        bob.expect(r"^-> \*alice\* psst$")
        bob.send_line("/who")
        bob.expect(r"^\*\*\* 2 users here: alice, bob$")
        bob.send_line("//slashes stay")
        alice.expect(r"^<bob> /slashes stay$")
        bob.send_line("/frobnicate")
        bob.expect(r"^!!! error: unknown command /frobnicate")
        bob.send_line("/quit see you")
        bob.expect(r"^\*\*\* bye$")
        bob.read_until_closed()
        alice.expect(r"^\*\*\* bob has left \(quit: see you\)$")


def test_lines_after_quit_are_not_read(run_server):
    server = run_server()
    with text_user(server, "alice") as alice, text_user(server, "bob") as bob:
        alice.send("/quit bye\nafter quit\n")
        alice.read_until_closed()
        bob.expect(r"^\*\*\* alice has left \(quit: bye\)$")
        bob.send_line("/who")
        bob.expect(r"^\*\*\* 1 user here: bob$")
        assert not [line for line in bob.lines if "after quit" in line or "alice has joined" in line]


def test_text_and_json_users_share_the_room(run_server):
    server = run_server()
    alice = text_user(server, "alice")
    robot, welcome = json_client(server.address, "robot")
    assert welcome["mode"] == "chat" and welcome["nick"] == "robot" and "alice" in welcome["users"]
    alice.expect(r"^\*\*\* robot has joined$")
    robot.send_json({"type": "message", "text": "beep", "id": "r1"})
    alice.expect(r"^<robot> beep$")
    assert robot.expect_json("message", id="r1")["from"] == "robot"
    alice.send_line("hello robot")
    assert robot.expect_json("message", **{"from": "alice"})["text"] == "hello robot"
    robot.send_json({"type": "ping", "id": 41})
    robot.expect_json("pong", id=41)
    robot.send_line("{not json")
    assert robot.expect_json("error")["code"] == "bad_json"
    robot.send_json({"type": "message", "text": "still here"})
    alice.expect(r"^<robot> still here$")


def test_history_is_replayed_to_newcomers(run_server):
    server = run_server("--history", "3")
    with text_user(server, "alice") as alice:
        for n in range(5):
            alice.send_line(f"line {n}")
        alice.expect(r"^<alice> line 4$")
        with LineClient(server.address) as late:
            late.expect(r"^\*\*\* --- last 3 messages ---$")
            assert [late.expect(r"^<alice>") for _ in range(3)] == ["<alice> line 2", "<alice> line 3",
                                                                   "<alice> line 4"]
        robot, _ = json_client(server.address)
        assert robot.expect_json("message", replay=True)["text"] == "line 2"


@pytest.mark.parametrize("mode, sent, expected", [
    ("echo", "Hello, wörld", "Hello, wörld"),
    ("upper", "straße café", "STRASSE CAFÉ"),
])
def test_echo_and_upper_answer_each_line_and_nothing_else(run_server, mode, sent, expected):
    server = run_server("--mode", mode)
    with LineClient(server.address) as client:
        client.send_line(sent)
        client.send_line("/help")
        assert client.expect(r".") == expected
        assert client.expect(r".") == ("/help" if mode == "echo" else "/HELP")


def seed_client_exchange(address, messages):
    """What the seed article's client does: send text with no newline, block on recv(1024)."""
    replies = []
    with socket.create_connection(address, timeout=10) as sock:
        for text in messages:
            sock.send(text.encode("utf-8"))
            replies.append(sock.recv(1024).decode("utf-8"))
    return replies


@pytest.mark.parametrize("mode", ["echo", "upper", "chat"])
def test_the_seed_articles_client_works_in_every_mode(run_server, mode):
    server = run_server("--mode", mode)
    with socket.create_connection(server.address, timeout=10) as sock:
        received = ""
        for text in ("hello", "straße"):
            sock.send(text.encode())
            # Its recv(1024) returns whatever has arrived; keep reading as its next loop would.
            wanted = {"echo": text, "upper": text.upper(), "chat": f"> {text}"}[mode]
            deadline = time.monotonic() + 10
            while wanted not in received and time.monotonic() < deadline:
                received += sock.recv(1024).decode()
            assert wanted in received
    if mode != "chat":
        assert seed_client_exchange(server.address, ["one", "two"]) == (
            ["one\n", "two\n"] if mode == "echo" else ["ONE\n", "TWO\n"])


def test_an_over_long_line_is_refused_to_its_sender_and_costs_no_one_else(run_server):
    server = run_server("--max-line", "1024", "--rate", "0")
    with text_user(server, "alice") as alice, text_user(server, "bob") as bob:
        alice.send(b"x" * (4 << 20))  # 4 MiB, no newline
        alice.expect(r"^!!! error: line too long \(max 1024 bytes\)$")
        alice.send(b"\n")
        bob.send_line("still fine")
        alice.expect(r"^<bob> still fine$")
        alice.send_line("me too")
        bob.expect(r"^<alice> me too$")
        assert not any("x" * 100 in line for line in bob.lines)


def test_invalid_utf8_and_escape_sequences_reach_others_cleaned(run_server):
    server = run_server()
    with text_user(server, "alice") as alice, text_user(server, "bob") as bob:
        alice.send(b"bad \xff\xfe bytes \x1b[2J\x1b]0;title\x07 end\n")
        assert bob.expect(r"^<alice> bad") == "<alice> bad \ufffd\ufffd bytes  end"


def test_nick_rules_over_the_wire(run_server):
    server = run_server()
    with text_user(server, "alice") as alice, LineClient(server.address) as other:
        other.expect(r"welcome")
        other.send_line("/nick ALICE")
        other.expect(r'^!!! error: nick "ALICE" is in use$')
        other.send_line("/nick 1337")
        other.expect(r"^!!! error: invalid nick")


def test_trace_shows_which_descriptors_and_nicks_were_ready(run_server):
    server = run_server("--trace")
    with text_user(server, "alice") as alice:
        alice.send_line("traced")
        alice.expect(r"^<alice> traced$")
        server.wait_for_log(r"turn \d+: read \[\d+:alice\] write \[")


def test_a_client_that_stops_reading_is_dropped_and_slows_no_one(run_server):
    server = run_server("--max-sendq", "65536", "--rate", "0")
    stalled = stalled_reader(server.address)
    with text_user(server, "alice") as alice, text_user(server, "bob") as bob:
        alice.expect(r"stalled|bob")
        payload = "y" * 1000
        # 8 MB to everyone, more than the kernel's buffers can hide, in batches that alice and
        # bob read as they go: only the reader that never reads passes the 64 KiB cap.
        for batch in range(160):
            alice.send("".join(f"{batch}.{n} {payload}\n" for n in range(50)))
            for reader in (alice, bob):
                reader.expect(rf"^<alice> {batch}\.49 y")
        bob_saw = [line for line in bob.lines if line.startswith("<alice> ")]
        assert len(bob_saw) == 160 * 50  # nothing lost for anyone who reads
        assert any(line == "*** stalled has left (too slow (output queue full))" for line in bob.lines)
        server.wait_for_log(r"WARNING stalled .* dropped: too slow")
    stalled.close()


def test_max_clients_refuses_with_a_reason_and_keeps_serving(run_server):
    server = run_server("--max-clients", "2")
    with text_user(server, "alice") as alice, text_user(server, "bob") as bob:
        with LineClient(server.address) as third:
            assert third.read_until_closed() == ["!!! error: server full, try again later"]
        alice.send_line("still here")
        bob.expect(r"^<alice> still here$")


def test_select_backend_lowers_max_clients_below_fd_setsize(run_server):
    server = run_server("--backend", "select", "--max-clients", "5000")
    server.wait_for_log(r"--max-clients 5000 lowered to \d+ .*select\(\) watches fds below 1024")


def test_a_storm_of_resets_mid_line_does_no_harm(run_server):
    server = run_server()
    with text_user(server, "alice") as alice:
        for n in range(200):
            sock = socket.create_connection(server.address)
            sock.sendall(b"half a li")
            reset(sock)
        alice.send_line("/ping")
        alice.expect(r"^\*\*\* pong$")
        alice.send_line("/who")
        alice.expect(r"^\*\*\* \d+ users? here: ")
    assert server.proc.poll() is None
    assert not server.errors()


def test_a_half_closed_client_still_gets_what_it_is_owed(run_server):
    server = run_server("--mode", "upper")
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(b"one\ntwo\nthree")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data == b"ONE\nTWO\nTHREE\n"


def test_sigterm_notifies_clients_flushes_and_exits_zero(run_server):
    server = run_server()
    alice, robot = text_user(server, "alice"), json_client(server.address, "robot")[0]
    server.proc.send_signal(signal.SIGTERM)
    assert "*** server shutting down" in alice.read_until_closed()
    robot.expect_json("notice", code="shutdown")
    assert server.proc.wait(10) == 0


def test_a_signal_wakes_an_idle_loop_with_no_timers(run_server):
    # Echo mode sets no timers, so select() sleeps without a timeout: only the wakeup fd can end it.
    server = run_server("--mode", "echo")
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(5) == 0


def test_a_second_interrupt_exits_at_once(run_server):
    server = run_server("--max-sendq", str(64 << 20), "--rate", "0")
    stalled = stalled_reader(server.address)
    with text_user(server, "alice") as alice:
        for batch in range(40):  # leaves megabytes queued for the reader that never reads
            alice.send(("z" * 4000 + "\n") * 50)
            alice.expect(r"^<alice> z", timeout=10)
        server.proc.send_signal(signal.SIGINT)
        server.wait_for_log(r"shutting down")
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(2) == 130
    stalled.close()
