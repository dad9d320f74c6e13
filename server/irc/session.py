"""The loop's handler for one IRC connection: registration, then IRC requests as the room calls
text and JSON members make, and the room's answers back as IRC lines.

It is a `Session` (server/session.py) with an `IrcConnection` in place of the text/JSON
`Connection`, so flood control, pauses, slow-reader drops, idle timeouts, history and presence
are the very same code for all three dialects. What differs:
- registration (`Registration`) comes first; its `fix_nick` reserves the nick in the room's
  `NickRegistry`, so nicks are unique across the dialects, and a wrong `PASS` counts at the
  room's password gate like a wrong `/pass`;
- once welcomed the user is put in `#selchat` at once (both clients accept an unasked JOIN,
  irc.md §1.4), so a client started with nothing but the address is in the room;
- requests IRC answers alone (MODE, PING, CAP, 421...) never reach the room;
- the idle sweep PINGs a quiet IRC client halfway, as it pings JSON clients (irc.md P14).
"""

from __future__ import annotations

from selchat.wire.text import NICK_MAX, is_valid_nick

from .. import events as ev
from ..session import Session
from . import requests as rq
from .channel import ChannelView
from .connection import CLOSED, TOO_LONG, IrcConnection
from .identity import Person
from .registration import Registration, State

_NICK_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-[]\\^{}|")


