"""Pilot tests of the widgets in the real app, fed events as the network worker would (no server).

Each one reproduces a defect of issue 13 (see docs/client.md, Keys and Display).
"""

from __future__ import annotations

import pytest
from rich.style import Style
from textual import events
from textual.geometry import Offset
from textual.selection import Selection

import scenes
from conftest import log_text, wait_until
from selchat.client import palette
from selchat.client.session import ChatLine, ConnectionState

T0 = scenes.T0


async def welcome(pilot, *others: str) -> None:
    """Connect the app's session as alice, with `others` in the room."""
    users = (scenes.NICK, *others)
    await scenes.feed(pilot.app, [scenes.status(ConnectionState.CONNECTED),
                                  scenes.Welcome(nick=scenes.NICK, mode="chat", users=users, user_count=len(users),
                                                 server="selchat")],
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


def sent_texts(app) -> list[str]:
    return [line.text for line in app.client.session.outbox.values()]


def keys_of(text: str) -> list[str]:
    return ["space" if char == " " else char for char in text]


async def test_lines_typed_in_one_read_are_sent_whole_each_once_in_order():
    # Enter is a binding: it ran at the App after the keys behind it had reached the input
    # (`a1` Enter `a2` Enter sent `a1a2`, twice).
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        send_keys_in_one_read(app, *keys_of("a1"), "enter", *keys_of("a2"), "enter",
                              *keys_of("a3"), "enter", *keys_of("end"), "enter")
        await wait_until(pilot, lambda: "end" in " ".join(sent_texts(app)), what="the last line")
        assert sent_texts(app) == ["a1", "a2", "a3", "end"]
        assert app.chat_input.value == ""
        assert app.chat_input.history == ["a1", "a2", "a3", "end"]


async def test_editing_keys_in_one_read_apply_where_they_were_typed():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "rob2")
        send_keys_in_one_read(app, "b", "a", "backspace", "c", "left", "x", "end", "space",
                              "r", "o", "tab", "h", "i", "enter")
        await wait_until(pilot, lambda: bool(sent_texts(app)), what="the line")
        assert sent_texts(app) == ["bxc rob2 hi"]
        # Up then Enter: the line Up brought back, not what came before or after it.
        send_keys_in_one_read(app, "up", "enter", "z", "enter")
        await wait_until(pilot, lambda: "z" in sent_texts(app), what="the last line")
        assert sent_texts(app) == ["bxc rob2 hi", "bxc rob2 hi", "z"]


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


# -- 2. select with the mouse, Ctrl+C copies ----------------------------------------------------------


