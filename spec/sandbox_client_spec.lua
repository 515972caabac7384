-- The sandbox's control client, the one the helper, scripts/env.sh, the
-- examples and the REPL share; and the sandbox tree's independence from the
-- library it tests.
local H = require "spec.helper"
local client = require "vonage_sandbox.client"

local LUA = H.LUA

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

  it("keeps what was registered with keep through a reset, and forgets it on reset(true)", function()
    local sandbox = client.new(H.url)
    finally(function() assert(sandbox:reset(true)); H.reset() end)
    local APP, SECRET = "kept-app-0001", "kept-signature-secret-0001"
    assert.same({ application_id = APP, keep = true }, sandbox:register_application(APP, H.read(H.pub_path), true))
    assert.same({ api_key = "keptkey1", keep = true }, sandbox:register_account("keptkey1", "kept-secret", true))
    assert(sandbox:set_callbacks { url = H.url .. "/_sink/kept", signature_secret = SECRET, keep = true })
    assert(sandbox:reset())
    local repl = require("vonage").client { application_id = APP, private_key_path = H.key_path, api_host = H.url }
    local req = assert(repl:start_verification { brand = "ACME",
                                                 workflow = { { channel = "sms", to = "447700900331" } } })
    assert(req:check(sandbox:last_code("447700900331")))
    local got = H.sunk(1)[1]
    assert.equal("/_sink/kept", got.path)
    local event = assert(require("vonage").webhook.verify(got.body, got.authorization,
                                                          { signature_secret = SECRET }))
    assert.equal(req.request_id, event.request_id)
    local basic = require("vonage").client { api_key = "keptkey1", api_secret = "kept-secret", api_host = H.url }
    assert(basic:start_verification { brand = "ACME", workflow = { { channel = "sms", to = "447700900332" } } })
    assert(sandbox:reset(true))
    local refused, _, err = repl:start_verification { brand = "ACME",
                                                      workflow = { { channel = "sms", to = "447700900333" } } }
    assert.is_nil(refused)
    assert.equal(401, err.status)
  end)

  it("relaxes the 30 s before a cancel with set_cancel_after, until a reset", function()
    local sandbox = client.new(H.url)
    assert.same({ cancel_after = 30 }, sandbox:settings())
    local c = H.client()
    local req = assert(c:start_verification { brand = "ACME", workflow = { { channel = "sms", to = "447700900341" } } })
    local ok, msg, err = req:cancel()
    assert.is_nil(ok)
    assert.equal(409, err.status)
    assert.truthy(msg:find("cannot be cancelled in the first 30 seconds", 1, true), msg)
    assert.same({ cancel_after = 0 }, sandbox:set_cancel_after(0))
    assert.is_true(req:cancel())
    local none, why = sandbox:set_cancel_after(31)
    assert.is_nil(none)
    assert.truthy(why:find("HTTP 422", 1, true), why)
    assert(sandbox:reset())
    assert.same({ cancel_after = 30 }, sandbox:settings())
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

describe("make sandbox-start", function()
  -- sandbox-dev in a build root of its own: `start` twice and `env` print the
  -- same exports (a second terminal attaches), with every host the sandbox.
  it("prints the running sandbox's exports again instead of restarting it, every host included", function()
    local root = os.tmpname()
    os.remove(root)
    local function dev(command)
      -- Without the sanitizer runtimes: the launcher's curl hangs with them preloaded.
      local p = assert(io.popen(("cd %s && env -u LD_PRELOAD -u SANITIZE VN_BUILD_ROOT=%s sh scripts/sandbox-dev %s"
        .. " 2>&1; echo \"exit=$?\""):format(H.ROOT, root, command)))
      local out = p:read("*a")
      p:close()
      return out
    end
    finally(function() dev("stop"); os.execute("rm -rf " .. root) end)
    local first = dev("start")
    assert.truthy(first:find("exit=0\n$"), first)
    assert.equal(first, dev("start"))
    assert.equal(first, dev("env"))
    local url = first:match("export VONAGE_SANDBOX_URL='([^']+)'")
    assert.truthy(url, first)
    assert.truthy(first:find("export VONAGE_NETWORK_HOST='" .. url .. "'", 1, true), first)
    assert.truthy(first:find("export VONAGE_OIDC_HOST='" .. url .. "'", 1, true), first)
    assert.truthy(first:find("export VONAGE_SIGNATURE_SECRET='dev%-signature%-%x+'"), first)
    dev("stop")
    assert.truthy(dev("env"):find("no REPL sandbox is running.*exit=1\n$"))
  end)
end)
