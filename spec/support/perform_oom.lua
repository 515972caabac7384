-- Run by alloc_fail_host: three transfers, and a memory error injected at the
-- n-th allocation of the m:perform calls that collect them, for every n up to
-- arg[2]. Prints how many rounds lost a finished transfer (never named by
-- m:next_finished after any later perform) and how many memory errors perform
-- raised.
-- luacheck: globals fail_allocation injected
local core = require "vonage.core"
local url, rounds = arg[1], tonumber(arg[2])
local pcall = pcall
local lost, raised = 0, 0
for n = 0, rounds do
  local m = core.multi_new {}
  local perform = m.perform
  for _ = 1, 3 do assert(m:start { method = "GET", url = url }) end
  local seen, count = { false, false, false }, 0 -- preallocated: the loop allocates nothing
  fail_allocation(n)
  for _ = 1, 400 do
    local ok = pcall(perform, m, 10)
    if ok then
      local id = m:next_finished() -- pushes an integer: allocates nothing
      while id do
        if not seen[id] then seen[id] = true; count = count + 1 end
        m:cancel(id)
        id = m:next_finished()
      end
    else
      raised = raised + 1
    end
    if count == 3 then break end
  end
  injected()
  if count ~= 3 then lost = lost + 1 end
  m:close()
end
print("lost " .. lost .. " raised " .. raised)
