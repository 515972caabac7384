-- Where pending OAuth states wait between authorize_url and the callback.
--
-- A store is any object with two methods (a Redis store only needs these):
--   store:put(key, value, ttl_seconds) -> true | nil, msg, err
--   store:take(key) -> value | nil
-- Keys and values are strings. take() must be atomic: of two callers racing
-- for one key, at most one gets the value, and the key is gone afterwards.
-- That is what makes a state single use.
local errors = require "vonage.errors"
local validate = require "vonage.validate"

local setmetatable, next, type, tostring, os_time = setmetatable, next, type, tostring, os.time

local M = {}

-- Longest lifetime a state may ask for; the shared-dict adapter's claim
-- markers must outlive any value, so they use this.
M.MAX_TTL = 3600

local function full(what)
  return errors.fail("oauth", "state_store_full",
                     what .. " is full: too many pending authorizations")
end

-- In one Lua state ---------------------------------------------------------

local Memory = { __name = "vonage.state_store.memory" }
Memory.__index = Memory

function Memory:__tostring()
  return "vonage.state_store.memory (" .. self.count .. " of " .. self.max_entries .. ")"
end

-- Drops what has expired; called only when the store is full, so a put is
-- O(1) until then.
function Memory:_purge(now)
  for key, entry in next, self.entries do
    if entry.expires_at <= now then
      self.entries[key] = nil
      self.count = self.count - 1
    end
  end
end

function Memory:put(key, value, ttl)
  local now = self.clock()
  if self.count >= self.max_entries then self:_purge(now) end
  if self.count >= self.max_entries then return full("the in-memory state store") end
  if self.entries[key] == nil then self.count = self.count + 1 end
  self.entries[key] = { value = value, expires_at = now + ttl }
  return true
end

-- Removes before returning, with no yield in between: atomic in one Lua state.
function Memory:take(key)
  local entry = self.entries[key]
  if entry == nil then return nil end
  self.entries[key] = nil
  self.count = self.count - 1
  if entry.expires_at <= self.clock() then return nil end
  return entry.value
end

-- state_store.memory{ max_entries = 10000, clock = os.time } -> store
function M.memory(opts)
  local op = "state_store.memory"
  opts = opts or {}
  validate.typed(op, "options", opts, "table")
  validate.known_fields(op, opts, { max_entries = true, clock = true })
  validate.typed(op, "max_entries", opts.max_entries, "integer")
  validate.typed(op, "clock", opts.clock, "function")
  local max_entries = opts.max_entries or 10000
  if max_entries < 1 then errors.misuse(op, "max_entries must be at least 1") end
  return setmetatable({ entries = {}, count = 0, max_entries = max_entries,
                        clock = opts.clock or os_time }, Memory)
end

-- Across nginx workers -------------------------------------------------------

local SharedDict = { __name = "vonage.state_store.shared_dict" }
SharedDict.__index = SharedDict

SharedDict.__tostring = function() return "vonage.state_store.shared_dict" end

function SharedDict:put(key, value, ttl)
  -- safe_add never evicts other entries to make room (add would drop the
  -- least recently used pending states of other users).
  local ok, err = self.dict:safe_add(key, value, ttl)
  if ok then return true end
  if err == "no memory" then return full("the shared dict state store") end
  return errors.fail("oauth", "state_store_failed", "state store: " .. tostring(err))
end

-- get-then-delete is not atomic across workers: two could both read the value
-- before either deletes it. add() of a claim marker is: one caller wins.
function SharedDict:take(key)
  local value = self.dict:get(key)
  if value == nil then return nil end
  if not self.dict:add(key .. ":claimed", true, M.MAX_TTL) then return nil end
  self.dict:delete(key)
  return value
end

-- state_store.shared_dict(ngx.shared.DICT) -> store (OpenResty)
function M.shared_dict(dict)
  local op = "state_store.shared_dict"
  if dict == nil or not (dict.get and dict.safe_add and dict.add and dict.delete) then
    errors.misuse(op, "expects an ngx.shared.DICT, e.g. ngx.shared.vonage_states")
  end
  return setmetatable({ dict = dict }, SharedDict)
end

-- check(store) raises unless store has the interface above.
function M.check(op, store)
  if (type(store) ~= "table" and type(store) ~= "userdata")
     or type(store.put) ~= "function" or type(store.take) ~= "function" then
    errors.misuse(op, "state_store must have put(key, value, ttl) and take(key)")
  end
end

return M
