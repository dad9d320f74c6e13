"""Joining a clustered room: a member's nick is claimed in Redis before it is in the room.

ClaimingRoom is the part of ClusterRoom (room.py) that runs a member's claim (a join, a rename)
and, for a resuming hello, its replay read: while one is under way the member's requests wait
in order and are handled once it is done (pings, help and quit are answered at once); a nick
taken on another node gets the same "_" fix-up as a clash in one process; a claim the broker
could not take waits for it (`cluster_turn`). Pure bookkeeping: the node is asked, and its
answers (ClaimDone, Replay) come back through ClusterRoom.cluster_event.
"""

from __future__ import annotations

import zlib

from dataclasses import dataclass, field

from selchat.wire.resume import sid_after
from selchat.wire.text import NICK_MAX

from .. import events as ev
from ..members import Member, Mode, Outgoing
from ..resume import new_session
from ..room import RESUME_NOTICES, ChatRoom
from . import outputs as out
from .shown import LINE_KINDS, chat_event, replayed

UNAVAILABLE = "chat unavailable: the broker is down"
# Requests one member may have waiting for its claim; more are refused, never piled up.
WAITING_MAX = 100
# Requests answered at once even while the member's claim is under way.
_AT_ONCE = (ev.Ping, ev.Pong, ev.Help, ev.Quit)


@dataclass
class _Pending:
    """A member whose claim (stage "join" or "nick") or resume read ("replay") is under way."""

    stage: str
    out: Outgoing = field(default_factory=list)  # said during the join, sent with the welcome
    queue: list = field(default_factory=list)  # its requests meanwhile
    since: tuple | None = None  # a resuming hello's (epoch, sid)
    live: list = field(default_factory=list)  # room events that came during the replay read
    request_id: object = None  # the /nick request's id
    greeted: str | None = None  # a silent member's claim: the nick its welcome gave it


