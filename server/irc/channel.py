"""Room happenings as IRC lines, for one IRC viewer.

A ``ChannelView`` belongs to one registered IRC connection. The caller tells it what
happened in plain terms (a ``Person`` said ``text``, someone joined, a nick changed)
and gets back the lines that viewer must receive, each at most 512 bytes. It also
answers the requests that need nothing from the room (``answer``). It keeps only the
viewer's own ``Person``, which it updates when the viewer is renamed.

The byte forms follow irc.md §2 and §4: numerics carry the viewer's current nick as
their first parameter, every relayed line has a full ``nick!user@host`` prefix (P7),
the viewer's own channel PRIVMSGs are never echoed (P5), and a JOIN burst carries no
331 when there is no topic (P6).
"""

from __future__ import annotations

from typing import Iterable

from .identity import Person
from .message import MAX_BODY, numeric, serialise, split_text, text_lines
from .registration import ServerInfo
from .requests import Cap, Mode, Motd, Ping, Pong, Reply, Request, Unknown, same_name

ACTION = ("\x01ACTION ", "\x01")
CHANNEL_MODES = "+nt"


class ChannelView:
    """What one IRC viewer (``me``) sees of the room's channel."""

    def __init__(self, me: Person, server: ServerInfo | None = None) -> None:
        self.me = me
        self.server = server or ServerInfo()

    @property
    def channel(self) -> str:
        return self.server.channel

    def is_me(self, nick: str) -> bool:
        return same_name(nick, self.me.nick)

    # -- membership -----------------------------------------------------------------

    def join_burst(self, nicks: Iterable[str], topic: str | None = None) -> list[bytes]:
        """The viewer's own JOIN echo, 332 only if there is a topic (P6), then NAMES."""
        lines = [self._relay(self.me, "JOIN", self.channel)]
        if topic:
            lines.append(self._numeric("332", self.channel, topic))
        return lines + self.names(nicks)

    def names(self, nicks: Iterable[str]) -> list[bytes]:
        """353 lines (the viewer always included, RFC 2812 §3.2.1) cut to 512 bytes, then 366."""
        listed = list(nicks)
        if not any(self.is_me(nick) for nick in listed):
            listed.append(self.me.nick)
        head = f":{self.server.name} 353 {self.me.nick} = {self.channel} :"
        room = MAX_BODY - len(head.encode())
        lines = [f"{head}{piece}\r\n".encode() for piece in split_text(" ".join(listed), room)]
        return lines + [self._numeric("366", self.channel, "End of /NAMES list")]

    def joined(self, who: Person) -> list[bytes]:
        return [self._relay(who, "JOIN", self.channel)]

    def parted(self, who: Person, reason: str = "") -> list[bytes]:
        if reason:
            return [self._relay(who, "PART", self.channel, reason, trailing=True)]
        return [self._relay(who, "PART", self.channel)]

    def quit(self, who: Person, reason: str) -> list[bytes]:
        """Someone else left the room (text, JSON or IRC): ``reason`` as others should read it."""
        return [self._relay(who, "QUIT", reason, trailing=True)]

    def nick_changed(self, who: Person, new_nick: str) -> list[bytes]:
        """``:old!u@h NICK :new``; when ``who`` is the viewer, the view follows the rename."""
        line = self._relay(who, "NICK", new_nick, trailing=True)
        if self.is_me(who.nick):
            self.me = self.me.renamed(new_nick)
        return [line]

    def topic_changed(self, who: Person, text: str) -> list[bytes]:
        return [self._relay(who, "TOPIC", self.channel, text, trailing=True)]

    # -- talk -----------------------------------------------------------------------

    def message(self, sender: Person, text: str, private: bool = False) -> list[bytes]:
        """A line from ``sender``; nothing when the viewer sent it to the channel (P5)."""
        if self.is_me(sender.nick) and not private:
            return []
        target = self.me.nick if private else self.channel
        return text_lines("PRIVMSG", target, _no_ctcp(text), prefix=sender.prefix)

    def action(self, sender: Person, text: str, private: bool = False) -> list[bytes]:
        """``/me``: each piece of a long action is a whole CTCP ACTION of its own (P11)."""
        if self.is_me(sender.nick) and not private:
            return []
        target = self.me.nick if private else self.channel
        return text_lines("PRIVMSG", target, _no_ctcp(text), prefix=sender.prefix, wrap=ACTION)

    def notice(self, text: str, channel_wide: bool = False) -> list[bytes]:
        """A selchat notice from the server: status window, or channel window if room-wide."""
        target = self.channel if channel_wide else self.me.nick
        return text_lines("NOTICE", target, _no_ctcp(text), prefix=self.server.name)

    # -- replies ---------------------------------------------------------------------

    def who(self, people: Iterable[Person], mask: str | None = None) -> list[bytes]:
        """352 per person, then 315 (``mask`` defaults to the channel)."""
        lines = [self._numeric("352", self.channel, p.user, p.host, self.server.name, p.nick,
                               "H", f"0 {p.realname}") for p in people]
        return lines + [self._numeric("315", mask or self.channel, "End of /WHO list")]

    def whois(self, nick: str, person: Person | None) -> list[bytes]:
        """311/312/319/318 for a member, 401 + 318 for nobody."""
        if person is None:
            return [self._numeric("401", nick, "No such nick/channel"),
                    self._numeric("318", nick, "End of /WHOIS list")]
        s = self.server
        return [self._numeric("311", person.nick, person.user, person.host, "*", person.realname),
                self._numeric("312", person.nick, s.name, s.network),
                self._numeric("319", person.nick, self.channel),
                self._numeric("318", person.nick, "End of /WHOIS list")]

    def topic(self, text: str | None) -> list[bytes]:
        """The answer to ``TOPIC #selchat``: 332, or 331 when none is set."""
        if text:
            return [self._numeric("332", self.channel, text)]
        return [self._numeric("331", self.channel, "No topic is set")]

    def topic_locked(self) -> list[bytes]:
        return [self._numeric("482", self.channel, "You're not channel operator")]

    def ison(self, present: Iterable[str]) -> list[bytes]:
        return [self._numeric("303", " ".join(present))]

    def userhost(self, people: Iterable[Person]) -> list[bytes]:
        return [self._numeric("302", " ".join(f"{p.nick}=+{p.user}@{p.host}" for p in people))]

    def no_such_nick(self, nick: str) -> list[bytes]:
        return [self._numeric("401", nick, "No such nick/channel")]

    def nick_in_use(self, nick: str) -> list[bytes]:
        """433 after registration (at registration a nick is fixed up instead, P4)."""
        return [self._numeric("433", nick, "Nickname is already in use")]

    def erroneous_nick(self, nick: str, why: str = "Erroneous nickname") -> list[bytes]:
        return [self._numeric("432", nick[: self.server.nick_max * 2], why)]

    def not_on_channel(self) -> list[bytes]:
        return [self._numeric("442", self.channel, "You're not on that channel")]

    def input_too_long(self) -> list[bytes]:
        return [self._numeric("417", "Input line was too long")]

    def unknown_command(self, command: str) -> list[bytes]:
        shown = command[:32] or "*"                 # a numeric's middle word can't be empty
        return [self._numeric("421", shown, "Unknown command")]

    def closing(self, reason: str) -> list[bytes]:
        """The last line before the server closes (QUIT, kicked off, shutting down): P15."""
        return [serialise("ERROR", f"Closing Link: {self.me.host} ({reason})", trailing=True)]

    def keepalive(self) -> list[bytes]:
        """The server's own PING after silence (P14); the client answers ``PONG :srv``."""
        return [serialise("PING", self.server.name, trailing=True)]

    def motd(self) -> list[bytes]:
        s, n = self.server, self.me.nick
        if not s.motd:
            return [self._numeric("422", "MOTD File is missing")]
        return [numeric(s.name, "375", n, f"- {s.name} Message of the day - "),
                *(numeric(s.name, "372", n, f"- {text}") for text in s.motd),
                numeric(s.name, "376", n, "End of /MOTD command")]

    # -- requests answered without the room ----------------------------------------

    def answer(self, request: Request) -> list[bytes] | None:
        """The lines for a request that needs nothing from the room, or None if it does."""
        if isinstance(request, Reply):
            return [self._numeric(request.code, *request.params)]
        if isinstance(request, Ping):
            return [serialise("PONG", self.server.name, request.token,
                              prefix=self.server.name, trailing=True)]
        if isinstance(request, Pong):
            return []
        if isinstance(request, Mode):
            return self._mode(request)
        if isinstance(request, Cap):
            return self._cap(request)
        if isinstance(request, Motd):
            return self.motd()
        if isinstance(request, Unknown):
            return self.unknown_command(request.command)
        return None

    def _mode(self, request: Mode) -> list[bytes]:
        if same_name(request.target, self.channel):
            if not request.args:
                return [self._numeric("324", self.channel, CHANNEL_MODES, trailing=False)]
            if request.args[0].lstrip("+") == "b" and len(request.args) == 1:
                return [self._numeric("368", self.channel, "End of channel ban list")]
            return [self._numeric("482", self.channel, "You're not channel operator")]
        if self.is_me(request.target):
            if not request.args:
                return [self._numeric("221", "+i", trailing=False)]
            if request.args[0] and set(request.args[0]) <= set("+-i"):
                # irssi sends MODE nick +i on connect; agree rather than print an error (P9).
                return [serialise("MODE", self.me.nick, request.args[0], prefix=self.me.nick,
                                  trailing=True)]
            return [self._numeric("501", "Unknown MODE flag")]
        if request.target[:1] in "#&!+":
            return [self._numeric("403", request.target, "No such channel")]
        return [self._numeric("502", "Can't change mode for other users")]

    def _cap(self, request: Cap) -> list[bytes]:
        name, nick = self.server.name, self.me.nick
        if request.sub in ("LS", "LIST"):
            return [serialise("CAP", nick, request.sub, "", prefix=name, trailing=True)]
        if request.sub == "REQ":
            return [serialise("CAP", nick, "NAK", request.arg, prefix=name, trailing=True)]
        if request.sub == "END":
            return []
        return [self._numeric("410", request.sub[:32] or "*", "Invalid CAP command")]

    # -- helpers --------------------------------------------------------------------

    def _numeric(self, code: str, *params: str, trailing: bool = True) -> bytes:
        return numeric(self.server.name, code, self.me.nick, *params, trailing=trailing)

    @staticmethod
    def _relay(who: Person, command: str, *params: str, trailing: bool = False) -> bytes:
        return serialise(command, *params, prefix=who.prefix, trailing=trailing)


def _no_ctcp(text: str) -> str:
    # Room text is already free of C0 controls; this keeps a \x01 that slipped through from
    # turning a plain line into a CTCP request to every IRC client.
    return text.replace("\x01", "")
