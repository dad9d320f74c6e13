"""The list of users in the room, beside the conversation."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList

from ..formatting import nick_colour


class UserList(OptionList, can_focus=False):
    """Nicks, sorted without regard to case, each in its own colour; the user's own marked."""

    def show(self, users: list[str], user_count: int, own_nick: str) -> None:
        self.clear_options()
        prompts = []
        for nick in sorted(users, key=str.casefold):
            prompt = Text(nick, style=f"bold {nick_colour(nick)}")
            if nick == own_nick:
                prompt.append(" (you)", "dim")
            prompts.append(prompt)
        hidden = user_count - len(users)
        if hidden > 0:
            prompts.append(Text(f"… and {hidden} more", "dim italic"))
        self.add_options(prompts)
        self.border_title = f"{user_count} {'user' if user_count == 1 else 'users'}"
