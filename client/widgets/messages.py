"""Messages shared across widgets.

The network's events no longer travel as messages: the app's frame pump hands them to
`ChatScreen.show_events` directly, so a slow screen cannot pile up a message queue of its own.
"""
