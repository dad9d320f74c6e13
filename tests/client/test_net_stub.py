"""ChatClient against a tiny in-process stub server: framing, greeting lines, bad addresses,
reconnect timing.  What the protocol decides (handshake outcomes, lag, refusal wording) is tested
without sockets in test_session.py; here only that the I/O layer carries it out."""

import asyncio
import random

import pytest

from conftest import FAST, delivered, running, status
from selchat.client.net import Backoff, ChatClient
from selchat.client.session import (
    ConnectionState, Delivery, LagMeasured, Reply, StatusChanged, Welcome,
)
from stubserver import StubServer


def test_backoff_doubles_to_cap_with_jitter():
    backoff = Backoff(rng=random.Random(1))
    delays = [backoff.delay(n) for n in range(1, 12)]
    assert 0.4 <= delays[0] <= 0.6 and 0.8 <= delays[1] <= 1.2
    assert all(d <= 30 for d in delays) and delays[-1] >= 24


async def test_ignores_text_greeting_before_welcome(recorder):
    server = await StubServer(greeting="*** welcome, you are guest1").start()
    client = ChatClient("127.0.0.1", server.port, "alice", recorder, ping_interval=0.1)
    async with running(client):
        welcome = await recorder.wait_for(lambda e: isinstance(e, Welcome))
        assert welcome.nick == "alice"
        line = client.send_message("hello")
        await recorder.wait_for(delivered(line))
        await recorder.wait_for(lambda e: isinstance(e, LagMeasured))
    await server.stop()


async def test_refused_connection_is_described_and_retried(recorder):
    server = await StubServer().start()
    port = server.port
    await server.stop()
    client = ChatClient("127.0.0.1", port, "alice", recorder, backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
        assert "connection refused" in event.describe()
        await recorder.wait_for(lambda e: isinstance(e, StatusChanged) and e.attempt >= 2)


# "a..b": a host name IDNA cannot encode at all.
@pytest.mark.parametrize("host", ["no-such-host.invalid", "a..b"])
async def test_unknown_host_is_described(host, recorder):
    client = ChatClient(host, 8081, "alice", recorder, backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
        assert "unknown host" in event.reason


async def test_bad_port_is_fatal_and_described(recorder):
    client = ChatClient("127.0.0.1", 99999, "alice", recorder)
    await asyncio.wait_for(client.run(), 5)
    event = recorder.events[-1]
    assert event.state is ConnectionState.DISCONNECTED and "bad port 99999" in event.reason


async def test_outbox_survives_restart_in_order(recorder):
    server = await StubServer().start()
    port = server.port
    client = ChatClient("127.0.0.1", port, "alice", recorder, backoff=FAST)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        await server.stop()
        await recorder.wait_for(status(ConnectionState.RECONNECTING))
        lines = [client.send_message(f"offline {n}") for n in range(5)]
        assert all(line.delivery is Delivery.PENDING for line in lines)
        server = await StubServer().start(port)
        for line in lines:
            await recorder.wait_for(delivered(line))
        texts = [r["text"] for r in server.received if r.get("type") == "message"]
        assert texts == [f"offline {n}" for n in range(5)]
    await server.stop()


async def serve_once(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_unsupported_protocol_is_fatal_and_says_why(recorder):
    async def refuse(reader, writer):
        await reader.readline()
        writer.write(b'{"type":"error","code":"unsupported_protocol","message":"we speak 2"}\n')
        await writer.drain()
        writer.close()

    server, port = await serve_once(refuse)
    client = ChatClient("127.0.0.1", port, "alice", recorder, backoff=FAST)
    await asyncio.wait_for(client.run(), 5)  # gives up by itself
    assert recorder.events[-1].describe() == "disconnected: server refused protocol 1: we speak 2"
    server.close()


async def test_hanging_up_before_welcome_backs_off_more_each_time(recorder):
    async def hang_up(reader, writer):
        writer.close()

    server, port = await serve_once(hang_up)
    client = ChatClient("127.0.0.1", port, "alice", recorder,
                        backoff=Backoff(first=0.01, cap=10, jitter=0))
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, StatusChanged) and e.attempt >= 4)
    waits = {}
    for event in recorder.events:
        if isinstance(event, StatusChanged) and event.retry_in is not None:
            waits.setdefault(event.attempt, event.retry_in)
    assert list(waits)[:3] == [1, 2, 3] and waits[3] > waits[2] > waits[1]
    retry = next(e for e in recorder.events if isinstance(e, StatusChanged) and e.retry_in is not None)
    assert retry.reason == "server closed the connection before welcome (if the server uses TLS, try --tls)"
    server.close()


async def test_echo_reply_confirms_the_line_by_its_id(recorder):
    server = await StubServer(mode="upper").start()
    client = ChatClient("127.0.0.1", server.port, "alice", recorder)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        first, second = client.send_message("one"), client.send_message("two")
        await recorder.wait_for(delivered(second))
        assert first.delivery is Delivery.DELIVERED
        replies = [e for e in recorder.events if isinstance(e, Reply)]
        assert [(r.text, r.id) for r in replies] == [("ONE", first.id), ("TWO", second.id)]
    await server.stop()


async def test_a_silent_server_is_hung_up_on_and_the_reason_says_who_did(recorder):
    """tui-review defect I: the client aborted after unanswered pings but said "server closed"."""
    async def welcome_then_freeze(reader, writer):
        await reader.readline()
        writer.write(b'{"type":"welcome","protocol":1,"server":"frozen","mode":"chat",'
                     b'"nick":"alice","users":["alice"],"user_count":1,"max_line":8192}\n')
        while await reader.readline():  # reads our pings, never answers
            pass

    server, port = await serve_once(welcome_then_freeze)
    client = ChatClient("127.0.0.1", port, "alice", recorder, ping_interval=0.05, backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
    assert event.reason.startswith("no answer from the server for "), event.reason
    assert not [e for e in recorder.events if isinstance(e, LagMeasured)]  # never answered
    server.close()
