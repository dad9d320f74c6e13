"""The echo and upper rooms: each connection is a private service. Every line comes back (upper
mode upper-cases it); nicks are not shared (two connections may hold the same one), and
`welcome`, `who` and renames reveal no one else. A text member gets exactly one line back per
line in: no welcome and no notices it did not ask for."""

from __future__ import annotations

from selchat.wire.notifications import json_line
from selchat.wire.schema import DEFAULT_MAX_LINE
from selchat.wire.text_dialect import encode_reply_block

from . import events as ev
from .chat import Room, unsupported
from .members import Member, Mode, Outgoing
from .nicks import NickRegistry

# What str.isspace() counts as whitespace among the ASCII characters (bytes.isspace() knows only
# the first six).
_STR_SPACE_ASCII = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


class EchoRoom(Room):
    answers_blank_lines = True
    answers_lines_in_bulk = True  # see replies_in_bulk

    def __init__(self, mode: Mode = Mode.ECHO, history: int = 50, max_line: int = DEFAULT_MAX_LINE,
                 server_name: str = "selchat", password: str | None = None) -> None:
        super().__init__(mode, history, max_line, server_name, password)
        self._upper = mode is Mode.UPPER
        self._guests = NickRegistry()  # only numbers the guests: nobody is registered in it
        self._connected: dict[Member, None] = {}  # (a dict: smaller than a set per entry)

    @property
    def connected_count(self) -> int:
        return len(self._connected)

    def connected(self) -> list[Member]:
        return list(self._connected)

    def _new_member(self, link, peer: str | None) -> Member:
        member = Member(self._guests.guest_nick(), link, peer)
        self._connected[member] = None
        return member

    def _enter(self, member: Member, now: float, out: Outgoing) -> Outgoing:
        self.members.append(member)
        if member.json:
            out.insert(0, (member, self.welcome(member)))
        return out

    def leave(self, member: Member, reason: str, now: float) -> Outgoing:
        self._connected.pop(member, None)
        if member.joined:
            member.joined = False
            self.members.remove(member)
        return []

    def welcome(self, member: Member) -> ev.Welcome:
        return ev.Welcome(server=self.server_name, mode=self.mode.value, nick=member.nick, users=(member.nick,),
                          user_count=1, max_line=self.max_line)

    def takes_notices(self, member: Member) -> bool:
        return member.json

    def _transform(self, text: str) -> str:
        return text.upper() if self._upper else text

    # --- a read's lines at once (the block path: docs/architecture.md) ----------------------

    def replies_in_bulk(self, member: Member) -> bool:
        """Whether this member's plain lines may be answered a block at a time: a joined text
        member (`reply_block`: every line is answered with the line itself) or JSON one
        (`reply_json_block`, for a block of nothing but `message` requests)."""
        return member.joined and not member.irc

    def reply_block(self, member: Member, lines: bytes) -> bytes:
        """The text-dialect replies to a block of lines from `member` (see `replies_in_bulk`):
        the same bytes, in the same order, as answering each of its lines as a `TextLine`."""
        return encode_reply_block(lines, self._upper)

    def reply_json_block(self, member: Member, says: list) -> bytes:
        """The JSON replies to a block of `Say` requests: what `encode_json(Reply(...))` gives
        for each (the same object, keys in the same order), joined."""
        upper = self._upper
        return b"".join(
            json_line({"type": "reply", "text": say.text.upper() if upper else say.text} if say.id is None else
                      {"type": "reply", "text": say.text.upper() if upper else say.text, "id": say.id})
            for say in says)

    @staticmethod
    def block_shows_life(lines: bytes) -> bool:
        """`shows_life` for a block of lines: whether any of them is not blank (str.strip's
        whitespace, which counts \\x1c-\\x1f and Unicode spaces too)."""
        first = lines[0]
        if first < 0x80 and first not in _STR_SPACE_ASCII:
            return True  # the common case: the first line starts with something visible
        if lines.isascii():
            return bool(lines.translate(None, _STR_SPACE_ASCII))
        return not lines.decode("utf-8", "replace").isspace()

    # --- requests --------------------------------------------------------------------------

    def _text_line(self, member: Member, request: ev.TextLine, now: float) -> Outgoing:
        return [(member, ev.Reply(self._transform(request.text)))]

    def _say(self, member: Member, request: ev.Say, now: float) -> Outgoing:
        return [(member, ev.Reply(self._transform(request.text), request.id))]

    def _act(self, member: Member, request: ev.Act, now: float) -> Outgoing:
        return unsupported(member, "/me", self.mode, request.id)

    def _whisper(self, member: Member, request: ev.Whisper, now: float) -> Outgoing:
        return unsupported(member, "private messages", self.mode, request.id)

    def _renamed(self, member: Member, nick: str, now: float) -> Outgoing:
        old, member.nick = member.nick, nick
        return [(member, ev.NickChanged(old, nick, now))]

    def _who(self, member: Member, request: ev.Who, now: float) -> Outgoing:
        return [(member, ev.Users((member.nick,), 1))]

    _handlers = {**Room._common_handlers, ev.Say: _say, ev.Act: _act, ev.Whisper: _whisper,
                 ev.Who: _who}
