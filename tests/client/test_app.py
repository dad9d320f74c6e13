"""Pilot tests of the TUI against a real selchat server on loopback."""

import pytest

from conftest import log_text, wait_until
from selchat.client.app import SelchatApp
from selchat.client.session import ConnectionState, Delivery

SIZE = (100, 30)


def connected(app):
    status = app.status_bar.status
    return status is not None and status.state is ConnectionState.CONNECTED


@pytest.fixture
def chat_server(run_server):
    return run_server()


async def type_line(pilot, text):
    """Put a whole line in the input and press Enter (pressing each key is slow for long lines)."""
    pilot.app.chat_input.value = text
    await pilot.press("enter")


async def test_connect_send_receive_and_user_list(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice", ping_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        bob = json_peer(chat_server.host, chat_server.port, "bob")
        await wait_until(pilot, lambda: "bob" in app.nicks(), what="bob in user list")
        await pilot.press(*"hello bob", "enter")
        got = bob.read_until(lambda e: e.get("type") == "message")
        assert got["from"] == "alice" and got["text"] == "hello bob"
        await wait_until(pilot, lambda: "✓" in log_text(app), what="delivered mark")
        bob.send({"type": "message", "text": "hi alice"})
        await wait_until(pilot, lambda: "<bob> hi alice" in log_text(app), what="bob's line")
        await wait_until(pilot, lambda: app.status_bar.lag is not None, what="lag")
        users = [str(option.prompt) for option in app.query_one("#users").options]
        assert any(u.startswith("alice") for u in users) and "bob" in users
        bob.send({"type": "quit"})
        await wait_until(pilot, lambda: "bob" not in app.nicks(), what="bob gone")
