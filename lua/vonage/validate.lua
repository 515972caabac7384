-- Input rules. Two levels, as the error model says: a wrong type or an unknown
-- field is a bug in the caller and raises; a value that breaks the API's rules,
-- or is missing, may come from an end user and is returned as a validation
-- error, before I/O.
local core = require "vonage.core"
local errors = require "vonage.errors"

local type, pairs, ipairs, floor, format, tostring, getmetatable, rawget =
      type, pairs, ipairs, math.floor, string.format, tostring, getmetatable, rawget

local M = {}

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

function M.is_uuid(s)
  return type(s) == "string" and s:match(UUID) ~= nil
end

-- 2^53 written out: the parser folds `2^53` by calling libm's pow, which
-- maps about 200 KB of libm into every process that loads this file.
local SAFE = 9007199254740992

function M.is_integer(v)
  return type(v) == "number" and v == v and floor(v) == v and v > -SAFE and v < SAFE
end

-- Length in UTF-8 code points (continuation bytes do not count).
local function utf8_len(s)
  local _, continuation = s:gsub("[\128-\191]", "")
  return #s - continuation
end

-- Raises unless every key of t is in `known` (catches typos like `brnad`);
-- skip names one key that may be there besides.
function M.known_fields(op, t, known, where, skip)
  for k in pairs(t) do
    if (type(k) ~= "string" or known[k] == nil) and k ~= skip then
      errors.misuse(op, format("unknown field '%s'%s", tostring(k), where or ""))
    end
  end
end

-- Raises unless v has Lua type `want` (nil allowed unless `required`).
function M.typed(op, field, v, want, required)
  if v == nil then
    if required then errors.misuse(op, field .. " is required") end
    return
  end
  if want == "integer" then
    if not M.is_integer(v) then
      errors.misuse(op, format("%s must be an integer (got %s)", field, type(v)))
    end
  elseif type(v) ~= want then
    errors.misuse(op, format("%s must be a %s (got %s)", field, want, type(v)))
  end
end

-- Raises unless v (an integer, or nil) is within min..max.
function M.in_range(op, field, v, min, max)
  if v ~= nil and (v < min or v > max) then
    errors.misuse(op, format("%s must be between %d and %d", field, min, max))
  end
end

-- Checks a constructor's options: raises for an unknown option, a wrong type
-- (`types` maps option -> Lua type, "any" for no check) or an integer outside
-- its { min, max } in `ranges`.
function M.options(op, opts, types, ranges)
  M.typed(op, "options", opts, "table", true)
  M.known_fields(op, opts, types)
  for k, want in pairs(types) do
    local v = opts[k]
    if want ~= "any" then M.typed(op, k, v, want) end
    local range = ranges[k]
    if range then M.in_range(op, k, v, range[1], range[2]) end
  end
end

-- A transport is any object with send(spec) (and optionally sleep(ms)).
function M.is_transport(t)
  return (type(t) == "table" or type(t) == "userdata") and t.send ~= nil
end

-- Rule checkers: each returns nil when the value is fine, else the reason.
local rules = {}
M.rules = rules

