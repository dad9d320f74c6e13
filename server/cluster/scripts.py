"""The Lua scripts that make each room change one atomic Redis command.

Each script is sent as `EVALSHA <sha> 1 <room log key> <ARGV...>`; the log key is declared so a
Redis Cluster routes the call, and the room's other keys, which share its `{room}` hash tag, are
built from the prefix in ARGV[1]. Every script starts with the same ARGV:

    1 key prefix   2 epoch seed (random per node process)   3 stream MAXLEN (~)
    4 node id      5 heartbeat lifetime in ms

and first makes sure the room has an epoch: if the epoch key is missing (first start, or a Redis
that restarted empty or was flushed), it creates one from the seed and Redis's clock and appends
an `epoch` entry, so every node learns of the change in stream order. Claims, releases and
ticks also refresh the node's heartbeat (posts do not: they are the hot path). Time is always
Redis's (TIME), never a node's, so nodes with skewed clocks agree on who is dead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

_PROLOGUE = """
local P, seed, maxlen, me, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local log, nicks, nodes = P .. 'log', P .. 'nicks', P .. 'nodes'
local function append(...)
  return redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', ...)
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t[1] .. t[2]
end
local epoch = redis.call('GET', P .. 'epoch')
local fresh = false
if not epoch then
  local _, stamp = clock()
  epoch = seed .. '-' .. stamp
  redis.call('SET', P .. 'epoch', epoch)
  append('k', 'epoch', 'e', epoch, 'o', me)
  fresh = true
end
local function node_of(owner)
  return string.match(owner, '^(%S+) ')
end
-- claims and ticks (not posts: they are the hot path) refresh this node's heartbeat
local function heartbeat()
  local now = clock()
  local before = redis.call('ZSCORE', nodes, me)
  redis.call('ZADD', nodes, now + ttl, me)
  return now, before
