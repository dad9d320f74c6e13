"""`selchat-server --workers N`: real worker processes on one SO_REUSEPORT port, and their parent.

Which worker serves a connection is read from the kernel, not from the server: the socket's
inode in /proc/net/tcp, and which worker's /proc/PID/fd holds it. (tests/workerprocs.py) The tests wait on
log lines, socket reads and process exits, each with a deadline.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from lineclient import LineClient
from serverproc import ServerProcess
from workerprocs import serving_pids, wait_exit, worker_pids
from selchat.server import supervised, workers
from selchat.server.loop import Loop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SO_REUSEPORT balancing and /proc are Linux's")

CONNECTIONS = 24  # with two workers, all of them on one would be a 1 in 8 million fluke


def echoed_clients(server: ServerProcess, count: int) -> list[LineClient]:
    """`count` connections that each had a line echoed: each has been accepted by a worker."""
    clients = [LineClient(server.address, timeout=5) for _ in range(count)]
    for number, client in enumerate(clients):
        client.send_line(f"line {number}")
    for number, client in enumerate(clients):
        client.expect(rf"^line {number}$")
    return clients


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


def test_connections_are_served_by_both_workers(run_server):
    server = run_server("--mode", "echo", "--workers", "2")
    pids = worker_pids(server)
    clients = echoed_clients(server, CONNECTIONS)
    try:
        owners = serving_pids(server, clients, pids)
    finally:
        for client in clients:
            client.close()
    assert set(owners) == set(pids), f"connections per worker: {[owners.count(p) for p in pids]}"
    assert server.proc.pid not in owners
    assert not server.errors()


def test_a_killed_worker_is_restarted_its_users_reconnect_and_the_others_never_notice(run_server):
    server = run_server("--mode", "echo", "--workers", "2")
    pids = worker_pids(server)
    clients = echoed_clients(server, CONNECTIONS)
    owners = serving_pids(server, clients, pids)
    victim = owners[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_for_log(rf"worker \d \(pid {victim}\) was killed by SIGKILL after .* restarting it in")
    for client, owner in zip(clients, owners):
        if owner == victim:
            client.read_until_closed()  # dropped with the worker: reconnect
            with LineClient(server.address, timeout=5) as again:
                again.send_line("again")
                again.expect("^again$")
        else:
            client.send_line("still here")
            client.expect("^still here$")
        client.close()
    back = int(re.search(r"is back \(pid (\d+)\)", server.wait_for_log(r"worker \d is back")).group(1))
    clients = echoed_clients(server, CONNECTIONS)
    try:
        owners = serving_pids(server, clients, [pid for pid in pids if pid != victim] + [back])
    finally:
        for client in clients:
            client.close()
    assert back in owners and victim not in owners


def test_sigterm_drains_every_worker_and_frees_the_port(run_server):
    server = run_server("--mode", "echo", "--workers", "2")
    pids = worker_pids(server)
    clients = echoed_clients(server, 8)
    server.proc.send_signal(signal.SIGTERM)
    for client in clients:  # each is told, then closed, by the worker that has it
        assert any("shutting down" in line for line in client.read_until_closed())
        client.close()
    assert server.proc.wait(10) == 0
    for pid in pids:
        wait_exit(pid)
    assert port_is_free(server.port)
    assert not server.errors()


def test_sigterm_to_parent_and_workers_at_once_is_still_one_orderly_drain(run_server):
    """What systemd does by default (SIGTERM to every process of the service) or Ctrl-C in a
    terminal (SIGINT to the whole process group): no worker takes it as a second signal."""
    server = run_server("--mode", "echo", "--workers", "2")
    pids = worker_pids(server)
    clients = echoed_clients(server, 8)
    for pid in [server.proc.pid, *pids]:
        os.kill(pid, signal.SIGTERM)
    for client in clients:
        assert any("shutting down" in line for line in client.read_until_closed())
        client.close()
    assert server.proc.wait(10) == 0
    assert not [line for line in server.log if "second interrupt" in line or "Traceback" in line]


def test_workers_stop_when_the_parent_is_killed(run_server):
    server = run_server("--mode", "upper", "--workers", "2")
    pids = worker_pids(server)
    server.proc.kill()
    for pid in pids:
        wait_exit(pid)
    server.wait_for_log("the supervisor has gone: shutting down")
    assert port_is_free(server.port)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selchat.server", "--host", "127.0.0.1", *args],
                          capture_output=True, text=True, timeout=30)


def test_chat_mode_with_workers_and_no_broker_is_refused_with_the_reason():
    result = run_cli("--port", "0", "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 in chat mode needs --broker" in result.stderr
    assert "would not see each other" in result.stderr and "listening" not in result.stderr


@pytest.mark.parametrize("options, reason", [
    (["--mode", "echo", "--dashboard"], "--dashboard shows one process's loop"),
    (["--mode", "upper", "--irc-port", "0"], "--irc-port needs --mode chat"),
])
def test_options_a_worker_could_not_serve_are_refused_by_the_parent(options, reason):
    result = run_cli("--port", "0", "--workers", "2", *options)
    assert result.returncode == 2 and reason in result.stderr and "starting" not in result.stderr


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_bad_worker_count_is_refused(value):
    result = run_cli("--port", "0", "--mode", "echo", "--workers", value)
    assert result.returncode == 2 and "--workers" in result.stderr


def test_a_port_in_use_is_reported_before_any_worker_starts():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        result = run_cli("--port", str(taken.getsockname()[1]), "--mode", "echo", "--workers", "2")
    assert result.returncode == 1
    assert "cannot listen on" in result.stderr and "Address already in use" in result.stderr
    assert "starting" not in result.stderr


# --- the supervisor in this process, with stand-in workers ------------------------------------------

WORKER_THAT_FAILS = "import sys; sys.exit(3)"
WORKER_THAT_WILL_NOT_STOP = """
import socket, sys
channel = socket.socket(fileno=int(sys.argv[1]))
channel.sendall(b"ready\\n")
while channel.recv(64):  # the parent's requests, ignored
    pass
