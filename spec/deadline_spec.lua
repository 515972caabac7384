-- One deadline per call and Retry-After, on the curl and the multi transport,
-- against the hostile loopback server (spec/support/hostile_server.lua),
-- which logs every request it read: the counts prove what went on the wire.
local vonage = require "vonage"
local api = require "vonage.api"
local socket = require "socket"
local H = require "spec.helper"
local black_hole = require "spec.support.black_hole"

local ID = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
local PAGE = '{"page":1,"page_size":10,"total_pages":1,"total_items":0}'
local THROTTLED = '{"type":"https://developer.vonage.com/api-errors#throttled","title":"Rate Limit Hit"}'
local DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
local DATE_PLUS_1 = "Sun, 06 Nov 1994 08:49:38 GMT"
local DATE_PLUS_3 = "Sun, 06 Nov 1994 08:49:40 GMT"

local function pack(...)
  return { n = select("#", ...), ... }
end

local function count(requests, method)
  local n = 0
  for _, r in ipairs(requests) do
    if r.method == method then n = n + 1 end
  end
  return n
end

for _, name in ipairs { "curl", "multi" } do
  describe("a call's deadline and Retry-After (" .. name .. " transport)", function()
    local server, lines

    after_each(function()
      if server then server.stop() end
      server = nil
    end)

    local function client(host, overrides)
      lines = {}
      local opts = { api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = host,
                     transport = name, retries = 2,
                     on_log = function(level, line) lines[#lines + 1] = level .. " " .. line end }
      for k, v in pairs(overrides or {}) do opts[k] = v end
      return vonage.client(opts)
    end

    local function hostile(script, overrides)
      server = H.hostile(script)
      return client(server.url, overrides)
    end

    -- Runs fn() as a user of this transport would: directly with curl, in a
    -- coroutine driven by client:poll with multi. Returns fn's results packed.
    local function run(c, fn)
      if name == "curl" then return pack(fn()) end
      local out
      c:spawn(function() out = pack(fn()) end)
      for _ = 1, 1000 do
        if c:poll(50) == 0 then break end
      end
      return assert(out, "the coroutine did not finish")
    end

    local function retries_logged()
      local n = 0
      for _, l in ipairs(lines) do
        if l:find("; retry %d+ of %d+ in %d+ ms") then n = n + 1 end
      end
      return n
    end

    it("retries a GET answered 503 with Retry-After: 1, then succeeds", function()
      local c = hostile { { status = 503, headers = { ["Retry-After"] = "1" } }, { status = 200, body = PAGE } }
      local r = run(c, function() return c:template_page {} end)
      assert.equal("vonage.template_page", getmetatable(r[1]))
      local seen = server.requests()
      assert.equal(2, #seen)
      assert.same({ "GET", "GET" }, { seen[1].method, seen[2].method })
      assert.equal(1, retries_logged())
      assert.truthy(lines[1]:find("HTTP 503, Retry-After 1 s; retry 1 of 2", 1, true), lines[1])
    end)

    it("never sends a POST again: a 429 with Retry-After: 2 fails once with retry_after = 2", function()
      local c = hostile { { status = 429, headers = { ["Retry-After"] = "2" }, body = THROTTLED },
                          default = { status = 202, body = '{"request_id":"' .. ID .. '"}' } }
      local r = run(c, function()
        return c:start_verification { brand = "ACME", workflow = { vonage.sms { to = "447700900000" } } }
      end)
      assert.is_nil(r[1])
      assert.same({ "api", "rate_limited", 429, 2 }, { r[3].kind, r[3].code, r[3].status, r[3].retry_after })
      assert.equal(1, count(server.requests(), "POST"))
      assert.equal(0, retries_logged())
    end)

    it("reads an HTTP-date Retry-After against the answer's Date, and waits it out", function()
      local c = hostile { { status = 503, headers = { Date = DATE, ["Retry-After"] = DATE_PLUS_1 } },
                          { status = 204 } }
      local r = run(c, function() return c:request(ID):cancel() end)
      assert.is_true(r[1])
      assert.equal(2, count(server.requests(), "DELETE"))
    end)

    it("sets retry_after on the final error, from an HTTP-date too", function()
      local c = hostile({ default = { status = 503, headers = { Date = DATE, ["Retry-After"] = DATE_PLUS_3 } } },
                        { retries = 0 })
      local r = run(c, function() return c:request(ID):cancel() end)
      assert.same({ "http", "server_error", 503, 3 }, { r[3].kind, r[3].code, r[3].status, r[3].retry_after })
      assert.equal(1, count(server.requests(), "DELETE"))
      -- without a Date the local clock is the reference
      server.stop()
      local soon = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2)
      c = hostile({ default = { status = 503, headers = { ["Retry-After"] = soon } } }, { retries = 0 })
      r = run(c, function() return c:request(ID):cancel() end)
      assert.truthy(r[3].retry_after >= 1 and r[3].retry_after <= 2, tostring(r[3].retry_after))
    end)

    it("does not wait for a Retry-After beyond the deadline: the error comes at once", function()
      local c = hostile({ default = { status = 503, headers = { ["Retry-After"] = "5" } } }, { timeout_ms = 1500 })
      local t0 = socket.gettime()
      local r = run(c, function() return c:request(ID):cancel() end)
      assert.truthy(socket.gettime() - t0 < 1.5) -- waiting would take 5 s
      assert.same({ "server_error", 5 }, { r[3].code, r[3].retry_after })
      assert.equal(1, count(server.requests(), "DELETE"))
      assert.equal(0, retries_logged())
    end)

    it("bounds attempts and waits together by timeout_ms: 503s with Retry-After: 1", function()
      -- 1500 ms hold one wait of a second and a second attempt, not a second wait.
      local c = hostile({ default = { status = 503, headers = { ["Retry-After"] = "1" } } }, { timeout_ms = 1500 })
      local t0 = socket.gettime()
      local r = run(c, function() return c:request(ID):cancel() end)
      assert.truthy(socket.gettime() - t0 < 2.5)
      assert.same({ "server_error", 1 }, { r[3].code, r[3].retry_after })
      assert.equal(2, count(server.requests(), "DELETE"))
      assert.equal(1, retries_logged())
    end)

    it("ends a trickling answer at the deadline as timeout", function()
      local c = hostile({ { status = 204, trickle_ms = 200 } }, { timeout_ms = 1000 })
      local t0 = socket.gettime()
      local r = run(c, function() return c:request(ID):cancel() end)
      assert.truthy(socket.gettime() - t0 < 3) -- the whole answer takes over 10 s
      assert.same({ "transport", "timeout" }, { r[3].kind, r[3].code })
      assert.equal(1, count(server.requests(), "DELETE"))
    end)

    it("gives connect attempts only the time left: a black-holed connect ends as timeout", function()
      local port, release = black_hole()
      local c = client("http://127.0.0.1:" .. port, { timeout_ms = 1500 })
      local t0 = socket.gettime()
      local r = run(c, function() return c:request(ID):cancel() end)
      local took = socket.gettime() - t0
      release()
      -- Each of 3 attempts used to get the whole 1500 ms (4.5 s and 2 retries).
      assert.truthy(took < 2.5, took)
      assert.same({ "transport", "timeout" }, { r[3].kind, r[3].code })
      assert.equal(0, retries_logged())
    end)

    if name == "multi" then
      it("waits for Retry-After on a timer: poll keeps returning while the retry sleeps", function()
        local c = hostile { { status = 503, headers = { ["Retry-After"] = "1" } }, { status = 204 } }
        local out
        c:spawn(function() out = pack(c:request(ID):cancel()) end)
        local rounds_before_retry = 0
        for _ = 1, 1000 do
          if c:poll(20) == 0 then break end
          if #server.requests() < 2 then rounds_before_retry = rounds_before_retry + 1 end
        end
        assert.is_true(out[1])
        assert.equal(2, count(server.requests(), "DELETE"))
        -- poll(20) came back many times during the one-second wait
        assert.truthy(rounds_before_retry >= 10, rounds_before_retry)
      end)
    end
  end)
end

describe("api.retry_after", function()
  it("reads delta-seconds and the three HTTP-date forms", function()
    assert.equal(7, api.retry_after { ["retry-after"] = " 7 " })
    assert.equal(1, api.retry_after { ["retry-after"] = DATE_PLUS_1, date = DATE })
    assert.equal(3, api.retry_after { ["retry-after"] = "Sunday, 06-Nov-94 08:49:40 GMT", date = DATE })
    assert.equal(3, api.retry_after { ["retry-after"] = "Sun Nov  6 08:49:40 1994", date = DATE })
    assert.equal(0, api.retry_after { ["retry-after"] = DATE, date = DATE_PLUS_3 })
    assert.is_nil(api.retry_after { ["retry-after"] = "soon" })
    assert.is_nil(api.retry_after { ["retry-after"] = "-1" })
    assert.is_nil(api.retry_after {})
  end)
end)
