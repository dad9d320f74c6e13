"""NodeBridge on fakes: what the node says reaches the room, whatever one item does."""

import logging
from types import SimpleNamespace

import pytest

from selchat.server.cluster.bridge import NodeBridge


class FakeNode:
    def __init__(self, items):
        self.config = SimpleNamespace(url=SimpleNamespace(host="127.0.0.1", port=1, tls=False), node_id="n1")
        self._items, self.has_work, self.ready, self.epoch = items, False, False, None
        self.paused_reason = None

    def outputs(self):
        items, self._items = self._items, []
        return items

    def links_to_open(self, now):
        return []

    def data_to_send(self, name):
        return b""

    def next_timer(self):
        return 1e12


class FakeRoom:
    def __init__(self):
        self.handled = []

    def attach(self, node, clock):
        pass

    def cluster_event(self, item, wall):
        if item == "bad":
            raise ValueError("a bug in one item")
        self.handled.append(item)
        return [("to", item)]

    def cluster_turn(self, wall):
        return []


class FakeReactor:
    now = wall = 0.0

    def before_flush(self, hook, has_work):
        self.hook = hook

    def call_at(self, when, callback):
        return SimpleNamespace(cancel=lambda: None)


@pytest.mark.internal_errors
def test_an_item_the_room_fails_on_does_not_lose_the_rest_of_the_batch(caplog):
    delivered = []
    room = FakeRoom()
    with caplog.at_level(logging.ERROR, logger="selchat"):
        NodeBridge(FakeReactor(), FakeNode(["one", "bad", "two"]), room, delivered.extend, address=("127.0.0.1", 1))
    assert room.handled == ["one", "two"] and delivered == [("to", "one"), ("to", "two")]
    assert "internal error handling str from the broker" in caplog.text
