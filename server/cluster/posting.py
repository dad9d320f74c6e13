"""The post path of a ClusterNode: each line's part of the post script's arguments, a loop
turn's lines as one call, and what the call's answer says about each line.

A line is `dedupe key, field count, fields...` in the call (scripts._POST reads it so). The
dedupe key is the client's (session and request id), which any node may be handed again after a
failover, or `#<n>`, the node process's own running number, which only that process re-sends.
"""

from __future__ import annotations

from typing import Any

from . import outputs as out
from .holding import Held
from .room_log import sid_after

# Lines per post script call. The lines a node is handed in one loop turn go out as one call, so
# a busy room pays Redis's per-call cost once per batch; the cap bounds how long one call holds
# Redis (128 lines at ~4-11 µs each: 0.5-1.4 ms) and its reply.
POST_BATCH = 128


def dedupe_key(session: str, request_id: str) -> str:
    """The key a re-sent line is known by. Both parts are the client's, and either may hold a
    colon: the session's length makes the split unambiguous ("a" + "x:b" is not "a:x" + "b")."""
    return f"s{len(session)}:{session}:{request_id}"


def line_argv(dedupe: str, kind: str, nick: str, text: str, node_id: str, session: str,
              request_id: str, ts: int) -> list:
    """One line's group: event_fields' order and its "empty values are left out", spelled out
    (this runs per line). The session is only ever read beside the request id, so it goes only
    with one."""
    argv = [dedupe, 0, "k", kind]
    if nick:
        argv += ("n", nick)
    if text:
        argv += ("t", text)
    argv += ("o", node_id)
    if request_id and session:
        argv += ("s", session, "i", request_id)
    elif request_id:
        argv += ("i", request_id)
    if ts:
        argv += ("ts", str(ts))
    argv[1] = len(argv) - 2
    return argv


def batch_argv(dedupe_ttl: int, batch: list[Held]) -> list:
    argv: list = [dedupe_ttl]
    for held in batch:
        argv += held.argv
    return argv


def answers(batch: list[Held], reply: Any, last_sid: str) -> list:
    """Posted for each line of an answered call, in order (Refused for all if Redis refused it).

    A repeat's `already_read` is judged against `last_sid`, what the feed has read when the
    answer arrives: the room sees it later, when the feed may have read on in the same turn.
    """
    if not (isinstance(reply, list) and len(reply) == 2 * len(batch)):
        return [out.Refused(held.handle, f"the broker refused the line: {reply}") for held in batch]
    result = []
    for n, held in enumerate(batch):
        sid = reply[2 * n]
        if type(sid) is not str:
            sid = sid.decode("utf-8", "replace") if isinstance(sid, bytes) else str(sid)
        if reply[2 * n + 1] == 1:  # a repeat: had the feed read its first copy already?
            result.append(out.Posted(held.handle, sid, True, bool(sid) and not sid_after(sid, last_sid)))
        else:
            result.append(out.Posted(held.handle, sid, False))
    return result