"""
WORKER_THAT_DIES_WHEN_READY = "import socket, sys; socket.socket(fileno=int(sys.argv[1])).sendall(b'ready\\n')"


@pytest.fixture
def own_signals():
    """The loops here take SIGINT, SIGTERM and SIGCHLD in this process: give them back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}
    yield
    signal.set_wakeup_fd(-1)
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def stand_in(code: str, spawned: list[int] | None = None):
    def spawn(index: int, fd: int) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", code, str(fd)], pass_fds=(fd,))
        if spawned is not None:
            spawned.append(proc.pid)
        return proc
    return spawn


def test_a_worker_that_cannot_start_stops_the_parent_with_its_status(own_signals, caplog):
    supervisor = workers.Supervisor(Loop(), 2, stand_in(WORKER_THAT_FAILS), "127.0.0.1:1")
    assert supervisor.run() == 3
    assert "exited with status 3 before it was ready: stopping" in caplog.text


def test_a_crash_loop_is_restarted_later_each_time(own_signals, caplog):
    caplog.set_level("INFO")
    spawned: list[int] = []
    loop = Loop()
    supervisor = workers.Supervisor(loop, 1, stand_in(WORKER_THAT_DIES_WHEN_READY, spawned), "127.0.0.1:1")
    real_start = supervisor._start

    def start(worker):
        real_start(worker)
        if len(spawned) == 4:  # started, and restarted 3 times: enough
            loop.call_later(0, supervisor.drain)
    supervisor._start = start
    assert supervisor.run() == 0
    delays = [float(d) for d in re.findall(r"restarting it in ([\d.]+) s", caplog.text)]
    assert delays == [0.1, 0.2, 0.4]


def test_a_second_signal_exits_130_and_a_worker_that_does_not_stop_is_killed(own_signals, caplog, monkeypatch):
    monkeypatch.setattr(workers, "DRAIN_TIMEOUT", 0.2)
    spawned: list[int] = []
    loop = Loop()
    supervisor = workers.Supervisor(loop, 1, stand_in(WORKER_THAT_WILL_NOT_STOP, spawned), "127.0.0.1:1")
    real_ready = supervisor._ready

    def ready(worker):
        real_ready(worker)
        loop.call_later(0, supervisor.drain)
        loop.call_later(0, supervisor.drain)
    supervisor._ready = ready
    assert supervisor.run() == 130
    assert re.search(rf"worker 1 \(pid {spawned[0]}\) still running .* killing it", caplog.text)


def test_backoff_doubles_up_to_a_cap():
    assert [workers.restart_delay(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert workers.restart_delay(50) == workers.RESTART_DELAY_MAX


def test_each_worker_gets_the_parents_options_and_its_own_port_index_and_node_id():
    argv = ["--mode=echo", "--port", "0", "--workers", "2", "--node-id", "box"]
    assert workers.worker_argv(argv, index=2, port=5000, supervisor_fd=7, node_id="box") == [
        *argv, "--port", "5000", "--worker-index", "2", "--supervisor-fd", "7", "--node-id", "box-2"]
    assert "--node-id" not in workers.worker_argv(["--port", "0"], index=1, port=5000, supervisor_fd=7, node_id=None)
    assert workers.worker_argv(["--irc-port", "0"], index=1, port=5000, supervisor_fd=7, node_id=None,
                               irc_port=6000)[-2:] == ["--irc-port", "6000"]


# --- the worker's side, in this process ----------------------------------------------------------


class ShutdownCounter:
    """What `report_to_supervisor` asks of a Service: the first shutdown() drains, a second forces."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def shutting_down(self) -> bool:
        return self.calls > 0

    def shutdown(self, signum: int | None = None) -> None:
        self.calls += 1


def linked_worker() -> tuple[Loop, socket.socket, ShutdownCounter]:
    loop = Loop()
    parent, worker = socket.socketpair()
    service = ShutdownCounter()
    supervised.report_to_supervisor(loop, worker.detach(), service)
    assert parent.recv(64) == supervised.READY
    return loop, parent, service


def test_a_workers_own_signal_during_a_requested_drain_is_the_same_stop(own_signals):
    loop, parent, service = linked_worker()
    parent.send(supervised.DRAIN)
    loop.run_once()
    assert service.calls == 1  # draining
    os.kill(os.getpid(), signal.SIGTERM)  # systemd's, say, which came after the parent's request
    loop.run_once()
    assert service.calls == 1
    os.kill(os.getpid(), signal.SIGTERM)  # a second of its own: stop at once
    loop.run_once()
    assert service.calls == 2


def test_a_requested_drain_after_the_workers_own_signal_changes_nothing(own_signals):
    loop, parent, service = linked_worker()
    os.kill(os.getpid(), signal.SIGINT)
    loop.run_once()
    parent.send(supervised.DRAIN)
    loop.run_once()
    assert service.calls == 1


def test_stop_stops_at_once_and_a_vanished_parent_drains(own_signals):
    loop, parent, service = linked_worker()
    parent.send(supervised.STOP)
    loop.run_once()
    assert service.calls == 2
    loop, parent, service = linked_worker()
    parent.close()
    loop.run_once()
    assert service.calls == 1
