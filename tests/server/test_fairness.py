"""Fairness from the loop: a connection with a megabyte waiting is read at most one RECV_SIZE a
turn, so another connection's line is answered in the first turn, not after the flood. Real
sockets on 127.0.0.1, an in-process echo server turned by hand."""

from __future__ import annotations

import selectors
import socket
import ssl

from looptools import Recorder
from selchat.server.chat import Mode, Room
from selchat.server.network import Reactor
from selchat.server.service import Service
from selchat.server.transport import RECV_SIZE, Transport

FLOOD = 1 << 20
BUFFER = 4 << 20


def connected_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
    client.connect(listener.getsockname())
    server_end, _ = listener.accept()
    server_end.setblocking(False)
    return client, server_end


def test_a_flooders_megabyte_is_read_a_bounded_amount_a_turn_and_another_line_is_answered_at_once():
    reactor = Reactor(selectors.DefaultSelector(), max_sendq=8 << 20)
    service = Service(reactor, Room(Mode.ECHO))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)  # accepted sockets inherit it
    flooder, flooder_end = connected_pair(listener)
    other, other_end = connected_pair(listener)
    read_per_turn: dict[int, int] = {}

    class Counted:
        """The flooder's session, with what it is handed each turn counted."""

        def __init__(self, transport) -> None:
            self.session = service.make_session(transport)

        def data_received(self, data: bytes) -> None:
            read_per_turn[reactor.turns] = read_per_turn.get(reactor.turns, 0) + len(data)
            self.session.data_received(data)

        def eof_received(self) -> bool:
            return self.session.eof_received()

        def connection_lost(self, reason: str) -> None:
            self.session.connection_lost(reason)

    flood_transport = reactor.conns.adopt(flooder_end, "flooder", Counted)
    reactor.conns.adopt(other_end, "other", service.make_session)

    flooder.setblocking(False)
    sent = 0
    line = b"flood flood flood flood flood flood\n"
    chunk = line * (65536 // len(line))
    try:
        while sent < FLOOD:
            sent += flooder.send(chunk)
    except BlockingIOError:
        pass
    assert sent >= FLOOD  # the megabyte waits in the kernel, unread
    other.sendall(b"hello\n")  # on loopback, in the server's receive queue when this returns

    other.settimeout(0)
    answered_in = None
    for turn in range(1, 6):
        reactor.run_once()
        try:
            if other.recv(100) == b"hello\n":
                answered_in = turn
                break
        except BlockingIOError:
            pass
    assert answered_in is not None and answered_in <= 2
    assert read_per_turn and max(read_per_turn.values()) <= RECV_SIZE
    assert sum(read_per_turn.values()) < sent  # most of the flood is still in the kernel
    assert not flood_transport.closing
    for sock in (flooder, other, listener):
        sock.close()


class _DecryptedAhead:
    """A stand-in for an SSL socket with a lot of input already decrypted inside it (what
    `SSLSocket.pending()` reports), which select() cannot see."""

    def __init__(self, real: socket.socket, waiting: int) -> None:
        self.real, self.waiting = real, waiting

    def fileno(self) -> int:
        return self.real.fileno()

    def pending(self) -> int:
        return self.waiting

    def recv(self, size: int) -> bytes:
        size = min(size, self.waiting, 16384)  # a TLS record at most per read
        if not size:
            raise ssl.SSLWantReadError
        self.waiting -= size
        return b"x" * size

    def send(self, data) -> int:
        return len(data)

    def close(self) -> None:
        self.real.close()


def test_tls_input_already_decrypted_is_taken_one_read_a_turn_and_none_is_left_behind(monkeypatch):
    monkeypatch.setattr(Transport, "tls", property(lambda self: True))
    reactor = Reactor(selectors.DefaultSelector())
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    fake = _DecryptedAhead(ours, 5 * RECV_SIZE)
    transport = reactor.conns.adopt(fake, "tls", lambda transport: Recorder())
    theirs.send(b"!")  # makes the descriptor readable once; the rest is inside the "SSL object"
    per_turn = []
    for _ in range(10):
        before = len(transport.handler.data)
        reactor.call_later(0.05, lambda: None)  # a bug fails the test instead of hanging it
        reactor.run_once()
        per_turn.append(len(transport.handler.data) - before)
        if not fake.waiting:
            break
    assert fake.waiting == 0 and sum(per_turn) == 5 * RECV_SIZE
    assert max(per_turn) <= 2 * RECV_SIZE  # the select() read, and one at the end of the turn
    theirs.close()
    ours.close()
