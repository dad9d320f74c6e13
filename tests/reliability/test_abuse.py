"""Abusive clients at scale, against the real server.

tests/server/test_limits.py checks each limit on its own (one idle client, one slowloris, one
address over its cap). Here a crowd of slowloris connections from one address arrives at once:
the per-address limit turns away what is over it, with the reason, and the idle timeout closes the
rest, while the people chatting from elsewhere notice nothing and the server's descriptors return.

A text slowloris that dribbles spaces (each alone for 0.2 s becomes a blank line, which is no
sign of life) is closed as idle too: that rule is checked on a fake clock in
tests/server/test_service.py.
"""

from __future__ import annotations

import select
import socket
import time

from lineclient import text_user
from procinfo import fd_count, wait_for_fd_count

IDLE = 1.0
PER_IP = 20
CROWD = 30
DRIP_EVERY = 0.1  # under the 0.2 s after which a text partial line counts as a line


def dripper(server, index: int) -> socket.socket:
    """A slowloris from 127.0.0.2: half a line now, a byte at a time later, never a newline."""
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.connect(server.address)
    if index % 2:
        sock.sendall(b'{"type":"hello","protocol":1}\n{"type":"message","text":"dri')
    else:
        sock.sendall(b"dri")
    sock.setblocking(False)
    return sock


def test_a_slowloris_crowd_from_one_address_is_capped_then_timed_out(run_server):
    server = run_server("--idle-timeout", str(IDLE), "--max-per-ip", str(PER_IP))
    alice, bob = text_user(server.address, "alice"), text_user(server.address, "bob")
    baseline = fd_count(server.proc.pid)
    crowd = [dripper(server, n) for n in range(CROWD)]
    received = {sock: b"" for sock in crowd}
    closed_at: dict[socket.socket, float] = {}
    started = time.monotonic()
    slowest_pong = 0.0
    while len(closed_at) < CROWD and time.monotonic() < started + 10 * IDLE:
        for sock in crowd:
            if sock in closed_at:
                continue
            try:
                while select.select([sock], [], [], 0)[0]:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionResetError
                    received[sock] += chunk
                sock.send(b"p")
            except (ConnectionResetError, BrokenPipeError):
                closed_at[sock] = time.monotonic() - started
        # Meanwhile the room works as usual, with no delay worth the name (and the people in it,
        # unlike the crowd, are not idle).
        for person in (alice, bob):
            sent = time.monotonic()
            person.send_line("/ping")
            person.expect(r"^\*\*\* pong$", timeout=5)
            slowest_pong = max(slowest_pong, time.monotonic() - sent)
        time.sleep(DRIP_EVERY)  # the drip rate (this loop paces a client; it waits on nothing)
    for sock in crowd:
        sock.close()

    refusal = b"!!! error: too many connections from your address (limit %d)\n" % PER_IP
    refused = [sock for sock in crowd if received[sock] == refusal]
    served = [sock for sock in crowd if received[sock] != refusal]
    assert len(refused) == CROWD - PER_IP and len(served) == PER_IP
    assert len(closed_at) == CROWD, f"{CROWD - len(closed_at)} slowloris connections were never closed"
    for sock in served:  # each was told, then closed once it had been idle long enough
        assert b"closing: idle" in received[sock] or b'"code":"idle"' in received[sock], received[sock][-200:]
        assert IDLE * 0.9 <= closed_at[sock] <= IDLE * 4
    # No dribble ever became a line anyone saw, and the room kept answering.
    alice.send_line("after the crowd")
    bob.expect(r"^<alice> after the crowd$")
    assert not [line for line in bob.lines if "dri" in line and not line.startswith("***")]
    assert slowest_pong < 0.5, f"a /ping took {slowest_pong:.2f}s while the crowd dripped"
    wait_for_fd_count(server.proc.pid, baseline)
    assert not server.errors()
