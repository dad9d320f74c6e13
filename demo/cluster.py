"""`selchat-demo --cluster`: one room on two nodes, with the Redis between them in plain view.

The window, top to bottom:

    node n1 --trace           | node n2 --trace
    selchat alice (on n1)     | selchat bob (on n2)
    Redis: stream, nodes, nicks | what to try

The Redis pane (`redispane`) starts the demo's redis-server and shows what the nodes keep in it;
each node is `selchat-server --broker redis://... --room lobby --node-id nK --trace` on its own
port, and the selchat clients are dealt out over the nodes (alice on n1, bob on n2, dave on n1,
...), so a line typed in alice's pane reaches bob only through Redis.
"""

from __future__ import annotations

from .layout import (DemoOptions, DemoStartError, SERVER_START_TIMEOUT, _add_pane, _mark_pane, _python,
                     _style_session, pick_free_port, server_ready_marker)
from .redispane import READY
from .tmux import Tmux, TmuxError

ROOM = "lobby"
# What a node or client pane runs while the layout is built, until its program is started there.
PLACEHOLDER = ["sleep", "86400"]
NODE_IDS = ("n1", "n2")


def node_command(options: DemoOptions, node_id: str, port: int, redis_port: int) -> list[str]:
    return _python("selchat.server", "--host", options.host, "--port", str(port), "--mode", "chat",
                   "--backend", options.backend, "--idle-timeout", "0",
                   "--broker", f"redis://{options.host}:{redis_port}", "--room", ROOM, "--node-id", node_id,
                   f"--{options.server_view}")


def redis_command(redis_port: int) -> list[str]:
    return _python("selchat.demo.redispane", "--port", str(redis_port), "--room", ROOM)


def client_command(options: DemoOptions, nick: str, port: int) -> list[str]:
    return _python("selchat.client", "--host", options.host, "--port", str(port), "--nick", nick)


def tips_command(options: DemoOptions, placement: dict[str, str], prefix: str) -> list[str]:
    where = ",".join(f"{nick}@{node}" for nick, node in placement.items())
    return _python("selchat.demo.tips", "--cluster", where, "--server-view", options.server_view,
                   "--prefix", prefix)


def placement(options: DemoOptions) -> dict[str, str]:
    """Which node each selchat client talks to: in turn, so neighbours are on different nodes."""
    return {nick: NODE_IDS[index % len(NODE_IDS)] for index, nick in enumerate(options.nicks)}


def start_cluster_demo(tmux: Tmux, options: DemoOptions, width: int, height: int) -> dict[str, int]:
    """Create the cluster demo's session; return the ports (`redis`, `n1`, `n2`) once all is started.

    Panes carry their roles as in the plain demo: `redis`, `node` (two), `client`, `tips`. The
    layout is settled first, with the node and client panes holding a placeholder, and each
    program is then started in its pane (`respawn-pane`) in order: Redis, the nodes once it is
    ready, the clients once their node listens. So no TUI is resized while it draws, and none
    starts before its node.
    """
    prefix = tmux.prefix_key()
    ports = {"redis": pick_free_port(options.host)}
    for node_id in NODE_IDS:
        ports[node_id] = pick_free_port(options.host)
    where = placement(options)
    tips = tmux.new_session(options.session, width, height, "selchat-cluster", tips_command(options, where, prefix))
    try:
        _style_session(tmux, options.session, tips, prefix)
        redis = _add_pane(tmux, tips, redis_command(ports["redis"]), "left", 55, "redis",
                          f"Redis 127.0.0.1:{ports['redis']}: the room's stream, nodes and nicks")
        nodes: dict[str, str] = {}
        clients: dict[str, str] = {}
        first = _add_pane(tmux, redis, PLACEHOLDER, "above", 70, "node", "", full=True)
        nodes[NODE_IDS[0]] = first
        row = _add_pane(tmux, first, PLACEHOLDER, "below", 55, "client", "")
        clients[options.nicks[0]] = row
        nodes[NODE_IDS[1]] = _add_pane(tmux, first, PLACEHOLDER, "right", 50, "node", "")
        for index, nick in enumerate(options.nicks[1:], 1):
            # Split the last column so that every column ends up the same width.
            percent = round(100 * (options.clients - index) / (options.clients - index + 1))
            clients[nick] = _add_pane(tmux, list(clients.values())[-1], PLACEHOLDER, "right", percent, "client", "")
        tmux.run("resize-pane", "-t", first, "-y", "30%")
        tmux.run("resize-pane", "-t", redis, "-y", "30%")
        _mark_pane(tmux, tips, "tips", "what to try")

        if not tmux.wait_for_text(redis, READY, SERVER_START_TIMEOUT):
            output = tmux.capture(redis).strip()
            raise DemoStartError("redis-server did not start:\n" + (output or "(no output)"))
        for node_id, pane in nodes.items():
            _mark_pane(tmux, pane, "node", f"selchat-server --broker ... --node-id {node_id} "
                                           f"--{options.server_view} (port {ports[node_id]})")
            tmux.respawn(pane, node_command(options, node_id, ports[node_id], ports["redis"]))
        for node_id, pane in nodes.items():
            if not tmux.wait_for_text(pane, server_ready_marker(options), SERVER_START_TIMEOUT):
                output = tmux.capture(pane).strip()
                raise DemoStartError(f"node {node_id} did not start:\n" + (output or "(no output)"))
        for nick, pane in clients.items():
            node_id = where[nick]
            _mark_pane(tmux, pane, "client", f"selchat --nick {nick}  (on node {node_id}, port {ports[node_id]})")
            tmux.respawn(pane, client_command(options, nick, ports[node_id]))
        tmux.run("select-pane", "-t", clients[options.nicks[0]])
    except (TmuxError, DemoStartError):
        tmux.kill_session(options.session)
        raise
    return ports
