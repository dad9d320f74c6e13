"""Faults against a real server: clients that die mid-line, resets, half-closes, no descriptors left.

Each test checks what the others in the room see (the leaver leaves, chat goes on), that the
server stays up with nothing logged at ERROR level that should not be, and that the server's
descriptors come back (read from /proc/PID/fd).
"""

from __future__ import annotations

import itertools
import re
import resource
import select
import socket
import subprocess
import sys
import time

import pytest

from lineclient import LineClient, json_client, reset, stalled_reader
from procinfo import cpu_seconds, fd_count, open_fds, wait_for_fd_count, wait_until

# Lines a second are not limited here: some tests flood on purpose.
NO_THROTTLE = ("--rate", "0")


def chatter(server, nick: str) -> LineClient:
    """A text user called `nick`. Unlike lineclient.text_user it sends /nick at once rather than
    wait for the greeting, which a silent client gets only after the 0.3 s hello grace: a dozen
    of those would add seconds to these tests and prove nothing more."""
    client = LineClient(server.address)
    client.send_line(f"/nick {nick}")
    client.expect(rf"is now known as {nick}$")
    return client


# --- a client killed mid-line -----------------------------------------------------------------

VICTIM = r"""
import socket, sys
host, port, dialect = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection((host, port))
if dialect == "json":
    sock.sendall(b'{"type":"hello","protocol":1,"nick":"victim"}\n')
    joined, half = b'"type":"welcome"', b'{"type":"message","text":"cut off mid-wo'
else:
    sock.sendall(b"/nick victim\n")
    joined, half = b"is now known as victim", b"cut off mid-wo"
seen = b""
while joined not in seen:
    chunk = sock.recv(65536)
    if not chunk:
        sys.exit("server closed")
    seen += chunk
sock.sendall(half)
print("ready", flush=True)
sys.stdin.read()  # until killed
"""


@pytest.mark.parametrize("dialect", ["text", "json"])
def test_a_client_killed_mid_line_leaves_and_the_others_chat_on(run_server, dialect):
    server = run_server()
    alice = chatter(server, "alice")
    robot, _ = json_client(server.address, "robot")
    baseline = fd_count(server.proc.pid)
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, server.host, str(server.port), dialect],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout.readline() == "ready\n"
        alice.expect(r"is now known as victim$|^\*\*\* victim has joined$")
        victim.kill()  # SIGKILL: no goodbye, half a line sent
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    alice.expect(r"^\*\*\* victim has left \(connection (closed|lost)\)$")
    assert robot.expect_json("leave", nick="victim")["reason"] in ("connection closed", "connection lost")
    # Chat goes on, both ways.
    alice.send_line("still here")
    assert robot.expect_json("message", **{"from": "alice"})["text"] == "still here"
    robot.send_json({"type": "message", "text": "me too"})
    alice.expect(r"^<robot> me too$")
    # Half a JSON line is never a message; half a text line may count once (the partial-line rule),
    # never twice.
    fragments = [line for line in alice.lines if line.startswith("<victim>")]
    assert fragments == [] if dialect == "json" else fragments in ([], ["<victim> cut off mid-wo"])
    wait_for_fd_count(server.proc.pid, baseline)
    assert server.proc.poll() is None and server.errors() == []


# --- resets ---------------------------------------------------------------------------------------


def test_a_reset_mid_line_is_a_leave_and_nothing_more(run_server):
    server = run_server()
    alice, bob = chatter(server, "alice"), chatter(server, "bob")
    baseline = fd_count(server.proc.pid)
    victim = chatter(server, "victim")
    alice.expect(r"is now known as victim$")
    victim.send("half a li")
    reset(victim.sock)
    for client in (alice, bob):
        client.expect(r"^\*\*\* victim has left \(connection (lost|closed)\)$")
    alice.send_line("after the reset")
    bob.expect(r"^<alice> after the reset$")
    wait_for_fd_count(server.proc.pid, baseline)
    assert server.proc.poll() is None and server.errors() == []


