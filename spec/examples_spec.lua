-- Every standalone example runs to the end against the sandbox, under the
-- interpreter running the specs, and prints what its steps computed. (The
-- OpenResty example runs in spec/example_openresty_spec.lua and
-- spec/webhook_receiver_spec.lua.)
local H = require "spec.helper"

local LUA = H.LUA

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

-- Each example, what its spec is named after, and the lines its output must
-- hold (found as plain text); `also` checks what a plain line cannot say.
local EXAMPLES = {
  { "quickstart", "a code checked, three wrong codes, a cancel, next_workflow, a validation error",
    { "check:    completed", "err.code = too_many_attempts",
      "kind=validation code=invalid_params field=workflow[0].to" } },
  { "silent_auth", "the device's code completes; a foreign request_id is refused",
    { "backend:  completed", "err.code = request_id_mismatch" } },
  { "silent_auth_async", "the signed callbacks carry the check_url and the outcome",
    { "backend:  check -> completed", "callback: summary completed" } },
  { "templates", "a rendered SMS, a refused delete of a template with fragments, the clean-up",
    { "err.code = not_empty_template", "deleted:  true" } },
  { "number_verification", "the OAuth round trip, a replayed state refused, another SIM's number",
    { "err.code = unknown_state", "verified: false" } },
  { "game_loop", "eight logins in flight from one thread, one typo refused",
    { "8 logins" },
    also = function(out)
      assert.equal(7, count(out, "player%-%d +completed"), out)
      assert.truthy(out:find("player%-5 +refused: .*err.code = invalid_code"), out)
    end },
}

describe("the examples", function()
  before_each(register_dev_app)

  for _, example in ipairs(EXAMPLES) do
    local name, what, lines = example[1], example[2], example[3]
    it(name .. ": " .. what, function()
      local out, ok = run(name)
      assert.is_true(ok, out)
      for _, line in ipairs(lines) do
        assert.truthy(out:find(line, 1, true), out)
      end
      if example.also then example.also(out) end
    end)
  end
end)
