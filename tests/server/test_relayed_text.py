"""Untrusted text through a real server: what reaches an nc user. The rule itself (`clean`, the
nick rules) is tested without sockets in tests/wire/test_text.py."""

from lineclient import json_client, text_user


def test_bidi_controls_and_line_separators_never_reach_an_nc_user(run_server):
    """Report #13: U+202E, U+202C, U+2066, U+2069 and U+2028 were relayed to text users."""
    server = run_server()
    with text_user(server.address, "alice") as alice, text_user(server.address, "bob") as bob:
        robot, _ = json_client(server.address, "robot")
        alice.send_line("see \u202etxt.exe\u202c and \u2066x\u2069 and\u2028*** admin has joined")
        assert bob.expect(r"^<alice> see") == "<alice> see txt.exe and x and*** admin has joined"
        assert robot.expect_json("message")["text"] == "see txt.exe and x and*** admin has joined"
        robot.close()
