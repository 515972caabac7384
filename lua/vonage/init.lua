-- lua-vonage: Vonage Verify v2 and Number Verification for Lua 5.1 to 5.4.
--   local vonage = require "vonage"
--   local client = vonage.client.from_env()
local core = require "vonage.core"
local channels = require "vonage.channels"
local errors = require "vonage.errors"

require "vonage.verify" -- adds the Verify methods to client and request
require "vonage.templates" -- adds the template methods to client and template_page
local number_verification = require "vonage.number_verification" -- adds client:number_verification
local silent_auth = require "vonage.silent_auth" -- adds client:start_silent_auth, resume_silent_auth
require "vonage.transport.multi" -- adds client:poll and client:spawn

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
