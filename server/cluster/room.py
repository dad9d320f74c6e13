"""ClusterRoom: the chat room of one node of a cluster, whose order and presence live in Redis.

It is a ChatRoom whose decisions the stream makes: a nick is the member's once the node's claim
says so, a line is shown (to its sender too) when it comes back from the stream, in stream order,
and `who`, `welcome.users` and presence summaries list every node's members (a mirror built from
the node's Snapshot and the join, leave and nick events that follow). Still pure bookkeeping: the
requests it makes go to the ClusterNode, and what the node answers comes back through
`cluster_event()` (from NodeBridge), which returns what to send like every other room method.

How a member gets in (its nick claimed first, its requests waiting meanwhile, a resume's replay
read) is ClaimingRoom's job, in claims.py; this module is the room once members are in: their
requests, and what the stream and the node say.
"""

from __future__ import annotations


from selchat.wire.text import NICK_MAX, clean

from .. import events as ev
from ..chat import nothing_visible
from ..members import EVERYONE, AllExcept, Member, Outgoing
from ..resume import _id_key
from ..room import LARGE_ROOM, RESUME_NOTICES, WELCOME_USERS_MAX, ChatRoom, _Tally
from . import outputs as out
from .claims import UNAVAILABLE, ClaimingRoom, _Pending
from .shown import LINE_KINDS, chat_event, replayed

# Own tagged lines waiting for their echo from the stream; the oldest are forgotten beyond this.
POSTS_MAX = 10_000
_REMOTE = Member("")  # a nick held on another node, for _set_nick's "in use" check


