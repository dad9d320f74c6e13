"""Failover over real sockets: a ChatClient given two real single-process servers moves to the
other when the one it is on is killed, re-sends the line that was in flight with its id, and
shows the reset of the room's history (two servers, two epochs) in words."""

import asyncio
import signal

from conftest import FAST, delivered, running
from selchat.client.net import ChatClient
from selchat.client.failover import ServerAddress
from selchat.client.session import ChatLine, ConnectionState, NickChanged, Notice, StatusChanged, Welcome


def on(port):
    """A `recorder.wait_for` predicate: connected to the server on `port`."""
    return lambda e: isinstance(e, StatusChanged) and e.state is ConnectionState.CONNECTED \
        and e.port == port


def kill(server) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)


async def test_killed_server_fails_over_and_the_line_in_flight_is_resent(run_server, recorder, json_peer):
    a, b = run_server(), run_server()
    carol = await json_peer(b.host, b.port, "carol")
    for n in (1, 2):
        carol.send({"type": "message", "text": f"history on B {n}"})
        await carol.read_until(lambda e: e.get("text") == f"history on B {n}")
    client = ChatClient(a.host, a.port, "alice", recorder, backoff=FAST,
                        servers=[ServerAddress(a.host, a.port), ServerAddress(b.host, b.port)])
    async with running(client):
        await recorder.wait_for(on(a.port))
        bob = await json_peer(a.host, a.port, "bob")
        bob.send({"type": "message", "text": "on A"})
        await recorder.wait_for(lambda e: isinstance(e, ChatLine) and e.text == "on A")

        # A freezes, takes our line into its socket buffer and never answers: then it dies.
        a.proc.send_signal(signal.SIGSTOP)
        line = client.send_message("typed as A died")
        kill(a)
        await recorder.wait_for(on(b.port))
        await recorder.wait_for(delivered(line))
        got = await carol.read_until(lambda e: e.get("type") == "message" and e["from"] == "alice")
        assert got["text"] == "typed as A died"

        welcomes = [i for i, e in enumerate(recorder.events) if isinstance(e, Welcome)]
        assert len(welcomes) == 2
        since_b = recorder.events[welcomes[1]:]  # what B said, from its welcome on
        notices = [e for e in since_b if isinstance(e, Notice) and e.code]
        assert [(n.code, bool(n.text.strip())) for n in notices] == [("history_reset", True)]
        texts = [e.text for e in since_b if isinstance(e, ChatLine)]
        assert texts[:2] == ["history on B 1", "history on B 2"]  # B's history, once each, in order
        assert texts.count("typed as A died") == 0  # ours: marked delivered, not shown again


async def test_when_both_are_down_it_goes_round_until_one_is_back(run_server, recorder):
    a, b = run_server(), run_server()
    client = ChatClient(a.host, a.port, "alice", recorder, backoff=FAST,
                        servers=[ServerAddress(a.host, a.port), ServerAddress(b.host, b.port)])
    async with running(client):
        await recorder.wait_for(on(a.port))
        kill(a)
        await recorder.wait_for(on(b.port))
        kill(b)
        # Both gone: every server is tried, round after round, with backoff between rounds.
        tried = []
        await recorder.wait_for(lambda e: isinstance(e, StatusChanged)
                                and e.state is ConnectionState.CONNECTING
                                and (tried.append(e.port) or tried.count(b.port) >= 2))
        queued = client.send_message("typed while both were down")
        a = await asyncio.to_thread(run_server, port=a.port)
        await recorder.wait_for(on(a.port))
        await recorder.wait_for(delivered(queued))
    assert tried[:4] == [a.port, b.port, a.port, b.port]
    rounds = [e for e in recorder.events if isinstance(e, StatusChanged) and e.retry_in]
    assert rounds, "a whole round that failed is followed by a backoff wait"


async def test_a_nick_still_held_elsewhere_is_taken_back_once_its_holder_leaves(run_server, recorder, json_peer):
    # The stale holder stands in for our connection on a dead node, not reaped yet.
    server = run_server()
    stale = await json_peer(server.host, server.port, "alice")
    client = ChatClient(server.host, server.port, "alice", recorder, backoff=FAST)
    async with running(client):
        welcome = await recorder.wait_for(lambda e: isinstance(e, Welcome))
        assert welcome.nick != "alice"
        await recorder.wait_for(lambda e: getattr(e, "code", None) == "nick_in_use")  # the re-claim
        assert client.session.wanted_nick == "alice"
        stale.send({"type": "quit", "reason": "reaped"})
        await recorder.wait_for(lambda e: isinstance(e, NickChanged) and e.new == "alice")
        assert client.session.nick == "alice"
