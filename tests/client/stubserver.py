"""A tiny in-process JSON-lines server, only for unit tests of the client's network layer.

It speaks just enough of docs/protocol.md (hello/welcome, message, action, nick, ping, quit) to
test framing and reconnect logic quickly; the integration tests use the real server through
`run_server`. It reads requests with the server's own parser and answers with the server's own
events and encoder (`selchat.wire`), so it cannot drift from what the server says (it once sent a
`reply` without the `id`, which the server never does). Only the room is its own, and tiny.
"""

from __future__ import annotations

import asyncio
import json
import time

from selchat.wire import events as ev
from selchat.wire.notifications import encode_json
from selchat.wire.requests import parse_json_request
from selchat.wire.schema import DEFAULT_MAX_LINE


class StubServer:
    def __init__(self, mode: str = "chat", greeting: str = "") -> None:
        self.mode = mode
        self.greeting = greeting
        self.clients: dict[asyncio.StreamWriter, str] = {}
        self.received: list[dict] = []  # each request's JSON object as it arrived, for assertions
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> "StubServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.clients):
            writer.transport.abort()
        await self.server.wait_closed()

    def _send(self, writer: asyncio.StreamWriter, event) -> None:
        writer.write(encode_json(event))

    def _broadcast(self, event) -> None:
        for writer in self.clients:
            self._send(writer, event)

    def _hello(self, writer: asyncio.StreamWriter, request: ev.Hello) -> None:
        nick = request.nick or "guest"
        while nick in self.clients.values():
            nick += "_"
        self.clients[writer] = nick
        users = tuple(self.clients.values())
        self._send(writer, ev.Welcome(server="selchat stub", mode=self.mode, nick=nick, users=users,
                                      user_count=len(users), max_line=DEFAULT_MAX_LINE))
        self._broadcast(ev.Joined(nick, time.time()))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.greeting:
            writer.write(self.greeting.encode() + b"\n")
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace")
                self.received.append(json.loads(text))
                request = parse_json_request(text)
                if isinstance(request, ev.Hello):
                    self._hello(writer, request)
                elif isinstance(request, ev.Error):
                    self._send(writer, request)
                elif isinstance(request, (ev.Say, ev.Act)) and self.mode != "chat":
                    reply = request.text.upper() if self.mode == "upper" else request.text
                    self._send(writer, ev.Reply(reply, request.id))
                elif isinstance(request, (ev.Say, ev.Act)):
                    line_class = ev.Message if isinstance(request, ev.Say) else ev.Action
                    self._broadcast(line_class(self.clients[writer], request.text, time.time(), request.id))
                elif isinstance(request, ev.SetNick):
                    old = self.clients[writer]
                    self.clients[writer] = request.nick
                    self._broadcast(ev.NickChanged(old, request.nick, time.time()))
                elif isinstance(request, ev.Ping):
                    self._send(writer, ev.Pong(request.id))
                elif isinstance(request, ev.Quit):
                    break
        finally:
            nick = self.clients.pop(writer, None)
            writer.close()
            if nick:
                self._broadcast(ev.Left(nick, "connection closed", time.time()))
