"""The selchat wire protocol, defined once and shared by the server, the client and the test stubs.

Standard library only, and no I/O: what the bytes on a connection mean, in both dialects, and
nothing about who holds which state. The server keeps its side's state machine
(`selchat.server.protocol.Connection`), the client its own (`selchat.client.session`), as h11
and wsproto keep one event vocabulary for both roles.

- `schema`: version, limits, type and field names, error codes (docs/protocol.md's tables);
- `events`: the event vocabulary, requests and notifications;
- `requests`: the JSON requests a client builds and the parser the server runs on them;
- `notifications`: the JSON notifications the server encodes and the decoder the client runs;
- `text_dialect`: the text dialect's rendering, prefixes and refusal line;
- `commands`: the text dialect's slash commands;
- `text`: the one rule for untrusted text (`clean`) and the nick rules.
"""
