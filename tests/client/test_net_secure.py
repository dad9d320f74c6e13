"""ChatClient (no Textual) against a real server with TLS, a password and abuse limits."""

import asyncio

from conftest import FAST, delivered, running, status
from credentials import PASSWORD, make_certificate
from selchat.client.errors import tls_context
from selchat.client.net import Backoff, ChatClient
from selchat.client.session import (
    ChatLine, ConnectionState, Left, Notice, PasswordNeeded, StatusChanged, Welcome,
)


def connects(recorder) -> int:
    return sum(1 for e in recorder.events
               if isinstance(e, StatusChanged) and e.state is ConnectionState.CONNECTING)


# -- TLS -------------------------------------------------------------------------------------------


async def test_tls_chat_with_the_servers_certificate_trusted(tls_server, certificate, recorder,
                                                             json_peer):
    server = tls_server()
    trust = tls_context(certificate[0])
    client = ChatClient(server.host, server.port, "alice", recorder, tls=trust)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        bob = await json_peer(server.host, server.port, "bob", tls=tls_context(certificate[0]))
        line = client.send_message("over tls")
        await recorder.wait_for(delivered(line))
        assert (await bob.read_until(lambda e: e.get("type") == "message"))["text"] == "over tls"
        bob.send({"type": "message", "text": "back over tls"})
        await recorder.wait_for(lambda e: isinstance(e, ChatLine) and e.text == "back over tls")


async def test_untrusted_certificate_is_described_and_retried_with_backoff(tls_server, recorder):
    server = tls_server()
    backoff = Backoff(first=0.02, cap=10, jitter=0)
    client = ChatClient(server.host, server.port, "alice", recorder, tls=tls_context(),
                        backoff=backoff)  # the system's CAs never signed our test certificate
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, StatusChanged) and e.attempt >= 4)
    retries = [e for e in recorder.events if isinstance(e, StatusChanged)
               and e.state is ConnectionState.RECONNECTING]
    assert retries[0].reason == "TLS certificate not trusted (use --tls-ca): self-signed certificate"
    assert {e.reason for e in retries} == {retries[0].reason}
    # Each failure waits twice as long as the one before: never a tight loop.
    first_waits = {}
    for event in retries:
        first_waits.setdefault(event.attempt, event.retry_in)
    assert list(first_waits)[:3] == [1, 2, 3]
    assert first_waits[3] > first_waits[2] > first_waits[1]


