-- Runs two takes (or two adds) of one key on vonage.store.shared_dict against a
-- real ngx.shared.DICT in every interleaving of their dict operations: the
-- dict is wrapped so each operation first yields, and a schedule of bits picks
-- which coroutine runs next. Inside one nginx request, so the order is exact,
-- not left to luck as with concurrent requests.
-- interleave(dict, "take" | "add") -> schedules run, list of failures
local store = require "vonage.store"

local function yielding(dict)
  local proxy = {}
  for _, name in ipairs { "get", "safe_add", "safe_set", "incr", "delete" } do
    proxy[name] = function(_, ...)
      coroutine.yield()
      return dict[name](dict, ...)
    end
  end
  return proxy
end

return function(dict, what)
  local failures, runs = {}, 0
  for schedule = 0, 1023 do
    local key = "interleave:" .. what .. ":" .. schedule
    local setup = store.shared_dict(dict)
    if what == "take" then assert(setup:put(key, "the-state", 60)) end
    local results, cos = {}, {}
    for i = 1, 2 do
      local s = store.shared_dict(yielding(dict))
      cos[i] = coroutine.create(function()
        if what == "take" then results[i] = s:take(key) else results[i] = s:add(key, 60) end
      end)
    end
    local step = 0
    while coroutine.status(cos[1]) ~= "dead" or coroutine.status(cos[2]) ~= "dead" do
      local pick = math.floor(schedule / 2 ^ (step % 10)) % 2 + 1
      if coroutine.status(cos[pick]) == "dead" then pick = 3 - pick end
      assert(coroutine.resume(cos[pick]))
      step = step + 1
    end
    runs = runs + 1
    local wins = 0
    for i = 1, 2 do
      if results[i] == (what == "take" and "the-state" or true) then wins = wins + 1 end
    end
    if wins ~= 1 then failures[#failures + 1] = schedule .. ":" .. wins end
  end
  return runs, failures
end
