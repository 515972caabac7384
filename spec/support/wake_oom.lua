-- Run by alloc_fail_host: a coroutine that sends through the multi
-- transport, and a poll called at call depths 0..arg[3] right after a full
-- collection (which shrinks the stacks, so the calls poll makes may have to
-- grow one again); a memory error is injected at the n-th allocation of
-- that loop, for every n up to arg[2]. Prints how many rounds lost the
-- coroutine (neither finished, nor ended by a memory error of its own, nor
-- handed an out_of_memory result) and how many left an entry behind.
-- luacheck: globals fail_allocation injected
local multi = require "vonage.transport.multi"
local url, rounds, depths = arg[1], tonumber(arg[2]), tonumber(arg[3])
local pcall, create, resume = pcall, coroutine.create, coroutine.resume
local lost, leaked = 0, 0

local function padded(depth, t)
  if depth == 0 then return t:poll(10) end
  local left = padded(depth - 1, t)
  return left
end

for depth = 0, depths do
  for n = 0, rounds do
    local outcome = { finished = false, code = false, reported = false }
    local t = multi.new { on_error = function(_, _, err) outcome.reported = err end }
    local co = create(function()
      local status, _, err = t:send { method = "GET", url = url }
      if status == 200 then outcome.finished = true else outcome.code = err and err.code or "?" end
    end)
    assert(resume(co)) -- runs to its wait
    collectgarbage()
    fail_allocation(n)
    for _ = 1, 400 do
      local ok, left = pcall(padded, depth, t)
      if ok and left == 0 then break end
    end
    injected()
    local err = outcome.reported
    if not (outcome.finished or outcome.code == "out_of_memory"
            or type(err) == "string" and err:find("not enough memory", 1, true)) then
      lost = lost + 1
    end
    if t:pending() ~= 0 then leaked = leaked + 1 end
    t:close()
  end
end
print("lost " .. lost .. " leaked " .. leaked)
