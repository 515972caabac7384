-- lua-vonage: Vonage Verify v2 and Number Verification for Lua 5.1 to 5.4.
--   local vonage = require "vonage"
--   local client = vonage.client.from_env()
-- The client class (and every method it has) is lua/vonage/client.lua.
local core = require "vonage.core"
local channels = require "vonage.channels"
local errors = require "vonage.errors"
local number_verification = require "vonage.number_verification"
local silent_auth = require "vonage.silent_auth"

local M = {
  _VERSION = "lua-vonage " .. core.version,
  client = require "vonage.client",
  is_error = errors.is,
  check_silent_auth = silent_auth.check_silent_auth,
  webhook = require "vonage.webhook",
  hash_phone_number = number_verification.hash_phone_number,
  store = require "vonage.store",
  state_store = require "vonage.store", -- deprecated alias of vonage.store (0.1)
}

for name in pairs(channels.schemas) do
  M[name] = channels[name]
end

return M
