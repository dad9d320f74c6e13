"""The status bar: connection state in words, server address, nick, mode, lag, outbox."""

from __future__ import annotations

from rich.cells import cell_len
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

    def describe(self, width: int | None = None) -> Text:
        """The bar's text, fitted to `width` cells (default: the widget's width, if it has one).

        What a narrow terminal gives up first: the address, then the mode, then the lag.  The
        state, the nick and the queued count always stay; if they still do not fit, the state's
        words are shortened with an ellipsis.
        """
        if width is None:
            width = self.size.width or None
        state = self.status.state if self.status else ConnectionState.CONNECTING
        words = self.status.describe() if self.status else "connecting"
        # (priority, parts): lower priorities are dropped first; None is never dropped.
        fields: list[tuple[int | None, list[tuple[str, str]]]] = [
            (0, [(self.address, "")]),
            (None, [("nick ", "dim"), (self.nick or "?", "bold")]),
        ]
        if self.mode:
            fields.append((1, [("mode ", "dim"), (self.mode, "")]))
        if self.lag is not None and state is ConnectionState.CONNECTED:
            fields.append((2, [("lag ", "dim"), (f"{self.lag * 1000:.0f} ms", "")]))
        if self.pending:
            fields.append((None, [(f"{self.pending} queued", "bold yellow")]))

        def length(kept: list) -> int:
            return cell_len(words) + 2 + sum(3 + sum(cell_len(part) for part, _ in parts)
                                             for _, parts in kept)

        if width is not None:
            for drop in (0, 1, 2):
                if length(fields) <= width:
                    break
                fields = [field for field in fields if field[0] != drop]
            overflow = length(fields) - width
            if overflow > 0:
                words = words[:max(1, len(words) - overflow - 1)] + "…"
        text = Text()
        text.append(f" {words} ", STATE_STYLES[state])
        for _, parts in fields:
            text.append(" │ ", "dim")
            for part, style in parts:
                text.append(part, style)
        return text

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        # Only when the text changed: `update` lays the whole screen out again, which cost a busy
        # frame 25 ms when the bar was set on every batch.
        text = self.describe()
        if text != getattr(self, "_drawn", None):
            self._drawn = text
            self.update(text)
