"""The Lua scripts of the Redis backend, and the argument layout they share with Python.

Rules these scripts keep:
- One script call admits a request under every scope: budgets, then token buckets, then
  parallel counters are *checked*, and only when all pass is anything written. Redis runs a
  script atomically, so instances and workers sharing a server see one count.
- Buckets refill from the server's ``TIME``: every instance shares that one clock. A bucket is
  a string ``"<level> <stamp>"`` that expires once it would be full again (plus a minute):
  an idle bucket costs no memory. Capacity and rate come with each call, so a limit changed
  at run time applies at once. (A hash left by an older version reads as a full bucket:
  ``MGET`` answers nil for it, and ``SET`` replaces it.)
- Few ``redis.call``s, because Redis runs each script on its one thread and every instance
  waits on it: every key is read by one ``MGET``, a bucket is written by one ``SET ... PX``,
  and a spend counter's expiry is set only when its ``INCRBYFLOAT`` created it. Measured
  with the bench's three scopes (two budgets on the key, one on the team, rpm and tpm on
  each, a parallel limit): about 13 calls per admission and 12 per settlement instead of
  40 and 25, and about half the redis-server CPU per request (README, "Redis mode").
- Parallel counters expire ``PARALLEL_TTL_S`` after their last admission: the slots of an
  instance that crashed are freed then. Spend counters (``s``) and reservations (``v``)
  expire at their period's end plus a day.
- Numbers come back as integers (Lua numbers are truncated by Redis): levels floored, times
  in milliseconds rounded up; spend as a string. A bucket's expiry is at most
  ``MAX_BUCKET_TTL_MS`` whatever its level, so that ``PX`` always gets an integer Redis accepts.
- A settlement never drops another: SETTLE checks every number it is given before it writes
  anything (an error then means nothing was written, so each settlement of the batch can be
  sent again alone), and writes with ``redis.pcall``, so a counter Redis refuses (a key of
  the wrong type) costs only that counter's update; it returns ``{failed writes, first
  error}``.

Layout. ADMIT: ``KEYS`` = per budget (spent, reserved), per bucket (hash), per parallel
(counter); ``ARGV`` = nbudgets, nbuckets, nparallel, then per budget (budget, estimate,
expire-at), per bucket (rate per second, capacity, cost), per parallel (limit). It returns
``{0, level1, reset_ms1, ...}`` (one pair per bucket, after taking), ``{1, i, retry_ms,
level, reset_ms}`` (bucket i short; retry_ms -1: never under this capacity), ``{2, i}``
(parallel i full) or ``{3, i, spent}`` (budget i used up).
SETTLE (of one request or of a batch summed by ``layout.settle_calls``): the same ``KEYS``;
``ARGV`` = nbudgets, nbuckets, nparallel, then per budget (estimate, cost, expire-at), per
bucket (rate, capacity, delta), per parallel (slots to leave).
"""

from __future__ import annotations

PARALLEL_TTL_S = 600
MAX_BUCKET_TTL_MS = 10**12  # about 31 years: written in full by Lua's number format

_PRELUDE = (
    """
local max_ttl_ms = """
    + str(MAX_BUCKET_TTL_MS)
    + """
local function level_of(value, rate, cap, now)
  if not value then return cap end
  local l, s = string.match(value, '^(%S+) (%S+)$')
  local level, stamp = tonumber(l), tonumber(s)
  if level == nil or stamp == nil then return cap end
  if now > stamp then level = level + (now - stamp) * rate end
  if level > cap then level = cap end
  return level
end
local function store(call, key, level, rate, cap, now)
  local full_ms = 0
  if rate > 0 and level < cap then full_ms = math.ceil((cap - level) / rate * 1000) end
  if full_ms > max_ttl_ms then full_ms = max_ttl_ms end
  call('SET', key, tostring(level) .. ' ' .. tostring(now), 'PX', full_ms + 60000)
  return full_ms
end
-- adds amount to a spend counter, giving it its expiry when this call created it
local function add(call, key, amount, expire_at)
  local total = tonumber(call('INCRBYFLOAT', key, amount))
  if total and total <= tonumber(amount) * (1 + 1e-9) then call('EXPIREAT', key, expire_at) end
  return total
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nq, nb, np = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
"""
)

