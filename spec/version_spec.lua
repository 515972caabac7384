-- One version: VERSION holds it, and everything that states it agrees: the C
-- module (built by the Makefile from VERSION), vonage._VERSION, the User-Agent,
-- both rockspecs, debian/changelog and CHANGELOG.md.
local core = require "vonage.core"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- A rockspec is Lua assigning globals; load it into a table (5.1 and 5.2+).
local function rockspec(path)
  local spec = {}
  local chunk = assert(loadfile(path))
  local setfenv = rawget(_G, "setfenv") -- Lua 5.1 and LuaJIT only
  if setfenv then setfenv(chunk, spec) else chunk = assert(loadfile(path, "t", spec)) end
  chunk()
  return spec
end

local function vn_version_define(spec)
  for _, define in ipairs(spec.build.modules["vonage.core"].defines) do
    local v = define:match('^VN_VERSION="(.*)"$')
    if v then return v end
  end
end

describe("the version", function()
  local version = read("VERSION"):match("^(%d+%.%d+%.%d+)\n$")

  it("is one x.y.z line in VERSION", function()
    assert.is_string(version)
  end)

  it("is the C module's, vonage._VERSION and the User-Agent's", function()
    assert.equal(version, core.version)
    assert.equal("lua-vonage " .. version, require("vonage")._VERSION)
    assert.equal("lua-vonage/" .. version, require("vonage.api").USER_AGENT)
  end)

  it("is what both rockspecs build, and the versioned rockspec's", function()
    local scm = rockspec("lua-vonage-scm-1.rockspec")
    assert.equal("scm-1", scm.version)
    assert.equal(version, vn_version_define(scm))
    local release = rockspec("rockspecs/lua-vonage-" .. version .. "-1.rockspec")
    assert.equal(version .. "-1", release.version)
    assert.equal("v" .. version, release.source.tag)
    assert.equal(version, vn_version_define(release))
  end)

  it("is the latest entry of debian/changelog and the newest of CHANGELOG.md", function()
    assert.equal(version, read("debian/changelog"):match("^lua%-vonage %(([^)%-]+)[^)]*%) "))
    assert.equal(version, read("CHANGELOG.md"):match("\n## (%S+)\n"))
  end)
end)
