"""A real redis-server per test module, and a tiny select loop that drives ClusterNodes over it.

The server runs on a free 127.0.0.1 port with `--save '' --appendonly no` in a temporary
directory; it counts as up when it answers PING. Without redis-server or hiredis the tests skip
locally (with how to install them) and FAIL in CI, where both must be present.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import time
from typing import Any, Callable

import pytest

from requirements import require
from selchat.bench.redis import RedisProcess


def require_hiredis() -> None:
    try:
        import hiredis  # noqa: F401
    except ImportError:
        require("hiredis", "uv sync (it is in the dev group; selchat[cluster] for users)")


def redis_server_path() -> str:
    """$SELCHAT_REDIS_SERVER if set (another build, or a missing one to check the CI rule), else PATH."""
    wanted = os.environ.get("SELCHAT_REDIS_SERVER")
    if wanted:
        path = wanted if os.access(wanted, os.X_OK) else None
    else:
        path = shutil.which("redis-server") or next(
            (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)), None)
    if path is None:
        require("redis-server", "apt-get install redis-server")
    return path


class RedisServer(RedisProcess):
    """A child redis-server (the bench's, started the same way). `restart()` starts an empty one
    on the same port."""

    def __init__(self, directory: str):
        super().__init__(redis_server_path(), directory)

    def command(self, *args: Any) -> Any:
        """One command on a fresh blocking connection (for setup and checks, not the code under test)."""
        return BlockingRedis(self.port).call(*args)

    def restart(self) -> None:
        """Kill it and start an empty one on the same port (no persistence): a data loss."""
        self.stop()
        self.start(self.port)


class BlockingRedis:
    """RedisLink over a plain blocking socket: for checks and for the tests of resp itself."""

    def __init__(self, port: int, url: str | None = None):
        from selchat.server.cluster.resp import RedisLink, parse_broker_url

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.link = RedisLink(parse_broker_url(url or f"redis://127.0.0.1:{port}"), "test")
        self.flush_and_wait()  # the handshake

    def flush_and_wait(self) -> None:
        data = self.link.data_to_send()
        if data:
            self.sock.sendall(data)
        while self.link.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.link.connection_lost("closed by the server")
                return
            self.link.receive_data(chunk)

    def call(self, *args: Any) -> Any:
        box = []
        self.link.send(list(args), box.append)
        self.flush_and_wait()
        return box[0]

    def close(self) -> None:
        self.sock.close()


class NodeLoop:
    """What the server's reactor will do for a ClusterNode, in a test: sockets, select, timers."""

    def __init__(self, port: int):
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[tuple[int, str], socket.socket] = {}
        self.nodes: list = []
        self.outputs: dict[int, list] = {}
        self.frozen: set[int] = set()  # nodes not driven at all for now (a SIGSTOPped process)

    def add(self, node) -> Any:
        self.nodes.append(node)
        self.outputs[id(node)] = []
        return node

    def remove(self, node) -> None:
        """The node's process is gone: its sockets close, nobody drives it any more."""
        for name in ("cmd", "feed"):
            sock = self.sockets.pop((id(node), name), None)
            if sock is not None:
                self.selector.unregister(sock)
                sock.close()
        self.nodes.remove(node)

    def drop(self, node, name: str) -> None:
        sock = self.sockets.pop((id(node), name), None)
        if sock is not None:
            self.selector.unregister(sock)
            sock.close()
        node.link_closed(name, time.monotonic(), "closed by the test")

    def of(self, node, kind: type | None = None) -> list:
        items = self.outputs[id(node)]
        return [o for o in items if kind is None or isinstance(o, kind)]

    def turn(self, timeout: float) -> None:
        from selchat.server.cluster.outputs import CloseLink

        now = time.monotonic()
        for node in self.live():
            for name in node.links_to_open(now):
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                except OSError as error:
                    node.link_closed(name, time.monotonic(), str(error))
                    continue
                sock.setblocking(False)
                self.sockets[(id(node), name)] = sock
                self.selector.register(sock, selectors.EVENT_READ, (node, name))
                node.link_opened(name, time.monotonic())
            node.on_timer(time.monotonic())
        self._flush()
        wake = min((n.next_timer() for n in self.live()), default=now + timeout)
        wait = max(0.0, min(timeout, wake - time.monotonic()))
        for key, _ in self.selector.select(wait):
            node, name = key.data
            if id(node) in self.frozen:
                continue
            try:
                data = key.fileobj.recv(1 << 20)
            except ConnectionError:
                data = b""
            if data:
                node.receive_data(name, data, time.monotonic())
            else:
                self.sockets.pop((id(node), name), None)
                self.selector.unregister(key.fileobj)
                key.fileobj.close()
                node.link_closed(name, time.monotonic(), "closed by the broker")
        for node in self.live():
            node.on_timer(time.monotonic())
            for item in node.outputs():
                self.outputs[id(node)].append(item)
                if isinstance(item, CloseLink):
                    sock = self.sockets.pop((id(node), item.name), None)
                    if sock is not None:
                        self.selector.unregister(sock)
                        sock.close()
        self._flush()

    def live(self) -> list:
        return [n for n in self.nodes if id(n) not in self.frozen]

    def _flush(self) -> None:
        for (node_id, name), sock in list(self.sockets.items()):
            if node_id in self.frozen:
                continue
            node = next(n for n in self.nodes if id(n) == node_id)
            data = node.data_to_send(name)
            if data:
                sock.setblocking(True)  # a test loop may block on a full buffer; the reactor won't
                sock.sendall(data)
                sock.setblocking(False)

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not reached within {timeout} s")
            self.turn(0.05)

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.selector.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    require_hiredis()
    server = RedisServer(str(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis(redis_server):
    """The module's server, emptied: each test starts with no room data."""
    if redis_server.process.poll() is not None:
        redis_server.start(redis_server.port)
    redis_server.command("FLUSHALL")
    redis_server.command("SCRIPT", "FLUSH")
    return redis_server


@pytest.fixture
def node_loop(fresh_redis):
    loop = NodeLoop(fresh_redis.port)
    yield loop
    loop.close()
