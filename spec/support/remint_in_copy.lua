-- Run by spec/hardening_review_spec.lua in a child interpreter that has not
-- loaded lua/vonage/api.lua, so it can take the authorizer itself:
--   LUA remint_in_copy.lua KEY_PATH
-- A finalizer run while authorize copies a JWT asks for one a day later (a
-- re-mint). Prints "ok <rounds> <nested>" when every copy was the whole token
-- of its own mint, else "bad <round> <value length>".
local jit = rawget(_G, "jit")
if jit then jit.off() end -- interpreted, the collector's steps fall inside the call
local core = require "vonage.core"
local authorize = core.take_authorizer()
local c = core.client_new({ application_id = "00000000-0000-4000-8000-000000000000",
                            private_key_path = arg[1], jwt_ttl = 3600 }, {})
local finalizer = dofile((arg[0]:match("^(.*)/") or ".") .. "/gc.lua").finalizer
local function iat(value)
  local payload = value:match("^Bearer [%w_-]+%.([%w_-]+)%.[%w_-]+$")
  return payload and core.base64url_decode(payload):match('"iat":(%d+)')
end

collectgarbage("setpause", 0)
collectgarbage("setstepmul", 1000)
local nested = 0
for round = 1, 200 do
  local t = 1700000000 + round * 2 * 86400
  local inner, armed
  collectgarbage("collect")
  finalizer(function() if armed then inner = authorize(c, t + 86400) end end)
  for _ = 1, round % 8 do local _ = {} end
  armed = true
  local value = authorize(c, t)
  armed = false
  if iat(value) ~= tostring(t) then
    print("bad", round, #value)
    os.exit(1)
  end
  if inner then
    if iat(inner) ~= tostring(t + 86400) then
      print("bad inner", round, #inner)
      os.exit(1)
    end
    nested = nested + 1
  end
end
core.client_close(c)
print("ok", 200, nested)
