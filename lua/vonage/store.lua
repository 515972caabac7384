--- Where state that outlives a call waits: pending Number Verification
-- states (put/take) and webhook replay records (add/delete).
--
-- Every backend has the same four methods; keys and values are strings. A
-- full store refuses (`err.code` `store_full`); it never evicts a live entry,
-- which would make a state vanish or a replayed token pass. One process: the
-- memory store; one nginx with several workers: the shared-dict store; several
-- hosts: the Redis store. A store that cannot be reached answers `err.code`
-- `store_unavailable` (Redis).
--
--   store:put(key, value, ttl) -> true | nil, msg, err   never overwrites a live key
--   store:take(key) -> value | nil    atomic: of racing callers one gets the value
--   store:add(key, ttl) -> true | false | nil, msg, err  atomic: false when the key lives
--   store:delete(key)
-- @module vonage.store
local core = require "vonage.core"
local errors = require "vonage.errors"
local validate = require "vonage.validate"
local now = require("vonage.clock").now

local setmetatable, getmetatable, next, type, tostring, rawget, pcall, require, pairs, ipairs =
      setmetatable, getmetatable, next, type, tostring, rawget, pcall, require, pairs, ipairs
local format, concat, huge, ceil, remove =
      string.format, table.concat, math.huge, math.ceil, table.remove
local unpack = rawget(_G, "unpack") or table.unpack -- luacheck: ignore 143

local M = {}

local function fail(code, message)
  return errors.fail("store", code, message)
end

local function check_args(op, key, ttl)
  if type(key) ~= "string" then errors.misuse(op, "key must be a string") end
  if type(ttl) ~= "number" or not (ttl > 0 and ttl < huge) then
    errors.misuse(op, "ttl must be a positive number of seconds")
  end
end

-- store.memory{max_entries} and store.redis{timeout_ms, pool_size}: rows of the one table of limits (src/vn_limits.h).
local LIMITS = require("vonage.core").limits()
local MAX_ENTRIES = LIMITS.max_entries
local REDIS_TIMEOUT, REDIS_POOL = LIMITS.store_timeout_ms, LIMITS.store_pool_size

local function default_clock() return now() end -- the one clock (vonage.clock)

-- In one Lua state --------------------------------------------------------

local Memory = { __name = "vonage.store.memory" }
Memory.__index = Memory

function Memory:__tostring()
  return format("vonage.store.memory (%d of %d)", self.count, self.max_entries)
end

-- Drops what has expired. Runs only when the store is full and something
-- may have expired (min_expiry), so a full store of live entries refuses in O(1).
function Memory:_purge(t)
  if t < self.min_expiry then return end
  local entries, values, min = self.entries, self.values, huge
  for key, expires in next, entries do
    if expires <= t then
      entries[key], values[key] = nil, nil
      self.count = self.count - 1
    elseif expires < min then
      min = expires
    end
  end
  self.min_expiry = min
end

-- entries[key] (the expiry) is what makes a key live, and it is written last
-- with nothing after it that can fail: a memory error on any earlier write
-- (or on that one, which then leaves the table unchanged) leaves the key unseen.
function Memory:_insert(op, key, value, ttl)
  local t = self.clock()
  local expires = self.entries[key]
  if expires ~= nil then
    if expires > t then return false end
    self:delete(key)
  end
  if self.count >= self.max_entries then self:_purge(t) end
  if self.count >= self.max_entries then
    return fail("store_full", format("%s: the in-memory store is full (%d entries)", op, self.max_entries))
  end
  if value ~= nil then self.values[key] = value
  elseif self.values[key] ~= nil then self.values[key] = nil end -- a put's leftover from a failed write
  expires = t + ttl
  self.entries[key] = expires
  self.count = self.count + 1
  if expires < self.min_expiry then self.min_expiry = expires end
  return true
end

--- A store (vonage.store.memory or vonage.store.shared_dict).
-- @type store

