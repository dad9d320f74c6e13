"""Hundreds of chat clients in one thread: a selectors loop that drives them and keeps score.

Every chat line a client sends is `m CID SEQ PAD`: CID names the connection (unique for the whole
run, so a reconnect is a new sender), SEQ counts that connection's lines from 1, PAD is filler of
random length. A receiver keeps, for the live messages it got (not history replays), a count, the
first one and a polynomial hash of the whole sequence; a few keep the full list. That is enough to
check afterwards that every receiver got a contiguous run of the one order in which the server
broadcast, with nothing lost, doubled or reordered, without storing millions of lines.
"""

from __future__ import annotations

import json
import random
import re
import selectors
import socket
import struct
import time

SEQ_BITS = 20
HASH_MOD = (1 << 61) - 1
HASH_BASE = 1_000_003

TEXT_MESSAGE = re.compile(rb"^(?:<[^>]+>|\* \S+) m (\d+) (\d+) ")


def key_of(cid: int, seq: int) -> int:
    return (cid << SEQ_BITS) | seq


def sender_of(key: int) -> tuple[int, int]:
    return key >> SEQ_BITS, key & ((1 << SEQ_BITS) - 1)


def sequence_hash(keys) -> int:
    h = 0
    for key in keys:
        h = (h * HASH_BASE + key) % HASH_MOD
    return h


