-- The review of the hardening work (issue 9's promises): re-entrant calls from
-- finalizers, framing headers, timeouts whose outcome is unknown, one deadline
-- per call, a reloaded vonage.core.
local core = require "vonage.core"
local H = require "spec.helper"

-- Under busted, LuaJIT's collector ends no cycle inside these calls, so no
-- finalizer lands there: the answers are still checked, the hits on 5.4.
local JIT = rawget(_G, "jit") ~= nil

-- A garbage object whose finalizer runs fn (a userdata under LuaJIT, where
-- tables have no __gc).
local function finalizer(fn)
  local newproxy = rawget(_G, "newproxy")
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
    return p
  end
  return setmetatable({}, { __gc = fn })
end

-- Runs fn with the collector at its most eager: a finalizer may run at every
-- allocation.
local function eager_gc(fn)
  local has_modes, mode = pcall(collectgarbage, "incremental")
  local pause = collectgarbage("setpause", 0)
  local stepmul = collectgarbage("setstepmul", 1000)
  collectgarbage("collect")
  local ok, err = pcall(fn)
  collectgarbage("setpause", pause)
  collectgarbage("setstepmul", stepmul)
  if has_modes then collectgarbage(mode) end
  collectgarbage("collect")
  assert(ok, err)
end

-- A chain of finalizers, one link per allocation; the target-th link runs
-- act(). Returns a function that ends the chain.
local function act_at(target, act)
  local fired, ended = 0, false
  local function link()
    fired = fired + 1
    if ended then return end
    if fired == target then act() elseif fired < target then finalizer(link) end
  end
  finalizer(link)
  return function() ended = true end
end

describe("hardening review: a transport re-entered from a finalizer", function()
  before_each(H.reset)

  it("refuses a send that a finalizer starts while send pushes its answer (err.code busy)", function()
    local busy = 0
    eager_gc(function()
      for i = 1, 300 do
        local h = core.http_new {}
        local nested
        local stop = act_at(i % 40 + 1, function()
          nested = { h:send { method = "GET", url = H.url .. "/_sandbox/health" } }
        end)
        local status, headers, body = h:send { method = "GET", url = H.url .. "/_sandbox/log" }
        stop()
        -- The outer answer is whole whatever ran inside it.
        assert(status == 200 and headers["content-type"] and #body > 0, tostring(headers))
        if nested and nested[1] == nil then
          assert(nested[3].code == "busy" and nested[3].kind == "transport", tostring(nested[2]))
          assert(nested[2]:find("busy", 1, true))
          busy = busy + 1
        end
        h:close()
      end
    end)
    assert.is_true(busy > 0 or JIT)
  end)

  it("refuses result and cancel of the transfer whose answer result is pushing", function()
    local busy = 0
    eager_gc(function()
      for i = 1, 300 do
        local m = core.multi_new {}
        local id = assert(m:start { method = "GET", url = H.url .. "/_sandbox/log" })
        repeat m:perform(50) until m:next_finished()
        local nested, armed
        local stop = act_at(i % 40 + 1, function()
          if not armed then return end
          if i % 2 == 0 then
            nested = { pcall(m.result, m, id) }
          else
            nested = { pcall(m.cancel, m, id) }
          end
        end)
        armed = true
        local status, headers, body = m:result(id)
        armed = false
        stop()
        assert(status == 200 and headers["content-type"] and #body > 0, tostring(headers))
        if nested and nested[1] and nested[2] == nil then
          assert(nested[4].code == "busy", tostring(nested[3]))
          busy = busy + 1
        end
        -- The slot was freed once, by the outer result.
        assert.equal(0, m:pending())
        m:close()
      end
    end)
    assert.is_true(busy > 0 or JIT)
  end)
end)

describe("hardening review: a JWT re-minted while authorize copies it", function()
  -- LuaJIT's lua_pushstring runs the collector before it copies: a finalizer
  -- there that asks for a fresh JWT used to free the token being copied. The
  -- child (LuaJIT, which has not loaded api.lua) takes the authorizer itself.
  it("copies the whole token of its own mint, and the nested call gets the new one", function()
    local build = (os.getenv("VN_BUILD_ROOT") or (H.ROOT .. "/build")) .. "/luajit"
    assert(io.open(build .. "/vonage/core.so"), "build the LuaJIT module first (make build LUA=luajit)"):close()
    local p = assert(io.popen(("env -u LD_PRELOAD LUA_CPATH='%s/?.so;;' timeout 60 luajit "
      .. "%s/spec/support/remint_in_copy.lua %s 2>&1"):format(build, H.ROOT, H.key_path)))
    local out = p:read("*a")
    p:close()
    local rounds, nested = out:match("^ok\t(%d+)\t(%d+)")
    assert(rounds, out)
    assert.equal(200, tonumber(rounds))
    assert.is_true(tonumber(nested) > 0, out)
  end)
end)