def flood(sender: LineClient, readers: list[LineClient], megabytes: int, tag: str) -> None:
    """`sender` says about `megabytes` MB in 1 KB lines; every reader reads each batch as it comes."""
    payload = "y" * 1000
    for batch in range(megabytes * 20):
        sender.send("".join(f"{tag}{batch}.{n} {payload}\n" for n in range(50)))
        for reader in readers:
            reader.expect(rf"^<\S+> {tag}{batch}\.49 ")


def test_a_reset_while_output_is_queued_for_it_costs_no_one_else(run_server):
    # A big --max-sendq so the stalled reader is not dropped as too slow: the server still owes it
    # megabytes (queued, with write interest) when its peer resets.
    server = run_server("--max-sendq", str(64 << 20), *NO_THROTTLE)
    alice, bob = chatter(server, "alice"), chatter(server, "bob")
    baseline = fd_count(server.proc.pid)
    victim = stalled_reader(server.address, "victim")
    alice.expect(r"is now known as victim$")
    flood(alice, [alice, bob], 6, "f")  # more than the kernel's socket buffers hold
    reset(victim)
    for client in (alice, bob):
        client.expect(r"^\*\*\* victim has left \(connection lost", timeout=10)
    alice.send_line("after the reset")
    bob.expect(r"^<alice> after the reset$")
    assert len([line for line in bob.lines if line.startswith("<alice> f")]) == 6 * 20 * 50
    wait_for_fd_count(server.proc.pid, baseline)
    assert server.proc.poll() is None and server.errors() == []


# --- a half-close -----------------------------------------------------------------------------


def test_a_half_closed_client_gets_everything_it_is_owed_then_the_close(run_server):
    server = run_server("--max-sendq", str(64 << 20), *NO_THROTTLE)
    alice = chatter(server, "alice")
    baseline = fd_count(server.proc.pid)
    half = stalled_reader(server.address, "half")
    alice.expect(r"is now known as half$")
    flood(alice, [alice], 4, "h")  # megabytes queued for `half`, which is not reading yet
    half.sendall(b"last words\n")
    half.shutdown(socket.SHUT_WR)  # "I have nothing more to say": the server still owes it all this
    received = bytearray()
    half.settimeout(10)
    while chunk := half.recv(1 << 20):  # ... and then the server closes
        received += chunk
    half.close()
    alice.expect(r"^<half> last words$")
    alice.expect(r"^\*\*\* half has left \(connection closed\)$")
    lines = received.decode().splitlines()
    flooded = [line.split()[1] for line in lines if line.startswith("<alice> h")]
    assert flooded == [f"h{batch}.{n}" for batch in range(4 * 20) for n in range(50)]
    assert lines[-1] == "<half> last words"
    wait_for_fd_count(server.proc.pid, baseline)
    assert server.errors() == []


# --- no descriptors left --------------------------------------------------------------------------


def limit_for(pid: int, free: int) -> int:
    """The RLIMIT_NOFILE that leaves the process exactly `free` more descriptors: the number of
    the (free + 1)th descriptor it does not use (holes below its highest one count too)."""
    taken = open_fds(pid)
    unused = (fd for fd in itertools.count() if fd not in taken)
    return next(itertools.islice(unused, free, None))


def greeted(sock: socket.socket) -> bool:
    """Whether anything has arrived on `sock` (once accepted, the server answers its /nick)."""
    return bool(select.select([sock], [], [], 0)[0])


