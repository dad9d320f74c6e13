"""Why a connection failed, in words a user can act on, and the client's TLS setup.

Never a traceback: every exception a connection attempt can raise becomes one short reason for
the status bar.  No I/O here beyond building the TLS context; no Textual.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

# OpenSSL's verify codes for "I do not know who signed this".
UNTRUSTED_CODES = {2, 18, 19, 20, 21}
EXPIRED, NOT_YET_VALID, HOST_MISMATCH, IP_MISMATCH = 10, 9, 62, 64
# SSL errors that mean the peer answered our TLS hello with something that is not TLS.
NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG",
                   "RECORD_LAYER_FAILURE", "UNEXPECTED_MESSAGE", "RECORD_TOO_LARGE"}


class FatalConnectError(Exception):
    """A connection problem that retrying cannot fix (e.g. a port number out of range)."""


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context that checks the server's certificate and its host name.

    Without `ca_file` it trusts the system's certificate authorities.  With it, it trusts only the
    certificates in that PEM file: a private CA, or the server's own self-signed certificate.
    Raises `OSError` or `ssl.SSLError` if the file cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def describe_certificate_error(exc: ssl.SSLCertVerificationError, host: str) -> str:
    code, detail = exc.verify_code, (exc.verify_message or "").rstrip(".")
    if code in UNTRUSTED_CODES:
        return f"TLS certificate not trusted (use --tls-ca): {detail}"
    if code == EXPIRED:
        return "TLS certificate has expired"
    if code == NOT_YET_VALID:
        return "TLS certificate is not valid yet (check the clocks)"
    if code in (HOST_MISMATCH, IP_MISMATCH):
        return f"TLS certificate is not for {host} (connect by the name it was issued for)"
    return f"TLS certificate rejected: {detail or exc.reason or 'verification failed'}"


def describe_connect_error(exc: BaseException, host: str, port: int | str) -> str:
    """A short human reason for a failed connection attempt, never a traceback."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_certificate_error(exc, host)
    if isinstance(exc, ssl.SSLError):  # before OSError: SSLError is one, with an unreadable strerror
        reason = getattr(exc, "reason", None) or ""  # set by OpenSSL; absent on a hand-made one
        if reason in NOT_TLS_REASONS:
            return "the server answered in plain text, not TLS (try without --tls)"
        if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
            return "the server hung up during the TLS handshake"
        return f"TLS error: {reason.replace('_', ' ').lower() or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.gaierror, UnicodeError)):
        return f"unknown host {host!r}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timed out connecting"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "connection reset"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def check_port(port: int | str) -> int:
    """The port as an int, or `FatalConnectError` saying why it cannot be one."""
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise FatalConnectError(f"bad port {port!r}: not a number") from None
    if not 1 <= number <= 65535:
        raise FatalConnectError(f"bad port {number}: must be 1-65535")
    return number
