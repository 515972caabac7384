-- A vonage.core built for another interpreter is found first on the cpath:
-- require "vonage" names the file, the cause and the command that fixes it,
-- instead of the loader's bare "undefined symbol: lua_rotate".
local H = require "spec.helper"

local JIT = rawget(_G, "jit") ~= nil
-- The build this run's interpreter loads (env.sh put it first on LUA_CPATH).
local OWN_BUILD = assert((os.getenv("LUA_CPATH") or ""):match("^([^;]+)/%?%.so;"), "run through scripts/run-specs")

-- Runs `interpreter -e code` with only the given cpath and the project's Lua
-- path -> its output and whether it exited with 0.
local function run(interpreter, cpath, code)
  local lpath = H.ROOT .. "/lua/?.lua;" .. H.ROOT .. "/lua/?/init.lua;;"
  local p = assert(io.popen(("env LUA_PATH='%s' LUA_PATH_5_4='%s' LUA_CPATH='%s/?.so;;' LUA_CPATH_5_4='%s/?.so;;' "
    .. "%s -e '%s' 2>&1; echo \"exit=$?\""):format(lpath, lpath, cpath, cpath, interpreter, code)))
  local out = p:read("*a")
  p:close()
  return out, out:match("exit=(%d+)%s*$") == "0"
end

describe("require 'vonage' under the wrong interpreter", function()
  it("names the module's file, the missing symbol and the make install line for this interpreter", function()
    -- the other interpreter, loading the build made for this one
    local other = JIT and "lua5.4" or "luajit"
    local out, ok = run(other, OWN_BUILD, 'require "vonage"')
    assert.is_false(ok, out)
    assert.truthy(out:find("vonage.core at " .. OWN_BUILD .. "/vonage/core.so was built for another Lua "
      .. "(undefined symbol lua", 1, true), out)
    assert.truthy(out:find("make install LUA=" .. other, 1, true), out)
    assert.truthy(out:find(JIT and "this is Lua 5.4" or "this is LuaJIT (Lua 5.1 API)", 1, true), out)
    assert.falsy(out:find("error loading module", 1, true), out)
  end)

  it("loads the build made for it from the same paths", function()
    local out, ok = run(JIT and "luajit" or "lua5.4", OWN_BUILD, 'io.write(require("vonage")._VERSION)')
    assert.is_true(ok, out)
    assert.truthy(out:find("^lua%-vonage %d+%.%d+%.%d+"), out)
  end)

  it("refuses a module compiled against another Lua API even when every symbol links", function()
    local core = require "vonage.core"
    local saved_core, saved_vonage = package.loaded["vonage.core"], package.loaded.vonage
    local fake = setmetatable({ lua_version_num = 503 }, { __index = core })
    package.loaded["vonage.core"], package.loaded.vonage = fake, nil
    local ok, msg = pcall(require, "vonage")
    package.loaded["vonage.core"], package.loaded.vonage = saved_core, saved_vonage
    assert.is_false(ok)
    assert.truthy(tostring(msg):find("was built for another Lua (compiled against the Lua 5.3 API)", 1, true), msg)
    assert.truthy(tostring(msg):find("make install LUA=" .. (JIT and "luajit" or "lua5.4"), 1, true), msg)
  end)
end)
