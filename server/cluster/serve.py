"""Cluster mode in the server: checking `--broker` and friends, then putting a node on the loop.

`cluster_settings(args)` turns the command line into a NodeConfig and the broker's address, or
says what is wrong (no hiredis, a bad URL, a mode other than chat); `start(...)` makes the
ClusterNode and its NodeBridge for a service whose room is a ClusterRoom.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from .config import NodeConfig, default_node_id
from .resp import BadBrokerURL, load_hiredis, parse_broker_url
from .room_log import RoomKeys


class ClusterSetupError(ValueError):
    """A cluster option that cannot work, with what to do about it."""


@dataclass(frozen=True)
class ClusterSettings:
    config: NodeConfig
    address: tuple  # the broker's numeric (host, port), looked up once before the loop runs


def cluster_settings(broker: str, room: str, node_id: str | None, mode: str,
                     history: int) -> ClusterSettings:
    if mode != "chat":
        raise ClusterSetupError(f"--broker needs --mode chat (a {mode} server has no room to share)")
    try:
        load_hiredis()
    except ImportError as error:
        raise ClusterSetupError(str(error)) from None
    try:
        url = parse_broker_url(broker)
    except BadBrokerURL as error:
        raise ClusterSetupError(f"--broker: {error}") from None
    try:
        RoomKeys(room)
    except ValueError as error:
        raise ClusterSetupError(f"--room: {error}") from None
    try:
        config = NodeConfig(url, node_id=node_id or default_node_id(), room=room, history=history)
    except ValueError as error:
        raise ClusterSetupError(f"--node-id: {error}") from None
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)[0]
    except OSError as error:
        raise ClusterSetupError(f"--broker: cannot resolve {url.host}: {error}") from None
    return ClusterSettings(config, sockaddr[:2])


def start(settings: ClusterSettings, reactor, service):
    """Put the node on `reactor`; the service's room must be a ClusterRoom. Returns the bridge."""
    from .bridge import NodeBridge
    from .node import ClusterNode

    node = ClusterNode(settings.config, time.monotonic())
    bridge = NodeBridge(reactor, node, service.room, service.deliver, address=settings.address)
    service.broker = bridge
    return bridge
