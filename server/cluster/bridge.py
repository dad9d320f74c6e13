"""NodeBridge: a ClusterNode's two Redis links as Transports in the server's own select loop.

The node is sans-I/O; this is the only place that gives it sockets and time. Each link is an
outbound connection made with `Reactor.connect`, so it lives in the same selector as the chat
clients, with the same queues and flush: whatever the node queued during one loop turn goes out
in that turn's one `send()` per link (the bridge's hook runs before the connections' flush).

Per turn: received bytes go to `node.receive_data`; at the end of the turn the node's outputs are
handed to the room (`room.cluster_event`) until none are left, its bytes are written to the
links, links it wants are dialled and its one loop timer is moved to `node.next_timer()`.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Callable

from .node import ClusterNode
from .outputs import CloseLink, Delivered

log = logging.getLogger("selchat.cluster")

# At shutdown, how long the links stay open for the releases (leaves) to be answered.
SHUTDOWN_FLUSH = 1.0


class _LinkHandler:
    """The Transport handler of one link: bytes to the node, the end of the socket to the node."""

    __slots__ = ("bridge", "name", "transport")

    def __init__(self, bridge: "NodeBridge", name: str, transport) -> None:
        self.bridge, self.name, self.transport = bridge, name, transport

    @property
    def label(self) -> str:
        """How --trace and the dashboard name this connection."""
        return f"redis:{self.name}"

    def data_received(self, data: bytes) -> None:
        if self.bridge.transports.get(self.name) is self.transport:
            self.bridge.node.receive_data(self.name, data, self.bridge.reactor.now)

    def eof_received(self) -> bool:
        return False  # Redis closed its side: close ours, connection_lost follows

    def connection_lost(self, reason: str) -> None:
        self.bridge.link_lost(self.name, self.transport, reason)


class NodeBridge:
    """Drives `node` on `reactor` for `room`. `address` is the broker's resolved (host, port)."""

    def __init__(self, reactor, node: ClusterNode, room, deliver: Callable[[list], None], *,
                 address: tuple | None = None) -> None:
        self.reactor = reactor
        self.node = node
        self.room = room
        self.deliver = deliver  # Service.deliver: what the room answers goes to its members
        url = node.config.url
        self.address = address or resolve(url.host, url.port)
        self.tls = ssl.create_default_context() if url.tls else None
        self.transports: dict[str, object] = {}
        self._dialing: set[str] = set()
        self._timer = None
        self._timer_at: float | None = None
        self.closing = False
        self._was_ready = False
        self._close_by = 0.0
        self.on_closed: Callable[[], None] | None = None  # called as each link closes at shutdown
        room.attach(node, reactor)
        reactor.before_flush(self._end_of_turn, lambda: node.has_work)
        self._end_of_turn()

    # --- the loop's side -----------------------------------------------------------------

    def _end_of_turn(self) -> None:
        node, now = self.node, self.reactor.now
        try:
            self._take_outputs()
            if self.closing:
                self._maybe_close(now)
            else:
                self.deliver(self.room.cluster_turn(self.reactor.wall))
                for name in node.links_to_open(now):
                    self._dial(name)
        finally:
            # Whatever happened above, what the node queued goes out and its timer stays armed.
            for name, transport in self.transports.items():
                data = node.data_to_send(name)
                if data:
                    transport.write(data)
            self._arm_timer()

    def _take_outputs(self) -> None:
        node, wall = self.node, self.reactor.wall
        for _ in range(100):  # a reply that makes the room post again loops back here; bounded
            items = node.outputs()
            if not items:
                break
            run: list = []  # consecutive Delivered items: read in one go, and what they show is
            for item in items:  # written to each member in one write (see Service.deliver)
                if type(item) is Delivered:
                    run.append(item)
                    continue
                if run:
                    self._deliver_run(run, wall)
                    run = []
                if type(item) is CloseLink:
                    transport = self.transports.pop(item.name, None)
                    if transport is not None:
                        log.warning("cluster: closing %s link: %s", item.name, item.reason)
                        transport.abort(item.reason)
                    continue
                try:
                    outgoing = self.room.cluster_event(item, wall)
                    if outgoing:  # most Posted answers are nothing to send
                        self.deliver(outgoing)
                except Exception:  # one bad item must not lose the rest of the batch
                    log.exception("internal error handling %s from the broker", type(item).__name__)
            if run:
                self._deliver_run(run, wall)
        if node.ready != self._was_ready:
            self._was_ready = node.ready
            if node.ready:
                log.info("cluster: node %s ready (epoch %s)", node.config.node_id, node.epoch)
            else:
                log.warning("cluster: node %s paused: %s", node.config.node_id,
                            node.paused_reason or "broker connection lost")

    def _deliver_run(self, run: list, wall: float) -> None:
        outgoing: list = []
        shown = self.room.delivered_into
        for item in run:
            try:
                shown(item, wall, outgoing)
            except Exception:  # one bad event must not lose the rest of the run
                log.exception("internal error handling a line from the broker")
        if outgoing:
            self._deliver_lines(outgoing)

    def _deliver_lines(self, outgoing: list) -> None:
        try:
            self.deliver(outgoing)
        except Exception:
            log.exception("internal error delivering the lines read from the broker")

    def _arm_timer(self) -> None:
        when = self.node.next_timer()
        if self.closing:
            # No reconnects now (their retry times would spin the timer): only the deadline.
            when = self._close_by if self.transports else None
            if when is None:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self._timer_at = None
                return
        if self._timer is not None and self._timer_at == when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.reactor.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.node.on_timer(self.reactor.now)
        # The end-of-turn hook runs after the timers: it hands the outputs on and re-arms.

    def _dial(self, name: str) -> None:
        self._dialing.add(name)

        def established(transport):
            self._dialing.discard(name)
            handler = _LinkHandler(self, name, transport)
            if self.closing:
                transport.close("shutting down")
                return handler
            self.transports[name] = transport
            self.node.link_opened(name, self.reactor.now)
            return handler

        def failed(error: OSError) -> None:
            self._dialing.discard(name)
            self.node.link_closed(name, self.reactor.now, f"cannot connect: {error}")
            self._closed_one()

        url = self.node.config.url
        try:
            self.reactor.connect(self.address, established, failed, tls=self.tls,
                                 server_hostname=url.host if self.tls else None)
        except OSError as error:
            self.reactor.call_later(0, failed, error)

    def link_lost(self, name: str, transport, reason: str) -> None:
        if self.transports.get(name) is transport:
            del self.transports[name]
        self.node.link_closed(name, self.reactor.now, reason)
        self._closed_one()

    # --- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop reconnecting; close the links once the leaves are answered (or SHUTDOWN_FLUSH)."""
        if not self.closing:
            self.closing = True
            self._close_by = self.reactor.now + SHUTDOWN_FLUSH

    def _maybe_close(self, now: float) -> None:
        # Users still connected have leaves to write yet; then wait for the broker's answers.
        done = self.room.connected_count == 0 and not self.node.busy
        if self.transports and (now >= self._close_by or done):
            for transport in list(self.transports.values()):
                transport.close("shutting down")

    def _closed_one(self) -> None:
        if self.closing and self.on_closed is not None:
            self.on_closed()

    @property
    def open_links(self) -> int:
        return len(self.transports) + len(self._dialing)


def resolve(host: str, port: int) -> tuple:
    """The broker's numeric address, looked up once before the loop runs (getaddrinfo blocks)."""
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return sockaddr[:2]
