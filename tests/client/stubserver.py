"""A tiny in-process JSON-lines server, only for unit tests of the client's network layer.

It speaks just enough of docs/protocol.md (hello/welcome, message, action, nick, ping, quit) to
test framing and reconnect logic quickly; the integration tests use the real server through
`run_server`.  What it sends is the real server's own events, encoded by the real server's
encoder, so the stub cannot drift from what the server says (it once sent a `reply` without the
`id`, which the server never does).
"""

from __future__ import annotations

import asyncio
import json
import time

from selchat.server import events as ev
from selchat.server.protocol import DEFAULT_MAX_LINE, encode_json


class StubServer:
    def __init__(self, mode: str = "chat", greeting: str = "") -> None:
        self.mode = mode
        self.greeting = greeting
        self.clients: dict[asyncio.StreamWriter, str] = {}
        self.received: list[dict] = []
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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.greeting:
            writer.write(self.greeting.encode() + b"\n")
        try:
            while line := await reader.readline():
                request = json.loads(line)
                self.received.append(request)
                kind, rid = request.get("type"), request.get("id")
                if kind == "hello":
                    nick = request.get("nick") or "guest"
                    while nick in self.clients.values():
                        nick += "_"
                    self.clients[writer] = nick
                    users = tuple(self.clients.values())
                    self._send(writer, ev.Welcome("selchat stub", self.mode, nick, users, len(users),
                                                  DEFAULT_MAX_LINE))
                    self._broadcast(ev.Joined(nick, time.time()))
                elif kind in ("message", "action") and self.mode != "chat":
                    text = request["text"].upper() if self.mode == "upper" else request["text"]
                    self._send(writer, ev.Reply(text, rid))
                elif kind in ("message", "action"):
                    line_class = ev.Message if kind == "message" else ev.Action
                    self._broadcast(line_class(self.clients[writer], request["text"], time.time(), rid))
                elif kind == "nick":
                    old, new = self.clients[writer], request["nick"]
                    self.clients[writer] = new
                    self._broadcast(ev.NickChanged(old, new, time.time()))
                elif kind == "ping":
                    self._send(writer, ev.Pong(request.get("id")))
                elif kind == "quit":
                    break
        finally:
            nick = self.clients.pop(writer, None)
            writer.close()
            if nick:
                self._broadcast(ev.Left(nick, "connection closed", time.time()))
