"""The chat room: members who see each other, share nicks, and talk (say, /me, whispers), with a
history replayed to newcomers and presence summed up once a room is large.

Joins in a large room are held back and summed up once a second (`presence_summary`), or told at
once when the member first does something others see, so no client ever hears of a rename or a
line from someone it was not told had joined. Members joined without a word are quiet (quiet.py).
"""

from __future__ import annotations

import dataclasses
from collections import deque

from selchat.wire.schema import DEFAULT_MAX_LINE
from selchat.wire.text import NICK_MAX, clean

from . import events as ev
from .chat import Room, nothing_visible
from .members import EVERYONE, AllExcept, Member, Mode, Outgoing
from .nicks import NickRegistry
from .quiet import QuietMembers
from .resume import ResumeLog, new_session

# Above this many members, joins and leaves are summed up once a second rather than announced
# one by one: with n members a join storm would otherwise send O(n^2) notices.
LARGE_ROOM = 100
PRESENCE_NAMES_MAX = 10
# `welcome` lists at most this many nicks (and the true count): a join storm stays linear.
WELCOME_USERS_MAX = 500


class _Tally:
    """Leaves held back in a large room: the exact count and the first few nicks."""

    __slots__ = ("count", "names")

    def __init__(self) -> None:
        self.count = 0
        self.names: list[str] = []

    def add(self, nick: str) -> None:
        self.count += 1
        if len(self.names) < PRESENCE_NAMES_MAX:
            self.names.append(nick)

    def take(self) -> tuple[tuple[str, ...], int]:
        """The nicks and the count so far; starts again from zero."""
        taken = (tuple(self.names), self.count)
        self.count, self.names = 0, []
        return taken


