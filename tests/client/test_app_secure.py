"""Pilot tests of TLS, the password prompt and flood-control notices, against a real server."""

import asyncio

from textual.widgets import Input, Label

from conftest import SIZE, connected, log_text, status_text, wait_until
from credentials import PASSWORD
from selchat.client.app import SelchatApp
from selchat.client.errors import tls_context
from selchat.client.net import Backoff, ChatClient
from selchat.client.widgets import PasswordPrompt


def prompt_up(app) -> bool:
    """The prompt is the current screen and mounted (a pushed screen composes a moment later)."""
    return isinstance(app.screen, PasswordPrompt) and bool(app.screen.query("#password"))


def keys(text: str) -> list[str]:
    return ["space" if c == " " else c for c in text]


async def test_tls_chat_with_tls_ca(tls_server, certificate):
    server = tls_server()
    app = SelchatApp(server.host, server.port, "alice", tls=tls_context(certificate[0]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected over TLS")
        assert f"{server.host}:{server.port} (TLS)" in status_text(app)
        await pilot.press(*"hi over tls", "enter")
        await wait_until(pilot, lambda: "✓" in log_text(app), what="delivered mark")


async def test_untrusted_certificate_shows_why_in_words(tls_server):
    server = tls_server()
    app = SelchatApp(server.host, server.port, "alice", tls=tls_context())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "TLS certificate not trusted (use --tls-ca)" in status_text(app),
                         what="certificate status")
        assert "reconnecting in" in status_text(app)
        assert log_text(app).count("TLS certificate not trusted") == 1  # once, not per retry
        assert "Traceback" not in log_text(app)


async def test_password_option_gets_straight_in(run_server, password_file):
    server = run_server("--password-file", password_file)
    app = SelchatApp(server.host, server.port, "alice", password=PASSWORD)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        assert not prompt_up(app)


async def test_prompt_on_auth_required_and_the_typed_password_gets_in(run_server, password_file):
    server = run_server("--password-file", password_file)
    app = SelchatApp(server.host, server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: prompt_up(app), what="password prompt")
        title = str(app.screen.query_one("#password-title", Label).render())
        assert title == f"{server.host}:{server.port} needs a password:"
        assert "disconnected: the server needs a password" in status_text(app)
        field = app.screen.query_one("#password", Input)
        assert field.password
        await wait_until(pilot, lambda: app.focused is field, what="focus in the prompt")
        await pilot.press(*keys(PASSWORD))
        assert field.value == PASSWORD
        await pilot.pause()
        screen = app.export_screenshot()
        assert "open" not in screen and "sesame" not in screen  # drawn as dots
        await pilot.press("enter")
        await wait_until(pilot, lambda: connected(app), what="connected with the password")
        assert not prompt_up(app) and app.focused is app.chat_input
        assert PASSWORD not in log_text(app)
        assert PASSWORD not in " ".join(app.chat_input.history)


async def test_wrong_password_shows_the_error_and_does_not_loop(run_server, password_file):
    server = run_server("--password-file", password_file)
    def fast_client(*args, **kwargs):
        return ChatClient(*args, backoff=Backoff(first=0.01, cap=0.01), **kwargs)

    app = SelchatApp(server.host, server.port, "alice", password="guess", client_factory=fast_client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: prompt_up(app), what="password prompt")
        assert str(app.screen.query_one("#password-title", Label).render()) == "Wrong password. Try again:"
        assert "disconnected: wrong password" in status_text(app)
        assert "disconnected: wrong password" in log_text(app)
        server.wait_for_log(r"wrong password \(attempt 1\)")
        await asyncio.sleep(0.5)  # with a 10 ms backoff, a client that retried would have by now
        await pilot.pause()
        assert sum("wrong password" in line for line in server.log) == 1
        assert app.client.awaiting_password and prompt_up(app)
        await pilot.press(*keys(PASSWORD), "enter")
        await wait_until(pilot, lambda: connected(app), what="connected with the right password")


async def test_cancelled_prompt_can_be_reopened_with_pass(run_server, password_file):
    server = run_server("--password-file", password_file)
    app = SelchatApp(server.host, server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: prompt_up(app), what="password prompt")
        await pilot.press("enter")  # empty: refused, the prompt stays
        assert prompt_up(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not prompt_up(app), what="prompt closed")
        await wait_until(pilot, lambda: "not connected: the server needs a password" in log_text(app),
                         what="note")
        app.chat_input.value = "/pass"
        await pilot.press("enter")
        await wait_until(pilot, lambda: prompt_up(app), what="prompt again")
        await pilot.press("escape")
        # Given on the command line it works too, and stays out of the history.
        app.chat_input.value = f"/pass {PASSWORD}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: connected(app), what="connected")
        assert app.chat_input.history == []  # no /pass line is remembered, with or without one
        assert PASSWORD not in log_text(app)


async def test_flood_control_notice_is_shown_and_lines_still_arrive(run_server):
    server = run_server("--rate", "20", "--burst", "1")
    app = SelchatApp(server.host, server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        app.send_lines([f"quick {n}" for n in range(6)])
        await wait_until(pilot, lambda: "-- flood control: more than 20 lines a second; your lines "
                                        "are delayed, not lost" in log_text(app), what="notice")
        await wait_until(pilot, lambda: log_text(app).count("✓") == 6, what="all delivered")