--- Stores value under key for ttl seconds; never overwrites a live key.
-- @function store:put
-- @string key
-- @string value
-- @number ttl seconds, > 0
-- @return true
-- @return nil, msg, err on failure: `store_exists` (the key lives), `store_full`, `store_failed`
-- @usage assert(store:put("state:" .. state, session_id, 600))
function Memory:put(key, value, ttl)
  check_args("store:put", key, ttl)
  if type(value) ~= "string" then errors.misuse("store:put", "value must be a string") end
  local ok, msg, err = self:_insert("store:put", key, value, ttl)
  if ok == false then return fail("store_exists", "store:put: the key is already stored") end
  return ok, msg, err
end

--- Records key for ttl seconds unless it lives: atomic, so of racing callers one gets true.
-- @function store:add
-- @string key
-- @number ttl seconds, > 0
-- @return true when recorded, false when the key was live
-- @return nil, msg, err on failure (`store_full`, `store_failed`)
function Memory:add(key, ttl)
  check_args("store:add", key, ttl)
  return self:_insert("store:add", key, nil, ttl)
end

--- Removes key and returns its value: atomic, so of racing callers one gets it.
-- (Removes before returning, with no yield in between.)
-- @function store:take
-- @string key
-- @return the value (true for a key recorded by add)
-- @return nil when there is none or it expired
function Memory:take(key)
  local expires = self.entries[key]
  if expires == nil then return nil end
  local value = self.values[key]
  self:delete(key)
  if expires <= self.clock() then return nil end
  if value == nil then return true end
  return value
end

--- Removes key (nothing when there is none).
-- @function store:delete
-- @string key
function Memory:delete(key)
  if self.entries[key] ~= nil then
    self.entries[key] = nil
    self.count = self.count - 1
  end
  if self.values[key] ~= nil then self.values[key] = nil end
end

--- Making a store.
-- @section make

--- A store in this Lua state (per process, per nginx worker).
-- @tparam[opt] table opts `max_entries` (10000), `clock` (a function giving seconds;
-- os.time, ngx.time in nginx)
-- @treturn store
-- @usage local store = vonage.store.memory { max_entries = 1000 }
function M.memory(opts)
  local op = "vonage.store.memory"
  opts = opts or {}
  validate.typed(op, "options", opts, "table")
  validate.known_fields(op, opts, { max_entries = true, clock = true })
  validate.typed(op, "max_entries", opts.max_entries, "integer")
  validate.typed(op, "clock", opts.clock, "function")
  local max_entries = opts.max_entries or MAX_ENTRIES.default
  if max_entries < MAX_ENTRIES.min then
    errors.misuse(op, format("max_entries must be at least %d", MAX_ENTRIES.min))
  end
  return setmetatable({ entries = {}, values = {}, count = 0, max_entries = max_entries,
                        min_expiry = huge, clock = opts.clock or default_clock }, Memory)
end

-- Across nginx workers -------------------------------------------------------

local SharedDict = { __name = "vonage.store.shared_dict" }
SharedDict.__index = SharedDict

SharedDict.__tostring = function() return "vonage.store.shared_dict" end

-- A value lives under V..key; a put also keeps a counter under C..key that a
-- take increments (incr is atomic across workers): the caller that makes it 1
-- wins. An add stores the number 0 under V..key, its own counter. The counter
-- exists before any take, so a take needs no memory even in a full dict.
-- The prefixes let the dict hold the application's entries too.
local V, C = "vonage:", "vonage-take:"

local function dict_fail(op, err)
  if err == "no memory" then
    return fail("store_full", op .. ": the shared dict is full (raise its lua_shared_dict size)")
  end
  return fail("store_failed", op .. ": " .. tostring(err))
end

-- safe_add and safe_set never evict other entries to make room (add would
-- drop the least recently used pending states and replay records).
function SharedDict:put(key, value, ttl)
  check_args("store:put", key, ttl)
  if type(value) ~= "string" then errors.misuse("store:put", "value must be a string") end
  local dict = self.dict
  local ok, err = dict:safe_add(V .. key, value, ttl)
  if not ok then
    if err == "exists" then return fail("store_exists", "store:put: the key is already stored") end
    return dict_fail("store:put", err)
  end
  ok, err = dict:safe_set(C .. key, 0, ttl)
  if not ok then
    dict:delete(V .. key)
    return dict_fail("store:put", err)
  end
  return true
