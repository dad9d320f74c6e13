"""Which process of `selchat-server --workers N` serves a connection, as the kernel sees it.

The server's end of a connection is found by its ports in /proc/net/tcp (IPv4), and its owner
by the socket inode in each worker's /proc/PID/fd: no cooperation from the server is needed.
"""

from __future__ import annotations

import os
import re
import select

from lineclient import LineClient
from serverproc import ServerProcess


def ready_line(count: int) -> str:
    return rf"listening on \S+ with {count} workers \(pids ([\d ]+)\)"


def worker_pids(server: ServerProcess, count: int = 2) -> list[int]:
    """The workers' pids, once the parent says all `count` of them listen."""
    pattern = ready_line(count)
    return [int(pid) for pid in re.search(pattern, server.wait_for_log(pattern)).group(1).split()]


def server_side_inodes(port: int) -> dict[int, int]:
    """Client port → inode of the server's socket, for established connections to `port`."""
    inodes = {}
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                inodes[remote_port] = int(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def serving_pids(server: ServerProcess, clients: list[LineClient], pids: list[int],
                 port: int | None = None) -> list[int]:
    """Which of `pids` holds the server's end of each client's connection (to `port`, by default
    the server's main one). Ask only once the server has answered each: until a worker accepts a
    connection, it is in the kernel's queue and no process holds it."""
    by_client_port = server_side_inodes(port or server.port)
    held = {pid: socket_inodes(pid) for pid in pids}
    owners = []
    for client in clients:
        inode = by_client_port[client.sock.getsockname()[1]]
        owner = next((pid for pid, inodes in held.items() if inode in inodes), None)
        assert owner is not None, f"no worker has accepted the connection from port {client.sock.getsockname()[1]}"
        owners.append(owner)
    return owners


def wait_exit(pid: int, timeout: float = 10.0) -> None:
    """Wait for a process that is not our child to end (a pidfd is readable once it has)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
        assert readable, f"process {pid} still running after {timeout} s"
    finally:
        os.close(pidfd)
