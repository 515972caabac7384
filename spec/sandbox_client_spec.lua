-- The sandbox's control client, the one the helper, scripts/env.sh, the
-- examples and the REPL share; and the sandbox tree's independence from the
-- library it tests.
local H = require "spec.helper"
local client = require "vonage_sandbox.client"

local LUA = rawget(_G, "jit") and "luajit" or "lua5.4"

-- Runs a chunk in a fresh interpreter whose module path holds only the
-- sandbox's tree and the system's -> its output, and whether it exited with 0.
local function run_alone(chunk)
  local path = H.ROOT .. "/sandbox/lua/?.lua;;"
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(chunk)
  f:close()
  local p = assert(io.popen(("cd /tmp && env LUA_PATH='%s' LUA_PATH_5_4='%s' LUA_CPATH=';;' LUA_CPATH_5_4=';;' "
    .. "%s %s 2>&1; echo \"exit=$?\""):format(path, path, LUA, script)))
  local out = p:read("*a")
  p:close()
  os.remove(script)
  return out, out:match("exit=(%d+)%s*$") == "0"
end

describe("vonage_sandbox.client", function()
  before_each(H.reset)

  it("returns the decoded answer of a 2xx and names the status and the problem otherwise", function()
    local sandbox = client.new(H.url .. "/")
    assert.equal("vonage_sandbox.client " .. H.url, tostring(sandbox))
    assert.same({ ok = true }, sandbox:health())
    local answer, msg, problem = sandbox:register_application("app-1", "not a PEM key")
    assert.is_nil(answer)
    assert.truthy(msg:find("sandbox POST /_sandbox/applications: HTTP 422", 1, true), msg)
    assert.equal("public_key", problem.invalid_parameters[1].name)
  end)

  it("reads the outbox, the last code, the clock and the log the sandbox keeps", function()
    local sandbox = client.new(H.url)
    local req = assert(H.client():start_verification {
      brand = "ACME", workflow = { { channel = "sms", to = "447700900321" } } })
    local messages = assert(sandbox:outbox("447700900321", "sms"))
    assert.equal(1, #messages)
    assert.equal(req.request_id, messages[1].request_id)
    assert.equal(messages[1].code, sandbox:last_code("447700900321"))
    assert.same({}, sandbox:outbox("447700900321", "voice"))
    local none, why = sandbox:last_code("447700900999")
    assert.is_nil(none)
    assert.equal("no message was sent to 447700900999", why)
    local _, clock = sandbox:request("GET", "/_sandbox/clock")
    assert.equal(clock.now + 3600, sandbox:advance(3600))
    assert.equal(1, sandbox:logged("POST", "/v2/verify"))
    assert.equal(0, sandbox:logged("GET", "/v2/verify"))
  end)

  it("says when nothing answers", function()
    -- Nothing listens on port 1 of loopback.
    local sandbox = client.new("http://127.0.0.1:1")
    local answer, msg = sandbox:reset()
    assert.is_nil(answer)
    assert.truthy(msg:find("^sandbox POST /_sandbox/reset: "), msg)
  end)

  it("opens a sandbox URL as a device would, without following its redirect, and no other host", function()
    local sandbox = client.new(H.url)
    assert(sandbox:fault { path = "/device/hop", status = 302, headers = { Location = H.url .. "/next" } })
    local status, headers = sandbox:device_get(H.url .. "/device/hop")
    assert.equal(302, status)
    assert.equal(H.url .. "/next", headers.location)
    local refused, msg = sandbox:device_get("http://192.0.2.1/device/hop")
    assert.is_nil(refused)
    assert.equal("device_get: not a URL of this sandbox: http://192.0.2.1/device/hop", msg)
  end)

  it("raises when it has no URL", function()
    local out, ok = run_alone([[
      local c = require "vonage_sandbox.client"
      local ok, err = pcall(c.new, "")
      print(ok, err)]])
    assert.is_true(ok, out)
    assert.truthy(out:find("false\t.-vonage_sandbox.client: no URL: pass one or set VONAGE_SANDBOX_URL"), out)
  end)
end)

describe("the sandbox tree", function()
  it("works without the library: the control client talks to the sandbox where vonage cannot load", function()
    local out, ok = run_alone(([[
      assert(not pcall(require, "vonage"), "vonage must not be on this path")
      local sandbox = require("vonage_sandbox.client").new(%q)
      print(assert(sandbox:health()).ok)]]):format(H.url))
    assert.is_true(ok, out)
    assert.equal("true\nexit=0\n", out)
  end)

  it("requires nothing of the library in any of its files", function()
    local files = assert(io.popen("ls " .. H.ROOT .. "/sandbox/lua/vonage_sandbox/*.lua"))
    local seen, offenders = 0, {}
    for path in files:lines() do
      seen = seen + 1
      local source = H.read(path)
      for name in source:gmatch("require%s*%(?%s*[\"']([%w_%.]+)[\"']") do
        if name == "vonage" or name:match("^vonage%.") then
          offenders[#offenders + 1] = path:match("[^/]+$") .. ": " .. name
        end
      end
    end
    files:close()
    assert.is_true(seen >= 14, "found " .. seen .. " files")
    assert.same({}, offenders)
  end)
end)
