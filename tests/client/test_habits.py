"""Pilot and pure tests of issue 13's follow-ups and habits: one nick colour everywhere, Ctrl+L
redraws wherever the focus is, the user list hides on narrow terminals, /help names the keys,
mentions and private messages stand out (and ring while the terminal is unfocused), --log-file.
"""

from __future__ import annotations

import re

from textual import events

import scenes
from conftest import log_text
from selchat.client import formatting, palette
from selchat.client.session import ChatLine, ConnectionState

T0 = scenes.T0


async def welcome(pilot, *others: str) -> None:
    users = (scenes.NICK, *others)
    await scenes.feed(pilot.app, [scenes.status(ConnectionState.CONNECTED),
                                  scenes.Welcome(nick=scenes.NICK, mode="chat", users=users, user_count=len(users),
                                                 server="selchat")],
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


# -- C. mentions and private messages stand out, and ring while the terminal is unfocused -----------


def test_a_mention_is_the_nick_as_a_word_in_any_case():
    assert formatting.mentions("alice: are you there?", "alice")
    assert formatting.mentions("ask ALICE.", "alice")
    assert not formatting.mentions("malice aforethought", "alice")
    assert not formatting.mentions("alice_ is someone else", "alice")
    assert not formatting.mentions("anything", "")


def test_mentions_and_private_messages_are_highlighted_but_not_our_own():
    mention = formatting.chat_line(said("bob", "alice: lunch?"), "alice", scenes.fixed_clock)
    plain = formatting.chat_line(said("bob", "lunch, anyone?"), "alice", scenes.fixed_clock)
    private = formatting.chat_line(said("bob", "psst", kind="private", to="alice"), "alice",
                                   scenes.fixed_clock)
    own = formatting.chat_line(said("alice", "alice here"), "alice", scenes.fixed_clock)
    assert formatting.HIGHLIGHT_MARK in mention.plain and formatting.HIGHLIGHT_MARK in private.plain
    assert formatting.HIGHLIGHT_MARK not in plain.plain
    assert formatting.HIGHLIGHT_MARK not in own.plain


async def test_a_mention_rings_the_bell_only_while_the_terminal_is_unfocused():
    app = scenes.make_app()
    rings: list[int] = []
    app.bell = lambda: rings.append(1)
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        await scenes.feed(app, [said("bob", "alice: focused, no bell")], pilot)
        assert rings == []
        app.post_message(events.AppBlur())
        await pilot.pause()
        await scenes.feed(app, [said("bob", "nothing for you"),
                                ChatLine("message", "bob", "alice: old news", T0, replay=True)], pilot)
        assert rings == []
        await scenes.feed(app, [said("bob", "alice: are you there?"), said("bob", "ALICE?")], pilot)
        assert rings == [1]  # once per batch, not once per line
        await scenes.feed(app, [said("bob", "psst", kind="private", to="alice")], pilot)
        assert rings == [1, 1]
        app.post_message(events.AppFocus())
        await pilot.pause()
        await scenes.feed(app, [said("bob", "psst again", kind="private", to="alice")], pilot)
        assert rings == [1, 1]


# -- C. --log-file ------------------------------------------------------------------------------------


async def test_log_file_appends_the_conversation_as_timestamped_plain_lines(tmp_path):
    path = tmp_path / "chat.log"
    path.write_text("an earlier run\n")
    app = scenes.make_app(log_file=str(path))
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        await scenes.feed(app, [said("bob", "hello \x1b[31mred\x1b[0m [bold]x[/]"),
                                said("bob", "second")], pilot)
        # flushed per batch: readable while the client runs
        text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "an earlier run"
    chat = [line for line in lines if "<bob>" in line]
    assert chat[0].endswith("<bob> hello red [bold]x[/]") and chat[1].endswith("<bob> second")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d <bob> second", chat[1])
    assert "\x1b" not in text
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in lines[1:])


def test_cli_log_file_option_reaches_the_app_and_a_bad_path_is_a_usage_error(monkeypatch, tmp_path,
                                                                              capsys):
    import pytest

    import selchat.client.app as app_module
    from selchat.client import cli

    made = {}

    class FakeApp:
        return_code = 0

        def __init__(self, host, port, nick, **kwargs):
            made.update(kwargs)

        def run(self):
            pass

    monkeypatch.setattr(app_module, "SelchatApp", FakeApp)
    assert cli.main(["--log-file", str(tmp_path / "c.log")]) == 0
    assert made["log_file"] == str(tmp_path / "c.log")
    with pytest.raises(SystemExit):
        cli.main(["--log-file", str(tmp_path / "no" / "such" / "dir.log")])
    assert "--log-file" in capsys.readouterr().err


# -- D. defect 11 leftovers ----------------------------------------------------------------------


async def test_own_line_keeps_the_time_it_was_typed_when_its_mark_changes():
    from selchat.client.session import Delivery, DeliveryChanged

    now = ["05:18"]
    app = scenes.SelchatApp(scenes.HOST, scenes.PORT, scenes.NICK, autoconnect=False,
                            timestamp=lambda ts: now[0] if ts is None else "00:00")
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        line = app.send_outgoing("message", "offline one")
        await pilot.pause()
        assert "05:18 ◌" in log_text(app)
        now[0] = "05:19"  # the server comes back a minute later
        line.delivery = Delivery.DELIVERED
        await scenes.feed(app, [DeliveryChanged(line)], pilot)
        text = log_text(app)
        assert "05:18 ✓" in text and "05:19" not in text


async def test_a_refused_private_message_shows_its_error_once_on_the_line_itself():
    from selchat.client.session import ServerError

    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        line = app.send_outgoing("private", "hi", to="nobody")
        await scenes.feed(app, [ServerError("no_such_nick", "no such nick: nobody", line.id)], pilot)
        text = log_text(app)
        assert "✗ [private to nobody]" in text and "(not delivered: no such nick: nobody)" in text
        assert text.count("no such nick") == 1
        # An error for no line of ours is still shown.
        await scenes.feed(app, [ServerError("bad_request", "what was that?")], pilot)
        assert "! error: what was that?" in log_text(app)
