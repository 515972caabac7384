--- lua-vonage: Vonage Verify v2 and Number Verification for Lua 5.1 to 5.4, LuaJIT and OpenResty.
-- `require "vonage"` gives this table; the channel builders (vonage.sms, ...)
-- are in vonage.channels, the client in vonage.client, the objects it returns
-- (request, template_page, flows, transports) on their modules' pages.
-- The client class (and every method it has) is lua/vonage/client.lua.
-- Raises, with the file, the cause and the fix, when the vonage/core.so found
-- first on package.cpath was built for another Lua.
-- @module vonage
-- @usage local vonage = require "vonage"
-- local client = vonage.client.from_env()
-- local req, msg, err = client:start_verification {
--   brand = "ACME", workflow = { vonage.sms { to = "447700900000" } } }

--- "lua-vonage x.y.z", from the one VERSION file.
-- @field _VERSION

--- the client class: `vonage.client { ... }`, vonage.client.new, vonage.client.from_env.
-- @field client

--- the signed-webhook checks: vonage.webhook.verify, vonage.webhook.ngx_handler.
-- @field webhook

--- the stores for state that outlives a call: vonage.store.memory, vonage.store.shared_dict.
-- @field store

--- deprecated (0.1) alias of vonage.store.
-- @field state_store

--- Whether x is an err of this library (metatable `vonage.error`).
-- @function is_error
-- @param x any value
-- @treturn boolean
-- @usage if vonage.is_error(err) and err.code == "invalid_code" then ask_again() end

--- The device side of silent authentication: follows a check_url's redirects
-- over the mobile network and returns the outcome (see vonage.silent_auth).
-- @function check_silent_auth
-- @string check_url the request's check_url
-- @tparam[opt] table opts `expected_request_id` (compared in constant time),
-- `interface` (bind to the cellular link), `ca_file`, `max_redirects` (10),
-- `timeout_ms` and `connect_timeout_ms` (per hop), `max_response_bytes` (64 KiB),
-- `transport` (an object with send(spec))
-- @treturn table `{ request_id =, code = }`
-- @return nil, msg, err on failure (`request_id_mismatch`, `insecure_redirect`, ...)
-- @usage local result, msg, err = vonage.check_silent_auth(check_url,
--   { expected_request_id = request_id })

--- The SHA-256 (hex) of an E.164 number, as Number Verification's hashedPhoneNumber wants it.
-- @function hash_phone_number
-- @string phone_number "+447700900000"
-- @treturn string 64 hex digits
-- @return nil, msg, err for a number that is not E.164 (kind `validation`)

-- The interpreter running us, as `make install LUA=` and luarocks name it.
local function this_lua()
  local abi = _VERSION:match("%d+%.%d+") or "?"
  if rawget(_G, "jit") then return "luajit", "LuaJIT (Lua " .. abi .. " API)", abi end
  return "lua" .. abi, "Lua " .. abi, abi
end

-- A vonage.core built for another Lua fails with a bare "undefined symbol:
-- lua_rotate" (or links, and breaks later): say which file, why, and the fix.
local function wrong_lua(path, why)
  local name, label, abi = this_lua()
  error(("vonage.core at %s was built for another Lua (%s); this is %s: build/install it for this "
    .. "interpreter: make install LUA=%s (or luarocks --lua-version %s make), or put the directory "
    .. "of its build first in package.cpath (LUA_CPATH)"):format(path, why, label, name, abi), 3)
end

local loaded, core = pcall(require, "vonage.core")
if not loaded then
  local msg = tostring(core)
  local path = msg:match("from file '([^']+)'")
  local symbol = msg:match("undefined symbol: (luaL?_[%w_]+)")
  if path and symbol then wrong_lua(path, "undefined symbol " .. symbol) end
  error(msg, 2)
end
local running = tonumber((_VERSION:gsub("^Lua (%d+)%.(%d+).*$", function(a, b) return a * 100 + b end)))
if core.lua_version_num ~= running then
  local searchpath = rawget(package, "searchpath") -- not in Lua 5.1 (LuaJIT has it)
  local found = searchpath and searchpath("vonage.core", package.cpath) or "?"
  wrong_lua(found, ("compiled against the Lua %d.%d API"):format(
    math.floor((core.lua_version_num or 0) / 100), (core.lua_version_num or 0) % 100))
end
local channels = require "vonage.channels"
local errors = require "vonage.errors"

local M = {
  _VERSION = "lua-vonage " .. core.version,
  client = require "vonage.client",
  is_error = errors.is,
}

for name in pairs(channels.schemas) do
  M[name] = channels[name]
end

-- The fields a first verification does not need load on first access: the
-- modules behind them (the stores, webhooks, silent auth, Number
-- Verification) are most of the library's source, and a short-lived process
-- would compile them for nothing. Each is then a plain field, the same value
-- `require "vonage.x"` gives. The metatable's `lazy` lists them, for tools
-- that walk every public name (scripts/doc-coverage.lua).
local LAZY = {
  webhook = function() return require "vonage.webhook" end,
  store = function() return require "vonage.store" end,
  state_store = function() return require "vonage.store" end, -- deprecated alias of vonage.store (0.1)
  check_silent_auth = function() return require("vonage.silent_auth").check_silent_auth end,
  hash_phone_number = function() return require("vonage.number_verification").hash_phone_number end,
}

return setmetatable(M, {
  lazy = LAZY,
  __index = function(t, k)
    local load = LAZY[k]
    if load == nil then return nil end
    local v = load()
    rawset(t, k, v)
    return v
  end,
})
