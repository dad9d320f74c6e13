"""No connection's state outlives the connection: the precise half of the soak test's memory check.

The soak test can only watch the server's RSS from outside, and RSS drifts up under churn even
with no leak (CPython's arenas and glibc's heap keep freed memory). So here the real loop, room and
service run in this process, on a thread, and connections come and go in every way the soak
exercises; afterwards the per-connection objects must be gone and the interpreter's count of
allocated memory blocks (`sys.getallocatedblocks`) must be where it was after a first, identical
round. A leak of one small object per connection shows as a hundred blocks and more.
"""

from __future__ import annotations

import gc
import logging
import re
import selectors
import socket
import sys
import threading

from lineclient import reset
from procinfo import wait_until
from selchat.server import transport as transport_module
from selchat.server.chat import Member, Mode, Room
from selchat.server.protocol import Connection
from selchat.server.network import Reactor, Transport
from selchat.server.resume import ResumeLog
from selchat.server.service import Service, Session

STAYERS = 8
PER_KIND = 40
FLOOD_LINE = re.compile(rb"> flood (\d+) ")
SNDBUF = 16384  # accepted sockets inherit the listener's: a stalled reader fills up quickly


class InProcessServer:
    """The server's parts as cli.main wires them, run on a thread."""

    def __init__(self) -> None:
        # A short grace: the stalled readers are dropped as too slow soon after the flood passes.
        self.reactor = Reactor(selectors.DefaultSelector(), max_sendq=256 << 10, sendq_grace=0.2)
        self.room = Room(Mode.CHAT, history=20)
        # Bounded logs kept small like the history, so they are full after the warm-up rounds and
        # what still grows is state a connection left behind.
        self.room.log = ResumeLog(window=20, taken_max=20)
        self.service = Service(self.reactor, self.room)
        listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        self.address = listener.getsockname()
        self.reactor.listen(listener, self.service.make_session)
        self.thread = threading.Thread(target=self.reactor.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.reactor.call_soon_threadsafe(self.reactor.stop)
        self.thread.join(10)


class Reader:
    """A client that stays and reads everything (from the test's thread)."""

    def __init__(self, address) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.sock.sendall(b"/ping\n")
        self.sock.setblocking(False)
        self.data = bytearray()
        self.flood_seen = -1

    def drain(self) -> None:
        try:
            while chunk := self.sock.recv(1 << 20):
                self.data += chunk
        except BlockingIOError:
            pass
        end = self.data.rfind(b"\n") + 1
        for match in FLOOD_LINE.finditer(self.data, 0, end):
            self.flood_seen = int(match[1])
        del self.data[:end]  # keep only an unfinished line


def drained(readers: list[Reader]) -> bool:
    for reader in readers:
        reader.drain()
    return True


def read_to_eof(sock: socket.socket) -> None:
    sock.settimeout(10)
    while sock.recv(65536):
        pass
    sock.close()


def churn(server: InProcessServer, stayers: list[Reader]) -> None:
    """PER_KIND connections of each kind, each one gone by the end."""
    address = server.address
    for n in range(PER_KIND):
        with socket.create_connection(address) as sock:  # a line, then close
            sock.sendall(b"hello %d\n" % n)
        with socket.create_connection(address) as sock:  # JSON, then close
            sock.sendall(b'{"type":"hello","protocol":1}\n{"type":"message","text":"beep","id":1}\n')
        sock = socket.create_connection(address)  # half a line, then reset
        sock.sendall(b"half a li")
        reset(sock)
        sock = socket.create_connection(address)  # /quit, read to the server's close
        sock.sendall(b"/quit bye\n")
        read_to_eof(sock)
        sock = socket.create_connection(address)  # half a line and a half-close
        sock.sendall(b"partial")
        sock.shutdown(socket.SHUT_WR)
        read_to_eof(sock)
        for reader in stayers:
            reader.drain()
    # Stalled readers, dropped as too slow once a flood passes --max-sendq.
    stalled = []
    for _ in range(3):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(address)
        sock.sendall(b"/ping\n")
        stalled.append(sock)
    for n in range(100):  # 400 KB, a line at a time so that the stayers keep up
        stayers[0].sock.sendall(b"flood %d %s\n" % (n, b"z" * 4000))
        wait_until(lambda: drained(stayers) and all(r.flood_seen == n for r in stayers), 10,
                   f"every stayer has flood line {n}", interval=0.001)
    wait_until(lambda: drained(stayers) and server.reactor.connection_count == len(stayers), 20,
               "every churned connection is closed")
    for sock in stalled:
        sock.close()


def settle(server: InProcessServer, stayers: list[Reader]) -> None:
    """Wait until only the stayers are connected and no timer holds a closed connection: none is
    pending but the presence tick, and cancelled ones, which hold their callbacks until their time
    comes round, have been discarded."""
    wait_until(lambda: drained(stayers) and server.reactor.connection_count == len(stayers)
               and server.reactor.timer_count <= 1, 20,
               "only the stayers are left and no timer is held but the presence tick")


PER_CONNECTION = (Session, Transport, Member, Connection)


def census() -> tuple[dict, int]:
    gc.collect()
    counts = {cls.__name__: 0 for cls in PER_CONNECTION}
    for obj in gc.get_objects():
        if type(obj) in PER_CONNECTION:  # the classes themselves, not namesakes
            counts[type(obj).__name__] += 1
    return counts, sys.getallocatedblocks()


def test_no_connection_state_outlives_its_connection(monkeypatch):
    # A closing connection may wait this long to be read; keep it short so the test need not wait.
    monkeypatch.setattr(transport_module, "CLOSE_DRAIN_TIMEOUT", 0.3)
    # The stalled readers' drops are logged; pytest keeps every record, which would count as growth.
    logging.disable(logging.CRITICAL)
    server = InProcessServer()
    stayers = [Reader(server.address) for _ in range(STAYERS)]
    deltas = []
    try:
        for _ in range(2):  # warm-up rounds, so caches, dicts and free lists reach their size
            churn(server, stayers)
            settle(server, stayers)
        counts, blocks = census()
        assert counts == {name: STAYERS for name in counts}
        for _ in range(3):
            churn(server, stayers)
            settle(server, stayers)
            counts, after = census()
            assert counts == {name: STAYERS for name in counts}, "connection state outlived its connection"
            deltas.append(after - blocks)
            blocks = after
    finally:
        logging.disable(logging.NOTSET)
        server.stop()
        for reader in stayers:
            reader.sock.close()
    assert len(server.room.members) == STAYERS and server.room.connected_count == STAYERS
    # 5 * PER_KIND + 3 = 203 connections come and go each round: a leak of one object each is
    # 203 more blocks every round. Without a leak the count still moves by a few dozen blocks a
    # round (containers sized by each round's peak, free lists): hence the smallest of three.
    print(f"memory blocks in use, change per round: {deltas}")
    assert min(deltas) < 100, f"memory blocks in use grew by {deltas} in three rounds"
