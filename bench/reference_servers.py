"""The servers a user would otherwise write: asyncio Protocol and asyncio streams, on asyncio or uvloop.

They speak the same line semantics as selchat-server's text dialect, as far as the bench cares:

- echo mode: each line comes back to its sender unchanged;
- upper mode: each line comes back to its sender upper-cased (decoded as UTF-8, invalid bytes
  replaced, ``str.upper``, encoded again);
- chat mode: a greeting line on connect (``*** welcome, you are c7``), then each line a client
  sends goes to every client, the sender included, as ``<c7> LINE``.

Both are written the way the asyncio documentation teaches, without tricks, because they are the
baseline selchat-server is held to.

A third style, ``chunk``, does not frame lines at all: it writes back each received chunk as it
came (upper mode: the chunk decoded, upper-cased and encoded), one ``transport.write`` per
``data_received``, the way the seed article's server replies to each ``recv``. That is the floor a
Python echo service on that loop can reach; it serves echo and upper only (a chat line needs
framing to get its sender's prefix). Run one with::

    python -m selchat.bench.reference_servers --style protocol --loop asyncio --mode chat --port 0

It prints ``listening on HOST:PORT (...)`` on stderr like selchat-server does.

``--drop-every N`` and ``--swap-every N`` make the server deliberately broken (lose or reorder a
line now and then) so the bench's tests can prove it notices.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import itertools
import signal
import sys

from .procstat import raise_open_file_limit

GREETING = b"*** welcome to the reference server, you are %s\n"
CHUNK_MODES = ("echo", "upper")


def upper_line(line: bytes) -> bytes:
    """What upper mode sends back for one line (or chunk of whole characters)."""
    return line.decode("utf-8", "replace").upper().encode()


class FaultyDelivery:
    """Drops or swaps every Nth line a server hands to the network, to test the bench's checks."""

    def __init__(self, drop_every: int = 0, swap_every: int = 0) -> None:
        self.drop_every = drop_every
        self.swap_every = swap_every
        self.count = 0
        self.held: dict[object, bytes] = {}  # per writer: a line held back to send after the next

    def write(self, writer, line: bytes) -> None:
        self.count += 1
        if self.drop_every and self.count % self.drop_every == 0:
            return
        held = self.held.pop(writer, None)
        if held is not None:
            writer.write(line + held)
        elif self.swap_every and self.count % self.swap_every == 0:
            self.held[writer] = line
        else:
            writer.write(line)


class Room:
    """Everyone connected: writers to send to and an id counter for their names."""

    def __init__(self, mode: str, faults: FaultyDelivery | None) -> None:
        self.mode = mode
        self.writers: set = set()
        self.ids = itertools.count(1)
        self.faults = faults


class ChatProtocol(asyncio.Protocol):
    """One connection of the Protocol-style server: callbacks, transport.write, no coroutines."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.prefix = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        name = b"c%d" % next(self.room.ids)
        self.prefix = b"<" + name + b"> "
        self.room.writers.add(transport)
        if self.room.mode == "chat":
            transport.write(GREETING % name)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\n" not in data:
            return
        *lines, self.buffer = self.buffer.split(b"\n")
        room = self.room
        faults = room.faults
        if room.mode != "chat":
            upper = room.mode == "upper"
            for line in lines:
                reply = (upper_line(line) if upper else line) + b"\n"
                if faults:
                    faults.write(self.transport, reply)
                else:
                    self.transport.write(reply)
            return
        for line in lines:
            message = self.prefix + line + b"\n"
            for writer in room.writers:
                if faults:
                    faults.write(writer, message)
                else:
                    writer.write(message)

    def connection_lost(self, exc) -> None:
        self.room.writers.discard(self.transport)


class ChunkEchoProtocol(asyncio.Protocol):
    """Writes back each received chunk as it came: no framing, one write per data_received.

    In upper mode a chunk may end inside a multi-byte character, so decoding is incremental: the
    split character's first bytes wait for the next chunk instead of turning into U+FFFD.
    """

    def __init__(self, mode: str) -> None:
        self.transport: asyncio.Transport | None = None
        self.decode = codecs.getincrementaldecoder("utf-8")("replace").decode if mode == "upper" else None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.decode is None:
            self.transport.write(data)
        else:
            self.transport.write(self.decode(data).upper().encode())


def streams_handler(room: Room):
    """The streams-style server: one coroutine per connection reading lines with readline()."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = b"c%d" % next(room.ids)
        prefix = b"<" + name + b"> "
        room.writers.add(writer)
        faults = room.faults
        try:
            if room.mode == "chat":
                writer.write(GREETING % name)
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    break  # EOF, possibly after a partial line
                if room.mode != "chat":
                    reply = upper_line(line) if room.mode == "upper" else line
                    if faults:
                        faults.write(writer, reply)
                    else:
                        writer.write(reply)
                else:
                    message = prefix + line
                    for other in room.writers:
                        if faults:
                            faults.write(other, message)
                        else:
                            other.write(message)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            room.writers.discard(writer)
            writer.close()

    return handle


async def serve(args: argparse.Namespace) -> None:
    faults = None
    if args.drop_every or args.swap_every:
        faults = FaultyDelivery(args.drop_every, args.swap_every)
    room = Room(args.mode, faults)
    loop = asyncio.get_running_loop()
    if args.style == "chunk":
        server = await loop.create_server(lambda: ChunkEchoProtocol(args.mode), args.host, args.port, backlog=4096)
    elif args.style == "protocol":
        server = await loop.create_server(lambda: ChatProtocol(room), args.host, args.port, backlog=4096)
    else:
        server = await asyncio.start_server(streams_handler(room), args.host, args.port, backlog=4096)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port} (mode={args.mode}, backend={args.style}/{args.loop})",
          file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selchat.bench.reference_servers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", choices=["protocol", "streams", "chunk"], default="protocol",
                        help="asyncio Protocol callbacks, asyncio streams coroutines, or a Protocol that "
                             "writes back each received chunk (echo and upper only) (default: protocol)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                        help="event loop implementation (default: asyncio)")
    parser.add_argument("--mode", choices=["echo", "upper", "chat"], default="chat", help="default: chat")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--drop-every", type=int, default=0, metavar="N",
                        help="testing only: silently drop every Nth line sent")
    parser.add_argument("--swap-every", type=int, default=0, metavar="N",
                        help="testing only: send every Nth line after the line that follows it")
    args = parser.parse_args(argv)
    if args.style == "chunk" and args.mode not in CHUNK_MODES:
        parser.error("--style chunk serves echo and upper only: a chat line needs framing for its prefix")
    if args.style == "chunk" and (args.drop_every or args.swap_every):
        parser.error("--drop-every and --swap-every work on lines, which --style chunk does not see")
    raise_open_file_limit()
    loop_factory = None
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed (uv sync --extra bench)", file=sys.stderr)
            return 2
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
