-- The one table of limits and defaults (src/vn_limits.h): doc/client.md says
-- what it holds, every option is refused one past either end and taken at
-- both ends, and the C checks and the Lua layer read the same numbers.
local H = require "spec.helper"
local vonage = require "vonage"
local core = require "vonage.core"

local LIMITS = core.limits()

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- The rows of doc/client.md's table: name -> { default, min, max } (nil for "-").
local function doc_rows()
  local rows, in_section = {}, false
  for line in io.lines(H.ROOT .. "/doc/client.md") do
    if line:match("^## ") then in_section = line == "## Limits and defaults" end
    local name, d, lo, hi = line:match("^| `([%w_]+)` | (%S+) | (%S+) | (%S+) |")
    if in_section and name then
      local function num(s)
        if s == "-" then return nil end
        return assert(tonumber(s), name .. ": " .. s .. " is not a number")
      end
      assert(rows[name] == nil, name .. " is listed twice")
      rows[name] = { default = num(d), min = num(lo), max = num(hi) }
    end
  end
  return rows
end

-- f() raises a message naming option and the range the table gives.
local function assert_refused(f, option, limit)
  local ok, msg = pcall(f)
  assert.is_false(ok, option .. " was taken")
  local want = ("%s must be between %d and %d"):format(option, limit.min, limit.max)
  assert.truthy(tostring(msg):find(want, 1, true), tostring(msg) .. " (wanted: " .. want .. ")")
end

local function basic(opts)
  opts.api_key, opts.api_secret = "k", "s"
  return vonage.client(opts)
end

describe("the table of limits", function()
  it("is written in doc/client.md with each row's default, min and max", function()
    local rows = doc_rows()
    assert.is_true(count(LIMITS) >= 20, count(LIMITS) .. " limits")
    assert.equal(count(LIMITS), count(rows))
    for name, limit in pairs(LIMITS) do
      local row = rows[name]
      assert.is_table(row, name .. " is missing from doc/client.md")
      assert.same({ limit.default, limit.min, limit.max }, { row.default, row.min, row.max }, name)
      assert.is_string(limit.unit)
      assert.is_string(limit.what)
    end
  end)

  it("gives the defaults the guides' examples show (`option = N`)", function()
    -- max_entries is the one name two stores share, with two defaults (both rows above).
    local seen, p = 0, assert(io.popen("cd " .. H.ROOT .. " && ls README.md doc/*.md"))
    for path in p:lines() do
      for line in io.lines(H.ROOT .. "/" .. path) do
        for name, value in line:gmatch("([%w_]+) = (%d+)") do
          local limit = LIMITS[name]
          if limit and limit.default and name ~= "max_entries" then
            -- An option a store shares with the client (timeout_ms) has its own row.
            local store_row = LIMITS["store_" .. name]
            if not (store_row and store_row.default == tonumber(value)) then
              assert.equal(limit.default, tonumber(value), path .. ": " .. name)
            end
            seen = seen + 1
          end
        end
      end
    end
    p:close()
    assert.is_true(seen >= 8, seen .. " defaults in examples")
  end)

  it("is a fresh copy on each call, so no caller changes what another reads", function()
    local mine = core.limits()
    mine.timeout_ms.max = 10 * LIMITS.timeout_ms.max
    mine.jwt_ttl = nil
    assert.equal(LIMITS.timeout_ms.max, core.limits().timeout_ms.max)
    assert.is_table(core.limits().jwt_ttl)
    assert_refused(function() basic { timeout_ms = LIMITS.timeout_ms.max + 1 } end, "timeout_ms", LIMITS.timeout_ms)
  end)

  it("names the idempotent methods once: GET, DELETE and PUT, never POST or PATCH", function()
    local set = core.idempotent_methods()
    assert.same({ DELETE = true, GET = true, PUT = true }, set)
    set.POST = true
    assert.is_nil(core.idempotent_methods().POST)
  end)
end)

