"""The IRC dialect against a real server process: the recorded irssi and WeeChat handshakes
(irc.md §1.1, §1.2) replayed byte for byte, and one room shared by IRC, text and JSON users."""

from __future__ import annotations

import socket

import pytest

from credentials import PASSWORD
from lineclient import LineClient, json_client, text_user

SRV = ":selchat.local"


class IrcClient(LineClient):
    """A LineClient that speaks CRLF and sees lines without their CR."""

    def send_irc(self, *lines: str) -> None:
        self.send("".join(f"{line}\r\n" for line in lines).encode())

    def _receive(self, deadline: float) -> bool:
        ok = super()._receive(deadline)
        self.lines[:] = [line.rstrip("\r") for line in self.lines]
        return ok


def irc_user(server, nick: str, user: str = "u") -> IrcClient:
    """Register the way irssi does and wait for the forced JOIN burst's end."""
    client = IrcClient(server.irc_address)
    client.send_irc("CAP LS 302", "JOIN :")
    client.expect(r"^:selchat\.local CAP \* LS :$")
    client.send_irc("CAP END", f"NICK {nick}", f"USER {user} {user} 127.0.0.1 :Real {nick}")
    client.expect(r" 001 ")
    client.expect(r" 366 ")
    return client


@pytest.fixture
def server(run_server):
    return run_server("--irc-port", "0")


def test_irssi_handshake_replayed(server):
    with IrcClient(server.irc_address) as irssi:
        irssi.send(b"CAP LS 302\r\nJOIN :\r\n")
        assert irssi.expect("CAP") == f"{SRV} CAP * LS :"
        assert irssi.expect("451") == f"{SRV} 451 * :You have not registered"
        irssi.send(b"CAP END\r\nNICK dave\r\nUSER daveu daveu 127.0.0.1 :Dave Real\r\n")
        assert irssi.expect(" 001 ").startswith(f"{SRV} 001 dave :Welcome")
        isupport = irssi.expect(" 005 ")
        for token in ("CHANTYPES=#", "PREFIX=(ov)@+", "NICKLEN=16", "CASEMAPPING=ascii", "NETWORK=selchat"):
            assert token in isupport
        irssi.expect(" 376 dave ")
        # Put in the channel at once: started with nothing but the address, it is in the room.
        assert irssi.expect("JOIN") == ":dave!daveu@127.0.0.1 JOIN #selchat"
        assert irssi.expect(" 353 ") == f"{SRV} 353 dave = #selchat :dave"
        assert irssi.expect(" 366 ") == f"{SRV} 366 dave #selchat :End of /NAMES list"
        # irssi's sync queries and keepalive (P9, P14); its own /join of an autojoin is a no-op.
        irssi.send(b"MODE dave +i\r\nPING selchat.local\r\nJOIN #selchat\r\nMODE #selchat\r\n"
                   b"WHO #selchat\r\nMODE #selchat b\r\n")
        assert irssi.expect("MODE") == ":dave MODE dave :+i"
        assert irssi.expect("PONG") == f"{SRV} PONG selchat.local :selchat.local"
        assert irssi.expect(" 324 ") == f"{SRV} 324 dave #selchat +nt"
        assert irssi.expect(" 352 ") == f"{SRV} 352 dave #selchat daveu 127.0.0.1 selchat.local dave H :0 Dave Real"
        irssi.expect(f"{SRV} 315 dave #selchat :End of /WHO list")
        assert irssi.expect(" 368 ") == f"{SRV} 368 dave #selchat :End of channel ban list"
        irssi.send(b"QUIT :bye\r\n")
        lines = irssi.read_until_closed()
        assert lines[-1] == "ERROR :Closing Link: 127.0.0.1 (Quit: bye)"
        assert sum("JOIN #selchat" in line for line in lines) == 1
    assert server.errors() == []


