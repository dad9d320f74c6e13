"""What a registered IRC client asks for, as small neutral requests, and the parser.

``parse_request(message, channel)`` turns one parsed line into one request. The
requests say nothing about the server's own event classes: the caller maps ``Say``,
``Act``, ``Whisper``... onto the room, and answers the rest (``Reply``, ``Mode``,
``Cap``, ``Ping``...) through ``ChannelView.answer`` without touching the room.

Text arrives cleaned the IRC way (irc.md P10): mIRC formatting removed with its
digits, CTCP ACTION decoded, every other CTCP dropped, NOTICEs never answered with an
error or anything else (RFC 1459 §4.4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from .formatting import plain, split_ctcp
from .message import Message


class Request:
    """Base of every request from a registered client."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Say(Request):
    """A line to the channel (PRIVMSG or NOTICE to it)."""

    text: str


@dataclass(frozen=True, slots=True)
class Act(Request):
    """``/me`` in the channel (CTCP ACTION)."""

    text: str


@dataclass(frozen=True, slots=True)
class Whisper(Request):
    """A private line to ``to``. ``notice``: send no 401 back if ``to`` is nobody."""

    to: str
    text: str
    notice: bool = False


@dataclass(frozen=True, slots=True)
class WhisperAct(Request):
    """A private ``/me`` to ``to``: selchat has no private action, so map or drop it."""

    to: str
    text: str


@dataclass(frozen=True, slots=True)
class SetNick(Request):
    nick: str


@dataclass(frozen=True, slots=True)
class Join(Request):
    """``JOIN #selchat`` (only the room's channel gets this far; others get 403)."""


@dataclass(frozen=True, slots=True)
class Part(Request):
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Quit(Request):
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Who(Request):
    """``WHO mask``: the channel name, ``*``, or a nick."""

    mask: str


@dataclass(frozen=True, slots=True)
class Whois(Request):
    nick: str


@dataclass(frozen=True, slots=True)
class Names(Request):
    """``NAMES`` of the room's channel (other channels get a bare 366)."""


@dataclass(frozen=True, slots=True)
class Topic(Request):
    """``text`` None: query (331/332); else set it (echo, or 482 if topics are fixed)."""

    text: str | None = None


@dataclass(frozen=True, slots=True)
class IsOn(Request):
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserHost(Request):
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ping(Request):
    token: str


@dataclass(frozen=True, slots=True)
class Pong(Request):
    token: str


@dataclass(frozen=True, slots=True)
class Mode(Request):
    """``MODE target args``: answered by ``ChannelView`` (324, 368, 221, 482...)."""

    target: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cap(Request):
    """CAP after registration (we offer no capabilities)."""

    sub: str
    arg: str = ""


@dataclass(frozen=True, slots=True)
class Motd(Request):
    pass


@dataclass(frozen=True, slots=True)
class Reply(Request):
    """A numeric the parser can answer alone: ``code`` and the params after the nick."""

    code: str
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ignored(Request):
    """Nothing to do and nothing to answer (a CTCP VERSION, a NOTICE to nowhere...)."""

    why: str


@dataclass(frozen=True, slots=True)
class Unknown(Request):
    """Anything else: 421."""

    command: str


def same_name(a: str, b: str) -> bool:
    """Equal under CASEMAPPING=ascii: only A-Z fold (what 005 advertises)."""
    return a.translate(_ASCII_LOWER) == b.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CHANNEL_STARTS = "#&!+"


def parse_request(message: Message, channel: str = "#selchat") -> Request:
    """The request in one line from a registered client."""
    handler = _PARSERS.get(message.command)
    if handler is None:
        return Unknown(message.command)
    return handler(message, channel)


def _text(message: Message, channel: str) -> Request:
    notice = message.command == "NOTICE"
    if not message.params or not message.params[0]:
        return Ignored("no recipient") if notice else \
            Reply("411", (f"No recipient given ({message.command})",))
    target = message.params[0]
    raw = message.param(1, "")
    if "," in target:
        return Ignored("several targets") if notice else \
            Reply("407", (target, "Too many recipients, one at a time"))
    to_channel = target[0] in _CHANNEL_STARTS
    if to_channel and not same_name(target, channel):
        return Ignored("no such channel") if notice else Reply("403", (target, "No such channel"))
    ctcp = split_ctcp(raw)
    if ctcp is not None:
        if notice or ctcp.command != "ACTION":   # CTCP replies and queries go nowhere
            return Ignored(f"CTCP {ctcp.command[:20]}")
        text = plain(ctcp.body)
        if not text.strip():
            return Reply("412", ("No text to send",))
        return Act(text) if to_channel else WhisperAct(target, text)
    text = plain(raw)
    if not text.strip():
        return Ignored("empty notice") if notice else Reply("412", ("No text to send",))
    return Say(text) if to_channel else Whisper(target, text, notice)