describe("vonage.client's numeric options", function()
  local OPTIONS = { "timeout_ms", "connect_timeout_ms", "retries", "max_response_bytes", "max_pages", "jwt_ttl" }

  it("refuse min-1 and max+1, naming the option", function()
    for _, option in ipairs(OPTIONS) do
      local limit = LIMITS[option]
      assert_refused(function() basic { [option] = limit.min - 1 } end, option, limit)
      assert_refused(function() basic { [option] = limit.max + 1 } end, option, limit)
    end
  end)

  it("take min and max, and default to the table's value", function()
    local plain = basic {}
    for _, option in ipairs(OPTIONS) do
      local limit = LIMITS[option]
      assert.equal(limit.default, plain[option], option)
      for _, v in ipairs { limit.min, limit.max } do
        local c = basic { [option] = v }
        assert.equal(v, c[option], option)
        c:close()
      end
    end
    plain:close()
  end)

  it("take a signature_secret of the table's lengths, and refuse one byte outside", function()
    local limit = LIMITS.signature_secret
    for _, n in ipairs { limit.min - 1, limit.max + 1 } do
      local ok, msg = pcall(basic, { signature_secret = ("s"):rep(n) })
      assert.is_false(ok, n .. " bytes")
      assert.truthy(msg:find(("%d to %d bytes"):format(limit.min, limit.max), 1, true)
                    or msg:find(("%d and %d"):format(limit.min, limit.max), 1, true), msg)
    end
    for _, n in ipairs { limit.min, limit.max } do
      basic({ signature_secret = ("s"):rep(n) }):close()
    end
  end)

  it("mint JWTs whose life is the table's jwt_ttl, in C, unless the option says otherwise", function()
    H.reset()
    for _, ttl in ipairs { false, LIMITS.jwt_ttl.min } do
      local t = H.recording_transport()
      local c = H.client { transport = t, jwt_ttl = ttl or nil }
      local page, msg = c:template_page {}
      assert.truthy(page, msg)
      local token = t.sent[1].headers.Authorization:match("^Bearer (.+)$")
      local claims = H.jwt_claims(token)
      assert.equal(ttl or LIMITS.jwt_ttl.default, claims.exp - claims.iat)
      c:close()
    end
  end)
end)

