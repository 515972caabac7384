-- lua-vonage: Vonage Verify v2 and Number Verification for Lua 5.1 to 5.4.
--   local vonage = require "vonage"
--   local client = vonage.client.from_env()
local core = require "vonage.core"
local channels = require "vonage.channels"
local errors = require "vonage.errors"

require "vonage.verify" -- adds the Verify methods to client and request

local M = {
  _VERSION = "lua-vonage " .. core.version,
  client = require "vonage.client",
  is_error = errors.is,
}

for name in pairs(channels.schemas) do
  M[name] = channels[name]
end

return M
