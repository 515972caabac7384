-- Silent Authentication, synchronous: the backend starts the verification and
-- hands the check_url to the device; the device follows it over its cellular
-- link and gets a code; the backend checks that code. When silent auth fails,
-- the flow moves to SMS at once (next_workflow) instead of waiting 60 s.
-- Both sides run in this one script, against the local sandbox:
--   sh scripts/with-sandbox lua5.4 examples/silent_auth.lua
local vonage = require "vonage"
local sandbox = require("vonage_sandbox.client").new() -- reads VONAGE_SANDBOX_URL

local client = vonage.client.from_env()

local function step(title) print(("\n== %s"):format(title)) end

-- What the device does with the check_url the backend gave it. On a phone,
-- pass interface = "<cellular interface>" so the check bypasses Wi-Fi.
local function device(check_url, request_id)
  return vonage.check_silent_auth(check_url, { expected_request_id = request_id })
end

local function workflow(phone)
  return { brand = "ACME", workflow = { vonage.silent_auth { to = phone }, vonage.sms { to = phone } } }
end

step("1. A supported phone: the device gets the code, the backend checks it")
local flow = assert(client:start_silent_auth(workflow("447700900500")))
print("started:  " .. tostring(flow))
print("device:   GET " .. flow.check_url)
local result, msg = device(flow.check_url, flow.request_id)
print("device:   " .. (result and ("got a code for " .. result.request_id) or msg))
print("backend:  " .. assert(flow:device_result(result, msg)))
print("flow:     " .. tostring(flow))

step("2. The user rejects it (virtual operator 990...odd): fast fallback to SMS")
local phone = "9907700003"
flow = assert(client:start_silent_auth(workflow(phone)))
local _, why, err = device(flow.check_url, flow.request_id)
print(("device:   %s (err.code = %s)"):format(why, err.code))
print("backend:  " .. assert(flow:device_result(nil, why, err)) .. " on " .. flow.channel)
-- A web app keeps the flow between requests as a plain table.
local saved = flow:to_table()
print("saved:    state=" .. saved.state .. " channel_index=" .. saved.channel_index)
local resumed = assert(client:resume_silent_auth(saved))
local code = assert(sandbox:last_code(phone, "sms")) -- the user reads the SMS
print("user:     types the SMS code")
print("backend:  " .. assert(resumed:check(code)))
print("flow:     " .. tostring(resumed))

step("3. An unsupported network with coverage_check on: SMS from the start")
flow = assert(client:start_silent_auth(workflow("447700990001")))
print("started:  " .. tostring(flow) .. " (no check_url: " .. tostring(flow.check_url) .. ")")
print("backend:  " .. assert(flow:check(assert(sandbox:last_code("447700990001")))))

step("4. The device refuses an answer for another request (man-in-the-middle)")
local req = assert(client:start_verification(workflow("447700900501")))
local none, mitm, merr = vonage.check_silent_auth(req.check_url,
  { expected_request_id = "00000000-0000-4000-8000-000000000000" })
print(("device:   %s, %s (err.code = %s)"):format(tostring(none), mitm, merr.code))
