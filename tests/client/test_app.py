"""Pilot tests of the TUI against a real selchat server on loopback."""

import pytest
from textual import events

from conftest import SIZE, connected, log_text, status_text, wait_until
from selchat.client.app import SelchatApp
from selchat.client.session import ConnectionState, StatusChanged
from selchat.client.widgets import PasteConfirm


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
        bob = await json_peer(chat_server.host, chat_server.port, "bob")
        await wait_until(pilot, lambda: "bob" in app.nicks(), what="bob in user list")
        await pilot.press(*"hello bob", "enter")
        got = await bob.read_until(lambda e: e.get("type") == "message")
        assert got["from"] == "alice" and got["text"] == "hello bob"
        await wait_until(pilot, lambda: "✓" in log_text(app), what="delivered mark")
        bob.send({"type": "message", "text": "hi alice"})
        await wait_until(pilot, lambda: "<bob> hi alice" in log_text(app), what="bob's line")
        await wait_until(pilot, lambda: app.status_bar.lag is not None, what="lag")
        users = [str(option.prompt) for option in app.query_one("#users").options]
        assert any(u.startswith("alice") for u in users) and "bob" in users
        bob.send({"type": "quit"})
        await wait_until(pilot, lambda: "bob" not in app.nicks(), what="bob gone")


