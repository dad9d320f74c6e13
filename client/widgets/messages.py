"""Messages shared across widgets: what the network worker tells the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..session import Event, StatusChanged


@dataclass
class NetEvents(Message):
    """A batch of session events, in the order the network layer produced them.

    Batching is what keeps a flood of thousands of lines from posting thousands of messages.
    """

    events: list[Event]


@dataclass
class ConnectionStatus(Message):
    """The connection state changed or its countdown ticked; only the newest matters."""

    status: StatusChanged

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ConnectionStatus)


@dataclass
class LagUpdate(Message):
    seconds: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LagUpdate)
