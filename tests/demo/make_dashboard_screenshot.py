"""Write docs/images/dashboard.svg: `PYTHONPATH=tests uv run python tests/demo/make_dashboard_screenshot.py`.

A real reactor on its thread, three real clients over loopback (two JSON, one text), a little
chat; then the dashboard's screen is saved.
"""

import asyncio
import logging
import socket
from pathlib import Path

from lineclient import LineClient, json_client
from selchat.server.chat import Mode, Room
from selchat.server.dashboard import DashboardApp, LogCapture, logging_routed_to
from selchat.server.network import Reactor
from selchat.server.service import Service

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


async def main() -> None:
    logging.getLogger().setLevel(logging.DEBUG)  # as `selchat-server --dashboard -v`
    reactor = Reactor()
    service = Service(reactor, Room(Mode.CHAT, server_name="selchat 0.1.0"))
    listener = socket.create_server(("127.0.0.1", 8081))
    reactor.listen(listener, service.make_session)
    capture = LogCapture()
    app = DashboardApp(reactor, service, log_capture=capture)
    with logging_routed_to(capture):
        async with app.run_test(size=(110, 30)):
            alice, _ = json_client(("127.0.0.1", 8081), "alice")
            bob, _ = json_client(("127.0.0.1", 8081), "bob")
            carol = LineClient(("127.0.0.1", 8081))
            carol.send_line("/nick carol")
            carol.expect("now known as carol")
            await asyncio.sleep(0.5)  # a few of the view's refreshes (every 0.25 s) with all three in
            alice.send_json({"type": "message", "text": "hi all"})
            carol.expect("<alice> hi all")
            carol.send_line("hello from nc")
            bob.expect_json("message", text="hello from nc")
            bob.send_json({"type": "action", "text": "waves"})
            alice.send_json({"type": "ping", "id": 1})
            await asyncio.sleep(1.0)  # a whole rate window (1 s) of this traffic
            OUT.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename="dashboard.svg", path=str(OUT))
            await app.run_action("shutdown")
            while app.return_code is None:
                await asyncio.sleep(0.05)
    for client in (alice, bob, carol):
        client.close()


if __name__ == "__main__":
    asyncio.run(main())