def test_weechat_handshake_replayed_waits_for_cap_end(server):
    with IrcClient(server.irc_address) as weechat:
        weechat.send(b"CAP LS 302\r\nNICK dave\r\nUSER daveu 0 * :Dave Real\r\n")
        weechat.expect(r"CAP \* LS :")
        weechat.send(b"PING :probe\r\n")  # allowed before registration; answered in order
        weechat.expect("PONG")
        assert not any(" 001 " in line for line in weechat.lines), "001 sent before CAP END (P2)"
        weechat.send(b"CAP END\r\n")
        weechat.expect(f"{SRV} 001 dave ")
        weechat.expect(":dave!daveu@127.0.0.1 JOIN #selchat")
        weechat.send(b"MODE #selchat\r\nNAMES #selchat\r\nTOPIC #selchat\r\nPART #selchat :WeeChat 3.8\r\n")
        weechat.expect(" 324 dave #selchat \\+nt")
        weechat.expect(" 353 dave = #selchat :dave")
        weechat.expect(f"{SRV} 331 dave #selchat :No topic is set")
        weechat.expect("^:dave!daveu@127.0.0.1 PART #selchat :WeeChat 3.8$")
        weechat.send(b"PRIVMSG #selchat :after part\r\nJOIN #selchat\r\n")
        weechat.expect(" 442 dave #selchat ")
        weechat.expect(":dave!daveu@127.0.0.1 JOIN #selchat")


def test_mixed_room_irc_text_and_json_users_see_each_other(server):
    carol = text_user(server.address, "carol")
    tui, _ = json_client(server.address, "tui")
    dave = irc_user(server, "dave", user="daveu")
    carol.expect("dave has joined")
    tui.expect_json("join", nick="dave")

    carol.send_line("hello from nc")
    assert dave.expect("PRIVMSG #selchat") == ":carol!text@selchat PRIVMSG #selchat :hello from nc"
    tui.send_json({"type": "message", "text": "hello from the tui"})
    assert dave.expect("PRIVMSG #selchat") == ":tui!json@selchat PRIVMSG #selchat :hello from the tui"
    carol.send_line("/me dances")
    assert dave.expect("ACTION") == ":carol!text@selchat PRIVMSG #selchat :\x01ACTION dances\x01"
    tui.send_json({"type": "action", "text": "bows"})
    assert dave.expect("ACTION") == ":tui!json@selchat PRIVMSG #selchat :\x01ACTION bows\x01"

    dave.send_irc("PRIVMSG #selchat :hello from irc", "PRIVMSG #selchat :\x01ACTION waves\x01",
                  "PRIVMSG #selchat :\x0304red\x03 \x02bold\x02")
    assert carol.expect("hello from irc") == "<dave> hello from irc"
    assert carol.expect("waves") == "* dave waves"
    assert carol.expect("red") == "<dave> red bold"  # mIRC codes go with their digits (P10)
    assert tui.expect_json("message", text="hello from irc")["from"] == "dave"
    assert tui.expect_json("action", text="waves")["from"] == "dave"

    # /msg both ways, and 401 for nobody.
    carol.send_line("/msg dave psst from nc")
    assert dave.expect("PRIVMSG dave") == ":carol!text@selchat PRIVMSG dave :psst from nc"
    dave.send_irc("PRIVMSG carol :hi there", "PRIVMSG nobody :hi", "PRIVMSG tui :\x01ACTION nods\x01")
    assert carol.expect("hi there") == "*dave* hi there"
    assert dave.expect(" 401 ") == f"{SRV} 401 dave nobody :No such nick/channel"
    assert tui.expect_json("private", text="* dave nods")["from"] == "dave"

    # Nick clashes across dialects, both ways.
    carol.send_line("/nick dave")
    carol.expect('nick "dave" is in use')
    dave.send_irc("NICK carol", "NICK Tui", "NICK newname")
    assert dave.expect(" 433 ") == f"{SRV} 433 dave carol :Nickname is already in use"
    assert dave.expect(" 433 ") == f"{SRV} 433 dave Tui :Nickname is already in use"
    assert dave.expect("NICK :newname") == ":dave!daveu@127.0.0.1 NICK :newname"
    carol.expect("dave is now known as newname")
    tui.send_json({"type": "nick", "nick": "carol2"})
    assert dave.expect("NICK :carol2") == ":tui!json@selchat NICK :carol2"

    # Registering with a taken nick is fixed up in 001, never refused (P4).
    late = irc_user(server, "carol", user="late")
    assert any(f"{SRV} 001 carol_ " in line for line in late.lines)
    assert dave.expect("JOIN") == ":carol_!late@127.0.0.1 JOIN #selchat"

    # The IRC user's own lines were never echoed back to it (P5).
    assert not any("hello from irc" in line for line in dave.lines)
    dave.send_irc("QUIT :gone fishing")
    assert late.expect("QUIT") == ":newname!daveu@127.0.0.1 QUIT :Quit: gone fishing"  # the usual IRC form
    carol.expect("newname has left")
    for client in (carol, tui, dave, late):
        client.close()
    assert server.errors() == []


