"""The network layer's line framing (pure: bytes in, lines out)."""

from selchat.client.net import LineSplitter


class Split(LineSplitter):
    def feed(self, data: bytes) -> list[bytes]:
        return [line.encode() if isinstance(line, str) else line for line in super().feed(data)]


def test_lines_split_across_reads_come_out_whole():
    split = Split()
    assert split.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert split.feed(b':2}\n\n{"c":3}\n') == [b'{"b":2}', b"", b'{"c":3}']
    assert split.feed(b"") == []


def test_an_over_long_line_is_dropped_whole_and_the_next_one_kept():
    split = Split(limit=10)
    assert split.feed(b"short\n" + b"x" * 25) == [b"short"]
    assert split.feed(b"y" * 30) == []
    assert split.feed(b"zz\nnext\n") == [b"next"]
    assert split.feed(b"x" * 11 + b"\nok\n") == [b"ok"]


def test_valid_utf8_comes_out_as_text_and_invalid_as_bytes_for_the_session_to_refuse():
    split = LineSplitter()
    assert split.feed("straße\n".encode()) == ["straße"]
    assert split.feed(b"\xff\xfe\nok\n") == [b"\xff\xfe", b"ok"]
    # a character cut between two reads is whole when its line is complete
    assert split.feed("é".encode()[:1]) == []
    assert split.feed("é".encode()[1:] + b"\n") == ["é"]
