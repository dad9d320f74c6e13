"""`selchat-server --workers 2 --broker ...` in chat mode: two worker processes, one room, via a real
redis-server. Which worker serves a user is read from the kernel (tests/workerprocs.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lineclient import LineClient, json_client
from redis_fixture import require_hiredis
from serverproc import start_server
from workerprocs import serving_pids, worker_pids

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SO_REUSEPORT balancing and /proc are Linux's")


@pytest.fixture
def workers_on_redis(fresh_redis):
    server = start_server("--broker", fresh_redis.url, "--node-id", "box", "--workers", "2")
    pids = worker_pids(server)
    for index in (1, 2):  # each worker is a node named after the parent's id
        server.wait_for_log(rf"worker {index} \(pid \d+\): cluster: node box-{index} ready")
    yield server, pids
    assert server.stop() == 0
    assert not server.errors(), server.log


def test_no_worker_carries_the_broker_url_on_its_command_line(workers_on_redis):
    # A URL may hold a password, and /proc/PID/cmdline is anyone's to read: the parent hands it
    # to its workers in their environment (SELCHAT_BROKER), which only their owner can read.
    server, pids = workers_on_redis
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            words = cmdline.read().split(b"\0")
        assert b"--broker" not in words and not any(b"redis://" in word for word in words), words


def test_users_on_different_workers_share_one_room(workers_on_redis):
    server, pids = workers_on_redis
    alice, _ = json_client(server.address, "alice")
    [alices_worker] = serving_pids(server, [alice], pids)
    tried = []
    for attempt in range(40):  # the kernel hashes each connection to a worker: 1 in 2 each time
        bob, _ = json_client(server.address, f"bob{attempt}")
        tried.append(bob)
        if serving_pids(server, [bob], pids) != [alices_worker]:
            break
    else:
        pytest.fail("40 connections all landed on alice's worker")
    alice.expect_json("join", nick=f"bob{attempt}")
    alice.send_json({"type": "message", "text": "hello from worker A"})
    bob.expect_json("message", text="hello from worker A", **{"from": "alice"})
    bob.send_json({"type": "message", "text": "hello from worker B"})
    alice.expect_json("message", text="hello from worker B", **{"from": f"bob{attempt}"})
    for client in [alice, *tried]:
        client.close()


def test_a_bad_broker_is_refused_by_the_parent_before_any_worker_starts():
    require_hiredis()
    result = subprocess.run([sys.executable, "-m", "selchat.server", "--port", "0", "--workers", "2",
                             "--broker", "redis://127.0.0.1:notaport"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--broker" in result.stderr and "bad port" in result.stderr
    assert "starting" not in result.stderr


def test_irc_users_are_spread_over_the_workers_and_share_the_room(fresh_redis):
    server = start_server("--broker", fresh_redis.url, "--workers", "2", "--irc-port", "0")
    try:
        pids = worker_pids(server)
        for index in (1, 2):
            server.wait_for_log(rf"worker {index} \(pid \d+\): cluster: node \S+ ready")
        bob, _ = json_client(server.address, "bob")
        [bobs_worker] = serving_pids(server, [bob], pids)
        tried = []
        for attempt in range(40):
            irc = LineClient(server.irc_address)
            tried.append(irc)
            irc.send_line("CAP LS 302\r")
            irc.expect(r" CAP \* LS")  # a worker has accepted it
            if serving_pids(server, [irc], pids, port=server.irc_port) != [bobs_worker]:
                break
        else:
            pytest.fail("40 IRC connections all landed on bob's worker")
        irc.send_line("CAP END\r\nNICK carol\r\nUSER c c 127.0.0.1 :Carol\r")
        irc.expect(r" 366 ")  # registered and joined (the forced JOIN burst has ended)
        irc.send_line("PRIVMSG #selchat :hello from IRC\r")
        bob.expect_json("message", text="hello from IRC", **{"from": "carol"})
        for client in [bob, *tried]:
            client.close()
    finally:
        assert server.stop() == 0
    assert not server.errors(), server.log
