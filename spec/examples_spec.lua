-- Every standalone example runs to the end against the sandbox, under the
-- interpreter running the specs, and prints what its steps computed. (The
-- OpenResty receiver example runs in spec/webhook_receiver_spec.lua.)
local H = require "spec.helper"

local LUA = rawget(_G, "jit") and "luajit" or "lua5.4"

-- The development application and account the examples read from the
-- environment (scripts/env.sh exported them); H.reset forgets them.
local function register_dev_app()
  H.reset()
  assert(H.control("POST", "/_sandbox/applications", {
    application_id = os.getenv("VONAGE_APPLICATION_ID"), public_key = H.read(H.pub_path) }) == 200)
  assert(H.control("POST", "/_sandbox/accounts", {
    api_key = os.getenv("VONAGE_API_KEY"), api_secret = os.getenv("VONAGE_API_SECRET") }) == 200)
end

-- Runs examples/<name>.lua -> its output, and whether it exited with 0.
local function run(name)
  local p = assert(io.popen(("cd %s && %s examples/%s.lua 2>&1; echo \"exit=$?\"")
    :format(H.ROOT, LUA, name)))
  local out = p:read("*a")
  p:close()
  return out, out:match("exit=(%d+)%s*$") == "0"
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

describe("the examples", function()
  before_each(register_dev_app)

  it("quickstart: a code checked, three wrong codes, a cancel, next_workflow, a validation error", function()
    local out, ok = run("quickstart")
    assert.is_true(ok, out)
    assert.truthy(out:find("check:    completed", 1, true), out)
    assert.truthy(out:find("err.code = too_many_attempts", 1, true), out)
    assert.truthy(out:find("kind=validation code=invalid_params field=workflow[1].to", 1, true), out)
  end)

  it("silent_auth: the device's code completes; a foreign request_id is refused", function()
    local out, ok = run("silent_auth")
    assert.is_true(ok, out)
    assert.truthy(out:find("backend:  completed", 1, true), out)
    assert.truthy(out:find("err.code = request_id_mismatch", 1, true), out)
  end)

  it("silent_auth_async: the signed callbacks carry the check_url and the outcome", function()
    local out, ok = run("silent_auth_async")
    assert.is_true(ok, out)
    assert.truthy(out:find("backend:  check -> completed", 1, true), out)
    assert.truthy(out:find("callback: summary completed", 1, true), out)
  end)

  it("templates: a rendered SMS, a refused delete of a template with fragments, the clean-up", function()
    local out, ok = run("templates")
    assert.is_true(ok, out)
    assert.truthy(out:find("err.code = not_empty_template", 1, true), out)
    assert.truthy(out:find("deleted:  true", 1, true), out)
  end)

  it("number_verification: the OAuth round trip, a replayed state refused, another SIM's number", function()
    local out, ok = run("number_verification")
    assert.is_true(ok, out)
    assert.truthy(out:find("err.code = unknown_state", 1, true), out)
    assert.truthy(out:find("verified: false", 1, true), out)
  end)

  it("game_loop: eight logins in flight from one thread, one typo refused", function()
    local out, ok = run("game_loop")
    assert.is_true(ok, out)
    assert.truthy(out:find("8 logins", 1, true), out)
    assert.equal(7, count(out, "player%-%d +completed"), out)
    assert.truthy(out:find("player%-5 +refused: .*err.code = invalid_code"), out)
  end)
end)