async def test_commands_nick_me_msg_who_clear_help(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        bob = await json_peer(chat_server.host, chat_server.port, "bob")
        await wait_until(pilot, lambda: "bob" in app.nicks(), what="bob joined")

        await type_line(pilot, "/nick carol")
        await wait_until(pilot, lambda: app.client.session.nick == "carol", what="nick change")
        # The session knows at network speed; the screen draws it on its next frame.
        await wait_until(pilot, lambda: "alice is now known as carol" in log_text(app),
                         what="nick change drawn")
        assert app.status_bar.nick == "carol"

        await type_line(pilot, "/me waves")
        assert (await bob.read_until(lambda e: e.get("type") == "action"))["text"] == "waves"
        await type_line(pilot, "/msg bob psst")
        got = await bob.read_until(lambda e: e.get("type") == "private")
        assert (got["from"], got["to"], got["text"]) == ("carol", "bob", "psst")
        await wait_until(pilot, lambda: "[private to bob] <carol> psst" in log_text(app),
                         what="private line")

        await type_line(pilot, "/msg nobody hello?")
        await wait_until(pilot, lambda: "not delivered" in log_text(app), what="failed mark")

        await type_line(pilot, "/who")
        await wait_until(pilot, lambda: "2 here: " in log_text(app), what="who answer")

        await type_line(pilot, "//slash")
        assert (await bob.read_until(lambda e: e.get("type") == "message"))["text"] == "/slash"

        await type_line(pilot, "/bogus")
        assert "unknown command /bogus" in log_text(app)
        await type_line(pilot, "/help")
        assert "/msg NICK TEXT" in log_text(app)
        await type_line(pilot, "/clear")
        assert app.log_view.entry_count == 0

        await type_line(pilot, "/quit bye now")
        left = await bob.read_until(lambda e: e.get("type") == "leave")
        assert left["nick"] == "carol" and "bye now" in left["reason"]
    assert app.return_code == 0


async def test_nick_completion_and_history(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        await json_peer(chat_server.host, chat_server.port, "bobby")
        await json_peer(chat_server.host, chat_server.port, "Boris")
        await wait_until(pilot, lambda: {"bobby", "Boris"} <= set(app.nicks()), what="peers")
        chat_input = app.chat_input
        await pilot.press("b", "o", "tab")
        assert chat_input.value == "bobby: "
        await pilot.press("tab")
        assert chat_input.value == "Boris: "
        await pilot.press(*"hi", "enter")
        await pilot.press(*"second", "enter")
        assert chat_input.value == ""
        await pilot.press(*"draft", "up")
        assert chat_input.value == "second"
        await pilot.press("up")
        assert chat_input.value == "Boris: hi"
        await pilot.press("up")
        assert chat_input.value == "Boris: hi"
        await pilot.press("down", "down")
        assert chat_input.value == "draft"
        # mid-line completion appends a space, not a colon
        chat_input.value = "ask bob"
        chat_input.cursor_position = len(chat_input.value)
        await pilot.press("tab")
        assert chat_input.value == "ask bobby "


async def test_multiline_paste_sends_every_line(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        bob = await json_peer(chat_server.host, chat_server.port, "bob")
        app.chat_input.post_message(events.Paste("one\ntwo\n/three"))
        for expected in ("one", "two", "/three"):
            assert (await bob.read_until(lambda e: e.get("type") == "message"))["text"] == expected

        many = "\n".join(f"line {n}" for n in range(8))
        app.chat_input.post_message(events.Paste(many))
        await wait_until(pilot, lambda: isinstance(app.screen, PasteConfirm), what="confirm")
        await pilot.press("y")
        for n in range(8):
            assert (await bob.read_until(lambda e: e.get("type") == "message"))["text"] == f"line {n}"

        app.chat_input.post_message(events.Paste(many))
        await wait_until(pilot, lambda: isinstance(app.screen, PasteConfirm), what="confirm")
        await pilot.press("n")
        await wait_until(pilot, lambda: "paste of 8 lines not sent" in log_text(app), what="note")


async def test_markup_and_escapes_from_others_show_literally(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        bob = await json_peer(chat_server.host, chat_server.port, "bob")
        evil = "[bold red]x[/] [link=https://evil.example]click[/link] \x1b[2J\x1b]0;pwned\x07end"
        bob.send({"type": "message", "text": evil})
        await wait_until(pilot, lambda: "end" in log_text(app), what="evil line")
        line = next(l for l in app.log_view.plain_lines() if "<bob>" in l)
        assert "[bold red]x[/] [link=https://evil.example]click[/link]" in line
        assert "\x1b" not in line and "pwned" not in line
        # and it is drawn as typed, not as styles/links
        await pilot.pause()
        screen_text = "\n".join(app.log_view.rows())
        assert "[bold red]x[/]" in screen_text


async def test_echo_mode_shows_replies(run_server):
    server = run_server("--mode", "upper")
    app = SelchatApp(server.host, server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        assert app.status_bar.mode == "upper"
        await type_line(pilot, "straße")
        await wait_until(pilot, lambda: "↩ STRASSE" in log_text(app), what="reply")
        await wait_until(pilot, lambda: not app.client.session.outbox, what="delivered")


async def test_server_restart_delivers_outbox_in_order(run_server, json_peer):
    server = run_server()
    app = SelchatApp(server.host, server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        server.stop()
        await wait_until(pilot, lambda: app.status_bar.status.state is ConnectionState.RECONNECTING,
                         what="reconnecting")
        assert "reconnecting in" in status_text(app)
        for n in range(5):
            await type_line(pilot, f"offline {n}")
        assert app.status_bar.pending == 5
        assert log_text(app).count("(pending)") == 5
        server = run_server(port=server.port)
        bob = await json_peer(server.host, server.port, "bob")
        app.client.reconnect_now()
        texts = [(await bob.read_until(lambda e: e.get("type") == "message"))["text"] for _ in range(5)]
        assert texts == [f"offline {n}" for n in range(5)]
        await wait_until(pilot, lambda: not app.client.session.outbox, what="all delivered")
        await wait_until(pilot, lambda: log_text(app).count("✓") == 5, what="marks")
        assert app.client.session.nick == "alice"
        assert app.status_bar.pending == 0


async def test_refused_connection_shows_status_not_traceback(run_server):
    server = run_server()
    port = server.port
    server.stop()
    app = SelchatApp("127.0.0.1", port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "connection refused" in status_text(app),
                         what="refused status")
        assert "reconnecting in" in status_text(app)


async def test_unknown_host_shows_status():
    app = SelchatApp("no-such-host.invalid", 8081, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "unknown host" in status_text(app),
                         what="unknown host status")


async def test_flood_keeps_ui_responsive_and_scrollback_bounded(run_server, json_peer):
    # The server's flood control would spread bob's burst over half an hour: turn it off.
    chat_server = run_server("--rate", "0")
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        bob = await json_peer(chat_server.host, chat_server.port, "bob")
        for n in range(20000):
            bob.send({"type": "message", "text": f"flood {n}"})
        await pilot.press(*"typing")  # keys are handled while the flood is coming in
        assert app.chat_input.value == "typing"
        await wait_until(pilot, lambda: "flood 19999" in (app.log_view.plain_lines() or [""])[-1],
                         timeout=60, what="end of flood")
        assert app.log_view.entry_count <= 5000
        # The newest lines are all there, in order (the skipped ones are counted: test_load.py).
        shown = [int(line.rsplit(" ", 1)[1]) for line in app.log_view.plain_lines()
                 if "> flood " in line]
        assert shown == sorted(shown) and shown[-4900:] == list(range(15100, 20000))


async def test_new_below_marker_when_scrolled_up(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        bob = await json_peer(chat_server.host, chat_server.port, "bob")
        for n in range(100):
            bob.send({"type": "message", "text": f"early {n}"})
        await wait_until(pilot, lambda: "early 99" in log_text(app), what="early lines")
        await pilot.press("pageup")
        await wait_until(pilot, lambda: not app.log_view.is_vertical_scroll_end, what="scrolled up")
        top = app.log_view.scroll_y
        for n in range(3):
            bob.send({"type": "message", "text": f"late {n}"})
        await wait_until(pilot, lambda: app.new_below.display, what="marker")
        await wait_until(pilot, lambda: "3 new lines below" in str(app.new_below.render()),
                         what="marker count")
        assert app.log_view.scroll_y == top  # the view was not yanked
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: not app.new_below.display, what="marker hidden")
        await pilot.press("pageup")
        bob.send({"type": "message", "text": "later"})
        await wait_until(pilot, lambda: app.new_below.display, what="marker again")
        await pilot.press("pagedown", "pagedown")
        await wait_until(pilot, lambda: not app.new_below.display, what="hidden at bottom")


async def test_command_palette_offers_chat_actions(chat_server, json_peer):
    app = SelchatApp(chat_server.host, chat_server.port, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: connected(app), what="connected")
        await pilot.press("ctrl+p")
        await pilot.press(*"who is here")

        def first_hit() -> str:
            lists = app.screen.query("CommandList")
            if not lists or not lists.first().option_count:
                return ""
            return str(lists.first().get_option_at_index(0).prompt)

        await wait_until(pilot, lambda: "Who is here" in first_hit(), what="palette hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "1 here: alice" in log_text(app), what="who answer")


async def test_quit_with_undelivered_lines_warns_first():
    app = SelchatApp("127.0.0.1", 8081, "alice", autoconnect=False)
    async with app.run_test(size=SIZE) as pilot:
        await type_line(pilot, "never sent")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: "not delivered yet" in log_text(app), what="warning")
        assert app.is_running
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="exit")


async def test_a_lost_connection_is_noted_even_when_the_reconnect_comes_in_the_same_batch():
    """tui-review defect D: RECONNECTING(reason), CONNECTING, CONNECTED in one batch collapsed
    into the last status, so the log never said the connection had been lost."""
    app = SelchatApp("127.0.0.1", 8081, "alice", autoconnect=False)

    def status(state, **kwargs):
        return StatusChanged(state, "127.0.0.1", 8081, **kwargs)

    async with app.run_test(size=SIZE) as pilot:
        app.deliver([status(ConnectionState.RECONNECTING, attempt=1, retry_in=0.5,
                            reason="too slow (output queue full)"),
                     status(ConnectionState.CONNECTING, attempt=1),
                     status(ConnectionState.CONNECTED)])
        await pilot.pause()
        assert "not connected, will keep trying: too slow (output queue full)" in log_text(app)
        assert connected(app)
        # Once per loss, not once per countdown tick; a new loss after a connection is noted again.
        app.deliver([status(ConnectionState.RECONNECTING, attempt=1, retry_in=n / 2,
                            reason="connection refused") for n in (2, 1)])
        await pilot.pause()
        app.deliver([status(ConnectionState.CONNECTED),
                     status(ConnectionState.RECONNECTING, attempt=1, retry_in=1, reason="connection refused")])
        await pilot.pause()
        assert log_text(app).count("not connected, will keep trying: connection refused") == 2


async def test_the_title_names_the_server_in_use_after_a_failover():
    app = SelchatApp("127.0.0.1", 8081, "alice", autoconnect=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.sub_title == "127.0.0.1:8081"
        app.deliver([StatusChanged(ConnectionState.CONNECTED, "127.0.0.1", 8081),
                     StatusChanged(ConnectionState.RECONNECTING, "127.0.0.1", 8081, attempt=1, retry_in=0.1,
                                   reason="server closed the connection"),
                     StatusChanged(ConnectionState.CONNECTING, "127.0.0.1", 8082, attempt=1)])
        await pilot.pause()
        assert app.sub_title == "127.0.0.1:8081"  # trying another is not being on it
        app.deliver([StatusChanged(ConnectionState.CONNECTED, "127.0.0.1", 8082)])
        await pilot.pause()
        assert app.sub_title == "127.0.0.1:8082"
