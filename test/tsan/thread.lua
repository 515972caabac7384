-- One thread of test/tsan/threads.c: its own clients (JWT on the blocking
-- transport, Basic on "multi" with coroutines and poll, as a game loop does),
-- a few calls against the sandbox and webhook verifies. Returns true.
local id = ...
local getenv = os.getenv
local SECRET = "tsan-signature-secret-0123456789"
local url = assert(getenv("VONAGE_SANDBOX_URL"), "run through scripts/run-tsan")

local vonage = require "vonage"
local core = require "vonage.core"

local jwt = vonage.client { application_id = getenv("VONAGE_APPLICATION_ID"), api_host = url,
                            private_key_path = getenv("VONAGE_PRIVATE_KEY_PATH"), signature_secret = SECRET }
local multi = vonage.client { api_key = getenv("VONAGE_API_KEY"), api_secret = getenv("VONAGE_API_SECRET"),
                              api_host = url, transport = "multi" }

local function forge(request_id)
  local b64 = core.base64url_encode
  local body = '{"type":"event","request_id":"' .. request_id .. '","triggered_at":"2026-01-01T00:00:00.000Z",'
    .. '"channel":"sms","status":"completed"}'
  local claims = string.format('{"iat":%d,"jti":"%s","iss":"Vonage","payload_hash":"%s"}',
                               os.time(), core.uuid4(), core.hex(core.sha256(body)))
  local input = b64('{"alg":"HS256","typ":"JWT"}') .. "." .. b64(claims)
  return body, "Bearer " .. input .. "." .. b64(core.hmac_sha256(SECRET, input))
end

local store = vonage.webhook.memory_store()
for round = 1, 3 do
  -- one number per thread and round: no two meet in the sandbox (409)
  local to = string.format("4478%04d%04d", id, round)
  local req = assert(jwt:start_verification { brand = "TSAN", workflow = { vonage.sms { to = to } } })
  assert(req:cancel())

  local done = 0
  for i = 1, 2 do
    multi:spawn(function()
      local r = assert(multi:start_verification { brand = "TSAN",
        workflow = { vonage.sms { to = string.format("4479%04d%02d%02d", id, round, i) } } })
      local ok, _, err = r:check("000000")
      assert(not ok and err.code == "invalid_code", "check: " .. tostring(err and err.code))
      done = done + 1
    end)
  end
  while multi:poll(50) > 0 do end
  assert(done == 2, "multi: " .. done .. " of 2 flows finished")

  local body, auth = forge("r-" .. id .. "-" .. round)
  local event = assert(jwt:verify_webhook(body, auth, { replay_store = store }))
  assert(event.request_id == "r-" .. id .. "-" .. round)
  local _, _, err = vonage.webhook.verify(body, auth, { signature_secret = SECRET, replay_store = store })
  assert(err.code == "replay")
end
jwt:close()
multi:close()
return true
