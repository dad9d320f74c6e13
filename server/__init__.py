"""selchat's server: one selectors loop, a sans-I/O protocol and chat core.

Standard library only, so the server runs wherever Python does.
"""

__version__ = "0.1.0"
