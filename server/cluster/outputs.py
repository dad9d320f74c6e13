"""What a ClusterNode tells its host: neutral records, in the order things happened.

`handle` is whatever the host passed with the request (a connection id, say); the node never
looks inside it. The room turns these into notifications for its own members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .room_log import StreamEvent


@dataclass(frozen=True)
class Snapshot:
    """The room as it is now: who is in it on every node, and its recent history.

    Sent on first connection, after an epoch change (EpochChanged comes first), and after a
    reconnect that found the node's position trimmed away (`gap`: events were missed; tell
    clients `history_gap`). Replace members and history with it; live Delivered events follow.
    """

    epoch: str
    sid: str
    members: tuple[tuple[str, str], ...]  # (nick, node)
    history: tuple[StreamEvent, ...]
    gap: bool = False


@dataclass(frozen=True)
class EpochChanged:
    """Redis lost the room (restarted empty, flushed): history and presence start over."""

    old: str
    new: str


@dataclass(frozen=True)
class Delivered:
    """A room event in stream order, the same order on every node; deliver it to local members."""

    event: StreamEvent


@dataclass(frozen=True)
class PrivateDelivered:
    """A private message for `event.to`, a user on this node."""

    event: StreamEvent


@dataclass(frozen=True)
class Posted:
    """The line is in the stream as `sid` (`repeated`: a re-sent line, stored once earlier).

    `already_read`: the node's feed had read the line before this answer came (only for a
    repeat, whose first copy may have been read, and shown untagged, before its sender came).
    Judged when the answer arrives: by the time the room sees it, the feed may have read on in
    the same turn, and the line's Delivered, which tags the sender's copy, is still to come.
    """

    handle: Any
    sid: str
    repeated: bool
    already_read: bool = False


@dataclass(frozen=True)
class Refused:
    """The line was not confirmed and the node gives up on it: tell its sender.

    A line refused while merely held was never sent. One whose connection died after sending
    it may be in the stream (it then shows up as Delivered); a client that re-sends it with the
    same session and request id gets it stored once either way.
    """

    handle: Any
    reason: str


@dataclass(frozen=True)
class ClaimDone:
    """Result of claim(): claimed, reclaimed (same session, no event), taken, unavailable, error."""

    handle: Any
    nick: str
    status: str
    sid: str = ""


@dataclass(frozen=True)
class PrivateDone:
    """Result of private(): sent, nosuch, unavailable, error."""

    handle: Any
    status: str
    sid: str = ""


@dataclass(frozen=True)
class NickLost:
    """Rebuilding presence found this member's nick owned by someone else meanwhile."""

    nick: str
    session: str


@dataclass(frozen=True)
class Paused:
    """The command connection is down: lines are held (then refused after the grace)."""

    reason: str


@dataclass(frozen=True)
class Resumed:
    """The command connection is back; held lines have been sent, in order."""


@dataclass(frozen=True)
class CloseLink:
    """The loop must close this link's socket (hung, corrupt, refused); it will be reopened."""

    name: str
    reason: str


@dataclass(frozen=True)
class Replay:
    """Answer to replay_after(): what a resuming client missed.

    status `ok`: `events` are exactly those after its sid, in order; `gap`: its sid was trimmed
    away (or more than the limit followed it), `events` are the recent history; `reset`: the
    epoch changed, `events` are the recent history; `unavailable`: the broker is down.
    Live Delivered events may overlap the replay: skip those with a sid not after the last
    replayed one.
    """

    handle: Any
    status: str
    events: tuple[StreamEvent, ...]