class ClusterRoom(ClaimingRoom):
    def __init__(self, history: int = 50, max_line: int = 8192, server_name: str = "selchat",
                 password: str | None = None) -> None:
        super().__init__(history, max_line, server_name, password)
        self.everyone: dict[str, tuple[str, str]] = {}  # nick key -> (nick, node), every node's
        self._posts: dict[tuple[str, str], tuple[Member, object]] = {}  # own lines in flight
        self._joins = _Tally()  # joins held back in a large room (leaves: ChatRoom's _leaves)
        self._nick_request = None
        self._snapshots = 0

    @property
    def epoch(self) -> str:
        return self.node.epoch if self.node is not None and self.node.epoch else ""

    def welcome(self, member: Member) -> ev.Welcome:
        nicks = [nick for nick, _ in self.everyone.values()]
        if member.nick.casefold() not in self.everyone:
            nicks.append(member.nick)
        return ev.Welcome(server=self.server_name, mode=self.mode.value, nick=member.nick,
                          users=tuple(nicks[:WELCOME_USERS_MAX]), user_count=len(nicks),
                          max_line=self.max_line, epoch=self.epoch, session=self._sessions.get(member))

    def catch_up(self, member: Member) -> Outgoing:
        if not self.history:
            return []
        return [(member, ev.History(tuple(replayed(e) for e in self.history)))]

    def leave(self, member: Member, reason: str, now: float) -> Outgoing:
        self.nicks.remove(member)
        json_session, own_session = self._sessions.pop(member, None), self._own_sessions.pop(member, None)
        session = json_session or own_session
        pending = self._pending.pop(member, None)
        self._waiting.pop(member, None)
        silent = self._silent.pop(member, 0) is None  # never claimed: nothing to release
        if not member.joined:
            return []
        member.joined = False
        if member in self.members:
            self.members.remove(member)
        # A claim still under way releases itself when it is answered (see _claimed).
        if (pending is None or pending.stage == "replay") and session is not None and not silent:
            self.node.release(member.nick, self._mono(), session=session, reason=clean(reason),
                              ts=int(now * 1000))
        return []

    # --- requests --------------------------------------------------------------------------

    def _speak(self, member: Member, kind: type[ev.ChatLine], request, now: float) -> Outgoing:
        text = clean(request.text)
        if not text.strip():
            return nothing_visible(member, request, kind is ev.Message)
        session = self._session_of(member)
        request_id = "" if request.id is None else _id_key(request.id)
        if request_id:
            self._posts[(session, request_id)] = (member, request.id)
            if len(self._posts) > POSTS_MAX:  # lines whose echo never came (lost in a reset)
                del self._posts[next(iter(self._posts))]
        self.node.post(("post", member, request.id, kind, text),
                       "message" if kind is ev.Message else "action", member.nick, text,
                       self._mono(), session=session, request_id=request_id, ts=int(now * 1000))
        return []

    def _whisper(self, member: Member, request: ev.Whisper, now: float) -> Outgoing:
        target = self.nicks.holder(request.to)
        wanted = clean(request.to).strip()
        if (target is not None and target.joined) or not wanted or len(wanted) > NICK_MAX:
            return super()._whisper(member, request, now)  # here, or no nick at all: as one process
        text = clean(request.text)
        if not text.strip():
            return nothing_visible(member, request, False)
        # Redis's claims decide, not the mirror: a user welcomed on another node a moment ago is
        # claimed there before this node has read its join from the stream.
        remote = self.everyone.get(wanted.casefold())
        to = remote[0] if remote is not None else wanted
        self.node.private(("private", member, request.id, to, text), member.nick, to, text,
                          self._mono(), session=self._session_of(member), ts=int(now * 1000))
        return []

    def _set_nick(self, member: Member, request: ev.SetNick, now: float) -> Outgoing:
        self._nick_request = request.id
        try:
            return super()._set_nick(member, request, now)
        finally:
            self._nick_request = None

    def _nick_holder(self, nick: str) -> Member | None:
        holder = self.nicks.holder(nick)
        if holder is None and nick.casefold() in self.everyone:
            return _REMOTE  # (one of our own members, renamed meanwhile, is found locally)
        return holder

    def _renamed(self, member: Member, nick: str, now: float) -> Outgoing:
        session = self._session_of(member)
        self._pending[member] = _Pending("nick", request_id=self._nick_request)
        self.node.claim(("nick", member, session, member.nick), nick, self._mono(), session=session,
                        old_nick=member.nick, ts=int(now * 1000))
        return []

    def _who(self, member: Member, request: ev.Who, now: float) -> Outgoing:
        nicks = tuple(nick for nick, _ in self.everyone.values())
        return [(member, ev.Users(nicks, len(nicks)))]

    _handlers = {**ChatRoom._handlers, ev.SetNick: _set_nick, ev.Who: _who,
                 ev.Whisper: _whisper}

    def presence_summary(self) -> Outgoing:
        if not (self._joins.count or self._leaves.count):
            return []
        joined, joined_count = self._joins.take()
        left, left_count = self._leaves.take()
        return [(EVERYONE, ev.Presence(joined, left, joined_count, left_count, len(self.everyone)))]

    # --- what the node says ----------------------------------------------------------------

    def cluster_event(self, item, now: float) -> Outgoing:
        handler = _EVENT_HANDLERS.get(type(item))
        return handler(self, item, now) if handler is not None else []

    def delivered_into(self, item: out.Delivered, now: float, outgoing: Outgoing) -> None:
        """`cluster_event` for a Delivered item, its answer added to `outgoing`: the bridge
        calls this for each line of an XREAD reply, so the common case, a line nobody here is
        waiting on, is done inline."""
        e = item.event
        kind = e.kind
        if self._pending or not (kind == "message" or kind == "action"):
            outgoing += self._delivered(item, now)  # a resume reading its replay, or not a line
            return
        line = (ev.Message if kind == "message" else ev.Action)(
            e.nick, e.text, e.ts / 1000 if e.ts else None, sid=e.sid)
        self.history.append(line)
        own = self._posts.pop((e.session, e.request_id), None) if e.request_id else None
        if own is None:
            outgoing.append((EVERYONE, line))
        else:
            outgoing += self._line_out(line, own)

    def _delivered(self, item: out.Delivered, now: float) -> Outgoing:
        e = item.event
        shown = chat_event(e)
        if shown is None:
            return []
        for pending in self._pending.values():
            if pending.stage == "replay":
                pending.live.append(shown)  # shown to it after what the resume read found
        if e.kind in LINE_KINDS:
            self.history.append(shown)
            own = self._posts.pop((e.session, e.request_id), None) if e.request_id else None
            return self._line_out(shown, own)
        key = e.nick.casefold()
        if e.kind == "nick":
            previous = self.everyone.pop(e.old_nick.casefold(), None)
            self.everyone[key] = (e.nick, previous[1] if previous else e.node)
            return [(EVERYONE, shown)]
        large = len(self.everyone) >= LARGE_ROOM  # summed up once a second, as in one process
        if e.kind == "join":
            self.everyone[key] = (e.nick, e.node)
            tally = self._joins
        else:
            self.everyone.pop(key, None)
            tally = self._leaves
        if large:
            tally.add(e.nick)
            return []
        return [(EVERYONE, shown)]

    def _line_out(self, line: ev.ChatLine, own: tuple | None) -> Outgoing:
        """A line for everyone; if it is one of ours in flight, its sender's copy is tagged."""
        if own is None or own[0] not in self.members:
            return [(EVERYONE, line)]
        sender, request_id = own
        # A live Message or Action: the constructor is what dataclasses.replace would call, without
        # its per-field introspection (this runs for every line a sender of ours posts).
        tagged = type(line)(line.sender, line.text, line.ts, request_id, sid=line.sid)
        return [(AllExcept(sender), line), (sender, tagged)]

    def _snapshot(self, item: out.Snapshot, now: float) -> Outgoing:
        """The room as Redis has it. After the first (a reset or a gap), the events it covers
        never come as Delivered: members get its history, and our own lines in flight in it are
        shown now, live, their senders' copies tagged (never a line lost silently)."""
        first, self._snapshots = self._snapshots == 0, self._snapshots + 1
        self.everyone = {nick.casefold(): (nick, node) for nick, node in item.members}
        self.history.clear()
        shown: Outgoing = []
        recent = []
        for e in item.history:
            line = chat_event(e)
            if e.kind not in LINE_KINDS:
                continue
            self.history.append(line)
            own = None if first or not e.request_id else self._posts.pop((e.session, e.request_id), None)
            if own is not None and own[0] in self.members:
                shown += self._line_out(line, own)
            else:
                recent.append(replayed(line))
        if first or not self.members:
            return []
        answer: Outgoing = [(EVERYONE, RESUME_NOTICES["gap"])] if item.gap else []
        if recent:
            answer.append((EVERYONE, ev.History(tuple(recent))))
        return answer + shown

    def _epoch_changed(self, item: out.EpochChanged, now: float) -> Outgoing:
        self.history.clear()
        self.everyone = {}  # the node re-claims its members; every node's joins rebuild this
        return [(EVERYONE, RESUME_NOTICES["reset"])] if item.old and self.members else []

    def _posted(self, item: out.Posted, now: float) -> Outgoing:
        _, member, request_id, kind, text = item.handle
        if not item.repeated or request_id is None:
            return []
        # Re-sent after a drop and stored once before. If this node's feed had yet to read it
        # when the answer came (the first copy was stored after its link dropped: a hung Redis
        # ran it on waking), its Delivered tags the sender's copy; if that copy went out
        # already, nothing more. Only a line read before its sender was here (it moved from a
        # dead node) is told again now, to the sender alone.
        key = (self._session_of(member), _id_key(request_id))
        if key not in self._posts or not item.already_read:
            return []
        del self._posts[key]
        if member not in self.members:
            return []
        return [(member, kind(member.nick, text, now, id=request_id, sid=item.sid))]

    def _refused(self, item: out.Refused, now: float) -> Outgoing:
        _, member, request_id, _, _ = item.handle
        if request_id is not None:
            self._posts.pop((self._session_of(member), _id_key(request_id)), None)
        if member not in self.members:
            return []
        return [(member, ev.Error("unavailable", item.reason, request_id))]

    def _private_done(self, item: out.PrivateDone, now: float) -> Outgoing:
        _, member, request_id, to, text = item.handle
        if member not in self.members:
            return []
        if item.status == "sent":
            return [(member, ev.Private(member.nick, to, text, now, request_id, confirmation=True))]
        if item.status == "nosuch":
            return [(member, ev.Error("no_such_nick", f"no such nick: {to}", request_id))]
        return [(member, ev.Error("unavailable", UNAVAILABLE, request_id))]

    def _private_delivered(self, item: out.PrivateDelivered, now: float) -> Outgoing:
        e = item.event
        target = self.nicks.holder(e.to)
        if target is None or target not in self.members:
            return []
        return [(target, ev.Private(e.nick, target.nick, e.text, e.ts / 1000 if e.ts else None))]

    def _paused(self, item: out.Paused, now: float) -> Outgoing:
        return [(EVERYONE, ev.Notice(f"chat paused: {item.reason}", "paused"))]

    def _resumed(self, item: out.Resumed, now: float) -> Outgoing:
        return [(EVERYONE, ev.Notice("chat resumed", "resumed"))]

    def _nick_lost(self, item: out.NickLost, now: float) -> Outgoing:
        member = self.nicks.holder(item.nick)
        if member is None or member not in self.members:
            return []
        # Someone took the nick while the broker had forgotten it: this member must come back.
        return [(member, ev.Notice(f"your nick {item.nick} was taken while the broker was away: "
                                   "reconnect", "nick_lost")), (member, ev.Disconnect("nick lost"))]


_EVENT_HANDLERS = {
    out.Delivered: ClusterRoom._delivered, out.Snapshot: ClusterRoom._snapshot,
    out.EpochChanged: ClusterRoom._epoch_changed, out.ClaimDone: ClusterRoom._claim_done,
    out.Replay: ClusterRoom._replayed, out.Posted: ClusterRoom._posted,
    out.Refused: ClusterRoom._refused, out.PrivateDone: ClusterRoom._private_done,
    out.PrivateDelivered: ClusterRoom._private_delivered, out.Paused: ClusterRoom._paused,
    out.Resumed: ClusterRoom._resumed, out.NickLost: ClusterRoom._nick_lost,
}

