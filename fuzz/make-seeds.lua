-- make-seeds.lua DIR: writes a seed corpus of sandbox-style webhook tokens
-- (signed with the fuzz target's secret) into DIR. Needs vonage.core.
local core = require "vonage.core"
local dir = assert(arg[1], "usage: make-seeds.lua DIR")
local SECRET = "fuzz-signature-secret-0123456789"
local b64 = core.base64url_encode

local function token(header, claims, secret)
  local input = b64(header) .. "." .. b64(claims)
  return "Bearer " .. input .. "." .. b64(core.hmac_sha256(secret or SECRET, input))
end

local body = '{"channel":"sms","request_id":"d8a59844-1089-4dd3-aee7-c20daf8fb704",'
  .. '"status":"completed","triggered_at":"2026-01-01T00:00:00.000Z","type":"event"}'
local hash = core.hex(core.sha256(body))
local claims = '{"api_key":"sandbox-api-key","application_id":"5a1f9b27-3c8e-4d6f-9a0b-1c2d3e4f5a6b",'
  .. '"iat":1700000000,"iss":"Vonage","jti":"296e4ed8-9062-452a-a28f-2aa7eb974a72","payload_hash":"'
  .. hash .. '"}'
local seeds = {
  token('{"alg":"HS256","typ":"JWT"}', claims) .. "\255" .. body,
  token('{"alg":"HS256"}', claims) .. "\255" .. body .. "x",
  token('{"alg":"HS256","typ":"JWT"}', '{"iat":1.5,"payload_hash":"' .. hash .. '"}') .. "\255" .. body,
  token('{"alg":"HS256","typ":"JWT"}', '{"iat":1,"nested":[{"a":"\\u00e9\\ud83d\\ude00"},null,true,-0.5e3]}'),
  token('{"alg":"none"}', claims),
  token('{"alg":"HS256","crit":["exp"]}', claims),
  token('{"alg":"HS256","typ":"JWT"}', claims, "wrong-secret"),
}
for i, seed in ipairs(seeds) do
  local f = assert(io.open(string.format("%s/seed-%d", dir, i), "wb"))
  f:write(seed)
  f:close()
end
