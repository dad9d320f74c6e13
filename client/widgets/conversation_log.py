"""The conversation: a bounded, scrollable log of rendered lines whose entries can be updated.

Textual's `RichLog` bounds lines rather than messages and cannot change a line once written; we
need both (at least 5000 messages kept, and an own line turning from pending to delivered), so
this is a small line-API `ScrollView` over a deque of entries.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

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
                entry.strips = self._render(text, width)
                self._lines.extend(entry.strips)
            self._entries.append(entry)
        self._evict()
        self._update_virtual_size()
        if self._following:
            self._scroll_to_bottom()
        else:
            self.new_below += len(texts)
            self.post_message(self.NewBelowChanged(self.new_below))

    def replace(self, key: str, text: Text) -> bool:
        """Re-render the newest entry with `key`; False if it has scrolled out of the log."""
        offset = len(self._lines)
        for entry in reversed(self._entries):
            offset -= len(entry.strips)
            if entry.key == key:
                entry.text = text
                if self._render_width:
                    strips = self._render(text, self._render_width)
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

    def _render(self, text: Text, width: int) -> list[Strip]:
        console = self.app.console
        options = console.options.update_width(width)
        lines = console.render_lines(text, options, pad=False)
        return [Strip(line) for line in lines] or [Strip.blank(width)]

    def _rerender_all(self, width: int) -> None:
        self._render_width = width
        self._lines = []
        for entry in self._entries:
            entry.strips = self._render(entry.text, width)
            self._lines.extend(entry.strips)
        self._update_virtual_size()

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
        return self._lines[index].crop_extend(0, width, self.rich_style).apply_style(self.rich_style)

