"""The loop itself, in-process: coalesced writes, partial writes kept, limits, timers."""

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

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data) -> int:
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


def test_a_connection_over_its_output_cap_is_dropped_at_the_end_of_the_turn():
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=1000)
    transport, counting, peer = attached_pair(reactor, max_send=1)
    transport.write(b"x" * 600)
    transport.write(b"x" * 600)  # over the cap: doomed, but nothing is torn down mid-handler
    assert transport.handler.lost is None and not transport.closed
    reactor.run_once()
    assert transport.closed and transport.handler.lost == "too slow (output queue full)"
    assert reactor.connection_count == 0


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
