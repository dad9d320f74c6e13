"""Pilot tests of the widgets in the real app, fed events as the network worker would (no server).

Each one reproduces a defect of issue 13 (see docs/client.md, Keys and Display).
"""

from __future__ import annotations

from textual import events
from textual.geometry import Offset
from textual.selection import Selection

import scenes
from conftest import log_text
from selchat.client.session import ChatLine, ConnectionState

T0 = scenes.T0


async def welcome(pilot, *others: str) -> None:
    """Connect the app's session as alice, with `others` in the room."""
    users = (scenes.NICK, *others)
    await scenes.feed(pilot.app, [scenes.status(ConnectionState.CONNECTED),
                                  scenes.Welcome(scenes.NICK, "chat", users, len(users), "selchat")],
                      pilot)


def said(sender: str, text: str, n: int = 0) -> ChatLine:
    return ChatLine("message", sender, text, T0 + n)


# -- 1. paste ---------------------------------------------------------------------------------------


async def test_single_line_paste_is_inserted_once():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        app.chat_input.value = "see "
        app.chat_input.cursor_position = 4
        app.chat_input.post_message(events.Paste("https://example.com/x"))
        await pilot.pause()
        assert app.chat_input.value == "see https://example.com/x"
        app.chat_input.post_message(events.Paste("one line with newline\n"))
        await pilot.pause()
        assert app.chat_input.value == "see https://example.com/xone line with newline"


# -- 6. Tab completion sees what was typed in the same read -----------------------------------------


def send_keys_in_one_read(app, *keys: str) -> None:
    """Hand keys to the driver back to back, as one terminal read of `ro<Tab>` does."""
    for key in keys:
        event = events.Key(key, {"space": " "}.get(key, key if len(key) == 1 else None))
        event.set_sender(app)
        app._driver.send_message(event)


async def test_tab_completes_letters_that_arrived_in_the_same_read():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "rob2", "robert")
        send_keys_in_one_read(app, "r", "o", "tab")
        await pilot.pause()
        await pilot.pause()
        assert app.chat_input.value == "rob2: "
        assert app.focused is app.chat_input
        send_keys_in_one_read(app, "h", "i", "space", "R", "O", "tab")
        await pilot.pause()
        await pilot.pause()
        assert app.chat_input.value == "rob2: hi rob2 "


# -- 7. Ctrl+L redraws and keeps the conversation ------------------------------------------------------


async def test_ctrl_l_redraws_the_whole_screen_and_keeps_the_conversation():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        await scenes.feed(app, [said("bob", "👨‍👩‍👧 👍🏽 a line tmux draws narrower")], pilot)
        before = app.log_view.entry_count
        compositor = app.screen._compositor
        full_updates = []
        render_full_update = compositor.render_full_update
        compositor.render_full_update = lambda *a, **k: full_updates.append(1) or render_full_update(*a, **k)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.log_view.entry_count == before
        assert "a line tmux draws narrower" in log_text(app)
        assert full_updates, "Ctrl+L did not repaint the whole screen"