-- An E.164 number as users hold it, with or without its '+' (the async
-- guide's own example is +441112233447): 7 to 15 digits, no '00' prefix.
function M.is_phone(v)
  local digits = type(v) == "string" and v:match("^%+?([1-9]%d+)$")
  return digits ~= nil and #digits >= 7 and #digits <= 15
end

-- The digits of an accepted number: the form Verify v2 wants (no '+').
function M.phone_digits(v)
  return (v:gsub("^%+", ""))
end

function rules.phone(v)
  if not M.is_phone(v) then
    return "must be an E.164 number, with or without '+' (no '00'): 7 to 15 digits, e.g. 447700900000"
  end
end

function rules.email(v)
  if #v > 254 or not v:match("^[^%s@]+@[^%s@]+%.[^%s@]+$") then
    return "must be an email address"
  end
end

function rules.uuid(v)
  if not M.is_uuid(v) then return "must be a UUID" end
end

function rules.length(min, max)
  return function(v)
    local n = utf8_len(v)
    if n < min or n > max then return format("must be %d to %d characters long", min, max) end
  end
end

function rules.range(min, max)
  return function(v)
    if v < min or v > max then return format("must be between %d and %d", min, max) end
  end
end

function rules.one_of(list)
  local set = {}
  for i = 1, #list do set[list[i]] = true end
  return function(v)
    if not set[v] then return "must be one of: " .. table.concat(list, ", ") end
  end
end

function rules.pattern(pat, what)
  return function(v)
    if not v:match(pat) then return what end
  end
end

-- A URL a user's browser or device is sent to, by the one URL policy
-- (src/vn_url.c, purpose "redirect"): https, or http on loopback.
function rules.redirect_url(v)
  local ok, why = core.check_url(v, "redirect")
  if not ok then return why end
end

-- Headers and URLs must not smuggle line breaks (header injection).
function rules.header_safe(v)
  if v:match("[\r\n%z]") then return "must not hold CR, LF or NUL" end
end

-- A schema's field names in order, so the same input always reports the
-- same first problem, and how many of them are required; made once per
-- schema, not on every call.
local plans = setmetatable({}, { __mode = "k" })
local function plan_of(schema)
  local plan = plans[schema]
  if not plan then
    local fields, n_required = {}, 0
    for field, spec in pairs(schema) do
      fields[#fields + 1] = field
      if spec.required then n_required = n_required + 1 end
    end
    table.sort(fields)
    plan = { fields = fields, n_required = n_required }
    plans[schema] = plan
  end
  return plan
end

-- Metatables whose tables check's one pass may judge (the channel
-- builders'): nothing read through __index, every field listed by pairs.
-- Any other metatable, or one hidden behind __metatable, leaves the verdict
-- to the ordered walk, which reads t[field] as the caller's code will.
local plain_metatables = setmetatable({}, { __mode = "k" })
function M.plain_metatable(mt)
  plain_metatables[mt] = true
  return mt
end

local function plain(t)
  local mt = getmetatable(t)
  return mt == nil or plain_metatables[mt] == true and rawget(mt, "__index") == nil
    and rawget(mt, "__pairs") == nil
end

-- A missing required value: a validation error like any other bad value (an
-- end user left out the number or the code: ngx.var.arg_to is nil when the
-- parameter is absent). Only a missing table is a bug in the caller, since
-- no end user types a table: that raises.
function M.required(op, field, v, want)
  if v ~= nil then return true end
  if want == "table" then errors.misuse(op, field .. " is required") end
  return errors.invalid(op, field, "is required")
end

-- Checks t against a schema { field = { type, rule..., required = bool } }.
-- Returns true, or the validation error triple for the first broken rule (a
-- missing required value included); a wrong type or unknown field raises.
-- The labels ("workflow[0].to") are built only for a failure. skip names
-- one field of t that is no part of the schema (a step's "channel"), so t
-- is checked as it is, not copied without it.
function M.check(op, t, schema, prefix, skip)
  -- One pass over the fields present: an unknown one raises at once; a
  -- sound table (the common case) is done without building a label. Any
  -- problem, a missing required field included, goes to the ordered walk,
  -- which names the first one in field order.
  local sound, n_required = true, 0
  for k, v in pairs(t) do
    local spec = schema[k] -- schema keys are strings: nil for any other key
    if spec == nil then
      if k ~= skip then -- raises, naming the first unknown field
        M.known_fields(op, t, schema, prefix and prefix ~= "" and " in " .. prefix:sub(1, -2) or nil, skip)
      end
    elseif sound then
      if spec.required then n_required = n_required + 1 end
      local want = spec[1]
      if type(v) == want or want == "integer" and M.is_integer(v) then
        for i = 2, #spec do
          if spec[i](v) then sound = false break end
        end
      else
        sound = false
      end
    end
  end
  local plan = plan_of(schema)
  if sound and n_required == plan.n_required and plain(t) then return true end
  prefix = prefix or ""
  for _, field in ipairs(plan.fields) do
    local spec, v = schema[field], t[field]
    local want = spec[1]
    if v == nil then
      if spec.required then return M.required(op, prefix .. field, v, want) end
    else
      if not (type(v) == want or want == "integer" and M.is_integer(v)) then
        M.typed(op, prefix .. field, v, want) -- raises
      end
      for i = 2, #spec do
        local reason = spec[i](v)
        if reason then return errors.invalid(op, prefix .. field, reason) end
      end
    end
  end
  return true
end

return M
