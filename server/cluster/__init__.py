"""Cluster mode: several selchat-server nodes share a room through Redis.

Everything here is sans-I/O: `resp` turns commands into bytes and bytes into replies,
`room_log` is the data model (keys, stream entries, Lua scripts), and `node` decides what
to send and when. The select loop owns the sockets and the clock.
"""
