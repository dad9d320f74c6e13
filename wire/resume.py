"""Resume ids: where an event sits in a room's log, so a client can ask for what came after it.

A sid is `"<int>-<int>"` (a Redis stream id in cluster mode, `"0-<n>"` from a room's own counter
in single-process mode). Sids are ordered within one epoch; across epochs they mean nothing.
"""

from __future__ import annotations


def parse_sid(sid) -> tuple[int, int] | None:
    """'1700000000000-3' -> (1700000000000, 3); anything else (None included) -> None."""
    if not isinstance(sid, str) or len(sid) > 43:
        return None
    ms, dash, seq = sid.partition("-")
    # isascii(): str.isdigit() also accepts "²" and "٣", which are no part of a stream id.
    if not dash or not (ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()):
        return None
    return int(ms), int(seq)


def sid_after(a, b) -> bool:
    """True when sid `a` comes strictly after `b` (False if either is not a sid)."""
    pa, pb = parse_sid(a), parse_sid(b)
    return pa is not None and pb is not None and pa > pb
