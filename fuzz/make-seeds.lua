-- make-seeds.lua DIR: writes a seed corpus for fuzz/webhook_fuzz.c into DIR
-- (its layout is described there). Most seeds are in the re-signed layout,
-- so mutations of the header, the claims and the body reach the claim checks
-- and the body typing; a few are whole tokens as sent. Needs vonage.core.
local core = require "vonage.core"
local dir = assert(arg[1], "usage: make-seeds.lua DIR")
local SECRET = "fuzz-signature-secret-0123456789"
local NOW = 1700000000 -- the target's fixed clock
local b64 = core.base64url_encode
local HEADER = '{"alg":"HS256","typ":"JWT"}'

local function token(header, claims, secret)
  local input = b64(header) .. "." .. b64(claims)
  return "Bearer " .. input .. "." .. b64(core.hmac_sha256(secret or SECRET, input))
end

local function claims(extra)
  return '{"api_key":"sandbox-api-key","application_id":"5a1f9b27-3c8e-4d6f-9a0b-1c2d3e4f5a6b",'
    .. '"iat":' .. NOW .. ',"iss":"Vonage","jti":"296e4ed8-9062-452a-a28f-2aa7eb974a72",'
    .. '"payload_hash":"$HASH"' .. (extra or "") .. '}'
end

local event = '{"channel":"sms","request_id":"d8a59844-1089-4dd3-aee7-c20daf8fb704",'
  .. '"status":"completed","triggered_at":"2026-01-01T00:00:00.000Z","type":"event",'
  .. '"finalized_at":"2026-01-01T00:00:01.000Z","client_ref":"order-42"}'
local pending = '{"type":"event","request_id":"21a425df","triggered_at":"2025-07-14T17:01:47.032Z",'
  .. '"channel":"silent_auth","status":"action_pending",'
  .. '"action":[{"type":"check","check_url":"https://api-eu-4.vonage.com/v2/verify/21a425df/silent-auth/redirect"}]}'
local pending_object = pending:gsub('%[({.-})%]', "%1")
local summary = '{"type":"summary","request_id":"c11236f4-00bf-4b89-84ba-88b25df97315",'
  .. '"submitted_at":"2025-07-14T17:01:00.000Z","status":"completed","channel_timeout":180,"client_ref":"x",'
  .. '"workflow":[{"channel":"silent_auth","initiated_at":"2025-07-14T17:01:00.000Z","status":"failed"},'
  .. '{"channel":"sms","initiated_at":"2025-07-14T17:01:30.000Z","status":"completed"}]}'

-- Re-signed layout: mode byte 1 (or 3: signature flipped), header 0xfe claims 0xff body.
local function signed(body, c, header, mode)
  return string.char(mode or 1) .. (header or HEADER) .. "\254" .. (c or claims()) .. "\255" .. body
end

local seeds = {
  signed(event), signed(pending), signed(pending_object), signed(summary),
  signed(event, claims(',"exp":' .. (NOW + 60) .. ',"nbf":' .. (NOW - 1))),
  signed(summary, claims(',"nested":[{"a":"\\u00e9\\ud83d\\ude00"},null,true,-0.5e3]')),
  signed('{"type":"summary","request_id":"r","submitted_at":"t","status":"s","workflow":{}}'),
  signed('{"type":"event","request_id":1,"triggered_at":"t","channel":"sms","status":"completed"}'),
  signed('[{"type":"event"}]'), signed("not json"), signed(""),
  signed(event, '{"iat":1.5,"payload_hash":"$HASH"}'),
  signed(event, claims():gsub('"iss":"Vonage"', '"iss":"vonage"')),
  signed(event, claims(), '{"alg":"HS256"}'),
  signed(event, claims(), '{"alg":"none"}'),
  signed(event, claims(), '{"alg":"HS256","crit":["exp"]}'),
  signed(event, nil, nil, 3),
  string.char(2) .. claims() .. "\255" .. event, -- the default header
  -- the claim checks C makes: a repeated string claim (the last counts),
  -- integers at the edge of what a double holds, escapes in the strings
  signed(event, claims(',"jti":"\\u00e9\\ud83d\\ude00","api_key":null')),
  signed(event, claims(',"iss":"Vonag","iss":"\\u0056onage","application_id":7')),
  signed(event, claims(',"exp":9007199254740991,"nbf":-9007199254740992')),
  signed(event, '{"iat":' .. (NOW - 300) .. ',"iss":"Vonage","jti":"' .. ("j"):rep(256) .. '","payload_hash":"$HASH"}'),
  -- whole tokens as sent (mode 0)
  "\0" .. token(HEADER, claims():gsub("%$HASH", core.hex(core.sha256(event)))) .. "\255" .. event,
  "\0" .. token(HEADER, claims(), "wrong-secret") .. "\255" .. event,
  "\0" .. token('{"alg":"none"}', claims()),
}
for i, seed in ipairs(seeds) do
  local f = assert(io.open(string.format("%s/seed-%d", dir, i), "wb"))
  f:write(seed)
  f:close()
end
