"""What users are shown of a stream event: the chat server's own events, built from StreamEvents.

The stream's `ts` is the origin node's wall clock in milliseconds (display only); the chat's is
seconds. Every event keeps its stream id as `sid`, which is what clients resume from.
"""

from __future__ import annotations

import dataclasses

from .. import events as ev
from .room_log import StreamEvent

LINE_KINDS = ("message", "action")


def chat_event(e: StreamEvent):
    """The event users see for `e`, or None for kinds that are not shown (epoch, private)."""
    ts = e.ts / 1000 if e.ts else None
    if e.kind == "message":
        return ev.Message(e.nick, e.text, ts, sid=e.sid)
    if e.kind == "action":
        return ev.Action(e.nick, e.text, ts, sid=e.sid)
    if e.kind == "join":
        return ev.Joined(e.nick, ts, sid=e.sid)
    if e.kind == "leave":
        return ev.Left(e.nick, e.reason, ts, sid=e.sid)
    if e.kind == "nick":
        return ev.NickChanged(e.old_nick, e.nick, ts, sid=e.sid)
    return None


def replayed(event):
    """A chat line as history or a resume shows it (no request id, marked `replay`)."""
    if isinstance(event, ev.ChatLine):
        return dataclasses.replace(event, id=None, replay=True)
    return event