ADMIT = (
    _PRELUDE
    + """
local v = {}
if #KEYS > 0 then v = redis.call('MGET', unpack(KEYS)) end  -- a key without limits has none
local k, a = 1, 4
for i = 1, nq do
  local used = tonumber(v[k] or '0') + tonumber(v[k + 1] or '0')
  if used >= tonumber(ARGV[a]) then return {3, i, tostring(used)} end
  k = k + 2
  a = a + 3
end
local levels = {}
local bk, ba = k, a
for i = 1, nb do
  local rate, cap, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local level = level_of(v[k], rate, cap, now)
  local reset = 0
  if rate > 0 and level < cap then reset = math.ceil((cap - level) / rate * 1000) end
  if cost > cap then return {1, i, -1, math.floor(level), reset} end
  if level < cost - 1e-9 * (cap + 1) then
    return {1, i, math.ceil((cost - level) / rate * 1000), math.floor(level), reset}
  end
  levels[i] = level - cost
  k = k + 1
  a = a + 3
end
for i = 1, np do
  if tonumber(v[k] or '0') >= tonumber(ARGV[a]) then return {2, i} end
  k = k + 1
  a = a + 1
end
local out = {0}
k, a = bk, ba
for i = 1, nb do
  local rate, cap = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local full_ms = store(redis.call, KEYS[k], levels[i], rate, cap, now)
  out[#out + 1] = math.floor(levels[i])
  out[#out + 1] = full_ms
  k = k + 1
  a = a + 3
end
for i = 1, np do
  redis.call('INCR', KEYS[k])
  redis.call('EXPIRE', KEYS[k], """
    + str(PARALLEL_TTL_S)
    + """)
  k = k + 1
end
k, a = 1, 4
for i = 1, nq do
  if tonumber(ARGV[a + 1]) > 0 then add(redis.call, KEYS[k + 1], ARGV[a + 1], ARGV[a + 2]) end
  k = k + 2
  a = a + 3
end
return out
"""
)

SETTLE = (
    _PRELUDE
    + """
for i = 1, #ARGV do  -- every number is checked before anything is written
  local x = tonumber(ARGV[i])
  if x == nil or x ~= x or x == math.huge or x == -math.huge then
    return redis.error_reply('SETTLE: argument ' .. i .. ' is not a finite number')
  end
end
local failed, first = 0, ''
local function try(...)  -- one write; a refused one is counted, never fatal
  local reply = redis.pcall(...)
  if type(reply) == 'table' and reply.err then
    failed = failed + 1
    if first == '' then first = reply.err end
    return nil
  end
  return reply
end
local k, a = 1, 4
for i = 1, nq do
  local estimate, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  if estimate > 0 then
    local left = tonumber(try('INCRBYFLOAT', KEYS[k + 1], -estimate))
    if left and left < 1e-12 then
      try('SET', KEYS[k + 1], '0')
      try('EXPIREAT', KEYS[k + 1], ARGV[a + 2])
    end
  end
  if cost > 0 then add(try, KEYS[k], ARGV[a + 1], ARGV[a + 2]) end
  k = k + 2
  a = a + 3
end
local changed = {}
for i = 1, nb do
  if tonumber(ARGV[a + 2 + 3 * (i - 1)]) ~= 0 then changed[#changed + 1] = i end
end
if #changed > 0 then
  local v = redis.call('MGET', unpack(KEYS, k, k + nb - 1))  -- MGET refuses no key type
  for _, i in ipairs(changed) do
    local b = a + 3 * (i - 1)
    local rate, cap, delta = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local level = level_of(v[i], rate, cap, now) - delta
    if level > cap then level = cap end
    store(try, KEYS[k + i - 1], level, rate, cap, now)
  end
end
k, a = k + nb, a + 3 * nb
for i = 1, np do
  local left = try('DECRBY', KEYS[k], ARGV[a])
  if left and left < 0 then try('SET', KEYS[k], '0') end
  k = k + 1
  a = a + 1
end
return {failed, first}
"""
)
