"""The "N new below" marker shown under the conversation while the user has scrolled up."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import Static


class NewBelowMarker(Static):
    """Says how many lines arrived below the view; clicking it jumps to the bottom."""

    class JumpRequested(Message):
        """The user clicked the marker."""

    def show_count(self, count: int) -> None:
        self.display = count > 0
        noun = "line" if count == 1 else "lines"
        self.update(f"▼ {count} new {noun} below (Ctrl+End or click to jump)")

    def on_click(self) -> None:
        self.post_message(self.JumpRequested())
