-- Silent Authentication, asynchronous: the backend learns the check_url from
-- the signed `action_pending` callback, and the outcome from the `completed`
-- (or `failed`) callbacks. Callbacks need JWT auth (an application); Basic-auth
-- requests get none. A tiny luasocket receiver stands in for the backend's
-- Status URL:
--   sh scripts/with-sandbox lua5.4 examples/silent_auth_async.lua
local vonage = require "vonage"
local socket = require "socket"
local sandbox = require("vonage_sandbox.client").new() -- reads VONAGE_SANDBOX_URL

local SECRET = "example-signature-secret-0123456789" -- the account's signature secret

local client = vonage.client.from_env() -- with VONAGE_APPLICATION_ID set, requests use the JWT

-- The receiver: one callback per call, answered 204 once it is verified.
local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(5)
local _, port = server:getsockname()

local function receive()
  local conn = assert(server:accept())
  conn:settimeout(5)
  assert(conn:receive("*l")) -- POST /hooks/verify HTTP/1.1
  local headers = {}
  while true do
    local line = assert(conn:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    headers[name:lower()] = value
  end
  local body = assert(conn:receive(tonumber(headers["content-length"])))
  local event, msg = vonage.webhook.verify(body, headers.authorization, { signature_secret = SECRET })
  conn:send(event and "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
                  or "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  conn:close()
  return assert(event, msg)
end

-- In the dashboard this is the application's Status URL.
assert(sandbox:set_callbacks {
  url = ("http://127.0.0.1:%d/hooks/verify"):format(port), signature_secret = SECRET,
})

local phone = "447700900600"
print("backend:  starting silent auth for " .. phone .. " (coverage_check = false: errors come as callbacks)")
local req = assert(client:start_verification {
  brand = "ACME",
  workflow = { vonage.silent_auth { to = phone, coverage_check = false }, vonage.sms { to = phone } },
})
print("started:  " .. tostring(req))

local pending = receive()
print(("callback: %s %s, check_url %s"):format(pending.channel, pending.status, pending.check_url))

-- The backend sends check_url to the app; the device follows it.
local result = assert(vonage.check_silent_auth(pending.check_url, { expected_request_id = req.request_id }))
print("device:   got a code for " .. result.request_id)
print("backend:  check -> " .. assert(req:check(result.code)))

local event = receive()
print(("callback: %s %s %s, finalized_at %s"):format(event.type, event.channel, event.status, event.finalized_at))
local summary = receive()
print(("callback: %s %s"):format(summary.type, summary.status))
server:close()