class ChatRoom(Room):
    announces_presence = True

    def __init__(self, mode: Mode = Mode.CHAT, history: int = 50, max_line: int = DEFAULT_MAX_LINE,
                 server_name: str = "selchat", password: str | None = None) -> None:
        super().__init__(mode, history, max_line, server_name, password)
        self.history: deque = deque(maxlen=max(history, 0))
        self.nicks = NickRegistry()  # every connected member, joined or not
        self.quiet = QuietMembers(self)  # members greeted without a word, not yet announced
        # Joined in a large room and not yet announced: told in the next presence_summary(), or at
        # once when the member first does something others see.
        self._unannounced: dict[Member, None] = {}
        self._leaves = _Tally()
        self.log = ResumeLog()  # sids, events kept for `since`, lines taken per session
        self._sessions: dict[Member, str] = {}  # JSON members' session tokens
        self._since: tuple | None = None  # the joining hello's (epoch, sid, up to), while it joins

    @property
    def epoch(self) -> str:
        return self.log.epoch

    @property
    def connected_count(self) -> int:
        return len(self.nicks)

    def connected(self) -> list[Member]:
        return self.nicks.members()

    # --- membership ------------------------------------------------------------------------

    def _new_member(self, link, peer: str | None) -> Member:
        member = Member(self.nicks.guest_nick(), link, peer)
        self.nicks.add(member)
        return member

    def _enter(self, member: Member, now: float, out: Outgoing) -> Outgoing:
        announce = self._announce_join(member, now)
        self.members.append(member)
        out.insert(0, (member, self.welcome(member)))
        out += self.catch_up(member)
        if announce is not None:
            out.append((EVERYONE, announce))
        return out

    def join(self, member: Member, now: float, hello: ev.Hello | None = None) -> Outgoing:
        if hello is not None and not member.joined:
            self._sessions[member] = hello.session or new_session()
            self._since = hello.since and (*hello.since, self.log.last)  # not its own join
        try:
            return super().join(member, now, hello)
        finally:
            self._since = None

    def late_hello(self, member: Member, hello: ev.Hello, now: float) -> Outgoing:
        self._sessions[member] = hello.session or new_session()
        self._since = hello.since and (*hello.since, self.log.last)
        try:
            return super().late_hello(member, hello, now)
        finally:
            self._since = None

    def greet_silently(self, member: Member, now: float) -> Outgoing:
        return self.quiet.joined_silently(member, self.join(member, now))

    def _spoke(self, member: Member, now: float) -> Outgoing:
        return self.quiet.speaks(member, now) if self.quiet else []

    def leave(self, member: Member, reason: str, now: float) -> Outgoing:
        told = self.quiet.forget(member)  # None: not quiet, so everyone is told
        self.nicks.remove(member)
        self._sessions.pop(member, None)
        if not member.joined:
            return []
        member.joined = False
        self.members.remove(member)
        # One that was never announced is still summed up as leaving: a newcomer's welcome (or
        # `who`) may have listed it.
        unannounced = member in self._unannounced
        if unannounced:
            del self._unannounced[member]
        if len(self.members) >= LARGE_ROOM or unannounced:
            self._leaves.add(member.nick)
            return []
        if told is not None and not told:
            return []
        left = self.log.stamp(ev.Left(member.nick, clean(reason), now))
        return [(EVERYONE if told is None else told, left)]

    def presence_summary(self) -> Outgoing:
        """The joins and leaves held back in a large room since the last call (call it each second)."""
        if not (self._unannounced or self._leaves.count):
            return []
        # Current nicks: a member renamed since it joined was announced then, so these are the
        # nicks the members still have.
        joined = tuple(m.nick for _, m in zip(range(PRESENCE_NAMES_MAX), self._unannounced))
        joined_count = len(self._unannounced)
        self._unannounced = {}
        left, left_count = self._leaves.take()
        return [(EVERYONE, ev.Presence(joined, left, joined_count, left_count, len(self.members)))]

    def welcome(self, member: Member) -> ev.Welcome:
        shown = tuple(m.nick for m in self.members[:WELCOME_USERS_MAX])
        return ev.Welcome(server=self.server_name, mode=self.mode.value, nick=member.nick, users=shown,
                          user_count=len(self.members), max_line=self.max_line, epoch=self.log.epoch,
                          session=self._sessions.get(member))

    def catch_up(self, member: Member) -> Outgoing:
        """The usual history, or with a hello's `since`: what came after it (or why not)."""
        out: Outgoing = []
        if self._since is not None:
            status, events = self.log.after(*self._since)
            if status == "ok":
                return [(member, _as_replay(e) if isinstance(e, ev.ChatLine) else e) for e in events]
            out.append((member, RESUME_NOTICES[status]))
        if self.history:
            out.append((member, ev.History(tuple(_as_replay(e) for e in self.history))))
        return out

    # --- requests --------------------------------------------------------------------------

    def _say(self, member: Member, request: ev.Say, now: float) -> Outgoing:
        return self._speak(member, ev.Message, request, now)

    def _act(self, member: Member, request: ev.Act, now: float) -> Outgoing:
        return self._speak(member, ev.Action, request, now)

    def _speak(self, member: Member, kind: type[ev.ChatLine], request, now: float) -> Outgoing:
        """A chat line for everyone: kept in the history; a tagged sender gets its tag back."""
        text = clean(request.text)
        if not text.strip():
            return nothing_visible(member, request, kind is ev.Message)
        session = self._sessions.get(member)
        earlier = self.log.taken(session, request.id)
        if earlier is not None:  # re-sent after a drop: stored once, the sender told again
            return [(member, dataclasses.replace(earlier, id=request.id))]
        line = self.log.stamp(kind(member.nick, text, now))
        self.log.take(session, request.id, line)
        self.history.append(line)
        out = self._announce_now(member, now)
        if request.id is None:
            out.append((EVERYONE, line))
            return out
        out += [(AllExcept(member), line), (member, dataclasses.replace(line, id=request.id))]
        return out

    def _whisper(self, member: Member, request: ev.Whisper, now: float) -> Outgoing:
        target = self.nicks.holder(request.to)
        if target is None or not target.joined:
            return [(member, ev.Error("no_such_nick", f"no such nick: {clean(request.to)[:NICK_MAX * 2]}",
                                      request.id))]
        text = clean(request.text)
        if not text.strip():
            return nothing_visible(member, request, False)
        delivered = ev.Private(member.nick, target.nick, text, now)
        confirmation = ev.Private(member.nick, target.nick, text, now, request.id, confirmation=True)
        if target is member:
            return [(member, confirmation)]
        return self._announce_now(member, now) + [(target, delivered), (member, confirmation)]

    def _renamed(self, member: Member, nick: str, now: float) -> Outgoing:
        old = member.nick
        # Announced under the nick the member joined with, so the rename applies to someone known.
        out = self._announce_now(member, now)
        self._rename(member, nick)
        out.append((EVERYONE, self.log.stamp(ev.NickChanged(old, nick, now))))
        return out

    def _who(self, member: Member, request: ev.Who, now: float) -> Outgoing:
        self.quiet.listed(member)
        nicks = tuple(m.nick for m in self.members)
        return [(member, ev.Users(nicks, len(nicks)))]

    _handlers = {**Room._common_handlers, ev.Say: _say, ev.Act: _act, ev.Whisper: _whisper,
                 ev.Who: _who}

    # --- nicks and announcements -----------------------------------------------------------

    def _nick_holder(self, nick: str) -> Member | None:
        return self.nicks.holder(nick)

    def _hello_nick(self, wanted: str, member: Member) -> str:
        return self.nicks.free_variant(wanted, member)

    def _rename(self, member: Member, nick: str) -> None:
        self.nicks.rename(member, nick)

    def _announce_join(self, member: Member, now: float):
        if len(self.members) >= LARGE_ROOM:
            self._unannounced[member] = None
            return None
        return self.log.stamp(ev.Joined(member.nick, now))

    def _announce_now(self, member: Member, now: float) -> Outgoing:
        """A member not yet announced that does something others see is announced first."""
        if member not in self._unannounced:
            return []
        del self._unannounced[member]
        return [(EVERYONE, self.log.stamp(ev.Joined(member.nick, now)))]


RESUME_NOTICES = {
    "gap": ev.Notice("some events were missed: here is the recent history", "history_gap"),
    "reset": ev.Notice("the room's history started over: here is the recent history", "history_reset"),
}


def _as_replay(event):
    return dataclasses.replace(event, id=None, replay=True)
