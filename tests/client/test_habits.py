"""Pilot and pure tests of issue 13's follow-ups and habits: one nick colour everywhere, Ctrl+L
redraws wherever the focus is, the user list hides on narrow terminals, /help names the keys,
mentions and private messages stand out (and ring while the terminal is unfocused), --log-file.
"""

from __future__ import annotations

from textual import events

import scenes
from conftest import log_text
from selchat.client import formatting, palette
from selchat.client.session import ChatLine, ConnectionState

T0 = scenes.T0


async def welcome(pilot, *others: str) -> None:
    users = (scenes.NICK, *others)
    await scenes.feed(pilot.app, [scenes.status(ConnectionState.CONNECTED),
                                  scenes.Welcome(scenes.NICK, "chat", users, len(users), "selchat")],
                      pilot)


def said(sender: str, text: str, n: int = 0, kind: str = "message", to: str | None = None) -> ChatLine:
    return ChatLine(kind, sender, text, T0 + n, to=to)


# -- A. follow-ups of the widget work ------------------------------------------------------------


def test_log_and_user_list_give_a_nick_the_same_colour():
    for nick in ("bob", "carol", "dave_away", "Zoë", "x"):
        assert formatting.nick_colour(nick) == palette.nick_colour(nick)
    assert not hasattr(formatting, "NICK_COLOURS")


async def test_ctrl_l_redraws_and_never_clears_even_without_the_input_focused():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        await scenes.feed(app, [said("bob", "keep me")], pilot)
        app.set_focus(None)
        await pilot.pause()
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert "keep me" in log_text(app)


async def test_user_list_is_hidden_below_60_columns_and_back_above():
    app = scenes.make_app()
    async with app.run_test(size=(50, 20)) as pilot:
        await welcome(pilot, "bob")
        assert app.screen.has_class("-narrow")
        assert app.user_list.size.width == 0
        assert app.log_view.size.width >= 45
        await pilot.resize_terminal(100, 24)
        await pilot.pause()
        assert app.screen.has_class("-wide")
        assert app.user_list.size.width > 0


async def test_help_names_the_redraw_and_copy_keys():
    app = scenes.make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await welcome(pilot)
        app.chat_input.value = "/help"
        await pilot.press("enter")
        await pilot.pause()
        assert "Ctrl+L redraw · drag+Ctrl+C copy" in log_text(app)
