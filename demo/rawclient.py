"""`python -m selchat.demo.rawclient HOST PORT`: a raw line client, like `nc HOST PORT`.

The demo runs it when `nc` is not installed. What you type goes to the server as it is; what the
server sends is printed as it is. It speaks the text dialect simply by sending plain lines.

Unlike the seed article's `input()` loop, which blocks in `input()` and so shows the room's lines
only after you press Enter, this is itself a small select loop over two descriptors, the keyboard
and the socket: lines from others appear while you type, because neither read waits for the other.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys

RECV_SIZE = 65536


def chat(sock: socket.socket, keyboard: int, screen) -> int:
    """Relay keyboard to socket and socket to screen until the server closes; return the status."""
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "server")
    selector.register(keyboard, selectors.EVENT_READ, "keyboard")
    while True:
        for key, _ in selector.select():
            if key.data == "server":
                data = sock.recv(RECV_SIZE)
                if not data:
                    print("*** the server closed the connection", file=sys.stderr)
                    return 0
                screen.write(data)
                screen.flush()
            else:
                # The terminal hands over a whole line at a time (canonical mode), or b"" on Ctrl+D.
                data = os.read(keyboard, RECV_SIZE)
                if data:
                    sock.sendall(data)
                else:
                    # Like `nc -N`: no more input, but keep showing what the server still sends.
                    selector.unregister(keyboard)
                    sock.shutdown(socket.SHUT_WR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selchat.demo.rawclient",
                                     description="Talk to a selchat server as `nc HOST PORT` would.")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    try:
        sock = socket.create_connection((args.host, args.port), timeout=10)
    except OSError as exc:
        print(f"cannot connect to {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    sock.settimeout(None)  # reads happen only once select() says they will not block
    with sock:
        try:
            return chat(sock, sys.stdin.fileno(), sys.stdout.buffer)
        except KeyboardInterrupt:
            return 130
        except OSError as exc:
            print(f"*** connection lost: {exc.strerror or exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
