"""ClusterNode: one selchat node's side of the shared room, as a sans-I/O state object.

The node owns two Redis links (the design's "two sockets", because a connection blocked in
XREAD answers nothing else):

    cmd   pipelined EVALSHA posts (a turn's lines in one call), claims, releases, privates
          and the heartbeat tick
    feed  only `XREAD BLOCK` on the room log and this node's inbox, from the last sid read

The loop drives it with descriptors and time only:

    for name in node.links_to_open(now): connect a socket, then node.link_opened(name, now)
    readable:    node.receive_data(name, data, now)
    end of turn: sock.send(node.data_to_send(name))   # one send() per link per turn
    closed/fail: node.link_closed(name, now, reason)
    timers:      node.on_timer(now) at node.next_timer()
    then:        node.outputs()  -> Snapshot, Delivered, Posted, Refused, CloseLink, ...

and the room asks it to post(), claim(), release() and private(). While `cmd` is down the node
is paused: lines are held in order up to `hold_limit` and for `grace` seconds, then refused; a
post whose link died before its reply is re-sent, and its dedupe key (session + request id, or a
node-local number) keeps it stored once.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Callable

from . import outputs as out
from . import posting, scripts
from .config import NodeConfig
from .holding import Held, HoldQueue
from .resp import BrokerError, LinkLost, LinkState, RedisLink, ReplyError
from .replay import ReplayRequest
from .posting import POST_BATCH, dedupe_key
from .presence import Presence, reply_text
from .room_log import RoomKeys, decode_snapshot, decode_xread, event_fields, xread_command

LINKS = ("cmd", "feed")


@dataclass
class _Slot:
    link: RedisLink | None = None
    ready: bool = False  # handshake answered
    opening: bool = False  # the loop is connecting a socket
    retry_at: float = 0.0
    backoff: float = 0.0
    waiting_since: float | None = None  # oldest unanswered command (cmd) / XREAD sent (feed)


class ClusterNode:
    def __init__(self, config: NodeConfig, now: float, rng: random.Random | None = None):
        self.config = config
        self.keys = RoomKeys(config.room)
        self.epoch: str | None = None
        self.last_sid = "0-0"
        self.inbox_sid = "0-0"
        self._rng = rng or random.Random()
        self._seed = os.urandom(4).hex()
        self._slots = {name: _Slot() for name in LINKS}
        self._held = HoldQueue(config.hold_limit, config.grace)
        self._batch: list[Held] = []  # posts of this turn, not yet sent: one script call at the end
        self._outputs: list = []
        self._now = now
        self._next_tick = now
        self._paused_reason: str | None = "not connected yet"
        self._told_paused = False
        self._local_seq = 0
        # Every script call starts with these: built once, not per line (the post is the hot path).
        self._script_head = (1, self.keys.log, *self._argv())
        self._feed_keys = (self.keys.log, self.keys.inbox(config.node_id))
        self.commands_sent = 0  # Redis commands handed to the links, for the cost figures
        self.presence = Presence(self._call, self._submit, self._emit,
                                 lambda: self._slots["cmd"].ready)

    # --- loop side ---------------------------------------------------------------------------
    def links_to_open(self, now: float) -> list[str]:
        """Links that need a socket now; the loop connects them and calls link_opened()."""
        self._now = now
        due = []
        for name, slot in self._slots.items():
            if slot.link is None and not slot.opening and slot.retry_at <= now:
                slot.opening = True
                due.append(name)
        return due

    def link_opened(self, name: str, now: float) -> None:
        self._now = now
        slot = self._slots[name]
        slot.opening, slot.ready = False, False
        # Replies come as str, decoded by hiredis in C: the feed reads every line of the room.
        link = RedisLink(self.config.url, f"selchat:{self.config.node_id}:{name}",
                         lambda error: self._handshake_done(name, link, error), text=True)
        slot.link = link
        slot.waiting_since = now
        if name == "cmd":
            for script in scripts.ALL:
                self._send(link, ["SCRIPT", "LOAD", script.source])
        else:
            self._send(link, ["EVAL", scripts.OPEN.source, 1, self.keys.log, *self._argv(),
                              self.epoch or "", self.config.history,
                              self.keys.inbox(self.config.node_id), self.last_sid],
                       lambda reply: self._feed_opened(link, reply))

    def link_closed(self, name: str, now: float, reason: str) -> None:
        """The socket failed to connect or ended. Idempotent."""
        self._now = now
        slot = self._slots[name]
        if slot.link is None and not slot.opening:
            return  # already handled (the node closed it itself, then the loop reported it)
        link, slot.link, slot.ready, slot.opening = slot.link, None, False, False
        slot.backoff = min(max(slot.backoff * 2, self.config.backoff_min), self.config.backoff_max)
        slot.retry_at = now + slot.backoff * self._rng.uniform(0.5, 1.0)
        slot.waiting_since = None
        if link is not None:
            link.connection_lost(reason)
        if name == "cmd":
            for held in self._batch:  # never sent: after the unanswered ones, before the held
                self._held.unanswered(held)
            self._batch = []
            self._held.link_gone()
            self._pause(f"broker unreachable: {reason}")

    def receive_data(self, name: str, data: bytes, now: float) -> None:
        self._now = now
        slot = self._slots[name]
        link = slot.link
        if link is None:
            return
        replies = link.replies
        link.receive_data(data)
        if link.replies != replies and slot.link is link:
            # Answered: the oldest command still waiting was sent at most now (per receive,
            # not per reply, which is what a closure around every command cost).
            slot.waiting_since = now if link.pending else None
        if link.state is LinkState.BROKEN:
            self._close(name, link.broken_reason)

    def data_to_send(self, name: str) -> bytes:
        link = self._slots[name].link
        if link is None:
            return b""
        if name == "cmd" and self._batch:
            self._flush_posts()
        return link.data_to_send()

    def next_timer(self) -> float:
        deadlines = [self._next_tick]
        for slot in self._slots.values():
            if slot.link is None and not slot.opening:
                deadlines.append(slot.retry_at)
            if slot.waiting_since is not None:
                deadlines.append(slot.waiting_since + self._patience(slot))
        held_until = self._held.next_deadline()
        return min(deadlines) if held_until is None else min(*deadlines, held_until)

    def on_timer(self, now: float) -> None:
        self._now = now
        for name, slot in self._slots.items():
            if slot.waiting_since is not None and now >= slot.waiting_since + self._patience(slot):
                self._close(name, "no reply from the broker in time (hung or unreachable)")
        for held in self._held.expired(now):
            self._outputs.append(out.Refused(held.handle, "chat unavailable: the broker is down"))
        cmd = self._slots["cmd"]
        if now >= self._next_tick:
            self._next_tick = now + self.config.heartbeat
            if cmd.ready:
                self._call(scripts.TICK, [], self.presence.ticked)

    def _emit(self, item: Any) -> None:
        self._outputs.append(item)  # not a bound list.append: outputs() swaps the list

    def outputs(self) -> list:
        """Everything that happened since the last call, oldest first."""
        result, self._outputs = self._outputs, []
        return result

    @property
    def paused(self) -> bool:
        return self._paused_reason is not None

    @property
    def paused_reason(self) -> str | None:
        return self._paused_reason

    @property
    def has_work(self) -> bool:
        """Outputs or bytes waiting for the loop (so it must not sleep in select())."""
        return bool(self._outputs or self._batch) or any(s.link is not None and s.link.has_data
                                          for s in self._slots.values())

    @property
    def busy(self) -> bool:
        """Commands on `cmd` still unanswered, or lines held: what a clean shutdown waits for."""
        link = self._slots["cmd"].link
        return bool(self._held or self._batch) or (link is not None and self._slots["cmd"].ready and link.pending > 0)

    @property
    def ready(self) -> bool:
        """Both links up and a snapshot taken: the room can accept members."""
        return not self.paused and self.epoch is not None and self._slots["feed"].ready

    # --- room side ---------------------------------------------------------------------------
    def post(self, handle: Any, kind: str, nick: str, text: str, now: float, *, session: str = "",
             request_id: str = "", ts: int = 0) -> None:
        """A message or action line; Posted (or Refused) follows, Delivered when it comes back."""
        self._now = now
        if request_id and session:
            dedupe = dedupe_key(session, request_id)
        else:
            self._local_seq += 1  # re-sent only by this process, in order: see scripts._POST
            dedupe = f"#{self._local_seq}"
        argv = posting.line_argv(dedupe, kind, nick, text, self.config.node_id, session,
                                 request_id, ts)
        self._submit(Held(handle, scripts.POST, argv, now))

    def claim(self, handle: Any, nick: str, now: float, *, session: str, key: str | None = None,
              old_nick: str = "", old_key: str | None = None, ts: int = 0,
              request_id: str = "") -> None:
        """Take `nick` for `session` (a join, or a rename from `old_nick`); ClaimDone follows."""
        self._now = now
        key = key or nick.casefold()
        if old_nick and old_key is None:
            old_key = old_nick.casefold()
        if self.paused:
            self._outputs.append(out.ClaimDone(handle, nick, "unavailable"))
            return
        self.presence.claim(handle, nick, key, session, old_nick, old_key, ts, request_id)

    def release(self, nick: str, now: float, *, session: str, key: str | None = None,
                reason: str = "", ts: int = 0) -> None:
        """The member left; the leave event goes out now or as soon as Redis is back."""
        self._now = now
        self.presence.release(nick, key or nick.casefold(), session, reason, ts, now)

    def private(self, handle: Any, from_nick: str, to_nick: str, text: str, now: float, *,
                session: str = "", to_key: str | None = None, ts: int = 0,
                request_id: str = "") -> None:
        self._now = now
        if self.paused:
            self._outputs.append(out.PrivateDone(handle, "unavailable"))
            return
        fields = event_fields("private", nick=from_nick, to=to_nick, text=text,
                              node=self.config.node_id, session=session,
                              request_id=request_id, ts=ts)
        argv = [to_key or to_nick.casefold(), self.config.inbox_maxlen, *fields]
        self._call(scripts.PRIVATE, argv, lambda reply: self._private_sent(handle, reply))

    def replay_after(self, handle: Any, epoch: str, sid: str, now: float, *,
                     limit: int = 1_000) -> None:
        """A client resumes from the (epoch, sid) it last saw, on any node; Replay follows."""
        self._now = now
        link = self._slots["cmd"].link
        if self.paused or link is None:
            self._outputs.append(out.Replay(handle, "unavailable", ()))
            return
        def send(command: list, callback: Callable) -> None:
            if self._slots["cmd"].link is link:
                self._send(link, command, callback)
            else:
                callback(LinkLost("broker connection lost"))

        ReplayRequest(handle, self.keys.log, sid, limit, self.config.history, send,
                      self._emit).start(same_epoch=epoch == self.epoch)

    # --- commands ----------------------------------------------------------------------------
    def _argv(self) -> list:
        c = self.config
        return [self.keys.prefix, self._seed, c.maxlen, c.node_id, int(c.heartbeat_ttl * 1000)]

    def _send(self, link: RedisLink, command: list, callback: Callable | None = None) -> None:
        is_cmd = link is self._slots["cmd"].link
        if is_cmd and self._batch:
            self._flush_posts()  # the turn's lines first: a leave or rename must follow them
        slot = self._slots["cmd" if is_cmd else "feed"]
        if slot.waiting_since is None:
            slot.waiting_since = self._now
        self.commands_sent += 1
        link.send(command, callback)  # receive_data() moves waiting_since on as replies come

    def _call(self, script: scripts.Script, argv: list, callback: Callable) -> None:
        """EVALSHA on cmd; after a NOSCRIPT (script cache flushed) the same call as EVAL."""
        link = self._slots["cmd"].link
        tail = (*self._script_head, *argv)

        def answered(reply: Any) -> None:
            if isinstance(reply, ReplyError) and reply.code == "NOSCRIPT" and link.state is LinkState.OPEN:
                self._send(link, ["EVAL", script.source, *tail], callback)
            else:
                callback(reply)

        if link is None:
            callback(LinkLost("broker connection is down"))
            return
        self._send(link, ("EVALSHA", script.sha, *tail), answered)

    def _submit(self, held: Held) -> None:
        if self.paused or self._held:  # keep order behind lines already held
            if held.refusable and self._held.full():
                self._outputs.append(out.Refused(held.handle, "chat unavailable: too many lines held"))
                return
            self._held.append(held)
            return
        self._dispatch(held)

    def _dispatch(self, held: Held) -> None:
        if held.script is scripts.POST:
            self._batch.append(held)
            cmd = self._slots["cmd"]
            if cmd.waiting_since is None:  # waiting for Redis from now: the hung-link clock runs
                cmd.waiting_since = self._now
            if len(self._batch) >= POST_BATCH:
                self._flush_posts()
            return

        def answered(reply: Any) -> None:
            if isinstance(reply, LinkLost):
                self._held.unanswered(held)

        self._call(held.script, held.argv, answered)

    def _flush_posts(self) -> None:
        batch, self._batch = self._batch, []
        self._call(scripts.POST, posting.batch_argv(self.config.dedupe_ttl, batch),
                   lambda reply: self._posted(batch, reply))

    def _flush_held(self) -> None:
        for held in self._held.drain():
            self._dispatch(held)

    # --- replies -----------------------------------------------------------------------------
    def _handshake_done(self, name: str, link: RedisLink, error: BrokerError | None) -> None:
        slot = self._slots[name]
        if slot.link is not link:
            return
        if error is not None:
            self._close(name, f"broker refused the connection: {error}")
            return
        slot.ready, slot.backoff = True, 0.0
        if name == "cmd":
            self._paused_reason = None
            self._flush_held()
            if self.presence.rebuild_due:
                self.presence.rebuild()
            if self._told_paused:
                self._told_paused = False
                self._outputs.append(out.Resumed())
            self._next_tick = self._now  # re-assert the heartbeat at once

    def _feed_opened(self, link: RedisLink, reply: Any) -> None:
        if self._slots["feed"].link is not link or isinstance(reply, LinkLost):
            return
        if isinstance(reply, BrokerError) or decode_snapshot(reply)[0] is None:
            self._close("feed", f"broker refused the room snapshot: {reply!r}")
            return
        epoch, snapshot = decode_snapshot(reply)
        if snapshot is not None:
            old, self.epoch = self.epoch, epoch
            if old is not None and old != epoch:
                self._outputs.append(out.EpochChanged(old, epoch))
            self.last_sid, self.inbox_sid = snapshot.sid, snapshot.inbox_sid
            self._outputs.append(out.Snapshot(epoch, snapshot.sid, snapshot.members,
                                              snapshot.history, snapshot.gap))
            if old is not None and old != epoch:
                self.presence.rebuild()
        self._read(link)

    def _read(self, link: RedisLink) -> None:
        command = xread_command(self._feed_keys, [self.last_sid, self.inbox_sid],
                                self.config.block_ms, self.config.read_count)
        self._send(link, command, lambda reply: self._feed_read(link, reply))

    def _feed_read(self, link: RedisLink, reply: Any) -> None:
        if self._slots["feed"].link is not link or isinstance(reply, LinkLost):
            return
        if isinstance(reply, BrokerError):
            self._close("feed", f"broker refused XREAD: {reply}")
            return
        streams = decode_xread(reply)
        log_key, inbox_key = self._feed_keys
        last, events = streams.get(log_key, (None, []))
        for event in events:
            if event.kind == "epoch":
                if event.epoch != self.epoch:
                    old, self.epoch = self.epoch, event.epoch
                    self._outputs.append(out.EpochChanged(old or "", event.epoch))
                    self.presence.rebuild()
            elif event.kind != "private":
                self._outputs.append(out.Delivered(event))
        if last:
            self.last_sid = last
        last, events = streams.get(inbox_key, (None, []))
        self._outputs.extend(out.PrivateDelivered(e) for e in events if e.kind == "private")
        if last:
            self.inbox_sid = last
        self._read(link)

    def _posted(self, batch: list[Held], reply: Any) -> None:
        if isinstance(reply, LinkLost):
            for held in batch:  # sent, maybe stored: re-sent once the link is back (deduped)
                self._held.unanswered(held)
        else:
            self._outputs += posting.answers(batch, reply, self.last_sid)

    def _private_sent(self, handle: Any, reply: Any) -> None:
        if isinstance(reply, list) and len(reply) == 3:
            self._outputs.append(out.PrivateDone(handle, reply_text(reply[0]), reply_text(reply[1])))
        else:
            status = "unavailable" if isinstance(reply, LinkLost) else "error"
            self._outputs.append(out.PrivateDone(handle, status))

    # --- state -------------------------------------------------------------------------------
    def _patience(self, slot: _Slot) -> float:
        block = self.config.block_ms / 1000 if slot is self._slots["feed"] and slot.ready else 0
        return block + self.config.reply_margin

    def _pause(self, reason: str) -> None:
        if not self._told_paused:
            self._told_paused = True
            self._outputs.append(out.Paused(reason))
        self._paused_reason = reason

    def _close(self, name: str, reason: str) -> None:
        if self._slots[name].link is None:
            return
        self._outputs.append(out.CloseLink(name, reason))
        self.link_closed(name, self._now, reason)
