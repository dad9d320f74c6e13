"""The IRC side of one room: who each member is to IRC clients, and room broadcasts as IRC lines
encoded once for every IRC viewer.

An IRC line differs between viewers only for the viewers it names: the sender of a PRIVMSG
(never echoed, irc.md P5), the member who joined, left or was renamed (its own JOIN came in its
join burst; its own NICK echo moves its view). So `common_lines` encodes a broadcast once, with
the nicks that need their own copy, and `broadcast` hands `Service.deliver` a callable that
queues the same `bytes` for every other IRC viewer: a line to 1,000 IRC users costs one
encoding, as for the text and JSON dialects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from selchat.wire.text import nick_key

from .. import events as ev
from .channel import ChannelView
from .identity import Person, from_dialect
from .message import serialise
from .registration import ServerInfo

if TYPE_CHECKING:
    from ..members import Member
    from ..service import Service

# A viewer nick no valid selchat nick can equal, so the shared view names nobody.
_NOBODY = Person("*")
# Recent leavers remembered for the presence summaries (a few seconds' worth in a busy room).
DEPARTED_MAX = 4096

# Broadcast kinds whose IRC lines are the same for every viewer but the ones they name.
SHARED_KINDS = (ev.Message, ev.Action, ev.Joined, ev.Left, ev.NickChanged, ev.Presence)


class IrcGateway:
    """One room's IRC port: makes the IRC sessions and encodes broadcasts for their viewers."""

    def __init__(self, service: "Service", server: ServerInfo | None = None) -> None:
        self.service = service
        self.room = service.room
        self.server = server or ServerInfo()
        self._shared_view = ChannelView(_NOBODY, self.server)
        # While an IRC member's PART is told: its reason, so IRC viewers see a PART, not a QUIT.
        self.parting: str | None = None
        # Who recently left, by nick key: a large room's presence summary names leavers up to
        # PRESENCE_INTERVAL after they are gone, and IRC clients should still see their user@host.
        self._departed: dict[str, Person] = {}
        service.leave_watchers.append(self._remember_departed)

    def make_session(self, transport):
        from .session import IrcSession
        return IrcSession(self.service, transport, self)

    @staticmethod
    def refusal(reason: str) -> bytes:
        """How the IRC port tells a connection it refused (server full, too many from one
        address) why: an ERROR, the one line IRC clients show before a close (irc.md P15)."""
        return serialise("ERROR", f"Closing Link: {reason}", trailing=True)

    # --- who is who --------------------------------------------------------------------

    def person(self, nick: str) -> Person:
        """`nick` as IRC clients should see it: an IRC user's own user@host, or a made-up
        ``nick!text@selchat`` / ``nick!json@selchat`` for the other dialects."""
        member = self.room.nicks.holder(nick)
        if member is None:
            # The member whose leave is being told is no longer in the room's nicks.
            member = self.service.departing
            if member is None or nick_key(member.nick) != nick_key(nick):
                # Or it left a while ago and a large room's summary names it only now.
                return self._departed.get(nick_key(nick)) or from_dialect(nick, "text")
        return _person_of(member, nick)

    def _remember_departed(self, member: "Member") -> None:
        key = nick_key(member.nick)
        self._departed.pop(key, None)
        self._departed[key] = _person_of(member, member.nick)
        if len(self._departed) > DEPARTED_MAX:  # the oldest go first: summaries are seconds late
            del self._departed[next(iter(self._departed))]

    def people(self, nicks) -> list[Person]:
        return [self.person(nick) for nick in nicks]

    # --- broadcasts --------------------------------------------------------------------

    def common_lines(self, event) -> tuple[bytes, frozenset]:
        """The lines every IRC viewer gets for a shared broadcast, and the nicks of the viewers
        who need their own copy instead."""
        view, kind = self._shared_view, type(event)
        if kind is ev.Message:
            return b"".join(view.message(self.person(event.sender), event.text)), frozenset((event.sender,))
        if kind is ev.Action:
            return b"".join(view.action(self.person(event.sender), event.text)), frozenset((event.sender,))
        if kind is ev.Joined:
            return b"".join(view.joined(self.person(event.nick))), frozenset((event.nick,))
        if kind is ev.Left:
            who = self.person(event.nick)
            lines = view.parted(who, self.parting) if self.parting is not None else \
                view.quit(who, quit_reason(event.reason))
            return b"".join(lines), frozenset((event.nick,))
        if kind is ev.NickChanged:
            # The registry has the new nick already; the prefix is the old one, user@host kept.
            old = self.person(event.new).renamed(event.old)
            return b"".join(view.nick_changed(old, event.new)), frozenset((event.new,))
        if kind is ev.Presence:
            return self.presence_lines(event), frozenset(event.joined + event.left)
        raise TypeError(f"{kind.__name__} is not a shared broadcast")

    def presence_lines(self, event: ev.Presence, me: str | None = None) -> bytes:
        """A large room's summary: JOIN and QUIT for the nicks it names (so nick lists follow),
        and a channel NOTICE with the counts when it names fewer than it counts."""
        view = self._shared_view
        lines = [line for nick in event.joined if nick != me for line in view.joined(self.person(nick))]
        lines += [line for nick in event.left if nick != me for line in view.quit(self.person(nick), "left")]
        if event.joined_count > len(event.joined) or event.left_count > len(event.left):
            lines += view.notice(f"{event.joined_count} joined, {event.left_count} left, "
                                 f"{event.user_count} here", channel_wide=True)
        return b"".join(lines)

    def broadcast(self, event) -> Callable[["Member"], None]:
        """What `Service.deliver` calls for each IRC recipient of one broadcast `event`."""
        if type(event) not in SHARED_KINDS:
            return _each_own_copy(event)
        data, named = self.common_lines(event)

        def send(member: "Member") -> None:
            session = member.link
            if member.nick in named:
                own = session.conn.send(event)
                if own:
                    session.transport.write(own)
            elif data:
                session.transport.write(data)
        return send


def _person_of(member: "Member", nick: str) -> Person:
    if member.irc:
        return member.link.person.renamed(nick)
    return from_dialect(nick, "json" if member.json else "text")


def quit_reason(reason: str) -> str:
    """A leave's reason as IRC clients show a QUIT's: a quit's own words after "Quit: ", as
    servers write it (modern IRC docs, QUIT), where the room says "quit: ..."."""
    if reason == "quit":
        return "Quit"
    if reason.startswith("quit: "):
        return "Quit: " + reason[len("quit: "):]
    return reason or "left"


def _each_own_copy(event) -> Callable[["Member"], None]:
    def send(member: "Member") -> None:
        session = member.link
        data = session.conn.send(event)
        if data:
            session.transport.write(data)
    return send
