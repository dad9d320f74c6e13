"""Connect failures in words (client/errors.py), without a network."""

import socket
import ssl

import pytest

from selchat.client.errors import FatalConnectError, check_port, describe_connect_error


@pytest.mark.parametrize("exc, words", [
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
    (socket.gaierror(-2, "Name or service not known"), "unknown host 'h'"),
    (UnicodeError("label empty"), "unknown host 'h'"),
    (TimeoutError(), "timed out connecting"),
    (ConnectionResetError(104, "Connection reset by peer"), "connection reset"),
    (OSError(113, "No route to host"), "no route to host"),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
     "the server hung up during the TLS handshake"),
])
def test_connect_errors_are_short_reasons(exc, words):
    assert describe_connect_error(exc, "h", 1) == words


def test_a_plain_text_answer_to_tls_says_try_without_tls():
    exc = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    exc.reason = "WRONG_VERSION_NUMBER"
    assert describe_connect_error(exc, "h", 1) == "the server answered in plain text, not TLS (try without --tls)"


@pytest.mark.parametrize("port, words", [("http", "bad port 'http': not a number"),
                                         (0, "bad port 0: must be 1-65535"),
                                         (65536, "bad port 65536: must be 1-65535")])
def test_bad_ports_are_fatal_with_a_reason(port, words):
    with pytest.raises(FatalConnectError, match=words.replace("(", r"\(")):
        check_port(port)
    assert check_port("8081") == 8081
