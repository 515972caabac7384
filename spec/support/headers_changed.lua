-- Run by spec/hardening_review_spec.lua in a child interpreter:
--   LUA headers_changed.lua URL
-- A finalizer changes a header to hold CR LF while a send with spec.client
-- reads its spec (after the headers were checked, before they are used).
-- Prints "sent <n> caught <n> early <n>": answered, refused by the re-check at
-- use, refused by the first check.
local jit = rawget(_G, "jit")
if jit then jit.off() end -- interpreted, the collector's steps fall inside the call
local core = require "vonage.core"
local url = arg[1]
local h = core.http_new {}
local c = core.client_new({ api_key = "key", api_secret = "secret-secret" }, { transport = h, api_host = url })
local finalizer = dofile((arg[0]:match("^(.*)/") or ".") .. "/gc.lua").finalizer

collectgarbage("setpause", 0)
collectgarbage("setstepmul", 1000)
local sent, caught, early = 0, 0, 0
for round = 1, 400 do
  local headers = { ["X-Ok"] = "1" }
  local fired, target, ended = 0, round % 20 + 1, false
  local function link()
    fired = fired + 1
    if ended then return end
    if fired == target then
      headers["X-Ok"] = "1\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x"
    elseif fired < target then
      finalizer(link)
    end
  end
  collectgarbage("collect")
  finalizer(link)
  for _ = 1, round % 7 do local _ = {} end
  local status, msg, err = h:send { method = "GET", url = url .. "/v2/x", headers = headers,
                                    client = c, auth_time = 1700000000 }
  ended = true
  if status == 200 then
    sent = sent + 1
  elseif err and err.code == "bad_header" and msg:find("changed after", 1, true) then
    caught = caught + 1
  elseif err and err.code == "bad_header" then
    early = early + 1
  else
    print("unexpected", msg)
    os.exit(1)
  end
end
core.client_close(c)
h:close()
print("sent", sent, "caught", caught, "early", early)
