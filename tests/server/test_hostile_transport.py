"""Hostile input against the transport, on a real server: accept errors, TLS, and --max-sendq.

--max-sendq is about what a peer fails to take, not what one turn produces: a newcomer's big
history replay and a burst of many senders in one turn must reach readers that read, while a
reader that never reads is still dropped. To make "one turn" deterministic the server is paused
with SIGSTOP while the clients write, then resumed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl

from lineclient import LineClient, json_client, reset, stalled_reader, text_user

POISON = b"\xff" * 8192  # a legal line whose every byte is relayed as U+FFFD: 3 bytes each
RELAYED_POISON = "\ufffd" * 8192


def trusting(cert: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert)


@contextlib.contextmanager
def paused(server):
    """Stop the server process (SIGSTOP, a stand-in for one long loop turn) until the block ends."""
    os.kill(server.proc.pid, signal.SIGSTOP)
    _, status = os.waitpid(server.proc.pid, os.WUNTRACED)  # returns once it has stopped
    assert os.WIFSTOPPED(status)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def test_tls_clients_that_reset_before_accept_do_not_kill_the_server(run_server, certificate):
    cert, key = certificate
    server = run_server("--tls-cert", cert, "--tls-key", key, "--max-per-ip", "2")
    with paused(server):
        for _ in range(5):  # connected in the kernel's accept queue, reset before accept()
            reset(socket.create_connection(server.address))
    # wrap_socket() probes each reset socket and raises: dropped, logged once, not fatal.
    server.wait_for_log(r"WARNING dropped an incoming connection \(TLS wrap: .*\); serving on")
    # The dropped ones were never counted against the address: two more fit under --max-per-ip 2.
    alice = text_user(server.address, "alice", tls=trusting(cert))
    bob = text_user(server.address, "bob", tls=trusting(cert))
    alice.send_line("still serving")
    bob.expect(r"^<alice> still serving$")
    assert server.proc.poll() is None
    assert sum("dropped an incoming connection" in line for line in server.log) == 1  # rate-limited
    alice.close()
    bob.close()


def test_a_tls_refusal_is_sent_inside_tls_while_many_other_handshakes_are_in_flight(run_server, certificate):
    # Only refusals count against TLS_REFUSALS_IN_FLIGHT (64): 70 ordinary handshakes in flight
    # must not turn the next refusal into plaintext, which a TLS client cannot read.
    cert, key = certificate
    server = run_server("--tls-cert", cert, "--tls-key", key, "--max-clients", "70", "--max-per-ip", "0")
    silent = [socket.create_connection(server.address) for _ in range(70)]  # never send a ClientHello
    try:
        with LineClient(server.address, tls=trusting(cert)) as refused:
            assert refused.read_until_closed() == ["!!! error: server full, try again later"]
    finally:
        for sock in silent:
            sock.close()


def test_a_newcomer_gets_a_history_replay_bigger_than_max_sendq(run_server):
    # 50 lines of 8192 x 0xFF: a 1.23 MB replay against the default 1 MiB --max-sendq.
    server = run_server("--rate", "0")
    poisoner = text_user(server.address, "poisoner")
    poisoner.send(b"".join(POISON + b"\n" for _ in range(50)))
    for _ in range(50):
        poisoner.expect(r"^<poisoner> \ufffd")
    text = LineClient(server.address)
    text.expect(r"^\*\*\* welcome")
    replayed = [text.expect(r"^<poisoner> ") for _ in range(50)]
    assert replayed == [f"<poisoner> {RELAYED_POISON}"] * 50
    robot, welcome = json_client(server.address, "robot")
    replay = [robot.expect_json("message", replay=True) for _ in range(50)]
    assert [event["text"] for event in replay] == [RELAYED_POISON] * 50
    text.send_line("/who")  # both are still in the room
    robot.send_json({"type": "who"})
    text.expect(r"users here: .*robot")
    assert "robot" in robot.expect_json("users")["users"]
    assert not any("too slow" in line for line in server.log)
    for client in (poisoner, text, robot):
        client.close()


def test_a_burst_from_many_senders_in_one_turn_drops_no_reader_and_loses_no_line(run_server):
    # 10 senders x 7 poison lines (57 KB each, one recv, within the burst) read in one turn: about
    # 1.7 MB for every member from that one turn, more than --max-sendq, to readers who read.
    server = run_server()
    senders = [text_user(server.address, f"s{n}") for n in range(10)]
    readers = [text_user(server.address, "reader")] + [json_client(server.address, f"json{n}")[0] for n in range(2)]
    lines = 7
    with paused(server):
        for sender in senders:
            sender.send(b"".join(POISON[1:] + b"%d\n" % n for n in range(lines)))
    for client in readers + senders:  # the senders read too: nobody here is slow
        got = 0
        while got < len(senders) * lines:
            client.expect(r"\ufffd{8191}\d")
            got += 1
    reader_lines = [line for line in readers[0].lines if line.startswith("<s")]
    assert sorted(reader_lines) == sorted(f"<s{s}> {RELAYED_POISON[1:]}{n}" for s in range(10) for n in range(lines))
    assert not any("too slow" in line for line in server.log)
    for client in readers + senders:
        client.close()


def test_a_reader_that_never_reads_is_still_dropped_as_too_slow(run_server):
    server = run_server("--max-sendq", "65536", "--rate", "0")
    stalled = stalled_reader(server.address)
    with text_user(server.address, "alice") as alice:
        payload = "y" * 4000
        for batch in range(400):  # at most 16 MB, far past what the kernel buffers for it
            alice.send("".join(f"{batch}.{n} {payload}\n" for n in range(16)))
            alice.expect(rf"^<alice> {batch}\.15 y")
            if any(line.startswith("*** stalled has left") for line in alice.lines):
                break
        alice.expect(r"^\*\*\* stalled has left \(too slow \(output queue full\)\)$")
        server.wait_for_log(r"WARNING stalled .* dropped: too slow")
    stalled.close()