async def drag(pilot, widget, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Press at `start`, move with the button held, release at `end` (offsets in `widget`)."""
    await pilot.mouse_down(widget, offset=start)
    await pilot._post_mouse_events([events.MouseMove], widget, offset=end, button=1)
    await pilot.mouse_up(widget, offset=end)
    await pilot.pause()


async def test_drag_select_then_ctrl_c_copies_the_conversation_text():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        await scenes.feed(app, [said("bob", "copy me please", 60), said("bob", "and me", 120)], pilot)
        log = app.log_view
        rows = log.rows()
        row = next(i for i, text in enumerate(rows) if "copy me please" in text)
        column = rows[row].index("copy")
        # The log has one column of padding: screen x = column + 1, y = row - scroll.
        y = row - round(log.scroll_y)
        # The cell under the pointer at release is part of the selection.
        await drag(pilot, log, (column + 1, y), (column + len("copy me"), y))
        assert app.screen.get_selected_text() == "copy me"
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.clipboard == "copy me"
        assert app.is_running


async def test_copying_a_selection_over_several_lines():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        await scenes.feed(app, [said("bob", "first", 60), said("bob", "second", 120)], pilot)
        log = app.log_view
        rows = [row.rstrip() for row in log.rows()]
        first = next(i for i, text in enumerate(rows) if text.endswith("first"))
        app.screen.selections = {log: Selection(Offset(0, first), Offset(len(rows[first + 1]), first + 1))}
        await pilot.pause()
        app.screen.action_copy_text()
        assert app.clipboard == rows[first] + "\n" + rows[first + 1]


def test_a_crash_makes_selchat_exit_non_zero(monkeypatch, capsys):
    from selchat.client import app as app_module, cli

    class CrashingApp(app_module.SelchatApp):
        def on_mount(self) -> None:
            raise RuntimeError("a bug of ours")

        def run(self, **kwargs):
            return super().run(headless=True, **kwargs)

    monkeypatch.setattr(app_module, "SelchatApp", CrashingApp)
    assert cli.main(["--port", "9", "--nick", "alice"]) != 0


# -- 8. nick colours follow the theme ---------------------------------------------------------------


def drawn_contrasts(strips, ansi):
    """(text, contrast) of every coloured, non-dim run as it is drawn (its own fg on its bg;
    named colours as the app's ANSI theme draws them)."""
    for strip in strips:
        for segment in strip:
            style = segment.style
            if style is None or style.color is None or style.bgcolor is None or style.dim \
                    or not segment.text.strip():
                continue
            fg = style.color.get_truecolor(ansi, foreground=True)
            bg = style.bgcolor.get_truecolor(ansi, foreground=False)
            yield segment.text, palette.contrast(tuple(fg), tuple(bg))


@pytest.mark.parametrize("theme", ["textual-light", "solarized-light", "catppuccin-latte",
                                   "textual-dark"])
async def test_nicks_and_coloured_text_read_on_the_theme(theme):
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await scenes.connected_scene(pilot)
        app.theme = theme
        await pilot.pause()
        await pilot.pause()
        log = app.log_view
        strips = [log.render_line(y) for y in range(log.size.height)]
        seen = list(drawn_contrasts(strips, app.ansi_theme))
        assert any("bob" in text for text, _ in seen)
        assert [(text, round(c, 1)) for text, c in seen if c < 4.5] == []
        users = app.user_list
        background = palette.parse_hex(users.background_colors[1].hex6)
        for option in users.options:
            prompt = option.prompt
            for style in [prompt.style, *(span.style for span in prompt.spans)]:
                style = Style.parse(style) if isinstance(style, str) else style
                if style.color is not None and not style.dim:
                    fg = style.color.get_truecolor(app.ansi_theme)
                    assert palette.contrast(tuple(fg), background) >= 4.5, option.prompt.plain


# -- 11. wrapping, resizing, the new-lines count ----------------------------------------------------


async def test_wrapped_lines_hang_under_the_message_text():
    app = scenes.make_app()
    async with app.run_test(size=(60, 24)) as pilot:
        await welcome(pilot, "bob")
        words = " ".join(f"word{n}" for n in range(30))
        await scenes.feed(app, [said("bob", words, 60)], pilot)
        rows = [row.rstrip() for row in app.log_view.rows()]
        rows = rows[next(i for i, row in enumerate(rows) if "<bob> word0" in row):]  # the last entry
        indent = rows[0].index("word0")
        assert len(rows) >= 3
        assert all(row[:indent].strip() == "" and row[indent] != " " for row in rows[1:])
        assert " ".join(" ".join(rows).split()).endswith("word28 word29")


async def test_resizing_while_scrolled_up_keeps_the_same_message_on_top():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        long = " and some more words to wrap" * 6
        await scenes.feed(app, [said("bob", f"msg {n}{long if n % 3 else ''}", n) for n in range(60)],
                          pilot)
        log = app.log_view

        def top() -> tuple[str, int]:
            """The entry at the top of the view, and how many of its rows are above it."""
            index, rows_above = log.top_entry()
            return log.plain_lines()[index], rows_above

        def top_text() -> str:
            return top()[0]

        row = next(y for y, text in enumerate(log.rows()) if "<bob> msg 15" in text)
        log.scroll_to(y=row, animate=False, immediate=True)
        await pilot.pause()
        assert "<bob> msg 15" in top_text()
        for width in (70, 45, 120):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            assert "<bob> msg 15" in top_text(), width
            assert top()[1] == 0


async def test_new_lines_count_never_exceeds_what_the_log_keeps():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await welcome(pilot, "bob")
        log = app.log_view
        log.max_entries = 50
        await scenes.feed(app, [said("bob", f"early {n}", n) for n in range(60)], pilot)
        await pilot.press("pageup")
        await pilot.pause()
        assert not log.is_vertical_scroll_end
        for batch in range(3):
            await scenes.feed(app, [said("bob", f"late {batch} {n}", 100) for n in range(30)], pilot)
        assert log.new_below == 50
        assert "50 new lines below" in str(app.new_below.render())


# -- 10. narrow terminals ----------------------------------------------------------------------------


async def test_status_bar_at_80_columns_keeps_state_nick_and_queued_count():
    app = scenes.make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await scenes.reconnecting_scene(pilot)
        app.status_bar.set(status=scenes.status(
            ConnectionState.RECONNECTING, attempt=3, retry_in=2.0,
            reason="TLS certificate not trusted (use --tls-ca): self-signed certificate"))
        await pilot.pause()
        shown = app.status_bar.render_line(0).text
        assert "nick alice" in shown and "1 queued" in shown and "reconnecting in 2s" in shown
        assert len(shown.rstrip()) <= 80


async def test_user_list_gives_way_on_a_40_column_terminal():
    app = scenes.make_app()
    async with app.run_test(size=(40, 10)) as pilot:
        await scenes.reconnecting_scene(pilot)
        assert app.user_list.size.width <= 10
        assert app.log_view.size.width >= 28
        shown = app.status_bar.render_line(0).text
        assert "nick alice" in shown and "1 queued" in shown


async def test_copying_a_wrapped_url_gives_it_back_unbroken():
    app = scenes.make_app()
    async with app.run_test(size=(70, 24)) as pilot:
        await welcome(pilot, "bob")
        url = "https://example.com/" + "/".join(f"segment{n}" for n in range(12))
        await scenes.feed(app, [said("bob", f"look at {url} it is long", 60)], pilot)
        log = app.log_view
        rows = log.rows()
        first = next(y for y, row in enumerate(rows) if "https://" in row)
        last = next(y for y, row in enumerate(rows) if "segment11" in row)
        assert last > first  # it did wrap
        app.screen.selections = {log: Selection(Offset(rows[first].index("https://"), first),
                                                Offset(rows[last].index("segment11") + 9, last))}
        app.screen.action_copy_text()
        assert app.clipboard == url
