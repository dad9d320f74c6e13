"""The list of users in the room, beside the conversation."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList

from ..palette import nick_colour


class UserList(OptionList, can_focus=False):
    """Nicks, sorted without regard to case, each in its own colour; the user's own marked.

    The colours are chosen against this widget's own background, and chosen again when the
    theme changes, so they read on light themes as well as dark ones.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[list[str], int, str] = ([], 0, "")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(
            self, lambda _theme: self.show(*self._shown, force=True))

    def show(self, users: list[str], user_count: int, own_nick: str, force: bool = False) -> None:
        shown = (list(users), user_count, own_nick)
        if shown == self._shown and self.option_count and not force:
            return  # rebuilding the options lays the screen out again: not on every batch
        self._shown = shown
        background = self.background_colors[1].hex6
        self.clear_options()
        prompts = []
        for nick in sorted(users, key=str.casefold):
            prompt = Text(nick, style=f"bold {nick_colour(nick, background)}")
            if nick == own_nick:
                prompt.append(" (you)", "dim")
            prompts.append(prompt)
        hidden = user_count - len(users)
        if hidden > 0:
            prompts.append(Text(f"… and {hidden} more", "dim italic"))
        self.add_options(prompts)
        self.border_title = f"{user_count} {'user' if user_count == 1 else 'users'}"
