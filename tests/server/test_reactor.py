"""The loop itself, in-process: coalesced writes, partial writes kept, limits, timers."""

import errno
import os
import resource
import select
import selectors
import socket

import pytest

from selchat.server.reactor import FD_SETSIZE, Reactor, Transport


class CountingSocket:
    """A real socket whose send() calls are counted, and that can be made to take only a few bytes."""

    def __init__(self, sock: socket.socket, max_send: int | None = None) -> None:
        self.sock, self.max_send, self.sends = sock, max_send, []
        self.takes_nothing = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data) -> int:
        if self.takes_nothing:
            raise BlockingIOError
        chunk = bytes(data[: self.max_send]) if self.max_send else data
        sent = self.sock.send(chunk)
        self.sends.append(sent)
        return sent

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def close(self) -> None:
        self.sock.close()


class Recorder:
    def __init__(self) -> None:
        self.data, self.eof, self.lost = b"", False, None

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, reason: str) -> None:
        self.lost = reason


def attached_pair(reactor: Reactor, max_send: int | None = None):
    """A socketpair whose server end is registered with the reactor as a connection."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    counting = CountingSocket(ours, max_send)
    transport = Transport(reactor, counting, "test")
    transport.handler = Recorder()
    reactor.connection_count += 1
    transport._update_events()
    return transport, counting, theirs


def run_until(reactor: Reactor, done, timeout: float = 5.0) -> None:
    """Turn the loop until `done()`; a short timer bounds each select() so a bug fails, not hangs."""
    deadline = reactor.now + timeout
    while not done():
        assert reactor.now < deadline, "condition not reached"
        reactor.call_later(0.05, lambda: None)
        reactor.run_once()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    sock.settimeout(5)
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def test_many_writes_in_one_turn_go_out_in_one_send():
    reactor = Reactor(selectors.DefaultSelector())
    transport, counting, peer = attached_pair(reactor)
    for n in range(100):
        transport.write(b"line %d\n" % n)
    reactor.run_once()
    assert len(counting.sends) == 1
    assert read_exactly(peer, len(b"".join(b"line %d\n" % n for n in range(100)))).endswith(b"line 99\n")


def test_a_partial_send_is_kept_and_finished_when_writable_with_interest_only_meanwhile():
    reactor = Reactor(selectors.DefaultSelector())
    transport, counting, peer = attached_pair(reactor, max_send=7)
    payload = b"0123456789" * 10
    transport.write(payload)
    reactor.run_once()
    assert counting.sends == [7] and transport.pending_bytes == 93
    assert reactor.selector.get_key(counting).events == selectors.EVENT_READ | selectors.EVENT_WRITE
    run_until(reactor, lambda: not transport.pending_bytes)
    assert read_exactly(peer, 100) == payload
    # Nothing left to send: write interest is dropped so select() does not spin on a writable socket.
    assert reactor.selector.get_key(counting).events == selectors.EVENT_READ


def test_a_turn_that_queues_more_than_max_sendq_for_a_peer_that_takes_it_drops_no_one():
    # --max-sendq is what the peer fails to take, not what one turn produced (a history replay,
    # a burst of senders): the end-of-turn send() decides.
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=1000)
    transport, counting, peer = attached_pair(reactor)
    for _ in range(3):
        transport.write(b"x" * 1000)
    reactor.run_once()
    assert not transport.closed and transport.pending_bytes == 0
    assert read_exactly(peer, 3000) == b"x" * 3000


def test_output_left_over_max_sendq_for_the_grace_period_drops_the_peer_at_the_end_of_a_turn():
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=1000, sendq_grace=0.05)
    transport, counting, peer = attached_pair(reactor, max_send=1)
    transport.write(b"x" * 600)
    transport.write(b"x" * 600)
    reactor.run_once()  # one byte taken: 1199 left, over the cap, and the clock starts
    assert not transport.closed and transport.pending_bytes == 1199
    counting.takes_nothing = True  # and then nothing more (a peer that stopped reading)
    run_until(reactor, lambda: transport.closed)
    assert transport.handler.lost == "too slow (output queue full)"
    assert reactor.connection_count == 0


def test_output_over_max_sendq_that_drains_within_the_grace_period_is_kept():
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=1000, sendq_grace=0.2)
    transport, counting, peer = attached_pair(reactor, max_send=100)
    transport.write(b"y" * 1500)
    reactor.run_once()  # 1400 left: over, for now
    assert transport.pending_bytes == 1400
    received = b""
    while len(received) < 1500:  # the peer reads; each writable turn sends 100 more
        reactor.run_once()
        peer.settimeout(5)
        received += peer.recv(4096)
    assert received == b"y" * 1500 and transport.pending_bytes == 0
    deadline = reactor.now + 0.3  # past the grace period
    run_until(reactor, lambda: reactor.now > deadline)
    assert not transport.closed


def test_more_than_the_hard_bound_in_one_turn_is_sent_early_and_dropped_only_if_not_taken():
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=1000)
    taker, _, taker_peer = attached_pair(reactor)
    stuck, _, stuck_peer = attached_pair(reactor, max_send=1)
    chunk = b"z" * 500
    for _ in range(20):  # 10 kB in one turn, over 4 x --max-sendq
        taker.write(chunk)
        stuck.write(chunk)
    assert taker.pending_bytes <= reactor.hard_sendq  # memory bounded even within the turn
    assert stuck.pending_bytes <= reactor.hard_sendq + len(chunk)
    reactor.run_once()
    assert not taker.closed and read_exactly(taker_peer, 10_000) == chunk * 20
    assert stuck.closed and stuck.handler.lost == "too slow (output queue full)"


def test_input_reaches_the_handler_and_eof_closes_after_flushing():
    reactor = Reactor(selectors.DefaultSelector())
    transport, counting, peer = attached_pair(reactor)
    peer.sendall(b"hi")
    peer.shutdown(socket.SHUT_WR)
    run_until(reactor, lambda: transport.handler.eof)
    assert transport.handler.data == b"hi"
    assert transport.closed and transport.handler.lost == "connection closed"


def test_timers_fire_in_order_and_cancelled_ones_do_not():
    reactor = Reactor(selectors.DefaultSelector())
    fired = []
    reactor.call_later(0.02, fired.append, "second")
    reactor.call_later(0.01, fired.append, "first")
    reactor.call_later(0.015, fired.append, "cancelled").cancel()
    reactor.call_later(0.03, reactor.stop)
    reactor.run()
    assert fired == ["first", "second"]


def test_max_connections_refuses_with_the_reason():
    reactor = Reactor(selectors.DefaultSelector(), max_connections=1, refusal="no: {}\n")
    listener = socket.create_server(("127.0.0.1", 0))
    reactor.listen(listener, lambda transport: Recorder())
    first = socket.create_connection(listener.getsockname())
    second = socket.create_connection(listener.getsockname())
    second.settimeout(5)
    run_until(reactor, lambda: reactor.connection_count == 1)
    assert second.recv(100) == b"no: server full, try again later\n" and second.recv(100) == b""
    first.close()


def test_select_refuses_a_descriptor_past_fd_setsize_and_keeps_serving():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FD_SETSIZE + 64:
        pytest.skip("needs more than FD_SETSIZE descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, FD_SETSIZE + 64), hard))
    filler = []
    try:
        reactor = Reactor(selectors.SelectSelector(), refusal="{}\n")
        listener = socket.create_server(("127.0.0.1", 0))
        handlers = []
        reactor.listen(listener, lambda t: handlers.append(Recorder()) or handlers[-1])
        served = socket.create_connection(listener.getsockname())
        run_until(reactor, lambda: handlers)
        while (fd := os.open(os.devnull, os.O_RDONLY)) < FD_SETSIZE:  # push new descriptors past 1023
            filler.append(fd)
        os.close(fd)
        refused = socket.create_connection(listener.getsockname())
        refused.settimeout(5)
        poller = select.poll()  # the test's own socket is past FD_SETSIZE too: select() can't watch it
        poller.register(refused, select.POLLIN)
        run_until(reactor, lambda: poller.poll(0))
        assert refused.recv(100) == b"server full, try again later\n"
        served.sendall(b"still served")
        run_until(reactor, lambda: handlers[0].data)
        assert handlers[0].data == b"still served"
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class ScriptedListener:
    """A real listening socket whose accept() first plays a script: exceptions to raise, or None
    for a real accept(). The loop sees it readable because a real connection waits on it."""

    def __init__(self, script: list) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.script = list(script)

    def fileno(self) -> int:
        return self.sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def getsockname(self):
        return self.sock.getsockname()

    def accept(self):
        if self.script and (step := self.script.pop(0)) is not None:
            raise step
        return self.sock.accept()

    def close(self) -> None:
        self.sock.close()


LINUX_ACCEPT_ERRORS = ("ECONNABORTED", "ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
                       "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ECONNRESET", "EPERM", "ETIMEDOUT")


def test_accept_errors_linux_reports_drop_that_connection_log_once_and_the_loop_accepts_on(caplog):
    errors = [OSError(getattr(errno, name), os.strerror(getattr(errno, name))) for name in LINUX_ACCEPT_ERRORS]
    listener = ScriptedListener(errors + errors)  # each kind twice: logged once
    reactor = Reactor(selectors.DefaultSelector())
    handlers = []
    reactor.listen(listener, lambda t: handlers.append(Recorder()) or handlers[-1])
    client = socket.create_connection(listener.getsockname())
    run_until(reactor, lambda: handlers)
    assert reactor.connection_count == 1 and reactor.accept_failures == 2 * len(errors)
    dropped = [r.getMessage() for r in caplog.records if "dropped an incoming connection" in r.getMessage()]
    assert len(dropped) == len(errors)  # one line per kind: the second of each is only counted
    client.close()
    listener.close()


def test_an_unknown_accept_error_pauses_accepting_instead_of_raising_or_spinning(caplog):
    listener = ScriptedListener([OSError(errno.EINVAL, "Invalid argument")])
    reactor = Reactor(selectors.DefaultSelector())
    handlers = []
    reactor.listen(listener, lambda t: handlers.append(Recorder()) or handlers[-1])
    client = socket.create_connection(listener.getsockname())
    reactor.run_once()
    assert not handlers and any("accept() failed: Invalid argument" in r.getMessage() for r in caplog.records)
    run_until(reactor, lambda: handlers)  # after the pause, accepting resumes
    client.close()
    listener.close()


class FailingWrap:
    """A TLS context whose wrap_socket() fails as it does for a peer that reset before accept()."""

    def wrap_socket(self, sock, **kwargs):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def test_a_tls_wrap_that_fails_drops_that_connection_uncounted_and_the_loop_serves_on():
    reactor = Reactor(selectors.DefaultSelector(), max_per_peer=1)
    listener = socket.create_server(("127.0.0.1", 0))
    reactor.listen(listener, lambda t: Recorder(), tls=FailingWrap())
    clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
    run_until(reactor, lambda: reactor.accept_failures == 3)
    assert reactor.connection_count == 0 and reactor.connections() == []
    for client in clients:
        client.settimeout(5)
        assert client.recv(10) == b""  # closed by the server, not left open
        client.close()


def test_a_queue_that_goes_over_and_under_max_sendq_again_and_again_holds_one_grace_timer():
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=1000, sendq_grace=60)
    transport, counting, peer = attached_pair(reactor, max_send=100)
    peer.settimeout(5)
    for _ in range(30):
        counting.max_send = 100
        transport.write(b"w" * 1500)
        reactor.run_once()  # 1400 left: over
        counting.max_send = None
        reactor.run_once()  # writable: the rest goes, under again
        assert transport.pending_bytes == 0
        assert len(read_exactly(peer, 1500)) == 1500
    assert reactor.timer_count == 1 and not transport.closed


class RefusingSelector(selectors.DefaultSelector):
    """A selector that will not watch connections (as epoll does past max_user_watches)."""

    def register(self, fileobj, events, data=None):
        if isinstance(data, Transport):
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().register(fileobj, events, data)


def test_a_connection_the_selector_will_not_watch_is_dropped_and_uncounted():
    reactor = Reactor(RefusingSelector())
    listener = socket.create_server(("127.0.0.1", 0))
    reactor.listen(listener, lambda transport: Recorder())
    client = socket.create_connection(listener.getsockname())
    run_until(reactor, lambda: reactor.accept_failures == 1)
    assert reactor.connection_count == 0 and reactor.connections() == []
    client.settimeout(5)
    assert client.recv(10) == b""
    client.close()