class IrcSession(Session):
    __slots__ = ("gateway", "user", "host", "realname")

    def __init__(self, service, transport, gateway) -> None:
        self.gateway = gateway  # before Session's: _make_connection needs it
        super().__init__(service, transport)
        self.member.irc = True
        self.user, self.host, self.realname = "user", self.conn.registration.host, ""

    def _make_connection(self, room) -> IrcConnection:
        registration = Registration(self.transport.peer or "unknown", fix_nick=self._fix_nick,
                                    check_password=self._check_password if room.password_gate else None,
                                    server=self.gateway.server)
        return IrcConnection(self.gateway, registration, room.max_line)

    @property
    def person(self) -> Person:
        return Person(self.member.nick, self.user, self.host, self.realname)

    def broadcast(self, event):
        """How `Service.deliver` sends one broadcast to IRC members: encoded once (gateway.py)."""
        return self.gateway.broadcast(event)

    def _greeting_due(self):
        return None  # an IRC client is welcomed by registering, never by keeping quiet

    # --- registration --------------------------------------------------------------------

    def _fix_nick(self, wanted: str) -> str:
        """The nick a registering client gets: `wanted` (or `wanted_`...) if selchat allows it,
        else it cut to what selchat allows, else the guest nick it holds (irc.md P4)."""
        nicks, member = self.service.room.nicks, self.member
        candidate = wanted if is_valid_nick(wanted) else \
            "".join(c for c in wanted if c in _NICK_CHARS).lstrip("-0123456789")[:NICK_MAX]
        nick = nicks.free_variant(candidate, member) if is_valid_nick(candidate) else member.nick
        nicks.rename(member, nick)
        return nick

    def _check_password(self, password: str | None) -> str | None:
        """None if `password` opens the room, else why not (in the gate's words)."""
        if password is None:
            return "this server needs a password: send it with PASS"
        gate = self.service.room.password_gate
        refused = gate.check(self.member, password, self.clock.wall)
        if refused is None:
            return None
        # The address's back-off is counted in the gate; the operator's log line is kept. What the
        # gate would tell a text user, IRC says its own way (464, ERROR, close: registration.py).
        self.service.deliver([(to, event) for to, event in refused if type(event) is ev.LogLine])
        errors = [event.message for _, event in refused if type(event) is ev.Error]
        return errors[0] if errors else "wrong password"

    def _registered(self) -> None:
        person = self.conn.registration.registered.person
        self.user, self.realname = person.user, person.realname
        self.conn.view = ChannelView(person, self.gateway.server)
        self._join()

    # --- the work ------------------------------------------------------------------------

    def _process(self) -> None:
        conn, clock, transport, service = self.conn, self.clock, self.transport, self.service
        while not transport.closing:
            flow = self._flow
            if flow is not None and flow.held is not None:
                line, flow.held = flow.held, None
            else:
                line = conn.next_line()
                if line is None:
                    return
            if flow is not None and clock.now < flow.paused_until:
                self._hold(line, flow.paused_until)
                return
            if line is CLOSED:
                self._leave("connection closed")
                transport.close("connection closed")
                return
            if service.rate and not self._flow_state().bucket.take(clock.now):
                self._throttle(line)
                return
            self.last_active = clock.now  # any line, a PONG too, is a sign of life
            self._pinged = False
            self._line(line)

    def _line(self, message) -> None:
        conn = self.conn
        if message is TOO_LONG:
            self._write(conn.view.input_too_long() if conn.view is not None else conn.registration.input_too_long())
            return
        if not conn.registered:
            registration = conn.registration
            self._write(registration.handle(message))
            if registration.state is State.DONE:
                self._registered()
            elif registration.state is State.CLOSED:
                self._leave(registration.close_reason or "closed")
                self.transport.close(registration.close_reason or "closed")
            return
        request = rq.parse_request(message, self.gateway.server.channel)
        answered = conn.view.answer(request)
        if answered is not None:
            self._write(answered)
            return
        handler = _HANDLERS.get(type(request))
        if handler is not None:
            handler(self, request)

    def _write(self, lines: list[bytes]) -> None:
        if lines:
            self.transport.write(b"".join(lines))

    def _to_room(self, request) -> None:
        service = self.service
        service.deliver(service.room.receive(self.member, request, self.clock.wall))

    def _leave(self, reason: str) -> None:
        """Tell the room this member left (its IRC prefix stays known while that is told)."""
        self.service.member_left(self.member, reason)

    def check_idle(self, now: float, idle: float) -> None:
        """Close after `idle` seconds without a line; PING halfway, so a live client answers."""
        if self.transport.closing:
            return
        if now >= self.last_active + idle:
            self.say(ev.Notice(f"closing: idle for {idle:g} seconds", "idle"))
            self._leave("idle timeout")
            self.transport.close("idle timeout")
        elif self.conn.view is not None and not self._pinged and now >= self.last_active + idle / 2:
            self._pinged = True
            self._write(self.conn.view.keepalive())

    # --- requests ------------------------------------------------------------------------

    def _not_in_channel(self) -> bool:
        if self.member.joined:
            return False
        view = self.conn.view
        self._write([view._numeric("442", view.channel, "You're not on that channel (/join #selchat)")])
        return True

    def _join(self, request=None) -> None:
        if not self.member.joined:
            service = self.service
            service.deliver(service.room.join(self.member, self.clock.wall))

    def _part(self, request: rq.Part) -> None:
        if self._not_in_channel():
            return
        self._write(self.conn.view.parted(self.person, request.reason))
        old, nick = self.member, self.member.nick
        self.gateway.parting = request.reason  # other IRC users see a PART; the rest, a leave
        try:
            self._leave(f"part: {request.reason}" if request.reason else "part")
        finally:
            self.gateway.parting = None
        # Still connected, out of the channel: a fresh member holds the nick until it rejoins.
        room = self.service.room
        self.member = room.connect(self, self.transport.peer)
        self.member.irc, self.member.login = True, old.login
        room.nicks.rename(self.member, room.nicks.free_variant(nick, self.member))

    def _quit(self, request: rq.Quit) -> None:
        reason = f"Quit: {request.reason}" if request.reason else "Quit"
        self._write(self.conn.view.closing(reason))
        self._leave(f"quit: {request.reason}" if request.reason else "quit")
        self.transport.close("quit")

    def _say(self, request: rq.Say) -> None:
        if not self._not_in_channel():
            self._to_room(ev.Say(request.text))

    def _act(self, request: rq.Act) -> None:
        if not self._not_in_channel():
            self._to_room(ev.Act(request.text))

    def _whisper(self, request) -> None:
        if self._not_in_channel():
            return
        text = request.text
        if type(request) is rq.WhisperAct:  # selchat has no private /me (irc.md P10)
            text = f"* {self.member.nick} {text}"
        self.conn.asked_to = request.to
        self.conn.quiet_errors = getattr(request, "notice", False)
        try:
            self._to_room(ev.Whisper(request.to, text))
        finally:
            self.conn.quiet_errors = False

    def _set_nick(self, request: rq.SetNick) -> None:
        self.conn.asked_nick = request.nick
        if self.member.joined:
            self._to_room(ev.SetNick(request.nick))
            return
        view, nicks = self.conn.view, self.service.room.nicks
        if not is_valid_nick(request.nick):
            self._write(view.erroneous_nick(request.nick))
        elif nicks.holder(request.nick) not in (None, self.member):
            self._write(view.nick_in_use(request.nick))
        elif request.nick != self.member.nick:
            old = self.person
            nicks.rename(self.member, request.nick)
            self._write(view.nick_changed(old, request.nick))

    def _listing(self, listing: tuple) -> None:
        """NAMES or WHO of the channel: asked of the room (which knows who may be listed)."""
        if not self.member.joined:
            nicks = [m.nick for m in self.service.room.members]
            view = self.conn.view
            self._write(view.who(self.gateway.people(nicks), listing[1]) if listing[0] == "who"
                        else view.names(nicks))
            return
        self.conn.listing = listing
        try:
            self._to_room(ev.Who())
        finally:
            self.conn.listing = ("names",)

    def _names(self, request: rq.Names) -> None:
        self._listing(("names",))

    def _present(self, nick: str):
        holder = self.service.room.nicks.holder(nick)
        return holder if holder is not None and holder.joined else None

    def _who(self, request: rq.Who) -> None:
        mask, view = request.mask, self.conn.view
        if mask == "*" or rq.same_name(mask, view.channel):
            self._listing(("who", mask))
            return
        holder = self._present(mask)
        self._write(view.who([self.gateway.person(holder.nick)] if holder else [], mask))

    def _whois(self, request: rq.Whois) -> None:
        holder = self._present(request.nick)
        self._write(self.conn.view.whois(request.nick, self.gateway.person(holder.nick) if holder else None))

    def _topic(self, request: rq.Topic) -> None:
        view = self.conn.view
        self._write(view.topic(None) if request.text is None else view.topic_locked())

    def _ison(self, request: rq.IsOn) -> None:
        present = [holder.nick for holder in map(self._present, request.nicks) if holder]
        self._write(self.conn.view.ison(present))

    def _userhost(self, request: rq.UserHost) -> None:
        present = [holder.nick for holder in map(self._present, request.nicks) if holder]
        self._write(self.conn.view.userhost(self.gateway.people(present)))

    def _ignore(self, request) -> None:
        pass


_HANDLERS = {
    rq.Join: IrcSession._join, rq.Part: IrcSession._part, rq.Quit: IrcSession._quit,
    rq.Say: IrcSession._say, rq.Act: IrcSession._act, rq.Whisper: IrcSession._whisper,
    rq.WhisperAct: IrcSession._whisper, rq.SetNick: IrcSession._set_nick, rq.Names: IrcSession._names,
    rq.Who: IrcSession._who, rq.Whois: IrcSession._whois, rq.Topic: IrcSession._topic,
    rq.IsOn: IrcSession._ison, rq.UserHost: IrcSession._userhost, rq.Ignored: IrcSession._ignore,
}