def _join(message: Message, channel: str) -> Request:
    names = (message.param(0) or "").split(",")
    if names == [""]:
        return Reply("461", ("JOIN", "Not enough parameters"))
    if names == ["0"]:                              # JOIN 0: leave every channel
        return Part("Left all channels")
    if any(same_name(name, channel) for name in names):
        return Join()
    return Reply("403", (names[0], "No such channel"))


def _part(message: Message, channel: str) -> Request:
    names = (message.param(0) or "").split(",")
    if names == [""]:
        return Reply("461", ("PART", "Not enough parameters"))
    if any(same_name(name, channel) for name in names):
        return Part(plain(message.param(1, "")))
    return Reply("403", (names[0], "No such channel"))


def _nick(message: Message, channel: str) -> Request:
    nick = message.param(0) or ""
    return SetNick(nick) if nick else Reply("431", ("No nickname given",))


def _who(message: Message, channel: str) -> Request:
    return Who(message.param(0) or "*")


def _whois(message: Message, channel: str) -> Request:
    if not message.params or not message.params[-1]:
        return Reply("431", ("No nickname given",))
    return Whois(message.params[-1].split(",")[0])  # WHOIS [server] nick[,nick]: the first


def _names(message: Message, channel: str) -> Request:
    name = (message.param(0) or channel).split(",")[0]
    if same_name(name, channel):
        return Names()
    return Reply("366", (name, "End of /NAMES list"))


def _topic(message: Message, channel: str) -> Request:
    name = message.param(0)
    if not name:
        return Reply("461", ("TOPIC", "Not enough parameters"))
    if not same_name(name, channel):
        return Reply("403", (name, "No such channel"))
    if len(message.params) < 2:
        return Topic(None)
    return Topic(plain(message.params[1]))


def _mode(message: Message, channel: str) -> Request:
    if not message.params:
        return Reply("461", ("MODE", "Not enough parameters"))
    return Mode(message.params[0], message.params[1:])


def _nick_list(message: Message) -> tuple[str, ...]:
    # ISON a b c and ISON :a b c are both in use; cap the count so one line stays cheap.
    return tuple(" ".join(message.params).split()[:20])


def _ison(message: Message, channel: str) -> Request:
    if not message.params:
        return Reply("461", ("ISON", "Not enough parameters"))
    return IsOn(_nick_list(message))


def _userhost(message: Message, channel: str) -> Request:
    if not message.params:
        return Reply("461", ("USERHOST", "Not enough parameters"))
    return UserHost(_nick_list(message)[:5])         # RFC 2812: up to 5 nicks


def _ping(message: Message, channel: str) -> Request:
    if not message.params or not message.params[-1]:
        return Reply("409", ("No origin specified",))
    return Ping(message.params[-1])


def _pong(message: Message, channel: str) -> Request:
    return Pong(message.params[-1] if message.params else "")


def _quit(message: Message, channel: str) -> Request:
    return Quit(plain(message.param(0, "")))


def _cap(message: Message, channel: str) -> Request:
    return Cap((message.param(0) or "").upper(), message.param(1, ""))


def _reregister(message: Message, channel: str) -> Request:
    return Reply("462", ("You may not reregister",))


def _away(message: Message, channel: str) -> Request:
    if message.param(0):
        return Reply("306", ("You have been marked as being away",))
    return Reply("305", ("You are no longer marked as being away",))


def _motd(message: Message, channel: str) -> Request:
    return Motd()


_PARSERS = {
    "PRIVMSG": _text, "NOTICE": _text, "JOIN": _join, "PART": _part, "NICK": _nick,
    "WHO": _who, "WHOIS": _whois, "NAMES": _names, "TOPIC": _topic, "MODE": _mode,
    "ISON": _ison, "USERHOST": _userhost, "PING": _ping, "PONG": _pong, "QUIT": _quit,
    "CAP": _cap, "USER": _reregister, "PASS": _reregister, "AWAY": _away, "MOTD": _motd,
}
