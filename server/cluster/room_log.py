"""The room's data model in Redis: key names, stream entries in and out, and nothing else.

Every key of a room shares the hash tag `{<room>}` so a later Redis Cluster keeps them on one
slot (the Lua scripts in `scripts.py` touch several at once):

    selchat:{room}:log              STREAM  one entry per room event, XADD MAXLEN ~ <maxlen>
    selchat:{room}:epoch            STRING  random id set when the room's data is first created
    selchat:{room}:nodes            ZSET    node id -> heartbeat expiry (Redis clock, ms)
    selchat:{room}:node:<node>      HASH    that node's members: nick key -> nick
    selchat:{room}:nicks            HASH    nick ownership: nick key -> "<node> <session>"
    selchat:{room}:inbox:<node>     STREAM  private messages for that node's users
    selchat:{room}:posted:<dedupe>  STRING  EX <ttl>: the sid a (session, request id) line got
    selchat:{room}:local:<node>:<seed> STRING EX <ttl>: the highest of a node process's own line
                                    numbers stored (its lines without a request id)

Entries use short field names (all strings): k kind, n nick, t text, to target nick, old old
nick, o origin node, s session (a line: only with its i), i request id, ts origin wall clock (ms),
r reason, e epoch.
Decoding never raises: an entry that is not ours or is damaged is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

KINDS = ("message", "action", "join", "leave", "nick", "private", "epoch")
_NEEDS_NICK = frozenset(("message", "action", "join", "leave", "nick", "private"))
_FIELD_OF = {
    "nick": "n", "text": "t", "to": "to", "old_nick": "old", "node": "o",
    "session": "s", "request_id": "i", "ts": "ts", "reason": "r", "epoch": "e",
}
_ATTR_OF = {field: attr for attr, field in _FIELD_OF.items()}


@dataclass(frozen=True)
class RoomKeys:
    """Key names of one room. `prefix` ends with ':' so scripts can append to it."""

    room: str

    def __post_init__(self) -> None:
        if not self.room or any(c in self.room for c in "{} \r\n"):
            raise ValueError(f"room name must be non-empty without braces or spaces: {self.room!r}")

    @property
    def prefix(self) -> str:
        return f"selchat:{{{self.room}}}:"

    @property
    def log(self) -> str:
        return self.prefix + "log"

    @property
    def epoch(self) -> str:
        return self.prefix + "epoch"

    @property
    def nodes(self) -> str:
        return self.prefix + "nodes"

    @property
    def nicks(self) -> str:
        return self.prefix + "nicks"

    def node_members(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    def inbox(self, node: str) -> str:
        return f"{self.prefix}inbox:{node}"

    def posted(self, dedupe: str) -> str:
        return f"{self.prefix}posted:{dedupe}"


@dataclass(frozen=True)
class StreamEvent:
    """One room event as every node reads it back from the stream, neutral of the chat classes."""

    sid: str
    kind: str
    nick: str = ""
    text: str = ""
    to: str = ""
    old_nick: str = ""
    node: str = ""
    session: str = ""
    request_id: str = ""
    ts: int = 0
    reason: str = ""
    epoch: str = ""


def event_fields(kind: str, **values: Any) -> list[str]:
    """The XADD field list of an event: `event_fields("message", nick="al", text="hi", ts=1)`.

    Empty values are left out, which keeps the ~120 bytes per entry the design measured.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    fields = ["k", kind]
    for attr, value in values.items():
        if attr not in _FIELD_OF:
            raise ValueError(f"unknown event field {attr!r}")
        if value not in ("", None, 0):
            fields += [_FIELD_OF[attr], str(value)]
    return fields


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return None


def _is_sid(sid: str) -> bool:
    ms, dash, seq = sid.partition("-")
    return bool(dash) and ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()


_new_event = object.__new__
# Field name -> StreamEvent attribute, the kind included: what _event fills in, in one pass.
_ENTRY_ATTR = {"k": "kind", **_ATTR_OF}.get


