"""How a node joins the cluster: its id, its room, and the timings of heartbeats, reads and holds."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from .resp import BrokerURL


def default_node_id() -> str:
    """Unique per process and readable in CLIENT LIST: host-pid-random."""
    host = socket.gethostname().split(".")[0].replace(" ", "_") or "node"
    return f"{host}-{os.getpid()}-{os.urandom(3).hex()}"


@dataclass(frozen=True)
class NodeConfig:
    url: BrokerURL
    node_id: str = field(default_factory=default_node_id)
    room: str = "selchat"
    history: int = 50  # lines in a Snapshot
    maxlen: int = 10_000  # stream MAXLEN ~ (Redis keeps at least this many)
    inbox_maxlen: int = 1_000
    heartbeat: float = 2.0  # seconds between ticks
    heartbeat_ttl: float = 6.0  # a node silent this long is reaped by the others
    block_ms: int = 2_000  # XREAD BLOCK; its reply doubles as the feed's liveness check
    reply_margin: float = 2.0  # a link with a reply this late is hung: close it
    hold_limit: int = 1_000  # lines held while paused; more are refused at once
    grace: float = 10.0  # seconds a held line waits before it is refused
    dedupe_ttl: int = 120  # seconds a (session, request id) is remembered
    read_count: int = 1_000  # entries per XREAD
    backoff_min: float = 0.1
    backoff_max: float = 2.0

    def __post_init__(self) -> None:
        if not self.node_id or any(c.isspace() for c in self.node_id):
            raise ValueError(f"node id must be non-empty without spaces: {self.node_id!r}")
        if self.heartbeat_ttl <= self.heartbeat:
            raise ValueError("heartbeat_ttl must be longer than the heartbeat interval")
