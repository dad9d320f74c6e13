"""The input line: Enter sends, Up/Down walk the history, Tab completes nicks, paste keeps lines,
Ctrl+L redraws the screen.

Every key is applied in the order it was typed, however fast keys come.  Textual inserts a
printable key in the input's own handler, but runs a bound key (Enter, Backspace, arrows, Tab)
only after the key has bubbled through every widget up to the App, one message queue at a time:
keys typed after it, forwarded straight to the input, overtook it.  `a1` Enter `a2` Enter read as
one burst then sent `a1a2` twice (Textual issue #6605).  So this input runs its own bindings in
its own key handler, in turn with the letters, and empties itself the moment Enter is handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

HISTORY_SIZE = 500


class ChatInput(Input):
    """An `Input` that remembers what was sent and knows the nicks in the room."""

    BINDINGS = [
        Binding("up", "history_back", "Previous line", show=False),
        Binding("down", "history_forward", "Next line", show=False),
        # Not a priority binding: a priority one runs at the App before this widget has handled
        # the letters still in its queue, so `ro`+Tab arriving in one read completed nothing.
        # As the focused widget's own binding (run in `_on_key`) it wins over the screen's focus_next.
        Binding("tab", "complete_nick", "Complete nick", show=False),
        # weechat's /window refresh, irssi's refresh_screen: repaint, never clear (/clear does).
        Binding("ctrl+l", "redraw_screen", "Redraw", show=False),
    ]

    @dataclass
    class MultiLinePaste(Message):
        """A paste of more than one line; `Input` alone would keep only the first."""

        lines: list[str]

    def __init__(self, nicks: Callable[[], list[str]], *,
                 private: Callable[[str], bool] = lambda line: False, **kwargs) -> None:
        """`nicks` are the completions for Tab; a line for which `private` holds (a password)
        is sent but kept out of the history."""
        super().__init__(**kwargs)
        self.private = private
        # A steady cursor, as weechat and irssi have: blinking repaints twice a second, which was
        # most of an idle client's CPU (0.9% of a core, 0.4% without).
        self.cursor_blink = False
        self.nicks = nicks
        self.history: list[str] = []
        self._history_index = 0  # == len(history): editing a fresh line
        self._draft = ""
        # The last completion: (matches, index, start of the word, the value it left).
        self._completion: tuple[list[str], int, int, str] | None = None

    # -- keys, in the order they were typed --

    async def _on_key(self, event: events.Key) -> None:
        # Runs before `Input._on_key` (which inserts printable keys): a key bound here is carried
        # out now, between the keys before and after it, and goes no further (the App would run
        # the same binding again when the key reached it).  Priority bindings have already run
        # at the App, before the key was forwarded here.
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return

    async def action_submit(self) -> None:
        """Enter: hand the line on and start the next one at once.

        The screen gets the line in a message, after this input has already taken the keys typed
        behind Enter: emptying the input there would throw them away, reading it there would join
        them to this line.
        """
        line = self.value
        validation = self.validate(line) if "submitted" in self.validate_on else None
        self.value = ""
        if self.private(line):
            self._history_index, self._draft = len(self.history), ""
        else:
            self.remember(line)
        self.post_message(self.Submitted(self, line, validation))

    # -- history --

    def remember(self, line: str) -> None:
        """Add a sent line to the history (not repeating the last one)."""
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-HISTORY_SIZE]
        self._history_index = len(self.history)
        self._draft = ""

    def action_history_back(self) -> None:
        if self._history_index == 0:
            return
        if self._history_index == len(self.history):
            self._draft = self.value
        self._history_index -= 1
        self._show(self.history[self._history_index])

    def action_history_forward(self) -> None:
        if self._history_index >= len(self.history):
            return
        self._history_index += 1
        at_end = self._history_index == len(self.history)
        self._show(self._draft if at_end else self.history[self._history_index])

    def _show(self, value: str) -> None:
        self.value = value
        self.cursor_position = len(value)

    # -- nick completion --

    def action_complete_nick(self) -> None:
        """Complete the word before the cursor to a nick; Tab again cycles through matches."""
        if self._completion is not None and self._completion[3] == self.value:  # Tab again
            matches, index, start, _ = self._completion
            index = (index + 1) % len(matches)
        else:
            before = self.value[: self.cursor_position]
            start = len(before) - len(before.split(" ")[-1])
            prefix = before[start:]
            if not prefix:
                return
            matches = sorted((n for n in self.nicks() if n.casefold().startswith(prefix.casefold())),
                             key=str.casefold)
            if not matches:
                self.app.bell()
                return
            index = 0
        nick = matches[index]
        # At the start of a line address the person ("bob: "), elsewhere just the word.
        suffix = ": " if start == 0 else " "
        after = self.value[self.cursor_position:]
        self.value = self.value[:start] + nick + suffix + after.lstrip(" ")
        self.cursor_position = start + len(nick) + len(suffix)
        self._completion = (matches, index, start, self.value)

    # -- redraw --

    def action_redraw_screen(self) -> None:
        """Repaint every cell, for when the terminal drew something differently from us."""
        self.app.refresh(repaint=True, layout=True)

    # -- paste --

    def _on_paste(self, event: events.Paste) -> None:
        # Textual runs `Input._on_paste` too unless the default is prevented, so every branch
        # here must prevent it (calling the base handler as well inserted a paste twice).
        event.prevent_default()
        lines = event.text.splitlines()
        if len(lines) <= 1:
            super()._on_paste(event)
            return
        # Keep what was typed around the cursor, as a paste into the middle of a line would.
        before, after = self.value[: self.cursor_position], self.value[self.cursor_position:]
        lines[0] = before + lines[0]
        lines[-1] = lines[-1] + after
        self.value = ""
        event.stop()
        self.post_message(self.MultiLinePaste(lines))
