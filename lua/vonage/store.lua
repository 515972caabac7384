--- Where state that outlives a call waits: pending Number Verification
-- states (put/take) and webhook replay records (add/delete).
--
-- Every backend has the same four methods; keys and values are strings. A
-- full store refuses (`err.code` `store_full`); it never evicts a live entry,
-- which would make a state vanish or a replayed token pass. One process: the
-- memory store; one nginx with several workers: the shared-dict store; several
-- hosts: any object with the four methods (e.g. on resty.redis).
-- @module vonage.store
local errors = require "vonage.errors"
local validate = require "vonage.validate"

local setmetatable, next, type, tostring, rawget = setmetatable, next, type, tostring, rawget
local format, concat, huge, os_time = string.format, table.concat, math.huge, os.time

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

local function default_clock()
  local ngx = rawget(_G, "ngx")
  return ngx and ngx.time() or os_time()
end

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
  local max_entries = opts.max_entries or 10000
  if max_entries < 1 then errors.misuse(op, "max_entries must be at least 1") end
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

--- Raises unless store has the named methods: how the library checks a store you give it.
-- @string op the operation named in the message
-- @string name the option named in the message
-- @param store the object to check
-- @param ... method names, e.g. "put", "take"
-- @usage vonage.store.check("my_app", "sessions", redis_store, "put", "take")
function M.check(op, name, store, ...)
  local methods = { ... }
  local ok = type(store) == "table" or type(store) == "userdata"
  for i = 1, #methods do
    ok = ok and type(store[methods[i]]) == "function"
  end
  if not ok then
    errors.misuse(op, format("%s must be a store with %s() (see vonage.store)", name,
                             concat(methods, "() and ")))
  end
end

return M
