"""What the client knows about its conversation, across reconnects: nick, users and the outbox.

Pure state, no I/O and no clock.  `session.ClientSession` builds on it and adds the protocol
rules of one connection (handshake, pings, hanging up).
"""

from __future__ import annotations

import enum
import itertools
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable

from .events import (
    DEFAULT_MAX_LINE, ChatLine, Event, Joined, Left, NickChanged, Presence, Reply, ServerError,
    UserList, Welcome, chat_request, nick_request,
)
from selchat.wire.resume import parse_sid
from selchat.wire.text import clean

# Ids of our lines already marked delivered that are remembered, so a second copy (a server's
# answer to a re-send, after the replay confirmed it) is not shown again.
DELIVERED_IDS_KEPT = 1000


class Delivery(enum.Enum):
    PENDING = "pending"  # typed while disconnected, waiting in the outbox
    SENT = "sent"  # written to the server, its copy not back yet
    DELIVERED = "delivered"  # the server's copy came back
    FAILED = "failed"  # the server refused it (error with our id)


@dataclass
class OutgoingLine:
    """One line the user typed, tracked until the server confirms or refuses it."""

    id: str
    kind: str  # "message" | "action" | "private"
    text: str
    to: str | None = None
    delivery: Delivery = Delivery.PENDING
    error: str = ""

    def request(self) -> dict[str, Any]:
        return chat_request(self.kind, self.text, self.id, self.to)


@dataclass(frozen=True)
class DeliveryChanged(Event):
    """An outgoing line moved on: sent, delivered or failed."""

    line: OutgoingLine


