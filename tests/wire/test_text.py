"""Untrusted text: what may reach a terminal, and what a nick may be (`selchat.wire.text`, the
one rule for server and client)."""

import pytest

from selchat.client.sanitize import clean as client_clean
from selchat.wire.text import clean, is_valid_nick, nick_key


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("plain text", "plain text"),
        ("tab\tkept", "tab\tkept"),
        ("red \x1b[31mtext\x1b[0m", "red text"),
        ("title \x1b]0;pwned\x07after", "title after"),
        ("osc st \x1b]8;;http://x\x1b\\link", "osc st link"),
        ("clear \x1b[2J\x1b[H", "clear "),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("c1 \x9b31m csi", "c1  csi"),
        ("cr\roverwrite", "croverwrite"),
        ("lone esc \x1b", "lone esc "),
        ("ünïcödé 漢字 🙂", "ünïcödé 漢字 🙂"),
        ("see \u202etxt.exe\u202c and \u2066x\u2069", "see txt.exe and x"),  # bidi override, isolate
        ("embed \u202a\u202b\u202d\u2067\u2068", "embed "),
        ("line\u2028*** admin has joined\u2029", "line*** admin has joined"),
        ("c1 osc \x9d0;title\x9cafter", "c1 osc after"),
        ("c1 dcs \x90q\x9c, sos \x98x\x9c, pm \x9ey\x9c, apc \x9fz\x9cend", "c1 dcs , sos , pm , apc end"),
        ("charset \x1b(Bok", "charset ok"),
    ],
)
def test_clean_strips_what_could_drive_a_terminal(raw, shown):
    assert clean(raw) == shown


def test_the_client_cleans_by_the_same_rule_with_tabs_as_spaces():
    """Report #13: the TUI stripped bidi controls and U+2028, the server relayed them to nc users,
    because each had its own sanitizer. Now there is one; the client's only difference is that a
    tab becomes a space (its log lays text out in cells)."""
    for code in range(0x3000):
        text = f"a{chr(code)}b\x1b[31mc\u202e"
        assert client_clean(text) == clean(text).replace("\t", " "), hex(code)
    assert client_clean("a\tb") == "a b" and clean("a\tb") == "a\tb"


@pytest.mark.parametrize("nick", ["alice", "Bob", "_x", "[away]", "a-b", "José", "x" * 16, "a1",
                                  "ёжик", "名前", "josé", "アリス", "山田たろう", "김철수", "Ωμέγα", "ａlice"])
def test_valid_nicks(nick):
    assert is_valid_nick(nick)


@pytest.mark.parametrize("nick", ["", "1abc", "-a", "a b", "x" * 17, "a\x1b", "a,b", "<a>", "*a*"])
def test_invalid_nicks(nick):
    assert not is_valid_nick(nick)


@pytest.mark.parametrize("nick", [
    "\u0430lice", "alic\u0435", "p\u0430yp\u0430l",  # Latin with Cyrillic а / е (report #11)
    "\u03bfmega",  # Greek omicron among Latin
    "alice\u05d0",  # Latin and Hebrew
])
def test_nicks_that_mix_scripts_are_refused(nick):
    assert not is_valid_nick(nick)


@pytest.mark.parametrize("nick", [
    "\u3164", "\u3164\u3164\u3164", "a\u3164", "\u115f", "\u1160x", "x\uffa0",  # Hangul fillers
    "x\u2800", "a\u200bb", "a\u200db", "a\u00adb", "a\u2060b", "a\ufeffb", "a\u034fb", "a\u180eb",
    "a\u3000b", "a\u00a0b", "\U000e0061x",
])
def test_nicks_with_invisible_or_blank_characters_are_refused(nick):
    assert not is_valid_nick(nick)


@pytest.mark.parametrize("nick", ["\u2460x", "\ufdfa"])
def test_a_nick_must_also_be_valid_once_normalised(nick):
    assert not is_valid_nick(nick)  # ① is 1 (a leading digit); ﷺ is a phrase with spaces


def test_nicks_are_the_same_regardless_of_case():
    assert nick_key("Alice") == nick_key("ALICE") == nick_key("alice")


@pytest.mark.parametrize("look_alike", ["\uff41lice", "\uff21LICE", "ALICE", "ａｌｉｃｅ"])
def test_nicks_are_the_same_once_nfkc_normalised(look_alike):
    assert nick_key(look_alike) == nick_key("alice")
    assert nick_key("\u212a") == nick_key("k")  # KELVIN SIGN
