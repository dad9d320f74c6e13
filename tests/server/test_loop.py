"""The loop alone: timers, ready callbacks, end-of-turn hooks, the turn observer, wake-ups."""

import selectors

from selchat.server.loop import Loop
from selchat.server.network import Reactor


def test_timers_fire_in_order_and_cancelled_ones_do_not():
    reactor = Reactor(selectors.DefaultSelector())
    fired = []
    reactor.call_later(0.02, fired.append, "second")
    reactor.call_later(0.01, fired.append, "first")
    reactor.call_later(0.015, fired.append, "cancelled").cancel()
    reactor.call_later(0.03, reactor.stop)
    reactor.run()
    assert fired == ["first", "second"]
