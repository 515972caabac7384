-- Number Verification (CAMARA) against the local sandbox, the device step
-- simulated: sh scripts/with-sandbox lua5.4 examples/number_verification.lua
-- Against the real API, drop the sandbox lines: your backend serves the two
-- requests below, and the phone opens the URL over mobile data.
local vonage = require "vonage"
local sandbox = require("vonage_sandbox.client").new() -- reads VONAGE_SANDBOX_URL

-- All three hosts are the sandbox here.
local client = vonage.client.from_env { network_host = sandbox.url, oidc_host = sandbox.url }
local redirect_uri = sandbox.url .. "/app/number-verification/callback"
-- In the dashboard this is the application's "Redirect URI" field.
assert(sandbox:call("POST", "/_sandbox/redirect_uris",
                    { application_id = client.application_id, redirect_uri = redirect_uri }))

local phone = "+447700900000"
local session = "web-session-42" -- your web framework's session id
-- Shared by the two requests; in OpenResty use vonage.store.shared_dict(ngx.shared.DICT).
local store = vonage.store.memory()

local function step(title) print(("\n== %s"):format(title)) end

step("1. Backend, GET /login: ask Network Enablement for the URL the phone opens")
local login = client:number_verification { redirect_uri = redirect_uri, state_store = store }
local auth_url = assert(login:network_enablement { phone_number = phone, session = session })
print("auth_url: " .. auth_url:sub(1, 60) .. "...")

step("2. Phone, on mobile data: opens auth_url and is redirected to the backend")
local status, headers = sandbox:device_get(auth_url)
local callback_url = assert(status == 302 and headers.location, "expected a redirect")
print("redirect: " .. callback_url:gsub("code=[^&]+", "code=..."):gsub("state=[^&]+", "state=..."))

step("3. Backend, GET /callback: check the state, trade the code, ask the network")
local flow = client:number_verification { redirect_uri = redirect_uri, state_store = store }
print("bound to: " .. assert(flow:callback(callback_url, session)))
print("token:    valid for " .. assert(flow:exchange()) .. " s")
local verified, msg = flow:verify { phone_number = phone }
if verified == nil then error(msg) end
print("verified: " .. tostring(verified) .. "  (" .. tostring(flow) .. ")")

step("4. A replayed callback is refused: the state was single use")
local again = client:number_verification { redirect_uri = redirect_uri, state_store = store }
local ok, err
ok, msg, err = again:callback(callback_url, session)
print(("replay:   %s (err.code = %s)"):format(tostring(ok or msg), err.code))

step("5. A SIM holding another number: verify answers false")
assert(sandbox:call("POST", "/_sandbox/device", { phone_number = "+447700900999" }))
local url2 = assert(login:authorize_url { phone_number = phone, session = session })
local _, headers2 = sandbox:device_get(url2)
local other = client:number_verification { redirect_uri = redirect_uri, state_store = store }
assert(other:callback(headers2.location, session))
assert(other:exchange())
print("verified: " .. tostring(other:verify { hashed_phone_number = vonage.hash_phone_number(phone) }))
