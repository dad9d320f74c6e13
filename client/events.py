"""The wire vocabulary as the client uses it: all of it from the shared `selchat.wire` package.

Server lines decode (`decode`) into the same event classes the server encodes; requests are built
by the `*_request` functions and put on the wire by `encode`. The client's own names for three
classes are kept: `UserList` is `Users`, `ServerError` is `Error`, `ServerPing` is `Ping`. Every
piece of text from the server goes through the one `clean` rule in the decoder, once (tabs as
spaces, as `sanitize.clean` does).
"""

from __future__ import annotations

from selchat.wire.events import (  # noqa: F401  (re-exported)
    ChatLine, Event, Joined, Left, NickChanged, Notice, Pong, Presence, Reply, ServerError, ServerPing,
    UserList, Welcome,
)
from selchat.wire.notifications import decode  # noqa: F401
from selchat.wire.requests import (  # noqa: F401
    chat_request, encode, hello_request, nick_request, ping_request, pong_request, quit_request,
    who_request,
)
from selchat.wire.schema import DEFAULT_MAX_LINE, PROTOCOL_VERSION  # noqa: F401
from selchat.wire.text_dialect import TEXT_PREFIXES, text_line_reason  # noqa: F401

from .sanitize import clean  # noqa: F401  (the same rule the decoder applies)

# The name the client used for the text dialect's prefixes.
TEXT_ERROR_PREFIXES = TEXT_PREFIXES