end

function SharedDict:add(key, ttl)
  check_args("store:add", key, ttl)
  local ok, err = self.dict:safe_add(V .. key, 0, ttl)
  if ok then return true end
  if err == "exists" then return false end
  return dict_fail("store:add", err)
end

function SharedDict:take(key)
  local dict = self.dict
  local n, err = dict:incr(V .. key, 1)
  if n then -- an add's record
    if n ~= 1 then return nil end
    dict:delete(V .. key)
    return true
  end
  if err ~= "not a number" or dict:incr(C .. key, 1) ~= 1 then return nil end
  local value = dict:get(V .. key)
  if value == nil then return nil end -- expired in between
  dict:delete(V .. key)
  dict:delete(C .. key)
  return value
end

function SharedDict:delete(key)
  self.dict:delete(V .. key)
  self.dict:delete(C .. key)
end

--- A store in an nginx shared dict, shared by all workers (OpenResty).
-- Raises unless dict is an ngx.shared.DICT.
-- @param dict `ngx.shared.NAME`, from `lua_shared_dict NAME 10m;` in nginx.conf
-- @treturn store
-- @usage local store = vonage.store.shared_dict(ngx.shared.vonage)
function M.shared_dict(dict)
  if (type(dict) ~= "table" and type(dict) ~= "userdata")
     or not (dict.get and dict.safe_add and dict.safe_set and dict.incr and dict.delete) then
    errors.misuse("vonage.store.shared_dict", "expects an ngx.shared.DICT, e.g. ngx.shared.vonage")
  end
  return setmetatable({ dict = dict }, SharedDict)
end

-- Across hosts: Redis --------------------------------------------------------

-- Inside nginx every command runs on a cosocket (resty.redis; Debian ships it
-- as nginx.redis) and the connection goes back to the worker's keepalive
-- pool; elsewhere on lua-redis over a blocking LuaSocket connection that the
-- store keeps open. Each key is prefix .. hex SHA-256 of the real key, so
-- Redis never holds a state or a jti that could be replayed. A value is kept
-- as "v" .. nonce .. value, an add's record as "a" .. nonce (16 hex digits),
-- so a take tells them apart.

local Redis = { __name = "vonage.store.redis" }
Redis.__index = Redis

function Redis:__tostring()
  return format("vonage.store.redis %s:%d db %d (%s)", self.host, self.port, self.db,
                self.cosockets and "cosockets" or "blocking")
end

-- Kept out of the store table, so printing or walking a store never shows it.
local passwords = setmetatable({}, { __mode = "k" })
-- Connections that authenticated differently or chose another db never share
-- a pool: the pool's name holds a keyed hash of the password (the key is this
-- process's own, so the name gives nothing to guess the password from).
local pools = setmetatable({}, { __mode = "k" })
local pool_key

local function unavailable(self, op, why)
  return fail("store_unavailable", format("%s: redis %s:%d is unavailable: %s", op, self.host, self.port,
                                          tostring(why)))
end

-- Replies that waiting will not mend: the store's options or the Redis
-- version are wrong (store_failed, a message that says which), not an outage.
local MISCONFIGURED = {
  { "WRONGPASS", "the password is wrong" }, { "NOAUTH", "Redis wants a password" },
  { "ERR DB index", "db is past the server's `databases`" },
  { "ERR unknown command", "it needs Redis 6.2 or later (GETDEL)" },
}

local function reply_error(self, op, why)
  why = tostring(why)
  if why:match("^OOM") then
    return fail("store_full", op .. ": redis is out of memory (maxmemory): " .. why)
  end
  for _, m in ipairs(MISCONFIGURED) do
    if why:find(m[1], 1, true) then
      return fail("store_failed", format("%s: redis %s:%d refused the store's setup: %s: %s", op, self.host,
                                         self.port, m[2], why))
    end
  end
  return unavailable(self, op, why)
end

local function get_ngx()
  local ngx = rawget(_G, "ngx")
  if ngx and type(ngx.socket) == "table" and ngx.socket.tcp and ngx.get_phase then return ngx end
