"""One conversation entry as screen rows: wrapped with a hanging indent, in readable colours.

Pure functions of a `Text`, a width and a background (plus the console that turns text into
segments), so the rules are tested without a running app.
"""

from __future__ import annotations

import re

from rich._wrap import divide_line
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from rich.text import Text
from textual.strip import Strip

from ..palette import RGB, readable

# The layout `formatting` gives every line: "HH:MM m " (time and a one-character mark), then
# perhaps "[private] " or "[private to x] ", then "<nick> ", "* nick " or "-- ".
_STAMP = re.compile(r"\S+ . ")
_PREFIX = re.compile(r"\S+ . (?:\[private(?: to [^\]]*)?\] )?(?:<[^>]*> |\* \S+ |-- )?")


def hanging_indent(plain: str, width: int) -> int:
    """Where continuation rows start: under the message text (as weechat aligns them), or under
    the time's end when the nick is too long for that; never more than half the width."""
    limit = width // 2
    for pattern in (_PREFIX, _STAMP):
        match = pattern.match(plain)
        if match and 0 < (indent := cell_len(match.group(0))) <= limit:
            return indent
    return 0


def row_breaks(plain: str, width: int, indent: int) -> list[int]:
    """Offsets where rows after the first begin: the first row is `width` wide, the rest
    `width - indent`, breaking between words (and inside a word longer than a row)."""
    first = divide_line(plain, width, fold=True)
    if not first:
        return []
    start = first[0]
    return [start] + [start + offset for offset in divide_line(plain[start:], width - indent, fold=True)]


def _paragraph_breaks(text: Text, width: int) -> tuple[int, list[tuple[Text, list[int]]]]:
    """The indent, and each paragraph of `text` with the offsets where its rows break."""
    indent = hanging_indent(text.plain, width)
    # Most chat lines fit one row: skip the wrapping work for them.
    paragraphs = [text] if "\n" not in text.plain else text.split("\n", allow_blank=True)
    broken = []
    for number, paragraph in enumerate(paragraphs):
        plain = paragraph.plain
        if number == 0:
            breaks = [] if cell_len(plain) <= width else row_breaks(plain, width, indent)
        else:  # a line break inside the entry: every row of it is a continuation
            breaks = divide_line(plain, width - indent, fold=True)
        broken.append((paragraph, breaks))
    return indent, broken


def row_starts(text: Text, width: int) -> tuple[int, list[int]]:
    """The indent, and where in `text.plain` each row `render_rows` makes begins."""
    indent, broken = _paragraph_breaks(text, width)
    starts, offset = [], 0
    for paragraph, breaks in broken:
        starts.extend(offset + at for at in [0, *breaks])
        offset += len(paragraph.plain) + 1  # the "\n" between paragraphs
    return indent, starts


def row_count(text: Text, width: int) -> int:
    """How many rows `render_rows` will make, without rendering anything."""
    plain = text.plain
    if "\n" not in plain and cell_len(plain) <= width:
        return 1  # most lines, counted as each arrives in a flood: no indent or breaks to find
    _, broken = _paragraph_breaks(text, width)
    return max(1, sum(len(breaks) + 1 for _, breaks in broken))


def _readable_style(style: Style | None, background: RGB, cache: dict,
                    ansi: TerminalTheme | None) -> Style | None:
    if style is None or style.color is None or style.bgcolor is not None or style.color.is_default:
        return style
    key = (style, background)
    fixed = cache.get(key)
    if fixed is None:
        # Named colours ("green") are judged as the app will draw them, through its ANSI theme.
        triplet = style.color.get_truecolor(ansi, foreground=True)
        rgb = (triplet.red, triplet.green, triplet.blue)
        better = readable(rgb, background)
        fixed = style if better == rgb else style + Style(color=Color.from_rgb(*better))
        cache[key] = fixed
    return fixed


def render_rows(text: Text, width: int, console: Console, background: RGB,
                cache: dict | None = None, ansi: TerminalTheme | None = None) -> list[Strip]:
    """`text` as strips at most `width` cells wide, continuation rows indented, every coloured
    span moved (in lightness only) until it reads on `background`."""
    cache = {} if cache is None else cache
    plain = text.plain
    if plain.isprintable() and not plain[-1:].isspace() and cell_len(plain) <= width:
        # One row, nothing to break, strip or indent: most chat lines.  Skips copying the text.
        return [Strip([Segment(seg.text, _readable_style(seg.style, background, cache, ansi),
                               seg.control) for seg in text.render(console)])]
    indent, broken = _paragraph_breaks(text, width)
    rows: list[Strip] = []
    for number, (paragraph, breaks) in enumerate(broken):
        for index, piece in enumerate(paragraph.divide(breaks) if breaks else [paragraph.copy()]):
            piece.rstrip()
            segments = [Segment(seg.text, _readable_style(seg.style, background, cache, ansi),
                                seg.control)
                        for seg in piece.render(console)]
            if indent and (number or index):
                segments.insert(0, Segment(" " * indent))
            rows.append(Strip(segments).crop(0, width))
    return rows or [Strip.blank(width)]