def test_out_of_descriptors_the_loop_pauses_accepts_logs_once_serves_on_and_recovers(run_server):
    """accept() failing with EMFILE must not make the loop spin (the backlog keeps the listener
    readable, so a loop that just retries burns a core); the server logs it once, serves the
    clients it has, and accepts the waiting ones once descriptors are free again.

    The server lowers --max-clients to fit `ulimit -n` at start-up, so EMFILE cannot be reached by
    connecting too many clients. What it cannot foresee is the limit shrinking, or descriptors
    being used up by something else, later: we lower its soft RLIMIT_NOFILE from outside with
    prlimit(2) while it runs (only the soft limit, which any process may raise back).
    """
    server = run_server()
    pid = server.proc.pid
    keepers = [chatter(server, f"keeper{n}") for n in range(2)]
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit_for(pid, 4), hard))
    waiting: list[socket.socket] = []
    try:
        keepers += [chatter(server, f"keeper{n}") for n in range(2, 6)]  # the last 4 free descriptors
        for n in range(6):  # the kernel completes these handshakes; the server cannot accept them
            sock = socket.create_connection(server.address, timeout=10)
            sock.sendall(f"/nick waiting{n}\n".encode())
            waiting.append(sock)
        server.wait_for_log(r"ERROR accept\(\) failed: Too many open files")

        # The backlog keeps the listener readable the whole time: a loop that kept polling it
        # would use a whole core. A paused one sleeps until its retry timer (every 0.5 s).
        before = cpu_seconds(pid)
        time.sleep(1.5)  # a measuring window (three retries), not a synchronisation
        used = cpu_seconds(pid) - before
        assert used < 0.3, f"the server used {used:.2f}s of CPU in 1.5s while it could not accept"
        assert len([line for line in server.log if "accept() failed" in line]) == 1

        # The clients it has are served as before; the waiting ones have not been greeted.
        keepers[0].send_line("still serving")
        for keeper in keepers:
            keeper.expect(r"^<keeper0> still serving$")
        assert not any(greeted(sock) for sock in waiting)

        # Two clients leave: the next retry accepts exactly two of the waiting ones (in order).
        for keeper in keepers[4:]:
            keeper.close()
        keepers[0].expect(r"is now known as waiting0$")
        keepers[0].expect(r"is now known as waiting1$")
        wait_until(lambda: greeted(waiting[0]) and greeted(waiting[1]), 5, "the first two waiting are greeted")
        assert not any(greeted(sock) for sock in waiting[2:])
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    # With descriptors to spare again, everyone waiting gets in.
    for n in range(2, 6):
        keepers[0].expect(rf"is now known as waiting{n}$")
    keepers[0].send_line("/who")
    who = keepers[0].expect(r"users here")
    assert all(f"waiting{n}" in who for n in range(6)) and "keeper5" not in who
    assert server.proc.poll() is None
    assert [line for line in server.errors() if "accept() failed" not in line] == []
    for sock in waiting:
        sock.close()


def test_at_start_up_max_clients_is_capped_to_the_descriptor_limit_so_extra_clients_are_told(
        run_server, monkeypatch):
    """With `ulimit -n` 128 the server says it will take 96 clients (128 less its reserve of 32)
    and keeps to it: the rest are refused with the reason, in one line, long before accept()
    could run out of descriptors. Without the cap they would get no answer at all (EMFILE)."""
    nofile = 128
    real_popen = subprocess.Popen

    def limited_popen(*args, **kwargs):
        kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        return real_popen(*args, **kwargs)

    with monkeypatch.context() as patch:  # only while this one server starts
        patch.setattr(subprocess, "Popen", limited_popen)
        server = run_server("--max-per-ip", "0")
    line = server.wait_for_log(r"--max-clients 10000 lowered to \d+ \(ulimit -n is 128\)")
    allowed = int(re.search(r"lowered to (\d+)", line)[1])
    assert allowed == nofile - 32
    clients = []
    for _ in range(nofile + 2):  # more than the process could hold descriptors for
        sock = socket.create_connection(server.address, timeout=10)
        sock.sendall(b"/ping\n")
        clients.append(sock)
    answers = {sock: b"" for sock in clients}
    reading = set(clients)

    def everyone_answered() -> bool:
        for sock in select.select(list(reading), [], [], 0.05)[0]:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                answers[sock] += b"<closed>"
                reading.discard(sock)
            answers[sock] += chunk
        return all(b"*** pong\n" in a or a.endswith(b"<closed>") for a in answers.values())

    wait_until(everyone_answered, 20, "every client is served or refused")
    served = [sock for sock in clients if b"*** pong\n" in answers[sock]]
    refused = [answers[sock] for sock in clients if sock not in served]
    assert len(served) == allowed
    assert refused == [b"!!! error: server full, try again later\n<closed>"] * (len(clients) - allowed)
    assert not [line for line in server.log if "accept() failed" in line or " ERROR " in line]
    for sock in clients:
        sock.close()