end

-- One command on a cosocket: ok, reply (nil for a nil reply) | false, why, is_reply_error
-- Every step (connect, AUTH, SELECT, the command) waits only what is left
-- of deadline (ngx.now() seconds): timeout_ms bounds the whole call.
local function resty_command(self, ngx, args, deadline)
  local function left()
    ngx.update_time()
    return ceil((deadline - ngx.now()) * 1000)
  end
  local red = self.driver:new()
  if left() < 1 then return false, "timeout" end
  red:set_timeout(left())
  local ok, err = red:connect(self.host, self.port, { pool = pools[self], pool_size = self.pool_size })
  if not ok then return false, err end
  local reused = (red:get_reused_times() or 0) > 0
  local function failed(why, is_reply)
    red:close()
    return false, why, is_reply
  end
  if not reused then
    local password = passwords[self]
    if password then
      local res
      if left() < 1 then return failed("timeout") end
      red:set_timeout(left())
      res, err = red:auth(password)
      if not res then return failed("AUTH: " .. tostring(err), res == false) end
    end
    if self.db ~= 0 then
      local res
      if left() < 1 then return failed("timeout") end
      red:set_timeout(left())
      res, err = red:select(self.db)
      if not res then return failed("SELECT: " .. tostring(err), res == false) end
    end
  end
  local ms = left()
  if ms < 1 then return failed("timeout") end
  red:set_timeout(ms)
  local res
  res, err = red[args[1]](red, unpack(args, 2))
  if res == nil then
    red:close()
    -- a pooled connection Redis closed while it idled (a restart): try a fresh
    -- one; the command may have reached Redis (sent)
    return false, err, false, reused and err ~= "timeout", true
  end
  if res == false then
    red:set_keepalive(60000, self.pool_size) -- an error reply leaves the connection usable
    return false, err, true
  end
  red:set_keepalive(60000, self.pool_size)
  if res == ngx.null then res = nil end
  return true, res
end

-- lua-redis raises "file.lua:N: redis error: ..." for an error reply and
-- "...: connection error: ..." when the socket fails -> text, is_reply
local function lua_redis_error(why)
  why = tostring(why):gsub("^[^%s:]+%.lua:%d+: ", "")
  local reply = why:match("^redis error: (.*)$")
  if reply then return reply, true end
  return (why:gsub("^connection error: ", "")), false
end

