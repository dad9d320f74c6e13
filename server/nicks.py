"""Who holds which nick in a shared room: one member per nick, compared by `nick_key` (NFKC,
case-folded: see text.py), guest nicks for newcomers, and free variants for a taken nick."""

from __future__ import annotations

from selchat.wire.text import NICK_MAX, clean, nick_key

from .members import Member


class NickRegistry:
    """Every connected member of a shared room, joined or not, by the key of its nick."""

    __slots__ = ("_by_key", "_guest_counter", "guest_suffix")

    def __init__(self) -> None:
        self._by_key: dict[str, Member] = {}
        self._guest_counter = 0
        # In a cluster every node numbers its own guests: a suffix of the node's makes them
        # differ across nodes without asking the broker (a silent guest claims nothing).
        self.guest_suffix = ""

    def __len__(self) -> int:
        return len(self._by_key)

    def members(self) -> list[Member]:
        return list(self._by_key.values())

    def holder(self, nick: str) -> Member | None:
        """Who holds `nick` (or a nick with the same key), if anyone."""
        return self._by_key.get(nick_key(nick))

    def guest_nick(self) -> str:
        """The next `guestN` nobody holds."""
        while True:
            self._guest_counter += 1
            nick = f"guest{self._guest_counter}{self.guest_suffix}"
            if nick_key(nick) not in self._by_key:
                return nick

    def add(self, member: Member) -> None:
        self._by_key[nick_key(member.nick)] = member

    def remove(self, member: Member) -> None:
        key = nick_key(member.nick)
        if self._by_key.get(key) is member:
            del self._by_key[key]

    def rename(self, member: Member, nick: str) -> None:
        self.remove(member)
        self._by_key[nick_key(nick)] = member
        member.nick = nick

    def free_variant(self, wanted: str, member: Member) -> str:
        """`wanted`, or `wanted_`, `wanted__`... whichever is free; else the member's own nick."""
        nick = wanted
        while len(nick) <= NICK_MAX:
            holder = self._by_key.get(nick_key(nick))
            if holder is None or holder is member:
                return nick
            nick += "_"
        return member.nick


def bad_nick_message(nick: str) -> str:
    shown = clean(nick)[: NICK_MAX * 2]
    return (f'invalid nick "{shown}": 1-{NICK_MAX} letters (of one script, none invisible), digits or '
            "_-[]\\^{}|, not starting with a digit or -")
