"""How an entry becomes rows (pure), and the log rendering only what is on screen (Pilot)."""

import pytest
from rich.console import Console
from rich.text import Text

import scenes
from selchat.client import formatting
from selchat.client.session import ChatLine, OutgoingLine, Delivery
from selchat.client.widgets.log_rows import hanging_indent, render_rows, row_count

CONSOLE = Console(width=200, color_system="truecolor")
DARK = (18, 18, 18)
TEXTS = [
    "",
    "12:00   <bob> hi",
    "12:00   <bob> " + " ".join(f"word{n}" for n in range(40)),
    "12:00   <a_rather_long_nick_indeed> " + "x" * 150,
    "12:00 ✓ * carol " + "waves and waves " * 10,
    "12:00   -- dave has joined",
    "12:00 ! error: " + "no such nick " * 12,
    "12:00   <bob> two\nparagraphs " + "of text " * 20,
    "no timestamp at all " * 8,
]


@pytest.mark.parametrize("width", [12, 30, 57, 80, 120])
@pytest.mark.parametrize("plain", TEXTS)
def test_row_count_matches_the_rendered_rows_and_rows_fit(plain, width):
    rows = render_rows(Text(plain), width, CONSOLE, DARK)
    assert row_count(Text(plain), width) == len(rows)
    assert all(row.cell_length <= width for row in rows)
    # Nothing is lost or reordered by wrapping.
    assert "".join("".join(row.text.split()) for row in rows) == "".join(plain.split())


def test_indent_is_under_the_text_or_under_the_time():
    assert hanging_indent("12:00   <bob> hi", 80) == len("12:00   <bob> ")
    assert hanging_indent("12:00 ✓ [private to bob] <alice> hi", 80) == \
        len("12:00 ✓ [private to bob] <alice> ")
    assert hanging_indent("12:00   <a_rather_long_nick_indeed> hi", 40) == len("12:00   ")
    assert hanging_indent("no layout here", 80) == 0


def chat(n: int) -> Text:
    return formatting.chat_line(ChatLine("message", "bob", f"flood line {n:05d} " + "pad " * (n % 40),
                                         scenes.T0), "alice", scenes.fixed_clock)


async def test_a_flood_renders_only_the_rows_on_screen():
    app = scenes.make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        log = app.log_view
        log.add([(chat(n), None) for n in range(20000)])
        await pilot.pause()
        assert log.entry_count == 5000
        assert log.plain_lines()[-1].startswith("12:00   <bob> flood line 19999")
        assert "flood line 19999" in "".join(log.render_line(y).text for y in range(log.size.height))
        assert len(log._cache) <= log.size.height  # rendered: what is on screen, no more


async def test_lazy_rows_equal_rendering_every_entry_after_evict_and_replace():
    app = scenes.make_app()
    async with app.run_test(size=(90, 24)) as pilot:
        log = app.log_view
        log.max_entries = 300
        log.add([(chat(n), None) for n in range(250)])
        line = OutgoingLine("c1-1", "message", "mine " * 3, None)
        log.add([(formatting.outgoing_line(line, "alice", scenes.fixed_clock), line.id)])
        log.add([(chat(n), None) for n in range(250, 400)])
        line.delivery, line.error = Delivery.FAILED, "no such nick: " + "nobody " * 20
        assert log.replace(line.id, formatting.outgoing_line(line, "alice", scenes.fixed_clock))
        await pilot.pause()
        width = log.scrollable_content_region.width
        eager = [row.text for entry in log._live()
                 for row in log._render_text(entry.text, width)]
        assert log.rows() == eager
        assert log.line_count == len(eager) and log.virtual_size.height == len(eager)
