"""Real selchat-server nodes on one real redis-server, and clients to drive them, for fault tests.

`Cluster` owns a redis-server (started by tests/server/cluster/redis_fixture.py on a free port,
`--save '' --appendonly no`) and the `selchat-server --broker ...` processes started on it; it
stops them all at the end. `JsonUser` is a JSON-dialect client that keeps every event it got,
so a test can both wait for one and check afterwards that another never came. `claim_nicks`
opens many connections at once from one selectors loop. Everything waits on events with a
deadline; nothing sleeps.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

from lineclient import LineClient
from serverproc import ServerProcess, start_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "cluster"))
from redis_fixture import RedisServer, require_hiredis  # noqa: E402

class Cluster:
    """A redis-server and the nodes started on it, all in one room."""

    def __init__(self, directory: str, room: str = "faults"):
        require_hiredis()
        self.redis = RedisServer(directory)
        self.redis.start()
        self.room = room
        self.nodes: dict[str, ServerProcess] = {}
        self._stopped_redis = False

    @property
    def broker(self) -> str:
        return self.redis.url

    def start_node(self, node_id: str, *extra: str) -> ServerProcess:
        """A node in the room (flood control off: the tests burst on purpose), once it is ready.

        The heartbeat (2 s, a node is dead 6 s after its last one) and the hold grace (10 s)
        are NodeConfig defaults the command line does not expose, so the tests live with them."""
        node = start_server("--broker", self.broker, "--room", self.room, "--node-id", node_id,
                            "--rate", "0", *extra)
        self.nodes[node_id] = node
        wait_ready(node, node_id)
        return node

    def kill_node(self, node_id: str) -> None:
        node = self.nodes[node_id]
        node.proc.kill()
        node.proc.wait(10)

    # --- Redis faults -----------------------------------------------------------------------
    def kill_redis(self) -> None:
        self.redis.process.send_signal(signal.SIGKILL)
        self.redis.process.wait(10)

    def start_redis_empty(self) -> None:
        """A new, empty redis-server on the same port (nothing was persisted)."""
        dump = Path(self.redis.directory) / "dump.rdb"
        if dump.exists():
            dump.unlink()
        self.redis.start(self.redis.port)

    def start_redis_with_its_data(self) -> None:
        """A new redis-server on the same port that loads what `SAVE` wrote (as AOF would)."""
        assert (Path(self.redis.directory) / "dump.rdb").exists(), "SAVE first"
        self.redis.start(self.redis.port)

    def freeze_redis(self) -> None:
        self.redis.process.send_signal(signal.SIGSTOP)
        self._stopped_redis = True

    def thaw_redis(self) -> None:
        self.redis.process.send_signal(signal.SIGCONT)
        self._stopped_redis = False

    def redis_call(self, *args):
        return self.redis.command(*args)

    @property
    def keys(self):
        from selchat.server.cluster.room_log import RoomKeys

        return RoomKeys(self.room)

    def nick_owners(self) -> dict[str, str]:
        """Nick key -> "<node> <session>", as Redis holds it."""
        flat = self.redis_call("HGETALL", self.keys.nicks)
        return {k.decode(): v.decode() for k, v in zip(flat[0::2], flat[1::2])}

    # --- health -----------------------------------------------------------------------------
    def crashed(self) -> list[str]:
        """Nodes that died on their own, or logged a traceback or an ERROR line."""
        bad = []
        for node_id, node in self.nodes.items():
            if node.proc.returncode == -signal.SIGKILL:
                continue  # the test killed it
            if node.proc.poll() is not None:
                bad.append(f"{node_id} exited with {node.proc.returncode}: " + "\n".join(node.log[-20:]))
            elif node.errors():
                bad.append(f"{node_id} logged: " + "\n".join(node.errors()))
        return bad

    def close(self) -> None:
        if self._stopped_redis:
            self.thaw_redis()
        for node in self.nodes.values():
            node.stop()
        self.redis.stop()


def wait_ready(node: ServerProcess, node_id: str, timeout: float = 15.0) -> None:
    """Until the node has joined the cluster (it logs `cluster: node ID ready` once both links
    are up and it has the room's snapshot)."""
    node.wait_for_log(rf"cluster: node {node_id} ready", timeout)


class JsonUser:
    """A JSON-dialect client. Every event it received stays in `events`, in order."""

    def __init__(self, node: ServerProcess, nick: str, *, session: str | None = None,
                 since: dict | None = None, timeout: float = 15.0):
        self.client = LineClient(node.address, timeout=timeout)
        self._events: list[dict] = []
        self._parsed = 0
        hello = {"type": "hello", "protocol": 1, "nick": nick}
        if session:
            hello["session"] = session
        if since:
            hello["since"] = since
        self.client.send_json(hello)
        self.welcome = self.expect("welcome")
        self.nick = self.welcome["nick"]
        self.session = self.welcome.get("session")
        self._ids = 0

    @property
    def events(self) -> list[dict]:
        """Every JSON event received so far (read or not by expect), oldest first."""
        lines = self.client.lines
        while self._parsed < len(lines):
            if lines[self._parsed].startswith("{"):
                self._events.append(json.loads(lines[self._parsed]))
            self._parsed += 1
        return self._events

    def mark(self) -> int:
        """A position in `events`, for `wait(..., after=mark)`: only what came later counts."""
        return len(self.events)

    def of(self, kind: str, after: int = 0, **fields) -> list[dict]:
        return [e for e in self.events[after:]
                if e.get("type") == kind and all(e.get(k) == v for k, v in fields.items())]

    def expect(self, kind: str, timeout: float | None = None, **fields) -> dict:
        """The next event of this kind after those expect() already went past."""
        return self.client.expect_json(kind, timeout, **fields)

    def wait(self, kind: str, after: int = 0, timeout: float | None = None, **fields) -> dict:
        """The first event at `after` or later that matches, read for if it has not come yet."""
        return self.wait_any([(kind, fields)], after, timeout)

    def wait_any(self, choices: list[tuple[str, dict]], after: int = 0,
                 timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.client.timeout)
        while True:
            for event in self.events[after:]:
                for kind, fields in choices:
                    if event.get("type") == kind and all(event.get(k) == v for k, v in fields.items()):
                        return event
            after = len(self.events)
            try:
                self.client.expect(r"^\{", max(0.001, deadline - time.monotonic()))
            except TimeoutError:
                raise TimeoutError(f"{self.nick}: no {choices} within the deadline; "
                                   f"last events: {self.events[-8:]}") from None

    def wait_acks(self, request_ids: list[str], timeout: float = 10.0) -> None:
        """Read until this user's copy of every one of these lines has come (in any order)."""
        deadline = time.monotonic() + timeout
        while True:
            got = {e.get("id") for e in self.of("message", **{"from": self.nick})}
            missing = [i for i in request_ids if i not in got]
            if not missing:
                return
            try:
                self.client.expect(r"^\{", max(0.001, deadline - time.monotonic()))
            except TimeoutError:
                raise TimeoutError(f"{self.nick}: no copy of {missing} (of {len(request_ids)})") from None

    def say(self, text: str, request_id: str | None = None) -> str:
        if request_id is None:
            self._ids += 1
            request_id = f"{self.nick}-{self._ids}"
        self.client.send_json({"type": "message", "text": text, "id": request_id})
        return request_id

    def ping(self, ping_id) -> dict:
        self.client.send_json({"type": "ping", "id": ping_id})
        return self.expect("pong", id=ping_id)

    def who(self) -> list[str]:
        self.client.send_json({"type": "who"})
        return self.expect("users")["users"]

    def close(self) -> None:
        self.client.close()


class Sender:
    """A JSON user that keeps `window` lines in flight until its connection ends (a bounded,
    closed-loop burst: the node is always mid-burst, whenever it is killed). Run in a thread."""

    def __init__(self, user: JsonUser, window: int = 16, cap: int = 2_000):
        self.user, self.window, self.cap = user, window, cap
        self.sent: list[str] = []  # request ids, in order; the text is "<id> ..."
        self.acked: set[str] = set()
        self.ended = ""

    def text(self, request_id: str) -> str:
        return f"{request_id} burst"

    def run(self) -> None:
        nick = self.user.nick
        try:
            while len(self.sent) < self.cap:
                while len(self.sent) - len(self.acked) < self.window and len(self.sent) < self.cap:
                    request_id = f"{nick}-{len(self.sent) + 1}"
                    self.sent.append(request_id)
                    self.user.say(self.text(request_id), request_id)
                copy = self.user.expect("message", **{"from": nick})
                if copy.get("id") is not None:
                    self.acked.add(copy["id"])
            while len(self.acked) < len(self.sent):
                self.acked.add(self.user.expect("message", **{"from": nick})["id"])
            self.ended = "cap reached"
        except (EOFError, OSError) as error:
            self.ended = f"connection ended: {error.__class__.__name__}"

    def unacked(self) -> list[str]:
        return [i for i in self.sent if i not in self.acked]


def messages_from(user: JsonUser, sender: str) -> list[str]:
    """The texts of the live chat lines `user` got from `sender`, in order (no replays)."""
    return [e["text"] for e in user.of("message") if e.get("from") == sender and not e.get("replay")]


# --- many connections at once ----------------------------------------------------------------

def claim_nicks(addresses: list[tuple[str, int]], nicks: list[str], timeout: float = 60.0) -> list[dict]:
    """Open one JSON connection per nick (round-robin over `addresses`) all at once, each asking
    for its nick in the hello; return each one's welcome (with the `errors` that came before it)
    or `{"type": "closed"}`, plus the `node` index it went to and its open socket under `sock`.
    Bounded: one socket per nick."""
    selector = selectors.DefaultSelector()
    results: list[dict | None] = [None] * len(nicks)
    buffers: dict[int, bytes] = {}
    socks = []
    try:
        for index, nick in enumerate(nicks):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(addresses[index % len(addresses)])
            hello = json.dumps({"type": "hello", "protocol": 1, "nick": nick}).encode() + b"\n"
            selector.register(sock, selectors.EVENT_WRITE, (index, hello))
            socks.append(sock)
            buffers[index] = b""
        pending = len(nicks)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} of {len(nicks)} connections got no welcome")
            for key, mask in selector.select(max(0.0, deadline - time.monotonic())):
                index, hello = key.data
                sock = key.fileobj
                if mask & selectors.EVENT_WRITE:
                    sock.sendall(hello)  # a 60-byte line into an empty buffer: never blocks
                    selector.modify(sock, selectors.EVENT_READ, (index, hello))
                    continue
                try:
                    chunk = sock.recv(65536)
                except ConnectionError:
                    chunk = b""
                if chunk:
                    buffers[index] += chunk
                    lines = [json.loads(line) for line in buffers[index].split(b"\n")[:-1]
                             if line.startswith(b"{")]
                    welcome = next((e for e in lines if e.get("type") == "welcome"), None)
                    if welcome is not None:
                        results[index] = dict(welcome, errors=[e for e in lines if e.get("type") == "error"])
                else:
                    results[index] = {"type": "closed", "text": buffers[index].decode("utf-8", "replace")}
                if results[index] is not None:
                    results[index]["node"] = index % len(addresses)
                    results[index]["sock"] = sock
                    selector.unregister(sock)
                    pending -= 1
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    finally:
        selector.close()
    return results