end
"""

# ARGV 6 dedupe ttl s, then for each line: dedupe key, field count, fields.
# -> {sid, 1 if a repeat, sid, 0, ...}: one pair per line, in order. One call stores every line a
# node was handed in one loop turn (up to posting.POST_BATCH), so the call's own cost (parsing,
# the script's set-up, the epoch check) is paid once per batch, not once per line.
# A dedupe key is either a client's (session and request id): `posted:<key>` keeps the sid it
# got, as the line may be re-sent through any node; or `#<n>`, the node process's own count of
# lines without a request id, which only that process ever re-sends, and in order: one mark per
# process (`local:<node>:<seed>`, the highest n stored) knows them all, and a repeat's sid is
# never needed (nobody waits for its echo by id).
_POST = """
local keep, answers, i = ARGV[6], {}, 7
local mark_key, mark, marked = P .. 'local:' .. me .. ':' .. seed, nil, false
while i <= #ARGV do
  local key, count = ARGV[i], tonumber(ARGV[i + 1])
  local seen, posted, n = nil, nil, nil
  if string.byte(key, 1) == 35 then  -- '#'
    n = tonumber(string.sub(key, 2))
    if mark == nil then mark = tonumber(redis.call('GET', mark_key) or 0) end
    if n <= mark then seen = '' end
  elseif key ~= '' then
    posted = P .. 'posted:' .. key
    seen = redis.call('GET', posted)
  end
  if seen then
    answers[#answers + 1] = seen
    answers[#answers + 1] = 1
  else
    local sid = append(unpack(ARGV, i + 2, i + 1 + count))
    if posted then redis.call('SET', posted, sid, 'EX', keep) end
    if n then mark, marked = n, true end
    answers[#answers + 1] = sid
    answers[#answers + 1] = 0
  end
  i = i + 2 + count
end
if marked then redis.call('SET', mark_key, mark, 'EX', keep) end
return answers
"""

# ARGV 6 key, 7 nick, 8 session, 9 old key ('' = join), 10 old nick, 11 ts, 12 request id
# -> {'claimed', sid} | {'reclaimed', ''} | {'taken', ''}
_CLAIM = """
local key, nick, session, oldkey, oldnick = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local now = heartbeat()
local owner = me .. ' ' .. session
local mine = P .. 'node:' .. me
local current = redis.call('HGET', nicks, key)
-- a session back under its nick in another case: everyone is shown the new spelling
local function recased(was)
  if was and was ~= nick then
    append('k', 'nick', 'n', nick, 'old', was, 'o', me, 's', session, 'ts', ARGV[11])
  end
end
if current and current ~= owner then
  local holder = node_of(current) or ''
  if string.sub(current, #holder + 2) == session then
    -- the same client came back on this node: move the claim, say nothing (no leave/join flap)
    local was = redis.call('HGET', P .. 'node:' .. holder, key)
    redis.call('HDEL', P .. 'node:' .. holder, key)
    if oldkey == '' then
      redis.call('HSET', nicks, key, owner)
      redis.call('HSET', mine, key, nick)
      recased(was)
      return {'reclaimed', ''}
    end
  else
    local expiry = redis.call('ZSCORE', nodes, holder)
    if expiry and tonumber(expiry) > now then return {'taken', ''} end
    -- the holder's node is dead and not reaped yet: its user leaves now
    local gone = redis.call('HGET', P .. 'node:' .. holder, key) or nick
    redis.call('HDEL', P .. 'node:' .. holder, key)
    append('k', 'leave', 'n', gone, 'o', holder, 'r', 'node lost', 'ts', now)
  end
elseif current == owner and oldkey == '' then
  local was = redis.call('HGET', mine, key)
  redis.call('HSET', mine, key, nick)
  recased(was)
  return {'reclaimed', ''}
end
redis.call('HSET', nicks, key, owner)
if oldkey ~= '' then
  if oldkey ~= key and redis.call('HGET', nicks, oldkey) == owner then
    redis.call('HDEL', nicks, oldkey)
  end
  redis.call('HDEL', mine, oldkey)
  redis.call('HSET', mine, key, nick)
  return {'claimed', append('k', 'nick', 'n', nick, 'old', oldnick, 'o', me, 's', session,
                             'ts', ARGV[11], 'i', ARGV[12])}
end
redis.call('HSET', mine, key, nick)
return {'claimed', append('k', 'join', 'n', nick, 'o', me, 's', session, 'ts', ARGV[11])}
"""

# ARGV 6 key, 7 nick, 8 session, 9 reason, 10 ts -> {'released', sid} | {'gone', ''}
_RELEASE = """
heartbeat()
local key, nick, session = ARGV[6], ARGV[7], ARGV[8]
local mine = P .. 'node:' .. me
if redis.call('HGET', nicks, key) == me .. ' ' .. session then
  redis.call('HDEL', nicks, key)
  redis.call('HDEL', mine, key)
  return {'released', append('k', 'leave', 'n', nick, 'o', me, 's', session,
                             'r', ARGV[9], 'ts', ARGV[10])}
end
-- reclaimed elsewhere by the same session, or reaped: no leave, nobody flaps
if redis.call('HGET', mine, key) then redis.call('HDEL', mine, key) end
return {'gone', ''}
"""

# ARGV 6 target key, 7 inbox maxlen, 8.. fields -> {'sent', sid, node} | {'nosuch', '', ''}
_PRIVATE = """
local owner = redis.call('HGET', nicks, ARGV[6])
if not owner then return {'nosuch', '', ''} end
local node = node_of(owner)
local sid = redis.call('XADD', P .. 'inbox:' .. node, 'MAXLEN', '~', ARGV[7], '*', unpack(ARGV, 8))
return {'sent', sid, node}
"""

# Heartbeat and reaper in one: -> {epoch, 1 if this node was still registered, users reaped}.
# A tick that finds its own heartbeat expired reaps nobody: Redis was hung or away (or this
# node was), so no node could tick, and the others get one more lifetime instead.
_TICK = """
local now, alive_before = heartbeat()
local dead = redis.call('ZRANGEBYSCORE', nodes, '-inf', now, 'WITHSCORES')
local reaped = 0
local last_tick = alive_before and (tonumber(alive_before) - ttl) or nil
local own_lapsed = alive_before and tonumber(alive_before) < now
local gone = {}
for i = 1, #dead, 2 do
  if own_lapsed and tonumber(dead[i + 1]) >= last_tick then
    -- Our own heartbeat ran out too: Redis was hung or away (or we were), so nobody could
    -- tick. A node still alive at our last tick gets one more lifetime before it is taken for
    -- dead; one whose lease had run out before that was dead already, and goes now.
    redis.call('ZADD', nodes, now + ttl, dead[i])
  else
    gone[#gone + 1] = dead[i]
  end
end
dead = gone
for _, node in ipairs(dead) do
  local members = redis.call('HGETALL', P .. 'node:' .. node)
  for i = 1, #members, 2 do
    local owner = redis.call('HGET', nicks, members[i])
    if owner and node_of(owner) == node then
      redis.call('HDEL', nicks, members[i])
      append('k', 'leave', 'n', members[i + 1], 'o', node, 'r', 'node lost', 'ts', now)
      reaped = reaped + 1
    end
  end
  redis.call('DEL', P .. 'node:' .. node)
  redis.call('ZREM', nodes, node)
end
return {epoch, alive_before and 1 or 0, reaped}
"""

# The feed's first command on every connection. ARGV 6 epoch the node knows ('' = none),
# 7 history lines, 8 inbox key, 9 the last sid the node read ('0-0' = none).
# -> {epoch, 0} when the node can go on reading after its sid, else
#    {epoch, 1 (new epoch) | 2 (its sid was trimmed away), log top, inbox top, {nick, node, ...},
#     history newest first}
_OPEN = """
local function sid(s)
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local status = 1
if epoch == ARGV[6] and not fresh then
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  local lm, ls = sid(ARGV[9])
  local fm, fs = 0, 0
  if first then fm, fs = sid(first[1]) end
  if ARGV[9] == '0-0' or not first or not (lm < fm or (lm == fm and ls < fs)) then
    return {epoch, 0}
  end
  status = 2
end
local members = {}
local owners = redis.call('HGETALL', nicks)
for i = 1, #owners, 2 do
  local node = node_of(owners[i + 1])
  local nick = node and redis.call('HGET', P .. 'node:' .. node, owners[i])
  if nick then
    members[#members + 1] = nick
    members[#members + 1] = node
  end
end
local history = redis.call('XREVRANGE', log, '+', '-', 'COUNT', math.max(tonumber(ARGV[7]), 1))
local top = history[1] and history[1][1] or '0-0'
if tonumber(ARGV[7]) == 0 then history = {} end
local inbox = redis.call('XREVRANGE', ARGV[8], '+', '-', 'COUNT', 1)
return {epoch, status, top, inbox[1] and inbox[1][1] or '0-0', members, history}
"""


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


POST = Script("post", _PROLOGUE + _POST)
CLAIM = Script("claim", _PROLOGUE + _CLAIM)
RELEASE = Script("release", _PROLOGUE + _RELEASE)
PRIVATE = Script("private", _PROLOGUE + _PRIVATE)
TICK = Script("tick", _PROLOGUE + _TICK)
OPEN = Script("open", _PROLOGUE + _OPEN)
ALL = (POST, CLAIM, RELEASE, PRIVATE, TICK, OPEN)
