"""End to end: a real WeeChat (weechat-headless: no terminal needed) beside an nc-style text user.

WeeChat is driven through its FIFO (`<home>/weechat_fifo_<pid>`: `buffer *text` lines) and read
back through its logger's files, flushed at once, so nothing here guesses at a screen.
"""

from __future__ import annotations

import glob
import subprocess
import time
from pathlib import Path

from lineclient import text_user
from requirements import require_program

TIMEOUT = 20.0


def wait_for_file(pattern: str, timeout: float = TIMEOUT) -> Path:
    deadline = time.monotonic() + timeout
    while not (found := glob.glob(pattern)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no file matched {pattern}")
        time.sleep(0.05)  # polling with a deadline
    return Path(found[0])


def wait_for_log(path: Path, text: str, timeout: float = TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} never logged in {path.name}:\n{content}")
        time.sleep(0.05)  # polling with a deadline


def test_weechat_and_a_text_user_share_the_room(run_server, tmp_path):
    weechat = require_program("weechat-headless")
    server = run_server("--irc-port", "0")
    carol = text_user(server.address, "carol")
    setup = (f"/set logger.file.flush_delay 0; /server add t {server.host}/{server.irc_port} -nossl -notls; "
             "/set irc.server.t.nicks wee; /set irc.server.t.username weeu; "
             # WeeChat's own pacing (2 s between queued lines, irc.md §1.2) is not what is tested.
             "/set irc.server.t.anti_flood_prio_high 0; /set irc.server.t.anti_flood_prio_low 0; /connect t")
    proc = subprocess.Popen([weechat, "-d", str(tmp_path), "-r", setup], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        carol.expect("wee has joined")  # registered and put in #selchat with no /join
        channel_log = wait_for_file(f"{tmp_path}/logs/irc.t.#selchat.weechatlog")
        fifo = wait_for_file(f"{tmp_path}/weechat_fifo_*")

        def type_in(buffer: str, line: str) -> None:
            with open(fifo, "w") as pipe:
                pipe.write(f"{buffer} *{line}\n")

        wait_for_log(channel_log, "wee (weeu@127.0.0.1) has joined #selchat")
        carol.send_line("hello from nc")
        wait_for_log(channel_log, "carol\thello from nc")
        carol.send_line("/me dances")
        wait_for_log(channel_log, " *\tcarol dances")
        type_in("irc.t.#selchat", "hello from weechat")
        assert carol.expect("hello from weechat") == "<wee> hello from weechat"
        type_in("irc.t.#selchat", "/me waves")
        assert carol.expect("waves") == "* wee waves"

        carol.send_line("/msg wee psst from nc")
        wait_for_log(wait_for_file(f"{tmp_path}/logs/irc.t.carol.weechatlog"), "carol\tpsst from nc")
        type_in("irc.t.#selchat", "/msg carol hi there")
        assert carol.expect("hi there") == "*wee* hi there"

        carol.send_line("/nick wee")
        carol.expect('nick "wee" is in use')
        type_in("irc.t.#selchat", "/nick carol")
        wait_for_log(Path(f"{tmp_path}/logs/irc.server.t.weechatlog"), "carol: Nickname is already in use")
        type_in("irc.t.#selchat", "/nick wee2")
        carol.expect("wee is now known as wee2")
        type_in("irc.t.#selchat", "/quit bye")
        carol.expect("wee2 has left \\(quit: bye\\)")
    finally:
        proc.kill()
        proc.wait()
        carol.close()
    assert server.errors() == []
