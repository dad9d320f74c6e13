"""Helpers for the client tests: an event recorder for `ChatClient` and a raw-socket peer."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Callable

import pytest

from selchat.client.session import Event


class EventRecorder:
    """Collects a ChatClient's events; `wait_for` blocks until one matches (or times out)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event; got {self.events[-20:]}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


class JsonPeer:
    """A blocking raw-socket JSON client, for the other side of a conversation."""

    def __init__(self, host: str, port: int, nick: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.file = self.sock.makefile("rwb")
        self.send({"type": "hello", "protocol": 1, "nick": nick})
        self.welcome = self.read_until(lambda e: e.get("type") == "welcome")

    def send(self, obj: dict) -> None:
        self.file.write(json.dumps(obj).encode() + b"\n")
        self.file.flush()

    def read_until(self, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            line = self.file.readline()
            if not line:
                raise ConnectionError("peer connection closed")
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and predicate(obj):
                return obj
        raise TimeoutError("no matching line")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def json_peer():
    """Factory for JsonPeer; all are closed at teardown."""
    peers: list[JsonPeer] = []

    def factory(host: str, port: int, nick: str) -> JsonPeer:
        peer = JsonPeer(host, port, nick)
        peers.append(peer)
        return peer

    yield factory
    for peer in peers:
        peer.close()


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 10.0,
                     what: str = "condition") -> None:
    """Let a Pilot-driven app run until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def log_text(app) -> str:
    return "\n".join(app.log_view.plain_lines())
