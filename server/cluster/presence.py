"""A node's own members in Redis: their nick claims and releases, and claiming them all again
when Redis lost them (an empty restart, a flush, or this node reaped while it was frozen).

Part of ClusterNode (node.py), which owns the links and hands this what it needs to send a
command and to tell its host: the book of who is ours, and what the claim script's answers
mean (ClaimDone, NickLost).
"""

from __future__ import annotations

from typing import Any, Callable

from . import outputs as out
from . import scripts
from .holding import Held
from .resp import LinkLost


class Presence:
    def __init__(self, call: Callable, submit: Callable[[Held], None], emit: Callable[[Any], None],
                 cmd_ready: Callable[[], bool]) -> None:
        self._call, self._submit, self._emit, self._cmd_ready = call, submit, emit, cmd_ready
        self.members: dict[str, tuple[str, str]] = {}  # this node's own: key -> (nick, session)
        self.rebuild_due = False  # to re-claim as soon as cmd is up
        self._ticked = False

    def claim(self, handle: Any, nick: str, key: str, session: str, old_nick: str,
              old_key: str | None, ts: int, request_id: str) -> None:
        argv = [key, nick, session, old_key or "", old_nick, ts, request_id]
        self._call(scripts.CLAIM, argv, lambda reply: self._claimed(handle, nick, key, session,
                                                                     old_key, reply))

    def release(self, nick: str, key: str, session: str, reason: str, ts: int, now: float) -> None:
        if self.members.get(key, (None, None))[1] == session:
            del self.members[key]
        self._submit(Held(None, scripts.RELEASE, [key, nick, session, reason, ts], now,
                          refusable=False))

    def ticked(self, reply: Any) -> None:
        """The heartbeat tick's answer: were we still registered?"""
        if not (isinstance(reply, list) and len(reply) == 3):
            return  # a failed tick is retried at the next heartbeat
        was_registered = reply[1] == 1
        if self._ticked and not was_registered and self.members:
            self.rebuild()  # we were reaped (frozen too long): our users come back
        self._ticked = True

    def rebuild(self) -> None:
        """Re-claim our own members after Redis lost them; their joins rebuild every mirror."""
        self.rebuild_due = not self._cmd_ready()
        if self.rebuild_due:
            return
        for key, (nick, session) in list(self.members.items()):
            self._call(scripts.CLAIM, [key, nick, session, "", "", 0, ""],
                       lambda reply, n=nick, k=key, s=session: self._claimed(None, n, k, s, None, reply))

    def _claimed(self, handle, nick, key, session, old_key, reply) -> None:
        if handle is None and isinstance(reply, LinkLost):
            self.rebuild_due = True  # a rebuild cut short: try again on the next connection
            return
        if not (isinstance(reply, list) and len(reply) == 2):
            status = "unavailable" if isinstance(reply, LinkLost) else "error"
            self._emit(out.ClaimDone(handle, nick, status))
            return
        status, sid = reply_text(reply[0]), reply_text(reply[1])
        if status in ("claimed", "reclaimed"):
            if old_key and old_key != key:
                self.members.pop(old_key, None)
            self.members[key] = (nick, session)
        elif handle is None:  # a rebuild found the nick taken meanwhile
            self.members.pop(key, None)
            self._emit(out.NickLost(nick, session))
        if handle is not None:
            self._emit(out.ClaimDone(handle, nick, status, sid))


def reply_text(value: Any) -> str:
    """A reply value as str (the links decode in C; bytes or numbers only from elsewhere)."""
    if type(value) is str:
        return value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
