"""Transports in-process: coalesced writes, partial writes kept, the output-queue limits, EOF."""

import selectors
import socket

from looptools import attached_pair, read_exactly, run_until
from selchat.server.network import Reactor


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