def test_history_long_lines_and_who_the_irc_way(server):
    carol = text_user(server.address, "carol")
    carol.send_line("said before dave came")
    long_line = " ".join(f"wörd{n}" for n in range(300))  # ~2 KB, more than one IRC line
    dave = IrcClient(server.irc_address)
    dave.send_irc("NICK dave", "USER d 0 * :Dave")  # a bot: no CAP at all
    dave.expect(" 366 ")
    replay = dave.expect("NOTICE #selchat")
    assert replay.startswith(f"{SRV} NOTICE #selchat :[") and replay.endswith("] <carol> said before dave came")
    carol.send_line(long_line)
    pieces = [dave.expect("PRIVMSG #selchat")]
    while not pieces[-1].endswith("wörd299"):
        pieces.append(dave.expect("PRIVMSG #selchat"))
    assert len(pieces) > 1
    assert all(len(piece.encode()) + 2 <= 512 for piece in pieces)
    assert " ".join(piece.split(" :", 1)[1] for piece in pieces) == long_line
    dave.send_irc("WHOIS carol", "WHO carol", "ISON carol nobody")
    dave.expect(f"{SRV} 311 dave carol text selchat \\* :selchat text user")
    dave.expect(f"{SRV} 352 dave #selchat text selchat selchat.local carol H :0 selchat text user")
    dave.expect(f"{SRV} 303 dave :carol$")
    dave.send_irc("FOO bar")
    dave.expect(f"{SRV} 421 dave FOO :Unknown command")


def test_password_file_applies_to_irc_pass(run_server, password_file):
    server = run_server("--irc-port", "0", "--password-file", password_file)
    with IrcClient(server.irc_address) as wrong:
        wrong.send_irc("PASS nope", "NICK dave", "USER d 0 * :Dave")
        wrong.expect(" 464 ")
        assert wrong.read_until_closed()[-1].startswith("ERROR :Closing Link: 127.0.0.1 (Unauthorized")
    with IrcClient(server.irc_address) as right:
        right.send_irc(f"PASS {PASSWORD}", "NICK dave", "USER d 0 * :Dave")
        right.expect(f"{SRV} 001 dave ")
        right.expect("JOIN #selchat")


def test_idle_irc_client_is_pinged_then_closed(run_server):
    server = run_server("--irc-port", "0", "--idle-timeout", "1")
    with IrcClient(server.irc_address) as bot:
        bot.send_irc("NICK bot", "USER b 0 * :Bot")
        assert bot.expect("^PING") == "PING :selchat.local"
        bot.send_irc("PONG :selchat.local")  # a live client answers and stays
        bot.expect("^PING")
        lines = bot.read_until_closed()  # and one that stops answering is closed
        assert lines[-1] == "ERROR :Closing Link: 127.0.0.1 (closing: idle for 1 seconds)"


def test_flood_control_holds_irc_lines_back_without_losing_them(run_server):
    server = run_server("--irc-port", "0", "--rate", "20", "--burst", "5")
    carol = text_user(server.address, "carol")
    dave = irc_user(server, "flooder")
    dave.send_irc(*(f"PRIVMSG #selchat :line {n}" for n in range(12)))
    dave.expect(f"{SRV} NOTICE flooder :flood control")
    for n in range(12):
        carol.expect(f"<flooder> line {n}$")


def test_irc_over_tls(run_server, certificate):
    import ssl
    cert, key = certificate
    server = run_server("--irc-port", "0", "--tls-cert", cert, "--tls-key", key)
    context = ssl.create_default_context(cafile=cert)
    with IrcClient(server.irc_address, tls=context) as dave:
        dave.send_irc("NICK dave", "USER d 0 * :Dave")
        dave.expect(f"{SRV} 001 dave ")


