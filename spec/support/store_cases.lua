-- The cases every vonage.store backend must pass, run by spec/store_spec.lua
-- in-process (memory) and inside a two-worker nginx (shared_dict).
-- Each case is function(b) with b.new() (a fresh, empty store), b.small()
-- (a store that holds few entries), b.advance(s) (time passes by s seconds)
-- and b.key(name) (a key no other run used); it raises on a failed check.
local function eq(want, got, what)
  if want ~= got then
    error(("%s: expected %s, got %s"):format(what, tostring(want), tostring(got)), 2)
  end
end

local cases = {}
local order = {}
local function case(name, fn) cases[name] = fn order[#order + 1] = name end

case("gives a value back once and then forgets it", function(b)
  local s, k = b.new(), b.key("once")
  eq(true, s:put(k, "bound-to-alice", 60), "put")
  eq("bound-to-alice", s:take(k), "first take")
  eq(nil, s:take(k), "second take")
  eq(nil, s:take(b.key("never-stored")), "take of an unknown key")
end)

case("never overwrites a live value", function(b)
  local s, k = b.new(), b.key("nooverwrite")
  eq(true, s:put(k, "first", 60), "put")
  local ok, msg, err = s:put(k, "second", 60)
  eq(nil, ok, "second put")
  eq("store_exists", err.code, "error code")
  eq("string", type(msg), "message")
  eq("first", s:take(k), "take")
end)

case("adds a key once, and again after delete", function(b)
  local s, k = b.new(), b.key("add")
  eq(true, s:add(k, 60), "first add")
  eq(false, s:add(k, 60), "second add")
  s:delete(k)
  eq(true, s:add(k, 60), "add after delete")
  eq(false, s:add(k, 60), "add after that")
end)

case("takes an added key once, as true", function(b)
  local s, k = b.new(), b.key("addtake")
  eq(true, s:add(k, 60), "add")
  eq(true, s:take(k), "take")
  eq(nil, s:take(k), "second take")
  eq(true, s:add(k, 60), "add after take")
end)

case("deletes a stored value, and an unknown key harmlessly", function(b)
  local s, k = b.new(), b.key("delete")
  s:delete(b.key("never-stored"))
  eq(true, s:put(k, "v", 60), "put")
  s:delete(k)
  eq(nil, s:take(k), "take after delete")
  eq(true, s:put(k, "w", 60), "put after delete")
  eq("w", s:take(k), "take of the new value")
end)

case("stores a key again after it was taken", function(b)
  local s, k = b.new(), b.key("reuse")
  for round = 1, 3 do
    eq(true, s:put(k, "value-" .. round, 60), "put " .. round)
    eq("value-" .. round, s:take(k), "take " .. round)
  end
end)

case("lets entries expire by their ttl", function(b)
  local s, short, long, added = b.new(), b.key("short"), b.key("long"), b.key("added")
  eq(true, s:put(short, "gone-soon", 0.05), "put short")
  eq(true, s:put(long, "stays", 60), "put long")
  eq(true, s:add(added, 0.05), "add short")
  b.advance(0.2)
  eq(nil, s:take(short), "take of an expired value")
  eq(true, s:add(added, 60), "add of an expired key")
  eq(true, s:put(short, "again", 60), "put of an expired key")
  eq("again", s:take(short), "take of the new value")
  eq("stays", s:take(long), "take of the live value")
end)

case("refuses with store_full when full, and never evicts a live entry", function(b)
  local s = b.small()
  local stored, ok, why, err, _ = {}
  for i = 1, 100000 do
    local k = b.key("fill" .. i)
    ok, why, err = s:put(k, ("x"):rep(1000), 60)
    if not ok then break end
    stored[#stored + 1] = k
  end
  eq(nil, ok, "the store filled up")
  eq("store_full", err.code, "error code")
  eq("string", type(why), "message")
  eq(false, #stored == 0, "something fit")
  -- small entries may still fit where large ones did not: fill up with adds too
  local added, added_ok, added_err = {}
  for i = 1, 100000 do
    local k = b.key("filladd" .. i)
    added_ok, _, added_err = s:add(k, 60)
    if not added_ok then break end
    added[#added + 1] = k
  end
  eq(nil, added_ok, "add when full")
  eq("store_full", added_err.code, "add's error code")
  for i, k in ipairs(added) do eq(false, s:add(k, 60), "add of added key " .. i) end
  for i, k in ipairs(stored) do eq(("x"):rep(1000), s:take(k), "take of entry " .. i) end
  eq(true, s:put(b.key("after"), ("x"):rep(1000), 60), "put once there is room")
end)

case("raises on misuse", function(b)
  local s = b.new()
  for _, bad in ipairs {
    function() s:put(1, "v", 60) end,
    function() s:put("k", {}, 60) end,
    function() s:put("k", "v", 0) end,
    function() s:add("k", "60") end,
    function() s:add("k", -1) end,
  } do
    eq(false, (pcall(bad)), "misuse raises")
  end
end)

return { cases = cases, order = order }
