"""The network layer's line framing (pure: bytes in, lines out)."""

from selchat.client.net import LineSplitter


def test_lines_split_across_reads_come_out_whole():
    split = LineSplitter()
    assert split.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert split.feed(b':2}\n\n{"c":3}\n') == [b'{"b":2}', b"", b'{"c":3}']
    assert split.feed(b"") == []


def test_an_over_long_line_is_dropped_whole_and_the_next_one_kept():
    split = LineSplitter(limit=10)
    assert split.feed(b"short\n" + b"x" * 25) == [b"short"]
    assert split.feed(b"y" * 30) == []
    assert split.feed(b"zz\nnext\n") == [b"next"]
    assert split.feed(b"x" * 11 + b"\nok\n") == [b"ok"]