async def test_certificate_for_another_ca_is_not_trusted(tls_server, tmp_path, recorder):
    other, _ = make_certificate(tmp_path)  # a second self-signed certificate, not the server's
    server = tls_server()
    client = ChatClient(server.host, server.port, "alice", recorder, tls=tls_context(other),
                        backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
    assert event.reason.startswith("TLS certificate not trusted (use --tls-ca)")


async def test_tls_client_to_a_plain_server_is_told_so(run_server, certificate, recorder):
    server = run_server()
    client = ChatClient(server.host, server.port, "alice", recorder,
                        tls=tls_context(certificate[0]), backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
    assert event.reason == "the server answered in plain text, not TLS (try without --tls)"


async def test_plain_client_to_a_tls_server_is_told_so(tls_server, recorder):
    server = tls_server()
    client = ChatClient(server.host, server.port, "alice", recorder, backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
    assert "before welcome (if the server uses TLS, try --tls)" in event.reason


async def test_host_name_must_match_the_certificate(tls_server, certificate, recorder):
    server = tls_server()
    client = ChatClient("localhost", server.port, "alice", recorder, tls=tls_context(certificate[0]),
                        backoff=FAST)  # the certificate names 127.0.0.1 only
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
    assert event.reason == "TLS certificate is not for localhost (connect by the name it was issued for)"


# -- password ----------------------------------------------------------------------------------------


async def test_password_given_up_front_gets_in(run_server, password_file, recorder):
    server = run_server("--password-file", password_file)
    client = ChatClient(server.host, server.port, "alice", recorder, password=PASSWORD)
    async with running(client):
        welcome = await recorder.wait_for(lambda e: isinstance(e, Welcome))
        assert welcome.nick == "alice"
        assert not any(isinstance(e, PasswordNeeded) for e in recorder.events)
    assert PASSWORD not in repr(client.session) and PASSWORD not in repr(recorder.events)


async def test_password_and_tls_together(tls_server, certificate, password_file, recorder):
    server = tls_server("--password-file", password_file)
    client = ChatClient(server.host, server.port, "alice", recorder,
                        tls=tls_context(certificate[0]), password=PASSWORD)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))


async def test_missing_password_stops_and_waits_for_one(run_server, password_file, recorder):
    server = run_server("--password-file", password_file)
    client = ChatClient(server.host, server.port, "alice", recorder,
                        backoff=Backoff(first=0.01, cap=0.01))
    async with running(client):
        needed = await recorder.wait_for(lambda e: isinstance(e, PasswordNeeded))
        assert needed == PasswordNeeded("the server needs a password", wrong=False)
        assert client.awaiting_password
        last = [e for e in recorder.events if isinstance(e, StatusChanged)][-1]
        assert last.describe() == "disconnected: the server needs a password"
        client.set_password(PASSWORD)
        welcome = await recorder.wait_for(lambda e: isinstance(e, Welcome))
        assert welcome.nick == "alice" and not client.awaiting_password
        assert connects(recorder) == 2


async def test_wrong_password_is_not_retried_until_a_new_one_is_given(run_server, password_file,
                                                                      recorder):
    server = run_server("--password-file", password_file)
    client = ChatClient(server.host, server.port, "alice", recorder, password="guess",
                        backoff=Backoff(first=0.01, cap=0.01))
    async with running(client):
        needed = await recorder.wait_for(lambda e: isinstance(e, PasswordNeeded))
        assert needed.wrong and needed.reason == "wrong password"
        server.wait_for_log(r"wrong password \(attempt 1\)")
        # With a 10 ms backoff, a client that retried would have tried dozens of times by now.
        await asyncio.sleep(0.5)
        assert connects(recorder) == 1 and client.awaiting_password
        assert sum("wrong password" in line for line in server.log) == 1
        client.set_password("another guess")
        await recorder.wait_for(lambda e: isinstance(e, PasswordNeeded) and e is not needed)
        client.set_password(PASSWORD)
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        assert connects(recorder) == 3


async def test_close_while_waiting_for_a_password_ends_run(run_server, password_file, recorder):
    server = run_server("--password-file", password_file)
    client = ChatClient(server.host, server.port, "alice", recorder)
    async with running(client):  # closes the client and waits for run() to end
        await recorder.wait_for(lambda e: isinstance(e, PasswordNeeded))
    assert recorder.events[-1].describe() == "disconnected: quit"


# -- limits the client meets ---------------------------------------------------------------------


async def test_a_refusal_line_before_welcome_is_the_reason(run_server, recorder, json_peer):
    server = run_server("--max-per-ip", "1")
    await json_peer(server.host, server.port, "bob")
    client = ChatClient(server.host, server.port, "alice", recorder, backoff=FAST)
    async with running(client):
        event = await recorder.wait_for(status(ConnectionState.RECONNECTING))
    assert event.reason == "too many connections from your address (limit 1)"


async def test_throttled_client_is_told_stays_connected_and_loses_nothing(run_server, recorder):
    # Flood control holds our pings back with our lines; with pings every 20 ms, a client that
    # took three late pongs for a dead connection would hang up in 60 ms.
    server = run_server("--rate", "25", "--burst", "2")
    client = ChatClient(server.host, server.port, "alice", recorder, ping_interval=0.02)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        lines = [client.send_message(f"fast {n}") for n in range(30)]
        notice = await recorder.wait_for(lambda e: isinstance(e, Notice) and e.code == "throttled")
        assert "delayed, not lost" in notice.text
        for line in lines:
            await recorder.wait_for(delivered(line))
        assert connects(recorder) == 1


async def test_server_idle_pings_are_answered(run_server, recorder, json_peer):
    server = run_server("--idle-timeout", "0.6")
    # No pings of our own after the first: only answering the server's keeps us in.
    client = ChatClient(server.host, server.port, "alice", recorder, ping_interval=60)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        # A peer that never answers joins after us, so it is closed for idling after we would be.
        mute = await json_peer(server.host, server.port, "mute")
        await mute.read_until(lambda e: e.get("type") == "ping")
        await recorder.wait_for(lambda e: isinstance(e, Left) and e.nick == "mute", timeout=5)
        assert client.connected
        assert not any(isinstance(e, Notice) and e.code == "idle" for e in recorder.events)
