-- Development helpers: the local sandbox's control API, for examples, the
-- REPL and tests that want it. Never needed against the real Vonage.
--   local sandbox = require("vonage.dev").sandbox()   -- VONAGE_SANDBOX_URL
--   print(sandbox:last_code("447700900000"))
local core = require "vonage.core"
local json = require "vonage.json"
local errors = require "vonage.errors"

local setmetatable, format, getenv, tostring = setmetatable, string.format, os.getenv, tostring

local M = {}

local Sandbox = { __name = "vonage.dev.sandbox" }
Sandbox.__index = Sandbox

function Sandbox:__tostring()
  return "vonage.dev.sandbox " .. self.url
end

-- sandbox:call(method, path [, body]) -> decoded answer | nil, msg, err
function Sandbox:call(method, path, body)
  local status, _, raw = self.http:send {
    method = method, url = self.url .. path, body = body and json.encode(body),
    headers = body and { ["Content-Type"] = "application/json" } or nil,
  }
  if not status then return nil, _, raw end
  local decoded = json.decode(raw)
  if status ~= 200 then return errors.from_response("sandbox " .. path, status, decoded) end
  return decoded
end

function Sandbox:reset() return self:call("POST", "/_sandbox/reset") end

function Sandbox:register_application(application_id, public_key_pem)
  return self:call("POST", "/_sandbox/applications",
                   { application_id = application_id, public_key = public_key_pem })
end

function Sandbox:register_account(api_key, api_secret)
  return self:call("POST", "/_sandbox/accounts", { api_key = api_key, api_secret = api_secret })
end

-- The messages "sent" to a number, oldest first (each with its code).
function Sandbox:outbox(to, channel)
  local answer, msg, err = self:call("GET", format("/_sandbox/outbox?to=%s%s", to,
                                      channel and ("&channel=" .. channel) or ""))
  if not answer then return nil, msg, err end
  return answer.messages
end

function Sandbox:last_code(to, channel)
  local messages, msg, err = self:outbox(to, channel)
  if not messages then return nil, msg, err end
  local last = messages[#messages]
  if not last then return nil, "no message was sent to " .. tostring(to) end
  return last.code
end

-- Moves the sandbox's virtual clock forward; returns its new time.
function Sandbox:advance(seconds)
  local answer, msg, err = self:call("POST", "/_sandbox/clock", { advance = seconds })
  if not answer then return nil, msg, err end
  return answer.now
end

function M.sandbox(url)
  url = url or getenv("VONAGE_SANDBOX_URL")
  if not url then
    errors.misuse("vonage.dev.sandbox", "no URL: pass one or set VONAGE_SANDBOX_URL")
  end
  return setmetatable({ url = url, http = core.http_new {} }, Sandbox)
end

return M
