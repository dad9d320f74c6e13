"""ChatClient (no Textual) against a real selchat server."""

from conftest import FAST, delivered, running, status
from selchat.client.net import ChatClient
from selchat.client.session import ChatLine, ConnectionState, Delivery, LagMeasured, Reply, Welcome


async def test_welcome_message_delivery_and_lag(run_server, recorder, json_peer):
    server = run_server()
    client = ChatClient(server.host, server.port, "alice", recorder, ping_interval=0.1)
    async with running(client):
        welcome = await recorder.wait_for(lambda e: isinstance(e, Welcome))
        assert welcome.nick == "alice" and welcome.mode == "chat"
        bob = await json_peer(server.host, server.port, "bob")
        line = client.send_message("hi bob")
        await recorder.wait_for(delivered(line))
        got = await bob.read_until(lambda e: e.get("type") == "message")
        assert got["text"] == "hi bob" and got["from"] == "alice"
        bob.send({"type": "message", "text": "hi alice"})
        await recorder.wait_for(lambda e: isinstance(e, ChatLine) and e.text == "hi alice")
        await recorder.wait_for(lambda e: isinstance(e, LagMeasured))


async def test_echo_mode_reply_confirms_line(run_server, recorder):
    server = run_server("--mode", "echo")
    client = ChatClient(server.host, server.port, "alice", recorder)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        line = client.send_message("ping me")
        await recorder.wait_for(lambda e: isinstance(e, Reply) and e.text == "ping me")
        await recorder.wait_for(delivered(line))


async def test_restart_reclaims_nick_and_sends_outbox_in_order(run_server, recorder, json_peer):
    server = run_server()
    client = ChatClient(server.host, server.port, "alice", recorder, backoff=FAST)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        server.stop()
        await recorder.wait_for(status(ConnectionState.RECONNECTING))
        lines = [client.send_message(f"queued {n}") for n in range(10)]
        assert {line.delivery for line in lines} == {Delivery.PENDING}
        server = run_server(port=server.port)
        bob = await json_peer(server.host, server.port, "bob")
        welcomes = [e for e in recorder.events if isinstance(e, Welcome)]
        welcome = await recorder.wait_for(
            lambda e: isinstance(e, Welcome) and e is not welcomes[0])
        for line in lines:
            await recorder.wait_for(delivered(line))
        assert client.session.nick == "alice"
        texts = [(await bob.read_until(lambda e: e.get("type") == "message"))["text"]
                 for _ in lines]
        assert texts == [f"queued {n}" for n in range(10)]
        assert welcome.nick == "alice"


async def test_flood_of_20000_lines_arrives_whole(run_server, recorder, json_peer):
    server = run_server("--rate", "0")  # bob floods on purpose; flood control would spread it out
    client = ChatClient(server.host, server.port, "alice", recorder)
    async with running(client):
        await recorder.wait_for(lambda e: isinstance(e, Welcome))
        bob = await json_peer(server.host, server.port, "bob")
        for n in range(20000):
            bob.send({"type": "message", "text": f"flood {n}"})
        await recorder.wait_for(lambda e: isinstance(e, ChatLine) and e.text == "flood 19999", 30)
        texts = [e.text for e in recorder.events if isinstance(e, ChatLine)]
        assert texts == [f"flood {n}" for n in range(20000)]
