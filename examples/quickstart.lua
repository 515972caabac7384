-- The main Verify v2 flows against the local sandbox (`make demo` runs this).
-- Against the real API, drop the sandbox lines and read the code from your phone.
local vonage = require "vonage"
local sandbox = require("vonage_sandbox.client").new() -- reads VONAGE_SANDBOX_URL

local client = vonage.client.from_env() -- VONAGE_APPLICATION_ID, VONAGE_PRIVATE_KEY_PATH, ...
print("client:   " .. tostring(client))

local function step(title) print(("\n== %s"):format(title)) end

step("1. Start a verification: SMS first, voice as the fallback")
local phone = "447700900000"
local req = assert(client:start_verification {
  brand = "ACME",
  client_ref = "order-42",
  workflow = { vonage.sms { to = phone }, vonage.voice { to = phone } },
})
print("started:  " .. tostring(req))

local code = assert(sandbox:last_code(phone))
print("outbox:   the sandbox sent " .. phone .. " the code " .. code)
print("check:    " .. assert(req:check(code)))
print("request:  " .. tostring(req))

step("2. Wrong codes until the API gives up (three tries)")
local second = assert(client:start_verification {
  brand = "ACME", workflow = { vonage.sms { to = phone } },
})
local wrong = sandbox:last_code(phone) == "0000" and "1111" or "0000"
for attempt = 1, 3 do
  local ok, msg, err = second:check(wrong)
  print(("try %d:    %s -> %s (err.code = %s)"):format(attempt, wrong, tostring(ok or msg), err.code))
end
print("request:  " .. tostring(second))

step("3. Cancel a verification")
local third = assert(client:start_verification {
  brand = "ACME", workflow = { vonage.sms { to = "447700900001" }, vonage.voice { to = "447700900001" } },
})
print("started:  " .. tostring(third))
assert(sandbox:advance(30)) -- the API takes a cancel only from 30 s after the start
print("cancel:   " .. tostring(assert(third:cancel())))
print("request:  " .. tostring(third))

step("4. Move on to the next channel at once with next_workflow")
local fourth = assert(client:start_verification {
  brand = "ACME", workflow = { vonage.sms { to = "447700900002" }, vonage.voice { to = "447700900002" } },
})
print("started:  " .. tostring(fourth))
assert(fourth:next_workflow())
print("moved:    " .. tostring(fourth))
local voice = sandbox:outbox("447700900002", "voice")
print("outbox:   the voice call said: " .. voice[#voice].text)
local _, msg, err = fourth:next_workflow()
print("again:    " .. msg .. " (err.code = " .. err.code .. ")")
print("check:    " .. assert(fourth:check(voice[#voice].code)))

step("5. A validation error, caught before any request is sent")
local none, why, verr = client:start_verification {
  brand = "ACME", workflow = { vonage.sms { to = "+44 7700 900000" } },
}
print(("result:   %s, %s"):format(tostring(none), why))
print(("err:      kind=%s code=%s field=%s"):format(verr.kind, verr.code, verr.field))
print("          " .. tostring(verr))