class ClaimingRoom(ChatRoom):
    def __init__(self, history: int = 50, max_line: int = 8192, server_name: str = "selchat",
                 password: str | None = None) -> None:
        super().__init__(Mode.CHAT, history, max_line, server_name, password)
        self.node = None
        self.clock = None  # the loop's monotonic clock, which the node's deadlines run on
        self._pending: dict[Member, _Pending] = {}
        self._silent: dict[Member, None] = {}  # greeted without a word, not claimed yet
        self._waiting: dict[Member, None] = {}  # claims the broker could not take: retried
        self._own_sessions: dict[Member, str] = {}  # text and IRC members' session tokens

    def attach(self, node, clock) -> None:
        self.node, self.clock = node, clock
        self.nicks.guest_suffix = "-" + guest_tag(node.config.node_id)

    def _mono(self) -> float:
        return self.clock.now

    def _session_of(self, member: Member) -> str:
        session = self._sessions.get(member)
        if session is None:
            session = self._own_sessions.get(member)
            if session is None:
                session = self._own_sessions[member] = new_session()
        return session

    # --- joining: the nick is claimed first ------------------------------------------------

    def _enter(self, member: Member, now: float, said: Outgoing) -> Outgoing:
        since = self._since[:2] if self._since else None
        self._pending[member] = _Pending("join", said, since=since)
        return self._claim(member, now)

    def _claim(self, member: Member, now: float) -> Outgoing:
        self.node.claim(("join", member, self._session_of(member)), member.nick, self._mono(),
                        session=self._session_of(member), ts=int(now * 1000))
        return []

    def greet_silently(self, member: Member, now: float) -> Outgoing:
        """A connection that said nothing is shown the room but not claimed in Redis (a claim
        writes a join every node announces: silent connections would flood the cluster, see
        quiet.py). Its first request claims its nick; until then it is listed nowhere."""
        if self.password_gate is not None:
            return self.join(member, now)  # asked for the password, as in one process
        member.joined = True
        self.members.append(member)
        self._silent[member] = None
        return [(member, self.welcome(member))] + self.catch_up(member)

    def _spoke(self, member: Member, now: float) -> Outgoing:
        return []

    def late_hello(self, member: Member, hello: ev.Hello, now: float) -> Outgoing:
        member.json = True
        # A member already claimed keeps the session its claim was made with (its release must
        # match it); one greeted silently has claimed nothing yet and takes the hello's.
        self._sessions[member] = self._own_sessions.pop(member, None) or hello.session or new_session()
        greeting: Outgoing = [(member, self.welcome(member))] + self.catch_up(member)
        if hello.nick is not None and hello.nick.strip() != member.nick:
            greeting += self.handle(member, ev.SetNick(hello.nick.strip()), now)
        return greeting

    def handle(self, member: Member, request, now: float) -> Outgoing:
        if member in self._silent and type(request) not in _AT_ONCE and self.shows_life(request):
            del self._silent[member]  # its first word: now it joins the cluster
            told = member.nick
            self._pending[member] = _Pending("join", queue=[request], greeted=told)
            return self._claim(member, now)
        pending = self._pending.get(member)
        if pending is not None and type(request) not in _AT_ONCE:
            if len(pending.queue) >= WAITING_MAX:  # a claim the broker cannot take may last minutes
                return [(member, ev.Error("unavailable", UNAVAILABLE, getattr(request, "id", None)))]
            pending.queue.append(request)
            return []
        return super().handle(member, request, now)

    def _admit(self, member: Member, now: float, first: Outgoing | None = None) -> Outgoing:
        """The claim (and any replay) is done: the member is in, and its waiting requests run."""
        pending = self._pending.pop(member)
        if first is not None:
            answer = first
        elif pending.greeted is not None:  # welcomed silently earlier: only a changed nick is news
            told = pending.greeted
            answer = [] if told == member.nick else [(member, ev.NickChanged(told, member.nick, now))]
        else:
            answer = [(member, self.welcome(member))] + pending.out + self.catch_up(member)
        if member not in self.members:
            self.members.append(member)
        return answer + self._run_queue(member, pending.queue, now)

    def _run_queue(self, member: Member, queue: list, now: float) -> Outgoing:
        answer: Outgoing = []
        while queue:
            if member in self._pending:  # a queued /nick started a claim: the rest waits for it
                self._pending[member].queue.extend(queue)
                break
            answer += self.handle(member, queue.pop(0), now)
        return answer

    def cluster_turn(self, now: float) -> Outgoing:
        """Each loop turn: claims the broker could not take are tried again once it is back."""
        if not self._waiting or not self.node.ready:
            return []
        waiting, self._waiting = list(self._waiting), {}
        answer: Outgoing = []
        for member in waiting:
            if member in self._pending:
                answer += self._claim(member, now)
        return answer

    # --- the node's answers (through ClusterRoom.cluster_event) ---------------------------

    def _claim_done(self, item: out.ClaimDone, now: float) -> Outgoing:
        stage, member, session, *rest = item.handle
        pending = self._pending.get(member)
        ok = item.status in ("claimed", "reclaimed")
        if pending is None or pending.stage != stage:  # it left meanwhile: give the nick back
            if ok or stage == "nick":
                self.node.release(item.nick if ok else rest[0], self._mono(), session=session,
                                  reason="left", ts=int(now * 1000))
            return []
        if stage == "nick":
            del self._pending[member]
            if ok:
                self._rename(member, item.nick)  # everyone (this member too) sees the nick event
                answer: Outgoing = []
            elif item.status == "taken":
                answer = [(member, ev.Error("nick_in_use", f'nick "{item.nick}" is in use',
                                            pending.request_id))]
            else:
                answer = [(member, ev.Error("unavailable", UNAVAILABLE, pending.request_id))]
            return answer + self._run_queue(member, pending.queue, now)
        if item.status == "taken":  # the same fix-up as a clash in one process: "_" until free
            self._rename(member, self._next_nick(member.nick))
            return self._claim(member, now)
        if item.status == "error":  # Redis answered, but not with a claim: retrying won't help
            del self._pending[member]
            return [(member, ev.Error("unavailable", "chat unavailable: the broker refused the join")),
                    (member, ev.Disconnect("broker refused the join"))]
        if not ok:  # the broker is away: the join waits for it (see cluster_turn)
            self._waiting[member] = None
            return [(member, ev.Notice("chat paused: waiting for the broker to join you", "paused"))]
        if pending.since is None:
            return self._admit(member, now)
        pending.stage = "replay"
        self.node.replay_after(("replay", member, session), *pending.since, self._mono())
        return []

    def _next_nick(self, nick: str) -> str:
        candidate = nick + "_"
        while len(candidate) <= NICK_MAX:
            if self._nick_holder(candidate) is None:  # here or on any node (the mirror)
                return candidate
            candidate += "_"
        return self.nicks.guest_nick()

    def _replayed(self, item: out.Replay, now: float) -> Outgoing:
        _, member, _ = item.handle
        pending = self._pending.get(member)
        if pending is None or pending.stage != "replay":
            return []
        answer: Outgoing = [(member, self.welcome(member))] + pending.out
        # What the client has seen up to: live events before it are in the replay (or its past).
        last = item.events[-1].sid if item.events else pending.since[1] if item.status == "ok" else None
        if item.status == "ok":
            answer += [(member, replayed(shown)) for shown in map(chat_event, item.events)
                       if shown is not None]
        else:
            answer.append((member, RESUME_NOTICES.get(item.status, RESUME_NOTICES["gap"])))
            lines = tuple(replayed(chat_event(e)) for e in item.events if e.kind in LINE_KINDS)
            if item.status == "unavailable":  # the broker is away: what this node has
                lines = tuple(map(replayed, self.history))
            if lines:
                answer.append((member, ev.History(lines)))
        for shown in pending.live:  # what the feed brought while the replay was read
            if last is None or sid_after(shown.sid, last):
                answer.append((member, shown))
        return self._admit(member, now, answer)


def guest_tag(node_id: str) -> str:
    """A short tag for this node's guest nicks (`guest1-n2`): a short alphanumeric node id as it
    is, any other its 4-character base-36 hash (distinct ids then differ with odds of ~1.7 M to 1)."""
    if node_id.isascii() and node_id.isalnum() and len(node_id) <= 4:
        return node_id
    value, tag = zlib.crc32(node_id.encode()), ""
    for _ in range(4):
        value, digit = divmod(value, 36)
        tag += "0123456789abcdefghijklmnopqrstuvwxyz"[digit]
    return tag
