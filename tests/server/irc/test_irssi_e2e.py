"""End to end: a real irssi in tmux, started with nothing but the server's address, shares the
room with an nc-style text user: join, talk both ways, /me, /msg, a nick clash, /quit."""

from __future__ import annotations


from lineclient import text_user
from tmuxterm import Tmux
from requirements import require_program

IRSSI_CONFIG = """\
settings = {
  core = { user_name = "daveu"; real_name = "Dave Real"; };
  # irssi paces itself to one command per 2.2 s after a burst (irc.md §1.1): not what is tested here.
  "irc/core" = { cmd_queue_speed = "10msec"; cmds_max_at_once = "50"; };
};
"""


def test_irssi_and_a_text_user_share_the_room(run_server, tmp_path):
    irssi = require_program("irssi")
    require_program("tmux")
    server = run_server("--irc-port", "0")
    home = tmp_path / "irssi"  # a throwaway home: the user's ~/.irssi is never read (irc.md P19)
    home.mkdir()
    (home / "config").write_text(IRSSI_CONFIG)
    carol = text_user(server.address, "carol")
    tmux = Tmux([irssi, f"--home={home}", "-c", server.host, "-p", str(server.irc_port), "-n", "ircdave"],
                width=110, height=40)
    try:
        carol.expect("ircdave has joined")
        tmux.wait_for("Welcome to selchat, ircdave!daveu@127.0.0.1")
        tmux.type("/window 2")  # the forced JOIN opened #selchat without focusing it (irc.md §1.4)
        tmux.wait_for("ircdave [daveu@127.0.0.1] has joined #selchat")
        tmux.wait_for("carol")  # in the 353 names list

        carol.send_line("hello from nc")
        tmux.wait_for("< carol> hello from nc")
        carol.send_line("/me dances")
        tmux.wait_for("* carol dances")
        tmux.type("hello from irssi")
        assert carol.expect("hello from irssi") == "<ircdave> hello from irssi"
        tmux.type("/me waves")
        assert carol.expect("waves") == "* ircdave waves"

        carol.send_line("/msg ircdave psst from nc")  # opens a query window, not focused
        tmux.type("/window 3")
        tmux.wait_for("<carol> psst from nc")
        tmux.type("/msg carol hi there")
        assert carol.expect("hi there") == "*ircdave* hi there"

        carol.send_line("/nick ircdave")
        carol.expect('nick "ircdave" is in use')
        tmux.type("/window 1")
        tmux.type("/nick carol")
        tmux.wait_for("Nick carol is already in use")
        tmux.type("/nick dave2")
        carol.expect("ircdave is now known as dave2")

        tmux.type("/quit bye")
        carol.expect("dave2 has left \\(quit: bye\\)")
    finally:
        tmux.kill()
        carol.close()
    assert server.errors() == []
