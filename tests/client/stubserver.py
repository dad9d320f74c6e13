"""A tiny in-process JSON-lines server, only for unit tests of the client's network layer.

It speaks just enough of docs/protocol.md (hello/welcome, message, action, private, nick, who,
ping, quit) to test framing and reconnect logic quickly; the integration tests use the real
server through `run_server`.
"""

from __future__ import annotations

import asyncio
import json
import time


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

    def _send(self, writer: asyncio.StreamWriter, obj: dict) -> None:
        writer.write(json.dumps(obj).encode() + b"\n")

    def _broadcast(self, obj: dict) -> None:
        for writer in self.clients:
            self._send(writer, obj)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.greeting:
            writer.write(self.greeting.encode() + b"\n")
        try:
            while line := await reader.readline():
                request = json.loads(line)
                self.received.append(request)
                kind = request.get("type")
                ident = {"id": request["id"]} if "id" in request else {}
                if kind == "hello":
                    nick = request.get("nick") or "guest"
                    while nick in self.clients.values():
                        nick += "_"
                    self.clients[writer] = nick
                    self._send(writer, {"type": "welcome", "protocol": 1, "mode": self.mode,
                                        "nick": nick, "users": list(self.clients.values()),
                                        "user_count": len(self.clients)})
                    self._broadcast({"type": "join", "nick": nick, "ts": time.time()})
                elif kind in ("message", "action") and self.mode != "chat":
                    text = request["text"].upper() if self.mode == "upper" else request["text"]
                    self._send(writer, {"type": "reply", "text": text})
                elif kind in ("message", "action"):
                    self._broadcast({"type": kind, "from": self.clients[writer],
                                     "text": request["text"], "ts": time.time(), **ident})
                elif kind == "nick":
                    old, new = self.clients[writer], request["nick"]
                    self.clients[writer] = new
                    self._broadcast({"type": "nick", "old": old, "new": new, "ts": time.time()})
                elif kind == "ping":
                    self._send(writer, {"type": "pong", "id": request.get("id")})
                elif kind == "quit":
                    break
        finally:
            nick = self.clients.pop(writer, None)
            writer.close()
            if nick:
                self._broadcast({"type": "leave", "nick": nick, "reason": "connection closed",
                                 "ts": time.time()})
