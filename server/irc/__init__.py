"""The IRC dialect's sans-I/O core: lines, registration, channel replies, client requests.

Nothing in this package opens a socket or reads a clock. The server wires it in: bytes
from an IRC connection go through ``LineFramer`` and ``parse``, then ``Registration``
until the client is welcomed, then ``parse_request``; room happenings come back out
through a ``ChannelView`` as lines of at most 512 bytes.
"""