describe("the C checks", function()
  -- C prints its range as lo..hi: the same numbers as the table's.
  local function c_range(f, limit)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    return msg, ("%d..%d"):format(limit.min, limit.max)
  end

  it("range-check jwt_ttl with the table's bounds", function()
    local msg, want = c_range(function()
      core.client_new({ api_key = "k", api_secret = "s", jwt_ttl = LIMITS.jwt_ttl.max + 1 }, {})
    end, LIMITS.jwt_ttl)
    assert.truthy(msg:find("'jwt_ttl'", 1, true) and msg:find(want, 1, true), msg)
  end)

  it("range-check a request's timeouts, body cap and sleep with the table's bounds", function()
    local http = core.http_new {}
    for _, option in ipairs { "timeout_ms", "connect_timeout_ms" } do
      local msg, want = c_range(function()
        http:send { method = "GET", url = H.url .. "/_sandbox/health", [option] = LIMITS[option].max + 1 }
      end, LIMITS[option])
      assert.truthy(msg:find("'" .. option .. "'", 1, true) and msg:find(want, 1, true), msg)
    end
    local ok, msg = pcall(http.send, http, { method = "GET", url = H.url .. "/_sandbox/health",
                                             max_response_bytes = LIMITS.max_response_bytes.max + 1 })
    assert.is_false(ok)
    assert.truthy(msg:find(".." .. LIMITS.max_response_bytes.max, 1, true), msg)
    local slept, why = pcall(http.sleep, http, LIMITS.sleep_ms.max + 1)
    assert.is_false(slept)
    assert.truthy(why:find(("%d..%d ms"):format(LIMITS.sleep_ms.min, LIMITS.sleep_ms.max), 1, true), why)
    http:close()
  end)

  it("cap a body at the table's default when the request names no cap", function()
    local cap = LIMITS.max_response_bytes.default
    local server = H.hostile { { status = 200, body = ("a"):rep(cap) }, { status = 200, body = ("a"):rep(cap + 1) } }
    local http = core.http_new {}
    local status, _, body = http:send { method = "GET", url = server.url .. "/whole" }
    assert.equal(200, status)
    assert.equal(cap, #body)
    local none, _, err = http:send { method = "GET", url = server.url .. "/over" }
    assert.is_nil(none)
    assert.equal("body_too_large", err.code)
    http:close()
    server.stop()
  end)

  it("range-check the multi's poll with the table's bounds, as client:poll does", function()
    local limit = LIMITS.poll_timeout_ms
    local m = core.multi_new {}
    local ok, msg = pcall(m.perform, m, limit.max + 1)
    assert.is_false(ok)
    assert.truthy(msg:find(("%d..%d ms"):format(limit.min, limit.max), 1, true), msg)
    m:close()
    local c = H.basic_client { transport = "multi" }
    assert_refused(function() c:poll(limit.max + 1) end, "timeout_ms", limit)
    assert_refused(function() c:poll(limit.min - 1) end, "timeout_ms", limit)
    -- The longest wait is taken; it ends at the answer (poll waits for
    -- activity, not out its whole timeout, once something is in flight).
    local page
    c:spawn(function() page = c:template_page() or false end)
    while page == nil do c:poll(limit.max) end
    assert.equal("vonage.template_page", getmetatable(page))
    assert.equal(0, c:poll(0))
    c:close()
  end)
end)

describe("the other options with a row", function()
  it("check_silent_auth refuses min-1 and max+1 and takes min and max, naming the option", function()
    local rows = { max_redirects = "max_redirects", timeout_ms = "timeout_ms",
                   connect_timeout_ms = "connect_timeout_ms",
                   max_response_bytes = "silent_auth_max_response_bytes" }
    for option, row in pairs(rows) do
      local limit = LIMITS[row]
      assert_refused(function() vonage.check_silent_auth("https://x.example/", { [option] = limit.min - 1 }) end,
                     option, limit)
      assert_refused(function() vonage.check_silent_auth("https://x.example/", { [option] = limit.max + 1 }) end,
                     option, limit)
      for _, v in ipairs { limit.min, limit.max } do
        -- Without a check_url the options are checked, then the call returns before any I/O.
        local none, msg = vonage.check_silent_auth(nil, { [option] = v })
        assert.is_nil(none)
        assert.truthy(msg:find("check_url is required", 1, true), msg)
      end
    end
  end)

  it("webhook.verify refuses max_age, max_ahead and the secret's length outside the table", function()
    local secret = ("s"):rep(LIMITS.signature_secret.min)
    for _, option in ipairs { "max_age", "max_ahead" } do
      local limit = LIMITS[option]
      for _, v in ipairs { limit.min - 1, limit.max + 1 } do
        assert_refused(function()
          vonage.webhook.verify("{}", "Bearer a.b.c", { signature_secret = secret, [option] = v })
        end, option, limit)
      end
      for _, v in ipairs { limit.min, limit.max } do
        local event, _, err = vonage.webhook.verify("{}", "Bearer a.b.c", { signature_secret = secret, [option] = v })
        assert.is_nil(event)
        assert.equal("webhook", err.kind)
      end
    end
    local ok, msg = pcall(vonage.webhook.verify, "{}", "Bearer a.b.c", { signature_secret = secret:sub(2) })
    assert.is_false(ok)
    assert.truthy(msg:find("at least " .. LIMITS.signature_secret.min .. " bytes", 1, true), msg)
  end)

  it("the stores default to their rows and refuse fewer entries than the minimum", function()
    assert.equal(("vonage.store.memory (0 of %d)"):format(LIMITS.max_entries.default),
                 tostring(vonage.store.memory()))
    assert.equal(("vonage.store.memory (0 of %d)"):format(LIMITS.replay_max_entries.default),
                 tostring(vonage.webhook.memory_store()))
    local ok, msg = pcall(vonage.store.memory, { max_entries = LIMITS.max_entries.min - 1 })
    assert.is_false(ok)
    assert.truthy(msg:find("max_entries must be at least " .. LIMITS.max_entries.min, 1, true), msg)
    assert.equal(("vonage.store.memory (0 of %d)"):format(LIMITS.max_entries.min),
                 tostring(vonage.store.memory { max_entries = LIMITS.max_entries.min }))
  end)

  it("number_verification refuses a state_ttl outside the table and takes both ends", function()
    local c = H.client()
    local limit = LIMITS.state_ttl
    for _, v in ipairs { limit.min - 1, limit.max + 1 } do
      assert_refused(function()
        c:number_verification { redirect_uri = "https://app.example/cb", state_ttl = v }
      end, "state_ttl", limit)
    end
    for _, v in ipairs { limit.min, limit.max } do
      assert.truthy(c:number_verification { redirect_uri = "https://app.example/cb", state_ttl = v })
    end
    c:close()
  end)

  it("client:templates refuses max_pages and page_size outside the table, before any request", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    for _, option in ipairs { "max_pages", "page_size" } do
      local limit = LIMITS[option]
      for _, v in ipairs { limit.min - 1, limit.max + 1 } do
        assert_refused(function() c:templates { [option] = v } end, option, limit)
      end
      for _, v in ipairs { limit.min, limit.max } do
        assert.is_function(c:templates { [option] = v })
      end
    end
    assert.equal(0, #t.sent)
    c:close()
  end)
end)
