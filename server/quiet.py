"""Members who joined without a word, and who has heard of them.

A text connection that sends nothing is still greeted after the hello grace, so that an `nc`
user sees the room. Announcing it then let anyone fill the room with join and leave notices by
opening connections and saying nothing (the hostile-input report's #15: 213 notices a second
from one address). So a member joined that way is *quiet*: it is in the room and in users lists,
but nobody is told it joined. Everyone hears of a member once, either from a users list (their
own `welcome`, or `who`) or from the join notice sent when the member first speaks; a quiet
member's leave goes only to those who heard of it, so a client that applies join and leave
events to its list never keeps a phantom, and a silent connection that comes and goes costs the
room nothing.

Pure bookkeeping for the chat room (room.py), which asks it who to tell.
"""

from __future__ import annotations

from . import events as ev
from .members import EVERYONE, Member


class QuietMembers:
    __slots__ = ("room", "_since", "_listed_at", "_clock")

    def __init__(self, room) -> None:
        self.room = room  # the chat room: its `members`, in join order
        self._since: dict[Member, int] = {}  # each quiet member: the listing clock when it joined
        self._listed_at: dict[Member, int] = {}  # members shown a users list while some are quiet
        self._clock = 0  # counts quiet joins and users lists, to order them

    def __bool__(self) -> bool:
        return bool(self._since)

    def joined_silently(self, member: Member, out: list) -> list:
        """The room's answer to a silent member's join, without the join notice to everyone."""
        kept = [(to, event) for to, event in out if not (to is EVERYONE and type(event) is ev.Joined)]
        if len(kept) != len(out):
            self._clock += 1
            self._since[member] = self._clock
        return kept

    def listed(self, member: Member) -> None:
        """`member` was just shown who is here: it has heard of every quiet member."""
        if self._since:
            self._clock += 1
            self._listed_at[member] = self._clock

    def speaks(self, member: Member, now: float) -> list:
        """A quiet member's first request: tell those who have not heard of it that it joined."""
        since = self._since.pop(member, None)
        if since is None:
            return []
        untold = self._heard_of(member, since, False)
        self._tidy()
        return [(untold, ev.Joined(member.nick, now))] if untold else []

    def forget(self, member: Member) -> list[Member] | None:
        """`member` is leaving: None if it is not quiet (everyone is told), else the members who
        heard of it, the only ones to tell."""
        self._listed_at.pop(member, None)
        since = self._since.pop(member, None)
        if since is None:
            return None
        told = self._heard_of(member, since, True) if member.joined else []
        self._tidy()
        return told

    def _heard_of(self, member: Member, since: int, heard: bool) -> list[Member]:
        """The members who have (or, if not `heard`, have not) heard of quiet `member`: those who
        joined after it saw it in their welcome; those before it only if shown a list since."""
        members = self.room.members
        index = members.index(member)
        listed_at = self._listed_at
        earlier = [m for m in members[:index] if (listed_at.get(m, 0) > since) is heard]
        return earlier + members[index + 1:] if heard else earlier

    def _tidy(self) -> None:
        if not self._since:
            self._listed_at.clear()
