"""The conversation: a bounded, scrollable log of rendered lines whose entries can be updated.

Textual's `RichLog` bounds lines rather than messages and cannot change a line once written; we
need both (at least 5000 messages kept, and an own line turning from pending to delivered), so
this is a small line-API `ScrollView` over a deque of entries.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from rich.text import Text
from rich.segment import Segment
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from .log_rows import render_rows

MAX_ENTRIES = 5000


@dataclass
class _Entry:
    text: Text
    key: str | None = None
    strips: list[Strip] = field(default_factory=list)


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
        self._entries: deque[_Entry] = deque()
        self._lines: list[Strip] = []
        self._render_width = 0
        self._following = True
        self.new_below = 0
        # (style, background) -> the style made readable there; emptied when the theme changes.
        self._readable_styles: dict = {}
        self._background: tuple[int, int, int] | None = None

    # -- public API ---------------------------------------------------------------------------

    @property
    def entry_count(self) -> int:
        return len(self._entries)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def plain_lines(self) -> list[str]:
        """The entries as plain text (for tests and copying)."""
        return [entry.text.plain for entry in self._entries]

    def add(self, texts: list[tuple[Text, str | None]]) -> None:
        """Append entries `(text, key)`; a key lets `replace` find the entry later."""
        if not texts:
            return
        # In a flood only the last `max_entries` survive: do not render the rest at all.
        texts = texts[-self.max_entries:]
        width = self._render_width
        for text, key in texts:
            entry = _Entry(text, key)
            if width:
                entry.strips = self._render_text(text, width)
                self._lines.extend(entry.strips)
            self._entries.append(entry)
        self._evict()
        self._update_virtual_size()
        if self._following:
            self._scroll_to_bottom()
        else:
            # Lines below the view are kept lines: the count never runs past what the log holds.
            self.new_below = min(self.new_below + len(texts), len(self._entries))
            self.post_message(self.NewBelowChanged(self.new_below))

    def replace(self, key: str, text: Text) -> bool:
        """Re-render the newest entry with `key`; False if it has scrolled out of the log."""
        offset = len(self._lines)
        for entry in reversed(self._entries):
            offset -= len(entry.strips)
            if entry.key == key:
                entry.text = text
                if self._render_width:
                    strips = self._render_text(text, self._render_width)
                    self._lines[offset:offset + len(entry.strips)] = strips
                    entry.strips = strips
                    self._update_virtual_size()
                    self.refresh()
                return True
        return False

    def clear(self) -> None:
        self._entries.clear()
        self._lines.clear()
        self._update_virtual_size()
        self.jump_to_bottom()
        self.refresh()

    def jump_to_bottom(self) -> None:
        self._following = True
        self._scroll_to_bottom()
        self._reset_new_below()

    # -- rendering ------------------------------------------------------------------------------

    # Not `_render`: that is `Widget._render()`, which Textual calls to copy a selection.
    def _render_text(self, text: Text, width: int) -> list[Strip]:
        if self._background is None:  # asking the DOM per line costs a fifth of the render
            self._background = self.background_colors[1].rgb
        background = self._background
        return render_rows(text, width, self.app.console, background, self._readable_styles,
                           self.app.ansi_theme)

    def _top_entry(self) -> tuple[int, int] | None:
        """The entry at the top of the view and how many of its rows are above the view."""
        top, row = round(self.scroll_y), 0
        for index, entry in enumerate(self._entries):
            if row + len(entry.strips) > top:
                return index, top - row
            row += len(entry.strips)
        return None

    def _rerender_all(self, width: int) -> None:
        # Scrolled up, the user is reading an entry, not a row number: keep that entry on top.
        anchor = None if self._following else self._top_entry()
        self._render_width = width
        self._lines = []
        anchor_row = 0
        for index, entry in enumerate(self._entries):
            entry.strips = self._render_text(entry.text, width)
            if anchor is not None and index == anchor[0]:
                anchor_row = len(self._lines) + min(anchor[1], len(entry.strips) - 1)
            self._lines.extend(entry.strips)
        self._update_virtual_size()
        if anchor is not None:
            self.scroll_to(y=anchor_row, animate=False, immediate=True)
            self._following = False
        self.refresh()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme) -> None:
        # Colours were made readable against the old background: do it again for the new one.
        self._readable_styles.clear()
        self._background = None
        if self._render_width:
            self._rerender_all(self._render_width)
            if self._following:
                self._scroll_to_bottom()

    # -- selection (drag, then Ctrl+C copies) ----------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        text = "\n".join(strip.text.rstrip() for strip in self._lines)
        return selection.extract(text), "\n"

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

    def _evict(self) -> None:
        surplus = len(self._entries) - self.max_entries
        if surplus <= 0:
            return
        dropped_lines = 0
        for _ in range(surplus):
            dropped_lines += len(self._entries.popleft().strips)
        del self._lines[:dropped_lines]
        if not self._following:
            # Keep the lines the user is reading where they are on screen.
            self.scroll_to(y=max(0, self.scroll_y - dropped_lines), animate=False, immediate=True)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._render_width, len(self._lines))

    def _scroll_to_bottom(self) -> None:
        # immediate=True so the view is at the bottom before the next batch asks where it is.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    def _reset_new_below(self) -> None:
        if self.new_below:
            self.new_below = 0
            self.post_message(self.NewBelowChanged(0))

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._render_width:
            self._rerender_all(width)
            if self._following:
                self.call_after_refresh(self._scroll_to_bottom)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._following = round(new_value) >= self.max_scroll_y
        if self._following:
            self._reset_new_below()

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        strip = self._highlight(self._lines[index], index)
        # Offsets tie each cell to (column, row) so a mouse drag knows what it selects.
        return strip.crop_extend(0, width, self.rich_style).apply_style(self.rich_style) \
            .apply_offsets(0, index)

