"""The hostile-input report's session findings, replayed against a real server on loopback.

tests/server/test_session_timers.py pins each cause on a fake clock; these check that what a
client sees on the wire holds too.
"""

import json

import lineclient
from lineclient import LineClient, json_client


def test_a_json_hello_after_the_text_greeting_still_switches_to_json(run_server):
    # Report #7: refused with bad_request, and the connection was left half JSON, half text.
    server = run_server()
    bob = lineclient.text_user(server.address, "bob")
    with LineClient(server.address) as late, bob:
        late.expect(r"^\*\*\* welcome")  # greeted as a text user after the 0.3 s grace
        late.send_json({"type": "hello", "protocol": 1, "nick": "alice"})
        welcome = late.expect_json("welcome")
        assert welcome["nick"] == "alice" and "bob" in welcome["users"]
        bob.expect(r"is now known as alice$")
        bob.send_line("hi alice")
        assert late.expect_json("message", text="hi alice")["from"] == "bob"
        first_json = next(i for i, line in enumerate(late.lines) if line.startswith("{"))
        assert all(line.startswith("{") for line in late.lines[first_json:])


def test_a_hello_the_server_cannot_parse_is_an_error_and_never_reaches_the_room(run_server):
    # Report #8: each of these was relayed as chat and kept in history, password included.
    server = run_server()
    lines = [
        b'{"type":"hello","protocol":"1","password":"hunter2"}',
        b'{"type":"hello","protocol":1,"nick":"x","nick":5,"password":"hunter2"}',
        b'\xef\xbb\xbf{"type":"hello","protocol":1,"nick":[],"password":"hunter2"}',
        b' {"type":"hello","protocol":1,"password":"hunter2"',
    ]
    observer = lineclient.text_user(server.address, "observer")
    with observer:
        for line in lines:
            with LineClient(server.address) as client:
                client.send(line + b"\n")
                assert client.expect(r"^!!! error: ").startswith("!!! error: ")
        bob, _ = json_client(server.address, "bob")
        with bob:
            bob.send_json({"type": "message", "text": "marker"})
            observer.expect(r"^<bob> marker$")
        with LineClient(server.address) as newcomer:
            newcomer.expect(r"^\*\*\* --- end of history ---$")
            assert not [x for x in newcomer.lines if "hunter2" in x]
    assert not [x for x in observer.lines if "hunter2" in x]


def test_upper_gives_exactly_one_line_back_for_each_line_in_on_the_wire(run_server):
    # Report #16: 40 pipelined lines got 41 back, a flood-control notice among them. (Both modes,
    # on a fake clock, in test_session_timers.py; here upper on the wire.)
    server = run_server("--mode", "upper", "--rate", "50", "--burst", "10")
    sent = [f"line {i}" for i in range(40)] + ["", "the end"]
    with LineClient(server.address) as client:
        client.send("".join(line + "\n" for line in sent))
        client.expect(r"^THE END$")
        assert client.lines == [line.upper() for line in sent]


def test_a_paste_slowed_by_flood_control_arrives_line_for_line(run_server):
    # Report #6: 70 lines of 995 bytes in one write came out as 71: the partial-line timer ran
    # while the server had stopped reading.
    server = run_server("--rate", "50", "--burst", "10")
    lines = [f"{i:03d}" + "x" * 992 for i in range(70)]
    with lineclient.text_user(server.address, "reader") as reader, \
            lineclient.text_user(server.address, "paster") as paster:
        paster.send("".join(line + "\n" for line in lines))
        reader.expect(r"^<paster> 069x")
        got = [line[len("<paster> "):] for line in reader.lines if line.startswith("<paster> ")]
    assert got == lines


def test_silent_connections_that_come_and_go_cost_the_room_no_notices(run_server):
    # Report #15: 63 silent connections at a time, each past the 0.3 s grace, then closed: the
    # member got 213 join and leave notices a second.
    server = run_server()
    with lineclient.text_user(server.address, "alice") as alice:
        # One round of 20 here; ten rounds of 63 on a fake clock in test_session_timers.py.
        silent = [LineClient(server.address) for _ in range(20)]
        for client in silent:
            client.expect(r"^\*\*\* welcome")  # still greeted: an nc user sees the room
        for client in silent:
            client.close()
        bob, _ = json_client(server.address, "bob")
        with bob:
            bob.send_json({"type": "message", "text": "marker"})
            alice.expect(r"^<bob> marker$")
        notices = [line for line in alice.lines if line.startswith("*** ") and ("joined" in line or "left" in line)]
    assert notices == ["*** bob has joined"]


def test_a_nick_request_for_the_nick_one_has_is_answered(run_server):
    server = run_server()
    client, _ = json_client(server.address, "alice")
    with client:
        client.send_json({"type": "nick", "nick": "alice", "id": "n1"})
        client.send_json({"type": "ping", "id": [1, {"k": True}]})
        nick = client.expect_json("nick")
        assert (nick["old"], nick["new"]) == ("alice", "alice")
        pong = client.expect_json("pong")
        assert pong["id"] == [1, {"k": True}]
        client.send(b'{"type":"ping","id":NaN}\n')
        assert client.expect_json("error")["code"] == "bad_json"
        assert all(json.loads(line) is not None for line in client.lines)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def test_connections_that_send_short_lines_by_the_read_hold_their_bytes_not_objects(run_server):
    # Report #9: 60 connections each sending 64 KiB of newlines grew the server by 211 MiB (each
    # line an event, held while flood control released ten a second). Now the unread bytes wait.
    server = run_server("--max-per-ip", "0")
    before = rss_mib(server.proc.pid)
    clients = []
    try:
        for n in range(60):
            client = LineClient(server.address)
            clients.append(client)
            if n % 2:
                client.send(b"\n" * (65536 - 6) + b"/ping\n")  # blank lines: nothing to hold
            else:
                client.send(b"a\n" * 32768)  # throttled after the burst
        for n, client in enumerate(clients):
            client.expect(r"^\*\*\* pong$" if n % 2 else r"^\*\*\* flood control")  # read and parsed
        grown = rss_mib(server.proc.pid) - before
    finally:
        for client in clients:
            client.close()
    assert grown < 16, f"{grown:.1f} MiB for 60 connections"  # was about 60 MiB for these 3.75 MiB