def test_irc_port_needs_chat_mode(run_server):
    with pytest.raises(RuntimeError, match="--irc-port needs --mode chat"):
        run_server("--irc-port", "0", "--mode", "echo")


def test_text_and_json_users_join_rename_and_leave_with_full_prefixes(server):
    dave = irc_user(server, "dave")
    carol = text_user(server.address, "carol")
    guest = dave.expect(r"!text@selchat JOIN #selchat$").split("!", 1)[0]
    assert guest.startswith(":guest")
    assert dave.expect("NICK") == f"{guest}!text@selchat NICK :carol"
    tui, _ = json_client(server.address, "tui")
    assert dave.expect("JOIN") == ":tui!json@selchat JOIN #selchat"
    carol.send_line("/quit gone")
    assert dave.expect("QUIT") == ":carol!text@selchat QUIT :Quit: gone"
    tui.close()
    assert dave.expect("QUIT").startswith(":tui!json@selchat QUIT :connection ")  # closed, or lost
    bot, _ = json_client(server.address, "bot")
    bot.send_json({"type": "quit", "reason": "done"})
    assert dave.expect("QUIT") == ":bot!json@selchat QUIT :Quit: done"
    dave.close()


def test_a_refused_irc_connection_is_told_why_in_an_irc_error(run_server):
    # The words of a refusal depend on the port: IRC clients are sent ERROR, not "!!! error:".
    server = run_server("--irc-port", "0", "--max-per-ip", "1")
    with text_user(server.address, "carol"):
        with IrcClient(server.irc_address) as refused:
            assert refused.read_until_closed() == [
                "ERROR :Closing Link: too many connections from your address (limit 1)"]
    full = run_server("--irc-port", "0", "--max-clients", "1")
    with text_user(full.address, "carol"):
        with IrcClient(full.irc_address) as refused:
            assert refused.read_until_closed() == ["ERROR :Closing Link: server full, try again later"]
        with LineClient(full.address) as text:  # the main port keeps the text dialect's words
            assert text.read_until_closed() == ["!!! error: server full, try again later"]


def test_a_refused_irc_connection_over_tls_is_told_why_in_an_irc_error(run_server, certificate):
    import ssl
    cert, key = certificate
    server = run_server("--irc-port", "0", "--tls-cert", cert, "--tls-key", key, "--max-per-ip", "1")
    context = ssl.create_default_context(cafile=cert)
    with IrcClient(server.irc_address, tls=context) as first:
        first.send_irc("NICK dave", "USER d 0 * :Dave")
        first.expect(f"{SRV} 001 dave ")
        with IrcClient(server.irc_address, tls=context) as refused:
            assert refused.read_until_closed() == [
                "ERROR :Closing Link: too many connections from your address (limit 1)"]


def test_an_irc_client_that_stops_reading_is_dropped_and_seen_to_quit(run_server):
    server = run_server("--irc-port", "0", "--max-sendq", "65536", "--rate", "0")
    alice = text_user(server.address, "alice")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # set before connecting
    stalled.connect(server.irc_address)
    stalled.sendall(b"NICK stalled\r\nUSER s 0 * :S\r\n")
    alice.expect("stalled has joined")
    watcher = irc_user(server, "watcher")
    payload = "y" * 400  # one IRC line each: the watcher reads as fast as alice sends
    for batch in range(1000):  # at most 28 MB, far past what the kernel buffers for the stalled one
        alice.send("".join(f"{batch}.{n} {payload}\n" for n in range(64)))
        alice.expect(rf"^<alice> {batch}\.63 y")
        watcher.expect(rf"PRIVMSG #selchat :{batch}\.63 y")
        if any(line.startswith("*** stalled has left") for line in alice.lines):
            break
    alice.expect(r"^\*\*\* stalled has left \(too slow \(output queue full\)\)$")
    assert watcher.expect("QUIT") == ":stalled!s@127.0.0.1 QUIT :too slow (output queue full)"
    server.wait_for_log(r"WARNING stalled .* dropped: too slow")
    stalled.close()
    alice.close()
    watcher.close()
