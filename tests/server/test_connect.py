"""Outbound connections in-process: a non-blocking connect() that finishes inside the loop and
becomes a Transport, against real listeners on 127.0.0.1."""

import errno
import selectors
import socket
import ssl

import pytest

from looptools import Recorder, run_until
from selchat.server.connect import PendingConnect
from selchat.server.network import Reactor


class Dial:
    """What one reactor.connect() came to: the outbound transport's handler, or the error."""

    def __init__(self) -> None:
        self.handler: Recorder | None = None
        self.transport = None
        self.error: OSError | None = None

    def make_handler(self, transport) -> Recorder:
        self.transport, self.handler = transport, Recorder()
        return self.handler

    def failed(self, error: OSError) -> None:
        self.error = error

    @property
    def done(self) -> bool:
        return self.handler is not None or self.error is not None


def serve(reactor: Reactor, tls: ssl.SSLContext | None = None):
    """A listener on the same loop; returns its address and the handlers of what it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[Recorder] = []
    reactor.listen(listener, lambda transport: accepted.append(Recorder()) or accepted[-1], tls)
    return listener.getsockname(), accepted


def pending_connects(reactor: Reactor) -> list:
    return [cb for cb in reactor.callbacks() if isinstance(cb, PendingConnect)]


def test_an_outbound_connection_becomes_a_transport_with_the_same_queues_and_flush():
    reactor = Reactor(selectors.DefaultSelector(), max_per_peer=1)
    address, accepted = serve(reactor)
    dial = Dial()
    reactor.connect(address, dial.make_handler, dial.failed)
    assert not dial.done  # never reported from inside connect()
    run_until(reactor, lambda: dial.done and accepted)
    assert dial.error is None and dial.transport.peer == f"127.0.0.1:{address[1]}"
    dial.transport.write(b"hello ")
    dial.transport.write(b"there\n")  # coalesced into one send at the end of the turn
    run_until(reactor, lambda: accepted[0].data == b"hello there\n")
    # Both ends are connections of the loop, but only the accepted one counts against its
    # address: --max-per-ip 1 still lets the one peer in.
    assert reactor.connection_count == 2 and reactor.conns.from_peer("127.0.0.1") == 1
    assert pending_connects(reactor) == []
    dial.transport.close("done")
    run_until(reactor, lambda: dial.handler.lost == "done" and reactor.connection_count == 1)


def test_a_connect_to_a_closed_port_reports_refused():
    reactor = Reactor(selectors.DefaultSelector())
    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = closed.getsockname()
    dial = Dial()
    reactor.connect(address, dial.make_handler, dial.failed)
    run_until(reactor, lambda: dial.done)
    assert isinstance(dial.error, ConnectionRefusedError) and dial.error.errno == errno.ECONNREFUSED
    assert dial.handler is None and reactor.connection_count == 0 and pending_connects(reactor) == []


def full_backlog_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A listener that never accepts, its queue filled: Linux then drops new SYNs, so a connect
    to it stays in progress (as to a host that does not answer) until TCP gives up, minutes later."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.settimeout(0.3)
        fillers.append(filler)
        try:
            filler.connect(listener.getsockname())
        except TimeoutError:
            return listener, fillers  # this SYN was dropped: the queue is full
    pytest.skip("the listen queue never filled (tcp_abort_on_overflow?)")


def test_a_connect_that_does_not_finish_in_time_reports_a_timeout_and_leaves_nothing_behind():
    listener, fillers = full_backlog_listener()
    try:
        reactor = Reactor(selectors.DefaultSelector())
        dial = Dial()
        pending = reactor.connect(listener.getsockname(), dial.make_handler, dial.failed, timeout=0.2)
        run_until(reactor, lambda: dial.done)
        assert isinstance(dial.error, TimeoutError) and dial.handler is None
        assert pending.sock.fileno() == -1 and pending_connects(reactor) == []
        assert reactor.timer_count <= 1  # at most run_until's own bounding timer
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


def test_a_cancelled_connect_reports_nothing_and_closes_its_socket():
    listener, fillers = full_backlog_listener()
    try:
        reactor = Reactor(selectors.DefaultSelector())
        dial = Dial()
        pending = reactor.connect(listener.getsockname(), dial.make_handler, dial.failed, timeout=0.2)
        pending.cancel()
        deadline = reactor.now + 0.4  # past the timeout, which must not fire
        run_until(reactor, lambda: reactor.now > deadline)
        assert not dial.done and pending.sock.fileno() == -1 and pending_connects(reactor) == []
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


def tls_pair(certificate) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=cert)


def test_an_outbound_tls_connection_shakes_hands_inside_the_loop_then_gets_its_handler(certificate):
    server_tls, client_tls = tls_pair(certificate)
    reactor = Reactor(selectors.DefaultSelector())
    address, accepted = serve(reactor, server_tls)
    dial = Dial()
    reactor.connect(address, dial.make_handler, dial.failed, tls=client_tls, server_hostname="127.0.0.1")
    run_until(reactor, lambda: dial.done and accepted)
    assert dial.error is None and dial.transport.tls
    dial.transport.write(b"over tls\n")
    run_until(reactor, lambda: accepted[0].data == b"over tls\n")


def test_an_outbound_tls_handshake_that_fails_reports_to_on_failed(certificate):
    _, client_tls = tls_pair(certificate)
    reactor = Reactor(selectors.DefaultSelector())
    listener = socket.create_server(("127.0.0.1", 0))

    class HangsUp(Recorder):  # a plain server that closes on the first bytes (a ClientHello)
        def __init__(self, transport) -> None:
            super().__init__()
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.close("not TLS here")

    reactor.listen(listener, HangsUp)
    dial = Dial()
    reactor.connect(listener.getsockname(), dial.make_handler, dial.failed, tls=client_tls,
                    server_hostname="127.0.0.1")
    run_until(reactor, lambda: dial.done)
    assert dial.handler is None and isinstance(dial.error, ConnectionError)
    assert str(dial.error) == "TLS handshake failed"