class Client:
    """One connection: what it sent, what it got, and how it ended."""

    def __init__(self, driver: "Driver", cid: int, dialect: str, role: str, nick: str | None = None,
                 keep_all: bool = False, rcvbuf: int | None = None) -> None:
        self.driver, self.cid, self.dialect, self.role, self.nick = driver, cid, dialect, role, nick
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect(driver.address)
        sock.setblocking(False)
        self.sock = sock
        self.state = "joining"  # -> live -> closing (quit sent, reading to EOF) -> closed
        self.how_closed = ""
        self.rbuf = b""
        self.wbuf = bytearray()
        self.events = selectors.EVENT_READ
        self.reading = True
        self.sent = 0  # highest SEQ used, including a half line cut off by a close
        self.confirmed = 0  # highest own SEQ seen coming back
        self.history: list[int] = []
        self._in_history = False
        self.count = 0
        self.first: int | None = None
        self.hash = 0
        self.keys: list[int] | None = [] if keep_all else None
        self.errors: list[str] = []
        self.saw_end = False
        driver.selector.register(sock, self.events, self)
        if dialect == "json":
            hello = {"type": "hello", "protocol": 1}
            if nick:
                hello["nick"] = nick
            self.write(json.dumps(hello).encode() + b"\n")
        elif nick:
            self.write(f"/nick {nick}\n".encode())
        elif driver.rng.random() < 0.5:
            self.write(b"/ping\n")  # joins at once; the others are greeted after the hello grace

    # --- output ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.state == "closed":
            return
        self.wbuf += data
        self._flush()

    def _flush(self) -> None:
        if self.wbuf:
            try:
                sent = self.sock.send(self.wbuf)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self.errors.append(f"send failed: {exc}")
                self.close("broken")
                return
            del self.wbuf[:sent]
        self._set_interest()

    def _set_interest(self) -> None:
        events = (selectors.EVENT_READ if self.reading else 0) | (selectors.EVENT_WRITE if self.wbuf else 0)
        if events != self.events:
            if not self.events:
                self.driver.selector.register(self.sock, events, self)
            elif not events:
                self.driver.selector.unregister(self.sock)
            else:
                self.driver.selector.modify(self.sock, events, self)
            self.events = events

    def message_line(self, action: bool = False) -> tuple[bytes, str]:
        self.sent += 1
        pad = "p" * self.driver.rng.randint(2, 80)
        text = f"m {self.cid} {self.sent} {pad}"
        if self.dialect == "json":
            obj = {"type": "action" if action else "message", "text": text}
            if self.driver.rng.random() < 0.5:
                obj["id"] = f"{self.cid}-{self.sent}"
            return json.dumps(obj).encode() + b"\n", text
        return (f"/me {text}\n" if action else f"{text}\n").encode(), text

    def say(self) -> None:
        line, _ = self.message_line(action=self.driver.rng.random() < 0.1)
        self.write(line)

    # --- input -----------------------------------------------------------------------------

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as exc:  # a reset, after we reset or were dropped
            if self.state not in ("closing",):
                self.errors.append(f"recv failed: {exc}")
            self.close("lost")
            return
        if not data:
            if self.state != "closing":
                self.errors.append("the server closed the connection")
            self.close("eof")
            return
        lines = (self.rbuf + data).split(b"\n")
        self.rbuf = lines.pop()
        if self.dialect == "json":
            for line in lines:
                self._json_line(line)
        else:
            for line in lines:
                self._text_line(line)

    def _got(self, key: int, replay: bool) -> None:
        if replay:
            self.history.append(key)
            return
        if self.first is None:
            self.first = key
        self.count += 1
        self.hash = (self.hash * HASH_BASE + key) % HASH_MOD
        if self.keys is not None:
            self.keys.append(key)
        cid, seq = sender_of(key)
        if cid == self.cid and seq > self.confirmed:
            self.confirmed = seq
        if key == self.driver.end_key:
            self.saw_end = True

    def _text_line(self, line: bytes) -> None:
        if line[:1] in (b"<", b"*"):
            match = TEXT_MESSAGE.match(line)
            if match:
                self._got(key_of(int(match[1]), int(match[2])), self._in_history)
                return
            if line.startswith(b"*** "):
                if line.startswith(b"*** welcome to "):
                    self._joined()
                elif line.startswith(b"*** --- last "):
                    self._in_history = True
                elif line == b"*** --- end of history ---":
                    self._in_history = False
        elif line.startswith(b"!!! "):
            self.errors.append(line.decode("utf-8", "replace"))

    def _json_line(self, line: bytes) -> None:
        if not line.startswith(b"{"):
            return  # greeted as text before the hello was read: allowed, ignored
        event = json.loads(line)
        kind = event.get("type")
        if kind in ("message", "action"):
            parts = event["text"].split(" ", 3)
            if parts[0] == "m" and len(parts) == 4:
                self._got(key_of(int(parts[1]), int(parts[2])), bool(event.get("replay")))
        elif kind == "welcome":
            self._joined()
        elif kind == "error":
            self.errors.append(f"error {event.get('code')}: {event.get('message')}")
        elif kind == "ping":
            self.write(json.dumps({"type": "pong", "id": event.get("id")}).encode() + b"\n")

    def _joined(self) -> None:
        if self.state == "joining":
            self.state = "live"

    # --- ending ----------------------------------------------------------------------------

    def stop_reading(self) -> None:
        self.reading = False
        self._set_interest()

    def quit(self) -> None:
        """Say goodbye and read until the server closes."""
        self.write(b'{"type":"quit","reason":"soak"}\n' if self.dialect == "json" else b"/quit soak\n")
        self.state = "closing"
        self.how_closed = "quit"

    def close(self, how: str) -> None:
        if self.state == "closed":
            return
        if how == "reset":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif how == "midline":
            line, text = self.message_line()
            half = line[: len(line) - 1 - (len(text) - text.rindex(" ") - 1) // 2]  # cut in the padding
            try:
                self.sock.send(half)
            except OSError:
                pass
        if self.events:
            self.driver.selector.unregister(self.sock)
            self.events = 0
        self.sock.close()
        if not self.how_closed:
            self.how_closed = how
        self.state = "closed"
        self.driver.closed(self)


class Driver:
    """The loop: one selector for every client, plus a callback run after each turn."""

    def __init__(self, address: tuple[str, int], seed: int, first_cid: int = 1) -> None:
        self.address = address
        self.rng = random.Random(seed)
        self.selector = selectors.DefaultSelector()
        self.first_cid = self.next_cid = first_cid
        self.end_key: int | None = None
        self.finished: list[Client] = []

    def connect(self, dialect: str, role: str, **kwargs) -> Client:
        client = Client(self, self.next_cid, dialect, role, **kwargs)
        self.next_cid += 1
        return client

    def closed(self, client: Client) -> None:
        self.finished.append(client)

    def run_until(self, done, timeout: float, what: str, tick=None) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"soak: timed out after {timeout:.0f}s waiting until {what}")
            for key, mask in self.selector.select(0.01):
                client = key.data
                if mask & selectors.EVENT_WRITE and client.state != "closed":
                    client._flush()
                if mask & selectors.EVENT_READ and client.state != "closed":
                    client.on_readable()
            if tick is not None:
                tick()
