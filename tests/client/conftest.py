"""Helpers for the client tests: an event recorder for `ChatClient` and predicates for it, a
raw-socket peer, and small probes of a Pilot-driven app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from typing import Callable

import pytest

from selchat.client.net import Backoff, ChatClient
from selchat.client.session import ConnectionState, Delivery, DeliveryChanged, Event, StatusChanged


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
    """An asyncio raw-socket JSON client: the other side of a conversation.

    It must be async: Pilot tests run the app on the test's own event loop, so a blocking read
    here would stop the app from sending the very line we wait for.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.welcome: dict = {}

    @classmethod
    async def connect(cls, host: str, port: int, nick: str, *, tls: ssl.SSLContext | None = None,
                      password: str | None = None) -> "JsonPeer":
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None)
        peer = cls(reader, writer)
        hello = {"type": "hello", "protocol": 1, "nick": nick}
        if password is not None:
            hello["password"] = password
        peer.send(hello)
        peer.welcome = await peer.read_until(lambda e: e.get("type") == "welcome")
        return peer

    def send(self, obj: dict) -> None:
        self.writer.write(json.dumps(obj).encode() + b"\n")

    async def read_until(self, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        async def read() -> dict:
            while line := await self.reader.readline():
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and predicate(obj):
                    return obj
            raise ConnectionError("peer connection closed")

        return await asyncio.wait_for(read(), timeout)

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def json_peer():
    """Async factory for JsonPeer: `bob = await json_peer(host, port, "bob")`; closed at teardown."""
    peers: list[JsonPeer] = []

    async def factory(host: str, port: int, nick: str, **kwargs) -> JsonPeer:
        peer = await JsonPeer.connect(host, port, nick, **kwargs)
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


# The terminal size of the Pilot tests.
SIZE = (100, 30)


def log_text(app) -> str:
    return "\n".join(app.log_view.plain_lines())


def status_text(app) -> str:
    return app.status_bar.describe().plain


def connected(app) -> bool:
    """The app's status bar says connected."""
    status = app.status_bar.status
    return status is not None and status.state is ConnectionState.CONNECTED


@pytest.fixture
def tls_server(run_server, certificate):
    """Factory: a real server speaking TLS only, with the test certificate."""
    cert, key = certificate

    def factory(*args: str):
        return run_server("--tls-cert", cert, "--tls-key", key, *args)

    return factory


# Reconnect quickly in tests: a restarted server is back within a fraction of a second.
FAST = Backoff(first=0.05, cap=0.2)


def status(state: ConnectionState) -> Callable[[Event], bool]:
    """A `recorder.wait_for` predicate: the client entered `state`."""
    return lambda e: isinstance(e, StatusChanged) and e.state is state


def delivered(line) -> Callable[[Event], bool]:
    """A `recorder.wait_for` predicate: the server's copy of our `line` came back."""
    return lambda e: isinstance(e, DeliveryChanged) and e.line is line \
        and line.delivery is Delivery.DELIVERED


@contextlib.asynccontextmanager
async def running(client: ChatClient):
    """Run `client` in a task for the block's duration, then close it and wait for the task."""
    task = asyncio.create_task(client.run())
    try:
        yield task
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)