@dataclass
class Conversation:
    """The users, our nick and the outbox, as the server's events leave them.

    The outbox holds every line the user typed until the server has confirmed or refused it, so
    a line typed while disconnected, or in flight when the connection dropped, is (re)sent on the
    next connection.  This makes delivery at-least-once: a line the server handled just before the
    connection died may arrive twice, which we prefer to losing it.
    """

    wanted_nick: str
    nick: str = ""
    mode: str = ""
    users: list[str] = field(default_factory=list)
    user_count: int = 0
    max_line: int = DEFAULT_MAX_LINE
    connected: bool = False  # welcomed on the current connection
    outbox: OrderedDict[str, OutgoingLine] = field(default_factory=OrderedDict)
    # Ids only need to be unique among our own lines; the random part keeps two clients (or two
    # runs of one) from ever confusing each other's ids in a shared log.
    _id_prefix: str = field(default_factory=lambda: "c" + secrets.token_hex(3))
    _id_counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _last_seen_ts: float = 0.0  # for servers that send no sid
    # Resume: the room log's epoch, the last sid seen in it and this client's session token, all
    # from the server; sent back in the next hello (`resume_fields`).
    epoch: str | None = None
    _last_sid: str | None = None  # see `last_sid`
    _last_sid_key: tuple[int, int] | None = None  # the same, parsed once rather than per line
    session_token: str | None = None
    _nick_request_id: str | None = None  # the id of our newest `nick` request
    _reclaim_id: str | None = None  # ... if it is one we made ourselves to get `wanted_nick` back
    # Failover: lines that were on the wire when a connection died (the dead server may have taken
    # them; a replay then shows them without their id), the nicks we had there, and the ids
    # already confirmed (`DELIVERED_IDS_KEPT` of them).
    _in_doubt: set[str] = field(default_factory=set)
    _old_nicks: set[str] = field(default_factory=set)
    _delivered_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def on_welcome(self, welcome: Welcome) -> list[dict[str, Any]]:
        """Adopt the server's view; return the requests to send now (re-claim nick, outbox)."""
        self.connected = True
        if welcome.epoch != self.epoch:  # another log (or none): what we saw says nothing there
            self.epoch, self.last_sid = welcome.epoch, None
        self.session_token = welcome.session or self.session_token
        self._in_doubt = {i for i, line in self.outbox.items() if line.delivery is Delivery.SENT}
        self._old_nicks = {self.nick, welcome.nick} - {""}
        self.nick = welcome.nick
        self.mode = welcome.mode
        self.users = list(welcome.users)
        self.user_count = welcome.user_count
        self.max_line = welcome.max_line
        requests: list[dict[str, Any]] = []
        if self.wanted_nick and welcome.nick.casefold() != self.wanted_nick.casefold():
            # Usually our old connection had not been reaped yet; ask once more explicitly.
            requests.append(self._reclaim_request())
        for line in self.outbox.values():
            line.delivery = Delivery.SENT
            requests.append(line.request())
        return requests

    def submit(self, kind: str, text: str, to: str | None = None) -> OutgoingLine:
        """Put a typed line in the outbox (see `send`, which also says what to write)."""
        line = OutgoingLine(f"{self._id_prefix}-{next(self._id_counter)}", kind, text, to)
        if self.connected:
            line.delivery = Delivery.SENT
        self.outbox[line.id] = line
        return line

    def request_nick(self, nick: str) -> dict[str, Any]:
        self.wanted_nick = nick
        return self._nick_request(nick)

    def _reclaim_request(self) -> dict[str, Any]:
        request = self._nick_request(self.wanted_nick)
        self._reclaim_id = self._nick_request_id
        return request

    def reclaim_freed_nick(self, event: Event) -> list[dict[str, Any]]:
        """The request that takes our nick back if `event` (already applied) has just freed it.

        After a failover the new node may still hold our nick for the dead node's connection, so
        we came in as `alice_` and the re-claim at welcome was refused.  As irssi's and ZNC's
        keepnick do, we keep wanting it and ask again when its holder leaves (the dead node's
        users are reaped with a leave) or changes nick.
        """
        wanted = self.wanted_nick.casefold()
        if not (self.connected and wanted and self.nick.casefold() != wanted):
            return []
        if isinstance(event, Left):
            freed: Iterable[str] = (event.nick,)
        elif isinstance(event, NickChanged):
            freed = (event.old,)
        elif isinstance(event, Presence):
            freed = event.left  # a large room's summary names some of those who left
        else:
            return []
        return [self._reclaim_request()] if any(n.casefold() == wanted for n in freed) else []

    def _nick_request(self, nick: str) -> dict[str, Any]:
        # The id comes back on the error if the change fails, so a late error for an older
        # request cannot undo a newer one.
        self._nick_request_id = f"{self._id_prefix}-n{next(self._id_counter)}"
        return nick_request(nick, self._nick_request_id)

    def resume_fields(self) -> dict[str, Any]:
        """What the next hello carries so the server sends only what we missed."""
        fields: dict[str, Any] = {"session": self.session_token}
        if self.epoch is not None and self.last_sid is not None:
            fields["since"] = (self.epoch, self.last_sid)
        return fields

    @property
    def last_sid(self) -> str | None:
        """The newest sid seen in the room's log (of this epoch), sent back in the next hello."""
        return self._last_sid

    @last_sid.setter
    def last_sid(self, sid: str | None) -> None:
        self._last_sid, self._last_sid_key = sid, parse_sid(sid)

    def _after_last_sid(self, key: tuple[int, int] | None) -> bool:
        """`sid_after(sid, last_sid)` for a sid parsed to `key`: False unless both are sids."""
        return key is not None and self._last_sid_key is not None and key > self._last_sid_key

    def is_duplicate_replay(self, line: ChatLine) -> bool:
        """After a reconnect the server replays history we have already shown: skip it.

        By sid when the server sends one (lines sharing a ts, or from nodes whose clocks differ,
        are all kept); by ts only for servers that send none."""
        if not line.replay:
            return False
        if line.sid is not None:
            return self._last_sid is not None and not self._after_last_sid(parse_sid(line.sid))
        return line.ts is not None and line.ts <= self._last_seen_ts

    def _saw(self, event: Event) -> None:
        sid = getattr(event, "sid", None)
        if sid is not None:
            key = parse_sid(sid)
            if self._last_sid is None or self._after_last_sid(key):
                self._last_sid, self._last_sid_key = sid, key

    def apply(self, event: Event) -> list[Event]:
        """Update state from one server event; return the events the UI should see for it.

        Usually that is just the event itself, plus `DeliveryChanged` when it confirms or refuses
        one of our lines.  Replayed history we have already shown is swallowed.
        """
        settled: list[Event] = []
        if isinstance(event, ChatLine):
            if self.is_duplicate_replay(event) or self._delivered_before(event.id):
                return []
            ours = self._replayed_line_of_ours(event)
            if ours is not None:  # the UI shows it already: it only needs to mark it delivered
                self._saw(event)
                return self._settle(ours, Delivery.DELIVERED)
            if event.ts is not None:
                self._last_seen_ts = max(self._last_seen_ts, event.ts)
            if event.kind != "private":  # privates have no place in the room's log
                self._saw(event)
            settled = self._settle(event.id, Delivery.DELIVERED)
            if settled:
                return settled  # the UI already shows the line; it only needs to mark it delivered
        elif isinstance(event, Reply):
            if self._delivered_before(event.id):
                return []
            settled = self._settle(event.id, Delivery.DELIVERED)
        elif isinstance(event, ServerError):
            settled = self._settle(event.id, Delivery.FAILED, event.message or event.code)
            if event.code in ("nick_in_use", "bad_nick") and self.nick \
                    and (event.id is None or str(event.id) == self._nick_request_id):
                if event.code == "nick_in_use" and str(event.id) == self._reclaim_id:
                    pass  # still held (by our old connection): keep wanting it, see reclaim_freed_nick
                else:
                    self.wanted_nick = self.nick  # the change failed: re-claim what we have, later
        elif isinstance(event, (Joined, Left, NickChanged)):
            self._saw(event)
        if isinstance(event, Joined):
            if event.nick not in self.users:
                self.users.append(event.nick)
                self.user_count += 1
        elif isinstance(event, Left):
            if event.nick in self.users:
                self.users.remove(event.nick)
                self.user_count = max(0, self.user_count - 1)
        elif isinstance(event, NickChanged):
            self.users = [event.new if u == event.old else u for u in self.users]
            if event.old == self.nick:
                self.nick = event.new
                self.wanted_nick = event.new
        elif isinstance(event, UserList):
            self.users = list(event.users)
            self.user_count = event.user_count
        elif isinstance(event, Presence):
            gone = set(event.left)
            self.users = [u for u in self.users if u not in gone]
            self.users += [n for n in event.joined if n not in self.users]
            self.user_count = event.user_count
        return [event, *settled]

    def _settle(self, line_id: str | int | None, delivery: Delivery, error: str = "") -> list[Event]:
        """Take our line `line_id` out of the outbox as delivered or failed: `[DeliveryChanged]`,
        or `[]` if it is not one of ours (or there is no id)."""
        line = self.outbox.pop(str(line_id), None) if line_id is not None else None
        if line is None:
            return []
        line.delivery = delivery
        line.error = error
        self._in_doubt.discard(line.id)
        if delivery is Delivery.DELIVERED:
            self._delivered_ids[line.id] = None
            if len(self._delivered_ids) > DELIVERED_IDS_KEPT:
                self._delivered_ids.popitem(last=False)
        return [DeliveryChanged(line)]

    def _delivered_before(self, line_id: str | int | None) -> bool:
        return line_id is not None and str(line_id) in self._delivered_ids

    def _replayed_line_of_ours(self, event: ChatLine) -> str | None:
        """The id of the line of ours that a replayed line is, if it is one.

        A line we sent just before a connection died may have been taken by that server, which
        then died before its copy reached us; another server of the room replays it without our
        id.  Any replayed line said under our nick after the last one we saw is such a line (a nick
        has one holder), and the oldest line in doubt with its kind and text is the one.
        """
        if not (event.replay and self._in_doubt and event.sender in self._old_nicks):
            return None
        for line in self.outbox.values():
            if line.id in self._in_doubt and line.kind == event.kind \
                    and clean(line.text, tab=" ") == event.text:
                return line.id
        return None

    def pending(self) -> Iterable[OutgoingLine]:
        """Lines not yet confirmed, oldest first."""
        return list(self.outbox.values())
