-- Run by alloc_fail_host: three coroutines that send through the multi
-- transport and two that sleep, then send; a memory error injected at the
-- n-th allocation of the poll loop that drives them, for every n up to
-- arg[2]. Prints how many rounds left a coroutine neither finished nor ended
-- by a memory error of its own (a finished transfer or a timer lost, or a
-- coroutine woken twice) and how many polls raised.
-- luacheck: globals fail_allocation injected
local multi = require "vonage.transport.multi"
local url, rounds = arg[1], tonumber(arg[2])
local pcall, create, resume = pcall, coroutine.create, coroutine.resume
local lost, raised = 0, 0
for n = 0, rounds do
  -- preallocated: recording an outcome allocates nothing
  local finished = { false, false, false, false, false }
  local reported, index = { false, false, false, false, false }, {}
  local t = multi.new { on_error = function(_, co, err) reported[index[co]] = err end }
  for i = 1, 5 do
    local co = create(function()
      if i > 3 then t:sleep(5) end
      assert(t:send { method = "GET", url = url } == 200)
      finished[i] = true
    end)
    index[co] = i
    assert(resume(co)) -- runs to its first wait
  end
  fail_allocation(n)
  for _ = 1, 400 do
    local ok, left = pcall(t.poll, t, 10)
    if not ok then raised = raised + 1 elseif left == 0 then break end
  end
  injected()
  for i = 1, 5 do
    local err = reported[i]
    if not (finished[i] or type(err) == "string" and err:find("not enough memory", 1, true)) then
      lost = lost + 1
      break
    end
  end
  t:close()
end
print("lost " .. lost .. " raised " .. raised)
