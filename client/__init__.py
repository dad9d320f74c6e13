"""selchat's terminal client: an asyncio network layer and a Textual app over it."""
