"""The status bar: connection state in words, server address, nick, mode, lag, outbox."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..session import ConnectionState, StatusChanged

STATE_STYLES = {
    ConnectionState.CONNECTING: "bold yellow",
    ConnectionState.CONNECTED: "bold green",
    ConnectionState.RECONNECTING: "bold yellow",
    ConnectionState.DISCONNECTED: "bold red",
}


class StatusBar(Static):
    """One line; colour only repeats what the words already say."""

    def __init__(self, address: str, nick: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status: StatusChanged | None = None
        self.address = address
        self.nick = nick
        self.mode = ""
        self.lag: float | None = None
        self.pending = 0

    def on_mount(self) -> None:
        self.redraw()

    def set(self, **fields) -> None:
        """Update some of `status`, `nick`, `mode`, `lag`, `pending`, then redraw once."""
        for name, value in fields.items():
            setattr(self, name, value)
        self.redraw()

    def describe(self) -> Text:
        state = self.status.state if self.status else ConnectionState.CONNECTING
        words = self.status.describe() if self.status else "connecting"
        text = Text()
        text.append(f" {words} ", STATE_STYLES[state])
        text.append(" │ ", "dim")
        text.append(self.address)
        text.append(" │ ", "dim")
        text.append("nick ", "dim")
        text.append(self.nick or "?", "bold")
        if self.mode:
            text.append(" │ ", "dim")
            text.append("mode ", "dim")
            text.append(self.mode)
        if self.lag is not None and state is ConnectionState.CONNECTED:
            text.append(" │ ", "dim")
            text.append("lag ", "dim")
            text.append(f"{self.lag * 1000:.0f} ms")
        if self.pending:
            text.append(" │ ", "dim")
            text.append(f"{self.pending} queued", "bold yellow")
        return text

    def redraw(self) -> None:
        self.update(self.describe())
