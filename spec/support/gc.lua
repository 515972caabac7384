-- Collector tools for the specs that make finalizers run inside a call:
--   local gc = require "spec.support.gc"   (a child script: dofile its path)
local M = {}

-- A value whose finalizer is fn (LuaJIT: a newproxy; tables have no __gc there).
function M.finalizer(fn)
  local newproxy = rawget(_G, "newproxy")
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
    return p
  end
  return setmetatable({}, { __gc = fn })
end

-- Runs fn with the collector at its most eager: a finalizer may run at every
-- allocation. Lua 5.4 may be in generational mode, where pause and stepmul do
-- nothing; LuaJIT has one mode and no such option.
function M.eager(fn)
  local has_modes, mode = pcall(collectgarbage, "incremental")
  local pause = collectgarbage("setpause", 0)
  local stepmul = collectgarbage("setstepmul", 1000)
  collectgarbage("collect") -- the new pause takes effect when a cycle ends
  local ok, err = pcall(fn)
  collectgarbage("setpause", pause)
  collectgarbage("setstepmul", stepmul)
  if has_modes then collectgarbage(mode) end
  collectgarbage("collect")
  assert(ok, err)
end

-- A chain of finalizers, one link per allocation under M.eager (each leaves
-- the next as garbage); the target-th link runs act(). Over the targets that
-- lands at every allocation of a call. Returns a function that ends the
-- chain (none may outlive the spec: LuaJIT would run a link after unloading
-- the module at exit).
function M.act_at(target, act)
  local fired, ended = 0, false
  local function link()
    fired = fired + 1
    if ended then return end
    if fired == target then act() elseif fired < target then M.finalizer(link) end
  end
  M.finalizer(link)
  return function() ended = true end
end

return M
