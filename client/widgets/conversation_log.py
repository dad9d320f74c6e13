"""The conversation: a bounded, scrollable log of entries, rendered only where they are seen.

Textual's `RichLog` bounds lines rather than messages and cannot change a line once written; we
need both (at least 5000 messages kept, and an own line turning from pending to delivered), so
this is a small line-API `ScrollView` over the entries.  Like Textual's `Log` (and toolong), it
renders lazily: adding an entry only counts the rows it will take at the current width; its
strips are made when a row of it is first drawn and kept in an LRU cache.  So a flood of
thousands of lines costs a few dozen rendered entries, not thousands.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Offset, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from .log_rows import render_rows, row_count, row_starts

MAX_ENTRIES = 5000
# Rendered entries kept: several screens' worth, so scrolling back and forth rarely re-renders.
CACHE_ENTRIES = 1024


@dataclass(eq=False)  # compared (and cached) by identity
class _Entry:
    text: Text
    key: str | None = None
    height: int = 0  # rows at the current width; 0 until there is a width


class ConversationLog(ScrollView, can_focus=False):
    """Conversation lines, oldest first, at most `max_entries` of them.

    While the view is at the bottom it follows new lines.  When the user has scrolled up it
    stays put, counts the lines added below and posts `NewBelowChanged` so a marker can say so.
    """

    DEFAULT_CSS = """
    ConversationLog { overflow-y: scroll; overflow-x: hidden; }
    """

    @dataclass
    class NewBelowChanged(Message):
        """How many lines arrived below the view since the user scrolled up (0: at bottom)."""

        count: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ConversationLog.NewBelowChanged)

    def __init__(self, *, max_entries: int = MAX_ENTRIES, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_entries = max_entries
        # Live entries are `_entries[_first:]`; evicting only moves `_first` (lists compact now
        # and then), so row lookups can bisect `_starts`, each entry's first row counted from the
        # start of the log's life; `_base` is the first live row on that count.
        self._entries: list[_Entry] = []
        self._starts: list[int] = []
        self._first = 0
        self._base = 0
        self._end = 0  # one past the last row, on the same count
        self._render_width = 0
        self._cache: OrderedDict[_Entry, list[Strip]] = OrderedDict()
        self._following = True
        self.new_below = 0
        # (style, background) -> the style made readable there; emptied when the theme changes.
        self._readable_styles: dict = {}
        self._background: tuple[int, int, int] | None = None
        self._ansi_theme = None  # the app's, read with the background
        self._frame_style: Style | None = None  # this repaint's (see render_lines)
        self._frame_width = 0
        self._painting = False  # inside render_lines: rows for the screen, not for the mouse

    # -- public API ---------------------------------------------------------------------------

    @property
    def entry_count(self) -> int:
        return len(self._entries) - self._first

    @property
    def line_count(self) -> int:
        """Rows the entries take at the current width."""
        return self._end - self._base

    def plain_lines(self) -> list[str]:
        """The entries as plain text (for tests and copying)."""
        return [entry.text.plain for entry in self._live()]

    def rows(self, start: int = 0, end: int | None = None) -> list[str]:
        """The text of rows `start`..`end` as drawn (wrapped and indented), rendering as needed."""
        if not self._render_width:  # not laid out yet: no rows to speak of
            return []
        end = self.line_count if end is None else min(end, self.line_count)
        return [self._row(y).text for y in range(max(0, start), end)]

    def top_entry(self) -> tuple[int, int] | None:
        """The index of the entry at the top of the view, and how many of its rows are above it."""
        if not self.entry_count:
            return None
        index = self._entry_at(self._base + round(self.scroll_y))
        return index - self._first, self._base + round(self.scroll_y) - self._starts[index]

    def add(self, texts: list[tuple[Text, str | None]]) -> None:
        """Append entries `(text, key)`; a key lets `replace` find the entry later."""
        if not texts:
            return
        # In a flood only the last `max_entries` survive: do not even measure the rest.
        texts = texts[-self.max_entries:]
        width = self._render_width
        for text, key in texts:
            entry = _Entry(text, key, row_count(text, width) if width else 0)
            self._entries.append(entry)
            self._starts.append(self._end)
            self._end += entry.height
        self._evict()
        self._update_virtual_size()
        if self._following:
            self._scroll_to_bottom()
        else:
            # Lines below the view are kept lines: the count never runs past what the log holds.
            self.new_below = min(self.new_below + len(texts), self.entry_count)
            self.post_message(self.NewBelowChanged(self.new_below))

    def replace(self, key: str, text: Text) -> bool:
        """Re-render the newest entry with `key`; False if it has scrolled out of the log."""
        for index in range(len(self._entries) - 1, self._first - 1, -1):
            entry = self._entries[index]
            if entry.key == key:
                entry.text = text
                self._cache.pop(entry, None)
                if self._render_width:
                    height = row_count(text, self._render_width)
                    if height != entry.height:
                        delta, entry.height = height - entry.height, height
                        for later in range(index + 1, len(self._starts)):
                            self._starts[later] += delta
                        self._end += delta
                        self._update_virtual_size()
                    self.refresh()
                return True
        return False

    def clear(self) -> None:
        self._entries, self._starts, self._first = [], [], 0
        self._base = self._end = 0
        self._cache.clear()
        self._update_virtual_size()
        self.jump_to_bottom()
        self.refresh()

    def jump_to_bottom(self) -> None:
        self._following = True
        self._scroll_to_bottom()
        self._reset_new_below()

    # -- entries and rows -----------------------------------------------------------------------

    def _live(self) -> list[_Entry]:
        return self._entries[self._first:]

    def _entry_at(self, row: int) -> int:
        """Index in `_entries` of the entry holding absolute `row`."""
        return max(self._first, bisect_right(self._starts, row, lo=self._first) - 1)

    def _strips(self, entry: _Entry) -> list[Strip]:
        strips = self._cache.get(entry)
        if strips is None:
            strips = self._render_text(entry.text, self._render_width)
            self._cache[entry] = strips
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(entry)
        return strips

    def _row(self, y: int) -> Strip:
        """Row `y` of the log (0: the oldest kept row)."""
        row = self._base + y
        index = self._entry_at(row)
        strips = self._strips(self._entries[index])
        return strips[min(row - self._starts[index], len(strips) - 1)]

    # Not `_render`: that is `Widget._render()`, which Textual calls to copy a selection.
    def _render_text(self, text: Text, width: int) -> list[Strip]:
        if self._background is None:  # asking the DOM (or the theme) per line costs a fifth of the render
            self._background = self.background_colors[1].rgb
            self._ansi_theme = self.app.ansi_theme
        return render_rows(text, width, self.app.console, self._background,
                           self._readable_styles, self._ansi_theme)

    def _relayout(self, width: int) -> None:
        """Count every entry's rows again at `width` (nothing is rendered until it is drawn)."""
        # Scrolled up, the user is reading an entry, not a row number: keep that entry on top.
        anchor = None if self._following else self.top_entry()
        self._render_width = width
        self._cache.clear()
        live = self._live()
        self._entries, self._first = live, 0
        self._starts, self._base, row = [], 0, 0
        for entry in live:
            entry.height = row_count(entry.text, width)
            self._starts.append(row)
            row += entry.height
        self._end = row
        self._update_virtual_size()
        if anchor is not None:
            index, offset = anchor
            top = self._starts[index] + min(offset, live[index].height - 1)
            self.scroll_to(y=top, animate=False, immediate=True)
            self._following = False
        self.refresh()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme) -> None:
        # Colours were made readable against the old background: do it again for the new one.
        self._readable_styles.clear()
        self._background = None
        self._cache.clear()
        self.refresh()

    def _evict(self) -> None:
        surplus = self.entry_count - self.max_entries
        if surplus <= 0:
            return
        for entry in self._entries[self._first:self._first + surplus]:
            self._cache.pop(entry, None)
        self._first += surplus
        old_base, self._base = self._base, self._starts[self._first]
        if self._first > len(self._entries) // 2:  # compact now and then, not on every add
            del self._entries[:self._first], self._starts[:self._first]
            self._first = 0
        if not self._following:
            # Keep the lines the user is reading where they are on screen.
            self.scroll_to(y=max(0, self.scroll_y - (self._base - old_base)), animate=False,
                           immediate=True)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._render_width, self.line_count)

    def _scroll_to_bottom(self) -> None:
        # immediate=True so the view is at the bottom before the next batch asks where it is.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    def _reset_new_below(self) -> None:
        if self.new_below:
            self.new_below = 0
            self.post_message(self.NewBelowChanged(0))

    # -- selection (drag, then Ctrl+C copies) ----------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text as it was written: a wrapped line (a long URL) comes back whole,
        without the row breaks and indents it was drawn with; entries are joined by newlines."""
        if not self.line_count:
            return None
        first = selection.start or Offset(0, 0)
        last = selection.end or Offset(self._render_width, self.line_count - 1)
        pieces: dict[int, tuple[int, int]] = {}  # entry index -> (start, end) in its plain text
        for y in range(max(0, first.y), min(last.y, self.line_count - 1) + 1):
            index = self._entry_at(self._base + y)
            entry = self._entries[index]
            row = self._base + y - self._starts[index]
            indent, starts = row_starts(entry.text, self._render_width)
            if row >= len(starts):
                continue
            pad = indent if row else 0
            row_start = starts[row]
            row_end = starts[row + 1] if row + 1 < len(starts) else len(entry.text.plain)
            left = first.x if y == first.y else 0
            right = last.x if y == last.y else self._render_width
            a = min(row_end, row_start + max(0, left - pad))
            b = min(row_end, row_start + max(0, right - pad))
            start, _ = pieces.get(index, (a, b))
            pieces[index] = (start, b)
        text = "\n".join(self._entries[index].text.plain[a:b].rstrip("\n")
                         for index, (a, b) in sorted(pieces.items()))
        return text, "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def _highlight(self, strip: Strip, index: int) -> Strip:
        selection = self.text_selection
        span = selection.get_span(index) if selection is not None else None
        if span is None:
            return strip
        start, end = span
        end = strip.cell_length if end == -1 else end
        style = self.screen.get_component_rich_style("screen--selection")
        middle = [Segment(seg.text, (seg.style + style) if seg.style else style, seg.control)
                  for seg in strip.crop(start, end)]
        return Strip.join([strip.crop(0, start), Strip(middle), strip.crop(end, strip.cell_length)])

    # -- Textual hooks --------------------------------------------------------------------------

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._render_width:
            self._relayout(width)
            if self._following:
                self.call_after_refresh(self._scroll_to_bottom)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._following = round(new_value) >= self.max_scroll_y
        if self._following:
            self._reset_new_below()

    def render_lines(self, crop):
        # Asked once per repaint, not once per row: computing the style is a third of a row's cost.
        self._frame_style = self.rich_style
        self._frame_width = self.scrollable_content_region.width
        self._painting = True
        try:
            return super().render_lines(crop)
        finally:
            self._painting = False

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        style, width = self._frame_style, self._frame_width
        if not self._painting or style is None:  # asked for one row (the mouse, tests)
            style, width = self.rich_style, self.scrollable_content_region.width
        if index >= self.line_count or not self._render_width:
            return Strip.blank(width, style)
        strip = self._highlight(self._row(index), index)
        # Both cached on the entry's strip, so a row that only moved costs two look-ups.
        strip = strip.crop_extend(0, width, style).apply_style(style)
        if self._painting:
            return strip
        # Offsets tie each cell to (column, row) so a mouse drag knows what it selects.  Textual
        # asks `render_line` for the row under the pointer when it needs them, so they are made
        # only then: on every painted row they made a new strip per row per frame, the most
        # costly part of a repaint while a flood scrolls the log.
        return strip.apply_offsets(0, index)
