"""A bug in one callback costs its own connection, never the loop or the other connections.

The loop guarantees nothing raises out of it (timers, hooks, signal callbacks, ready callbacks);
a transport closes only the connection whose handler raised, and says why in the log.
"""

import logging
import selectors

import pytest

from looptools import Recorder, read_exactly, run_until
from selchat.server.loop import Loop
from selchat.server.network import Reactor

pytestmark = pytest.mark.internal_errors  # these tests make internal errors on purpose


class Exploding(Recorder):
    """A handler with a bug: a line containing `boom` raises."""

    def data_received(self, data: bytes) -> None:
        if b"boom" in data:
            raise ZeroDivisionError("a bug")
        super().data_received(data)


def _attach(reactor, handler_class):
    import socket

    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    transport = reactor.conns.adopt(ours, "test", lambda transport: handler_class())
    return transport, theirs


def test_a_handler_that_raises_closes_only_its_own_connection(caplog):
    reactor = Reactor(selectors.DefaultSelector())
    bad, bad_peer = _attach(reactor, Exploding)
    good, good_peer = _attach(reactor, Recorder)
    bad_peer.sendall(b"boom\n")
    good_peer.sendall(b"hello\n")
    with caplog.at_level(logging.ERROR, logger="selchat"):
        run_until(reactor, lambda: bad.closed and good.handler.data == b"hello\n")
    assert bad.handler.lost == "internal server error"
    assert not good.closed
    assert reactor.conns.internal_errors == 1
    assert "internal error handling test" in caplog.text and "ZeroDivisionError" in caplog.text
    # The loop goes on serving the other connection.
    good.write(b"still here\n")
    run_until(reactor, lambda: not good.pending_bytes)
    assert read_exactly(good_peer, 11) == b"still here\n"


def test_a_handler_that_raises_on_close_does_not_stop_the_others_closing():
    class BadGoodbye(Recorder):
        def connection_lost(self, reason: str) -> None:
            raise RuntimeError("a bug on the way out")

    reactor = Reactor(selectors.DefaultSelector())
    first, _ = _attach(reactor, BadGoodbye)
    second, _ = _attach(reactor, Recorder)
    first.abort("bye")
    second.abort("bye")
    reactor.run_once()
    assert first.closed and second.closed and second.handler.lost == "bye"
    assert reactor.conns.internal_errors == 1 and reactor.connection_count == 0


def test_a_handler_factory_that_raises_closes_that_connection():
    def broken():
        raise KeyError("no room")

    reactor = Reactor(selectors.DefaultSelector())
    transport, peer = _attach(reactor, broken)
    run_until(reactor, lambda: transport.closed)
    assert reactor.conns.internal_errors == 1 and reactor.connection_count == 0
    peer.settimeout(5)
    assert peer.recv(10) == b""  # the peer sees the close


def test_a_timer_or_hook_that_raises_is_logged_and_the_loop_goes_on(caplog):
    loop = Loop(selectors.DefaultSelector())
    ran = []
    loop.call_later(0, lambda: 1 / 0)
    loop.call_later(0, ran.append, "later timer")
    loop.add_end_of_turn(lambda: ran.append("hook"))
    loop.add_end_of_turn(lambda: [][1])
    with caplog.at_level(logging.ERROR, logger="selchat"):
        loop.run_once()
        loop.call_later(0, lambda: None)  # something due, so the second select() returns
        loop.run_once()
    assert ran == ["later timer", "hook", "hook"]
    assert loop.callback_errors == 3  # the timer once, the bad hook each turn
    assert "the loop goes on" in caplog.text


def test_a_ready_callback_that_raises_does_not_skip_the_others():
    import socket

    loop = Loop(selectors.DefaultSelector())
    pairs = [socket.socketpair() for _ in range(3)]
    seen = []

    def make(n):
        def ready(mask):
            pairs[n][0].recv(10)
            if n == 0:
                raise ValueError("a bug")
            seen.append(n)
        return ready

    for n, (ours, theirs) in enumerate(pairs):
        ours.setblocking(False)
        loop.register(ours, selectors.EVENT_READ, make(n))
        theirs.sendall(b"x")
    loop.run_once()
    assert sorted(seen) == [1, 2] and loop.callback_errors == 1
    # The descriptor whose callback raised is no longer watched: it cannot raise every turn.
    watched = {key.fileobj for key in loop.selector.get_map().values()}
    assert pairs[0][0] not in watched and pairs[1][0] in watched and pairs[2][0] in watched
