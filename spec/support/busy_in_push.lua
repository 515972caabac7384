-- Run by spec/hardening_review_spec.lua in a child interpreter:
--   LUA busy_in_push.lua URL
-- A finalizer re-enters the transport (http:send; m:result or m:cancel of
-- the same transfer) while the outer call pushes its answer. Prints
-- "whole <n> busy <n> bad <n>": outer answers that came whole, nested calls
-- refused with err.code busy, anything else.
local jit = rawget(_G, "jit")
if jit then jit.off() end -- interpreted, the collector's steps fall inside the call
local core = require "vonage.core"
local url = arg[1]
local finalizer = dofile((arg[0]:match("^(.*)/") or ".") .. "/gc.lua").finalizer

collectgarbage("setpause", 0)
collectgarbage("setstepmul", 1000)
local whole, busy, bad = 0, 0, 0
local h = core.http_new {}
for round = 1, 400 do
  local m = core.multi_new {}
  local id = assert(m:start { method = "GET", url = url })
  repeat m:perform(50) until m:next_finished()
  local nested, armed
  local fired, target, ended = 0, round % 12 + 1, false
  local function link()
    fired = fired + 1
    if ended then return end
    if fired == target then
      if not armed then return end
      if round % 3 == 0 then
        nested = { h:send { method = "GET", url = url } }
      elseif round % 3 == 1 then
        nested = { select(2, pcall(m.result, m, id)) }
      else
        nested = { select(2, pcall(m.cancel, m, id)) }
      end
    elseif fired < target then
      finalizer(link)
    end
  end
  collectgarbage("collect")
  finalizer(link)
  for _ = 1, round % 5 do local _ = {} end
  armed = true
  local status, headers, body
  if round % 3 == 0 then
    status, headers, body = h:send { method = "GET", url = url }
  else
    status, headers, body = m:result(id)
  end
  armed = false
  ended = true
  if status == 200 and headers["content-type"] and #body > 0 then whole = whole + 1 else bad = bad + 1 end
  if nested then
    if nested[1] == nil and nested[3] and nested[3].code == "busy" then busy = busy + 1
    elseif round % 3 ~= 0 or nested[1] ~= 200 then bad = bad + 1 end
  end
  m:close()
end
h:close()
print("whole", whole, "busy", busy, "bad", bad)