-- The same on a blocking LuaSocket connection (deadline: socket.gettime() seconds).
local function blocking_command(self, args, deadline)
  local socket = self.socket
  local function left()
    local s = deadline - socket.gettime()
    return s > 0 and s or nil
  end
  local conn = self.conn
  local reused = conn ~= nil
  if not conn then
    local sock = socket.tcp()
    if not left() then return false, "timeout" end
    sock:settimeout(left())
    local ok, err = sock:connect(self.host, self.port)
    if not ok then
      sock:close()
      return false, err
    end
    sock:setoption("tcp-nodelay", true)
    local made
    made, conn = pcall(self.driver.connect, { socket = sock })
    if not made then
      sock:close()
      return false, conn
    end
    conn.vonage_sock = sock
    local steps = {}
    if passwords[self] then steps[#steps + 1] = { "AUTH", passwords[self] } end
    if self.db ~= 0 then steps[#steps + 1] = { "SELECT", self.db } end
    for _, step in ipairs(steps) do
      local s = left()
      if not s then sock:close() return false, "timeout" end
      sock:settimeout(s)
      local done, why = pcall(self.command_of(step[1]), conn, step[2])
      if not done then
        sock:close()
        local text, is_reply = lua_redis_error(why)
        return false, step[1] .. ": " .. text, is_reply
      end
    end
    self.conn = conn
  end
  local s = left()
  if not s then
    self.conn = nil
    conn.vonage_sock:close()
    return false, "timeout"
  end
  conn.vonage_sock:settimeout(s)
  local done, res = pcall(self.command_of(args[1]), conn, unpack(args, 2))
  if done then return true, res end
  local text, is_reply = lua_redis_error(res)
  if is_reply then return false, text, true end -- the connection stays in step
  self.conn = nil
  conn.vonage_sock:close()
  return false, text, false, reused and text ~= "timeout", true
end

-- Deletes key if it still holds value (this store's own write, by its nonce).
local WITHDRAW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
local WITHDRAW_FOR = 60 -- seconds: how long a slow Redis may still apply a timed-out SET

local function run(self, ngx, args, deadline)
  if ngx then return pcall(resty_command, self, ngx, args, deadline) end
  -- Outside nginx, withdrawals wait for the next call on this store, and go
  -- first (a retried add must not find the record of the one that timed
  -- out), within that call's deadline: one that runs out leaves the rest
  -- for later, and the command then times out too (store_unavailable).
  local pending = self.withdrawals
  for i = #pending, 1, -1 do
    local w = pending[i]
    local t = self.socket.gettime()
    if t > w.expires then
      remove(pending, i)
    elseif t < deadline then
      local ran, ok = pcall(blocking_command, self, { "EVAL", WITHDRAW, 1, w.key, w.value }, deadline)
      if ran and ok then remove(pending, i) end
    end
  end
  return pcall(blocking_command, self, args, deadline)
end

-- The one deadline of a store call, on the clock run() measures it with.
function Redis:_deadline()
  local ngx = get_ngx()
  if ngx then
    ngx.update_time()
    return ngx.now() + self.timeout_ms / 1000
  end
  return self.socket.gettime() + self.timeout_ms / 1000
end

-- command(self, op, deadline, ...) -> true, reply, retried | nil, msg, err
-- A connection that idled in the pool (or in this store) and turns out
-- closed gets one more try on a fresh one, within the same deadline;
-- retried tells the caller so. On failure a fourth value, sent: the
-- command may have reached Redis.
function Redis:_command(op, deadline, ...)
  local args = { ... }
  local ngx = get_ngx()
  local ran, ok, reply, is_reply_error, stale, sent
  for attempt = 1, 2 do
    ran, ok, reply, is_reply_error, stale, sent = run(self, ngx, args, deadline)
    if ran and ok then return true, reply, attempt > 1 end
    if not (ran and stale) then break end
  end
  if not ran then
    if errors.is_memory_error(ok) then error(ok, 0) end
    return unavailable(self, op, ok) -- e.g. no cosockets in this nginx phase
  end
  if is_reply_error then return reply_error(self, op, reply) end
  local _, msg, err = unavailable(self, op, reply)
  return nil, msg, err, sent
end

-- An add that timed out may still be applied by a Redis that was only slow;
-- left there, its record would pass the retried delivery off as a replay.
-- So it is withdrawn (only if it holds this add's nonce) once Redis answers:
-- inside nginx from timers, elsewhere at this store's next calls.
function Redis:_withdraw(k, value)
  local ngx = get_ngx()
  if not ngx then
    self.withdrawals[#self.withdrawals + 1] = { key = k, value = value, expires = self.socket.gettime() + WITHDRAW_FOR }
    return
  end
  local delays = { 0.2, 0.5, 1, 2, 4, 8, 16, 28 } -- about WITHDRAW_FOR in all
  local function attempt(_, i)
    local ran, withdrawn = pcall(resty_command, self, ngx, { "eval", WITHDRAW, 1, k, value }, self:_deadline())
    if ran and withdrawn then return end -- Redis answered: the record is gone, or was never this add's
    if delays[i + 1] then ngx.timer.at(delays[i + 1], attempt, i + 1) end
  end
  ngx.timer.at(delays[1], attempt, 1)
end

function Redis:_key(key)
  return self.prefix .. core.hex(core.sha256(key))
end

-- SET key value PX ms NX: the ttl in milliseconds, as the other stores
-- take fractions of a second.
local function px(ttl)
  local ms = ceil(ttl * 1000)
  return ms < 1 and 1 or ms
end

-- SET ... NX; on an OOM refusal, which Redis gives also for a key that
-- exists, EXISTS says which answer is right. Each value carries a nonce: when
-- a retried SET finds the key, GET tells whether the first try set it.
function Redis:_set(op, key, value, ttl)
  local k = self:_key(key)
  value = value:sub(1, 1) .. core.hex(core.random_bytes(8)) .. value:sub(2)
  local deadline = self:_deadline() -- one for the SET and what follows it
  local ok, reply, third, sent = self:_command(op, deadline, "set", k, value, "PX", px(ttl), "NX")
  if ok then
    if reply == nil and third then -- retried: the lost first try may have set it
      local got, stored = self:_command(op, deadline, "get", k)
      if got and stored == value then return true end
    end
    return reply ~= nil
  end
  local err = third
  if err.code == "store_full" then
    local found, n = self:_command(op, deadline, "exists", k)
    if found and n == 1 then return false end
  end
  if sent and value:sub(1, 1) == "a" then self:_withdraw(k, value) end
  return nil, reply, err
end

function Redis:put(key, value, ttl)
  check_args("store:put", key, ttl)
  if type(value) ~= "string" then errors.misuse("store:put", "value must be a string") end
  local ok, msg, err = self:_set("store:put", key, "v" .. value, ttl)
  if ok == false then return fail("store_exists", "store:put: the key is already stored") end
  return ok, msg, err
end

function Redis:add(key, ttl)
  check_args("store:add", key, ttl)
  return self:_set("store:add", key, "a", ttl)
end

-- GETDEL (Redis 6.2): one command, so of racing takes one gets the value.
-- nil when the key is not there; nil, msg, err when Redis cannot be reached.
function Redis:take(key)
  if type(key) ~= "string" then errors.misuse("store:take", "key must be a string") end
  local ok, reply, err = self:_command("store:take", self:_deadline(), "getdel", self:_key(key))
  if not ok then return nil, reply, err end
  if type(reply) ~= "string" or #reply < 17 then return nil end
  local kind = reply:sub(1, 1)
  if kind == "a" then return true end
  if kind == "v" then return reply:sub(18) end
  return nil
end

function Redis:delete(key)
  if type(key) ~= "string" then errors.misuse("store:delete", "key must be a string") end
  local ok, reply, err = self:_command("store:delete", self:_deadline(), "del", self:_key(key))
  if not ok then return nil, reply, err end
  return true
end

local REDIS_OPTIONS = {
  host = "string", port = "integer", password = "string", db = "integer", prefix = "string",
  timeout_ms = "integer", pool_size = "integer",
}

-- The driver for where this runs: resty.redis (OpenResty) or nginx.redis
-- (Debian's lua-nginx-redis) inside nginx, lua-redis elsewhere.
local function driver(op)
  if get_ngx() then
    for _, name in ipairs { "resty.redis", "nginx.redis" } do
      local ok, mod = pcall(require, name)
      if ok then return mod end
    end
    errors.misuse(op, "inside nginx this needs lua-resty-redis (OpenResty) or Debian's lua-nginx-redis")
  end
  local ok, mod = pcall(require, "redis")
  local has_socket, socket = pcall(require, "socket")
  if not (ok and has_socket) then
    errors.misuse(op, "outside nginx this needs lua-redis (Debian: apt install lua-redis; it installs for "
                      .. "Lua 5.1 to 5.3: under 5.4 add /usr/share/lua/5.3/?.lua to LUA_PATH)")
  end
  return mod, socket
end

--- A store shared by every process that reaches the same Redis (7, or 6.2 for
-- GETDEL). Inside nginx on cosockets with a keepalive pool of pool_size per
-- worker; elsewhere blocking on Debian's lua-redis (the call waits for Redis,
-- up to timeout_ms): a game loop keeps the memory store. Keys are prefix ..
-- hex SHA-256 of the real key; a Redis that does not answer in time gives
-- `store_unavailable`. The password is never shown by tostring or an error.
-- @tparam[opt] table opts `host` ("127.0.0.1"), `port` (6379), `password`, `db` (0),
-- `prefix` ("vonage:"), `timeout_ms` (1000), `pool_size` (32)
-- @treturn store
-- @usage local store = vonage.store.redis { host = "127.0.0.1", password = os.getenv("REDIS_PASSWORD") }
function M.redis(opts)
  local op = "vonage.store.redis"
  opts = opts or {}
  validate.typed(op, "options", opts, "table")
  validate.known_fields(op, opts, REDIS_OPTIONS)
  for k, want in pairs(REDIS_OPTIONS) do validate.typed(op, k, opts[k], want) end
  local host = opts.host or "127.0.0.1"
  if not host:match("^[%w%.%-:%[%]]+$") or #host > 253 then
    errors.misuse(op, "host must be a host name or an IP address")
  end
  local port = opts.port or 6379
  if port < 1 or port > 65535 then errors.misuse(op, "port must be between 1 and 65535") end
  if opts.password ~= nil and (opts.password == "" or opts.password:find("[\r\n]")) then
    errors.misuse(op, "password must be a non-empty string on one line")
  end
  local db = opts.db or 0
  if db < 0 or db > 65535 then errors.misuse(op, "db must be between 0 and 65535") end
  local prefix = opts.prefix or "vonage:"
  if #prefix > 256 then errors.misuse(op, "prefix must be at most 256 bytes") end
  local timeout_ms = opts.timeout_ms or REDIS_TIMEOUT.default
  if timeout_ms < REDIS_TIMEOUT.min or timeout_ms > REDIS_TIMEOUT.max then
    errors.misuse(op, format("timeout_ms must be between %d and %d", REDIS_TIMEOUT.min, REDIS_TIMEOUT.max))
  end
  local pool_size = opts.pool_size or REDIS_POOL.default
  if pool_size < REDIS_POOL.min or pool_size > REDIS_POOL.max then
    errors.misuse(op, format("pool_size must be between %d and %d", REDIS_POOL.min, REDIS_POOL.max))
  end
  local mod, socket = driver(op)
  local commands = {}
  local store = setmetatable({
    host = host, port = port, db = db, prefix = prefix, timeout_ms = timeout_ms, pool_size = pool_size,
    driver = mod, socket = socket, cosockets = socket == nil, withdrawals = {},
    command_of = function(name)
      commands[name] = commands[name] or mod.command(name)
      return commands[name]
    end,
  }, Redis)
  passwords[store] = opts.password
  pool_key = pool_key or core.random_bytes(32)
  pools[store] = format("vonage.store.redis:%s:%d:%d:%s", host, port, db,
                        opts.password and core.hex(core.hmac_sha256(pool_key, opts.password)) or "")
  return store
end

-- Whether a store keeps its entries inside one process (the memory store);
-- every other store (shared_dict, redis, one of the application's) is taken
-- to be shared.
function M._is_per_process(store)
  return store == nil or getmetatable(store) == Memory
end

-- _check_shared(op, name, store), for the library: inside nginx with several workers, raises
-- unless the store is shared by them: a per-worker store would let a
-- redelivered webhook run twice, or lose a state to the other worker.
function M._check_shared(op, name, store)
  local ngx = rawget(_G, "ngx")
  local worker = ngx and ngx.worker
  if not (worker and worker.count) or worker.count() <= 1 or not M._is_per_process(store) then return end
  errors.misuse(op, format("nginx runs %d workers, and a memory %s would be one per worker: give %s = "
    .. "vonage.store.shared_dict(ngx.shared.NAME) (with `lua_shared_dict NAME 10m;` in nginx.conf), or "
    .. "vonage.store.redis{...} when several hosts share the work", worker.count(), name, name))
end

--- Raises unless store has the named methods: how the library checks a store you give it.
-- @string op the operation named in the message
-- @string name the option named in the message
-- @param store the object to check
-- @param ... method names, e.g. "put", "take"
-- @usage vonage.store.check("my_app", "sessions", redis_store, "put", "take")
function M.check(op, name, store, ...)
  local ok = type(store) == "table" or type(store) == "userdata"
  for i = 1, select("#", ...) do -- no list built per call (webhook.verify checks on every one)
    ok = ok and type(store[(select(i, ...))]) == "function"
  end
  if not ok then
    errors.misuse(op, format("%s must be a store with %s() (see vonage.store)", name,
                             concat({ ... }, "() and ")))
  end
end

return M
