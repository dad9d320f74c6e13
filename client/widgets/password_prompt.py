"""A modal asking for the server password, in an input that never shows what is typed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class PasswordPrompt(ModalScreen[str | None]):
    """Dismisses with the password typed, or None if the user cancels.

    The value lives only in this screen's `Input` (drawn as dots) until it is handed back; it is
    not put in the chat input's history, the log or anywhere else.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, address: str, *, wrong: bool = False) -> None:
        super().__init__()
        self.address = address
        self.wrong = wrong

    def compose(self) -> ComposeResult:
        with Vertical(id="password-dialog"):
            if self.wrong:
                yield Label("Wrong password. Try again:", id="password-title", classes="error")
            else:
                yield Label(f"{self.address} needs a password:", id="password-title", markup=False)
            yield Input(password=True, id="password", placeholder="password")
            with Horizontal():
                yield Button("Connect (Enter)", variant="primary", id="connect")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "connect":
            self._answer()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _answer(self) -> None:
        field = self.query_one("#password", Input)
        if not field.value:
            self.app.bell()  # an empty password cannot be right: the server refuses to set one
            return
        password, field.value = field.value, ""
        self.dismiss(password)