def _event(sid: str, fields: Any) -> StreamEvent | None:
    """The event of entry `sid` (already checked), or None. This runs once per line per node."""
    if type(fields) is not list or len(fields) % 2:
        return None
    try:
        "".join(fields)  # every name and value text (the feed link decodes them in C)?
    except TypeError:
        fields = [_text(x) for x in fields]  # bytes from a link that does not decode
        if None in fields:
            return None
    values = {"sid": sid}
    pairs = iter(fields)
    for name, value in zip(pairs, pairs):  # unknown names are skipped; a repeated one: the last
        attr = _ENTRY_ATTR(name)
        if attr is not None:
            values[attr] = value
    kind = values.get("kind")
    if kind not in KINDS or (kind in _NEEDS_NICK and not values.get("nick")):
        return None
    if kind == "epoch" and not values.get("epoch"):
        return None
    ts = values.get("ts")
    if ts is not None:
        values["ts"] = int(ts) if ts.isascii() and ts.isdigit() else 0
    # Frozen dataclass __init__ sets each field through object.__setattr__ (~2 us for 12 fields);
    # the fields absent from the entry keep the class defaults, as __init__ would give them.
    event = _new_event(StreamEvent)
    event.__dict__.update(values)
    return event


def decode_entry(sid: Any, fields: Any) -> StreamEvent | None:
    """A stream entry `[sid, [f1, v1, ...]]` as a StreamEvent, or None if it is not a valid one."""
    if type(sid) is not str:
        sid = _text(sid)
        if sid is None:
            return None
    if not _is_sid(sid):
        return None
    return _event(sid, fields)


def decode_entries(entries: Any) -> Iterator[StreamEvent]:
    """Entries of an XRANGE/XREVRANGE reply (or one stream of XREAD), valid ones only."""
    if not isinstance(entries, list):
        return
    for entry in entries:
        if isinstance(entry, list) and len(entry) == 2:
            event = decode_entry(entry[0], entry[1])
            if event is not None:
                yield event


def decode_xread(reply: Any) -> dict[str, tuple[str | None, list[StreamEvent]]]:
    """An XREAD reply as {stream key: (last sid read, valid events)}; None (timeout) gives {}.

    The last sid counts skipped entries too, so a damaged entry is read past, not re-read.
    """
    streams: dict[str, tuple[str | None, list[StreamEvent]]] = {}
    if not isinstance(reply, list):
        return streams
    for stream in reply:
        if not (isinstance(stream, list) and len(stream) == 2 and isinstance(stream[1], list)):
            continue
        key = _text(stream[0])
        if key is None:
            continue
        last = None
        events = []
        for entry in stream[1]:
            if not (type(entry) is list and entry):
                continue
            sid = entry[0]
            if type(sid) is not str:
                sid = _text(sid)
                if sid is None:
                    continue
            if not _is_sid(sid):
                continue
            last = sid
            if len(entry) == 2:
                event = _event(sid, entry[1])
                if event is not None:
                    events.append(event)
        streams[key] = (last, events)
    return streams


def parse_sid(sid: str) -> tuple[int, int] | None:
    """'1700000000000-3' -> (1700000000000, 3); anything else -> None."""
    if not _is_sid(sid):
        return None
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq)


def sid_after(a: str, b: str) -> bool:
    """True when stream id `a` comes strictly after `b`."""
    pa, pb = parse_sid(a), parse_sid(b)
    return pa is not None and pb is not None and pa > pb


def xread_command(keys: list[str], after: list[str], block_ms: int, count: int) -> list:
    return ["XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", *keys, *after]


@dataclass(frozen=True)
class SnapshotReply:
    gap: bool  # the node's position was trimmed away (else: first start or a new epoch)
    sid: str
    inbox_sid: str
    members: tuple[tuple[str, str], ...]
    history: tuple[StreamEvent, ...]


def decode_snapshot(reply: Any) -> tuple[str | None, SnapshotReply | None]:
    """The feed's `open` script reply: (epoch, None) when the node can read on from its sid,
    (epoch, SnapshotReply) when it must start over, (None, None) when the reply is not one."""
    if not (isinstance(reply, list) and len(reply) >= 2 and _text(reply[0])):
        return None, None
    epoch = _text(reply[0])
    if reply[1] not in (1, 2):
        return epoch, None
    if len(reply) < 6 or not isinstance(reply[4], list):
        return None, None
    flat = [_text(x) or "" for x in reply[4]]
    history = tuple(e for e in reversed(list(decode_entries(reply[5]))) if e.kind != "epoch")
    return epoch, SnapshotReply(reply[1] == 2, _text(reply[2]) or "0-0", _text(reply[3]) or "0-0",
                                tuple(zip(flat[0::2], flat[1::2])), history)
