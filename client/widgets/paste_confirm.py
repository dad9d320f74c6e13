"""A modal asking before a large multi-line paste is sent as many messages."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class PasteConfirm(ModalScreen[bool]):
    """Dismisses with True to send all the lines, False to drop the paste."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Send"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        first = self.lines[0] if self.lines else ""
        with Vertical(id="paste-dialog"):
            yield Label(f"Send {len(self.lines)} lines as {len(self.lines)} messages?")
            yield Label(f"first: {first[:60]!r}", markup=False, classes="dim")
            with Horizontal():
                yield Button("Send (y)", variant="primary", id="send")
                yield Button("Cancel (n)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "send")

    def action_answer(self, send: bool) -> None:
        self.dismiss(send)
