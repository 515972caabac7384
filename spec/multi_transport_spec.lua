local vonage = require "vonage"
local core = require "vonage.core"
local socket = require "socket"
local multi = require "vonage.transport.multi"
local H = require "spec.helper"

local ID = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
local THROTTLED = '{"type":"https://developer.vonage.com/api-errors#throttled","title":"Rate Limit Hit"}'

local function start(client, to)
  return client:start_verification { brand = "ACME", workflow = { vonage.sms { to = to } } }
end

local function mclient(overrides)
  local opts = { transport = "multi" }
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return H.client(opts)
end

-- Polls until nothing is pending (bounded, so a bug fails instead of hanging).
local function drain(client)
  for _ = 1, 2000 do
    if client:poll(20) == 0 then return end
  end
  error("the transport never went idle")
end

describe("the curl multi transport", function()
  before_each(H.reset)

  it("runs 20 verifications in flight in one thread, each to completion", function()
    local c = mclient()
    local outcomes = {}
    for i = 1, 20 do
      local to = string.format("4477009001%02d", i)
      c:spawn(function()
        local req, msg = start(c, to)
        if not req then outcomes[i] = msg return end
        outcomes[i] = req:check(H.last_code(to))
      end)
    end
    assert.equal(20, c:poll(0)) -- nothing is answered before the transfers are driven
    drain(c)
    for i = 1, 20 do assert.equal("completed", outcomes[i]) end
    -- All 20 starts were on the wire together: each needed a connection of its own,
    -- where one call after the other reuses a single kept-alive connection.
    local connections, starts = {}, 0
    for _, entry in ipairs(H.log()) do
      if entry.method == "POST" and entry.path == "/v2/verify" then
        starts = starts + 1
        connections[entry.connection] = true
      end
    end
    local distinct = 0
    for _ in pairs(connections) do distinct = distinct + 1 end
    assert.equal(20, starts)
    assert.equal(20, distinct)
  end)

  it("has every request at the sandbox before the first answer is resumed", function()
    local N = 8
    -- The first N starts wait 2 s at the sandbox; the one after them passes
    -- through and is logged, which can only happen once all N have arrived.
    H.fault { method = "POST", path = "/v2/verify", status = 429, body = THROTTLED, times = N, delay = 2 }
    local c = mclient()
    local results = {}
    for i = 1, N + 1 do
      c:spawn(function()
        local req, _, err = start(c, string.format("4477009002%02d", i))
        results[#results + 1] = req and "started" or err.code
      end)
    end
    local arrived = false
    for _ = 1, 500 do
      c:poll(10)
      if H.logged("POST", "/v2/verify") == 1 then arrived = true break end
    end
    assert.is_true(arrived)
    -- All N + 1 requests are at the sandbox; no throttled answer has been resumed yet.
    for _, r in ipairs(results) do assert.equal("started", r) end
    drain(c)
    table.sort(results)
    local expected = { "started" }
    for _ = 1, N do expected[#expected + 1] = "rate_limited" end
    table.sort(expected)
    assert.same(expected, results)
  end)

  it("resumes each coroutine with its own result", function()
    local c = mclient()
    local wrong, right = {}, {}
    c:spawn(function()
      local req = assert(start(c, "447700900301"))
      local code = H.last_code("447700900301")
      local bad = code == "0000" and "1111" or "0000"
      wrong.ok, wrong.msg, wrong.err = req:check(bad)
    end)
    c:spawn(function()
      local req = assert(start(c, "447700900302"))
      right.ok, right.msg, right.err = req:check(H.last_code("447700900302"))
    end)
    drain(c)
    assert.is_nil(wrong.ok)
    assert.equal("invalid_code", wrong.err.code)
    assert.equal("api", wrong.err.kind)
    assert.truthy(wrong.msg:find("^check"))
    assert.equal("completed", right.ok)
    assert.is_nil(right.err)
  end)

  it("backs off on timers: a refused client retries while another coroutine completes", function()
    local t = multi.new {}
    local lines = {}
    local refused = vonage.client { api_key = "k", api_secret = "s", api_host = "http://127.0.0.1:1",
                                    retries = 2, transport = t,
                                    on_log = function(_, l) lines[#lines + 1] = l end }
    local ok = H.client { transport = t }
    local refused_result, ok_result = {}, nil
    refused:spawn(function()
      refused_result.req, refused_result.msg, refused_result.err = start(refused, "447700900401")
    end)
    ok:spawn(function()
      local req = assert(start(ok, "447700900402"))
      ok_result = req:check(H.last_code("447700900402"))
    end)
    local saw_sleeping = false
    for _ = 1, 1000 do
      local pending = ok:poll(20) -- either client drives the shared transport
      -- a poll returned while the refused coroutine waited out its backoff
      if tostring(t):find("1 sleeping", 1, true) then saw_sleeping = true end
      if pending == 0 then break end
    end
    assert.is_true(saw_sleeping)
    assert.equal("completed", ok_result)
    assert.is_nil(refused_result.req)
    assert.equal("connect_failed", refused_result.err.code)
    assert.is_true(refused_result.err.retryable)
    assert.truthy(lines[1]:find("retry 1 of 2", 1, true))
    assert.truthy(lines[2]:find("retry 2 of 2", 1, true))
    assert.equal(3, #lines)
  end)

  it("works in the main thread and keeps another coroutine's finished result", function()
    local c = mclient()
    local req = assert(start(c, "447700900501")) -- REPL style: no coroutine, no poll
    assert.equal("completed", req:check(H.last_code("447700900501")))

    local other
    c:spawn(function() other = assert(start(c, "447700900502")) end)
    -- The main thread's call is slow, so the coroutine's transfer finishes while
    -- the main thread drives the multi; it must be kept, not dropped.
    H.fault { method = "DELETE", path = "/v2/verify/" .. ID, status = 204, body = "", delay = 0.5 }
    assert.is_true(c:request(ID):cancel())
    assert.is_nil(other) -- only poll resumes coroutines
    assert.equal(0, c:poll(0)) -- already finished: delivered without waiting
    assert.equal("vonage.request", getmetatable(other))
    assert.equal("completed", other:check(H.last_code("447700900502")))
  end)

  it("lets a resumed coroutine close the client while poll holds other finished transfers", function()
    local c = mclient()
    local results, closer = {}, nil
    for i = 1, 2 do
      c:spawn(function()
        local status, _, err = c.transport:send { method = "GET", url = H.url .. "/_sandbox/health" }
        results[i] = status or err.code
        if not closer then
          closer = i
          c:close()
        end
      end)
    end
    -- Both transfers finish while the main thread's slow call drives the
    -- multi, so one poll has both to hand over; the first resumed closes.
    H.fault { method = "DELETE", path = "/v2/verify/" .. ID, status = 204, body = "", delay = 0.5 }
    assert.is_true(c:request(ID):cancel())
    assert.equal(0, c:poll(0))
    -- The poll took both answers before it resumed anyone: the close drops
    -- neither, since an answer that came (a started verification) must not be lost.
    assert.equal(200, results[closer])
    assert.equal(200, results[3 - closer])
  end)

  it("blocks like the main thread where the coroutine cannot yield, never waking it later", function()
    local c = mclient()
    local inner, after
    H.fault { method = "DELETE", path = "/v2/verify/" .. ID, status = 204, body = "", delay = 0.5 }
    c:spawn(function()
      -- A gsub callback is called from C: no yield is possible there.
      string.gsub("x", "x", function()
        inner = c.transport:send { method = "GET", url = H.url .. "/_sandbox/health" }
      end)
      after = c.transport:send { method = "DELETE", url = H.url .. "/v2/verify/" .. ID }
    end)
    assert.equal(200, inner) -- answered before spawn returned
    drain(c)
    assert.equal(204, after) -- its own answer, not the health check's
  end)

  it("refuses plain http to a host that is not loopback before any I/O", function()
    local c = H.client { transport = "multi" }
    local result = {}
    local co = c:spawn(function()
      result.req, result.msg, result.err =
        c.transport:send { method = "POST", url = "http://api.example.com/v2/verify" }
    end)
    assert.equal("dead", coroutine.status(co)) -- refused at once: it never had to wait
    assert.equal("insecure_url", result.err.code)
    assert.truthy(result.msg:find("plain http", 1, true))
    assert.equal(0, c:poll(0))
  end)

  it("refuses bad headers and raises on misuse, like the blocking transport", function()
    local m = core.multi_new {}
    H.assert_refuses_bad_headers(function(spec) return m:start(spec) end)
    assert.equal(0, m:pending())
    assert.has_error(function() m:start { url = H.url } end,
                     "vonage.multi: spec.method and spec.url are required")
    assert.has_error(function() m:start { method = "TRACE", url = H.url } end,
                     "vonage.multi: unsupported method 'TRACE'")
    m:close()
  end)

  it("caps the response body, with or without a Content-Length, and stays usable", function()
    local c = mclient()
    local results = {}
    c:spawn(function()
      for _, chunked in ipairs { false, true } do
        H.fault { method = "POST", path = "/v2/verify", status = 202, times = 1,
                  body_bytes = 2 * 1024 * 1024, chunked = chunked }
        local _, msg, err = start(c, "447700900701")
        results[#results + 1] = { msg = msg, err = err }
      end
      results.after = start(c, "447700900701")
    end)
    drain(c)
    for i = 1, 2 do
      assert.equal("body_too_large", results[i].err.code)
      assert.truthy(results[i].msg:find("1048576 byte limit", 1, true))
    end
    assert.truthy(results.after)
  end)

  it("verifies TLS certificates, with and without ca_file", function()
    local results = {}
    local clients = {
      untrusted = mclient { api_host = H.tls_url },
      wrong_ca = mclient { api_host = H.tls_url, ca_file = H.other_ca },
      trusted = mclient { api_host = H.tls_url, ca_file = H.ca },
    }
    for name, c in pairs(clients) do
      c:spawn(function()
        local req, msg, err = start(c, name == "trusted" and "447700900801" or "447700900802")
        results[name] = { req = req, msg = msg, err = err }
        if req then results[name].check = req:check(H.last_code("447700900801")) end
      end)
    end
    for _, c in pairs(clients) do drain(c) end
    assert.equal("tls_verify", results.untrusted.err.code)
    assert.equal("transport", results.untrusted.err.kind)
    assert.truthy(results.untrusted.msg:find("^start_verification: TLS certificate verification failed"))
    assert.equal("tls_verify", results.wrong_ca.err.code)
    assert.equal("completed", results.trusted.check)
  end)

  it("keeps the connection alive across transfers", function()
    local c = mclient()
    c:spawn(function()
      local req = c:request(ID)
      req:cancel()
      req:cancel()
      req:cancel()
    end)
    drain(c)
    local log = H.log()
    assert.equal(3, #log)
    assert.truthy(log[1].connection)
    assert.equal(log[1].connection, log[2].connection)
    assert.equal(log[1].connection, log[3].connection)
  end)

  it("raises a clear error when poll is called on a client that cannot poll", function()
    local c = H.client()
    assert.has_error(function() c:poll() end)
    local ok, msg = pcall(c.poll, c)
    assert.is_false(ok)
    assert.truthy(msg:find("client:poll: this client's transport (vonage.http (curl)) cannot poll", 1, true))
    assert.truthy(msg:find('transport = "multi"', 1, true))
    assert.has_error(function() mclient():poll(-1) end, "vonage: poll: timeout_ms must be between 0 and 600000")
  end)

  it("goes on polling when a spawned coroutine raises: the others finish, on_error gets the traceback", function()
    local got = {}
    local c = mclient { on_error = function(trace, co, err) got[#got + 1] = { trace = trace, co = co, err = err } end }
    local A, B, C = "1a2b3c4d-0000-4000-8000-00000000000a", "1a2b3c4d-0000-4000-8000-00000000000b",
                    "1a2b3c4d-0000-4000-8000-00000000000c"
    -- B's answer comes first, so its coroutine raises while A's and C's are in flight.
    H.fault { method = "DELETE", path = "/v2/verify/" .. A, status = 204, body = "", delay = 0.3 }
    H.fault { method = "DELETE", path = "/v2/verify/" .. B, status = 204, body = "" }
    H.fault { method = "DELETE", path = "/v2/verify/" .. C, status = 204, body = "", delay = 0.3 }
    local results, order = {}, {}
    c:spawn(function()
      results[1] = { c:request(A):cancel() }
      order[#order + 1] = 1
    end)
    local second = c:spawn(function()
      c:request(B):cancel()
      order[#order + 1] = 2
      error("boom in the game script")
    end)
    c:spawn(function()
      results[3] = { c:request(C):cancel() }
      order[#order + 1] = 3
    end)
    drain(c) -- never raises
    assert.same({ { true }, { true } }, { results[1], results[3] })
    assert.equal(2, order[1]) -- it raised before the others were answered
    assert.equal(3, #order)
    assert.equal(1, #got)
    assert.equal(second, got[1].co)
    assert.equal("dead", coroutine.status(second))
    assert.truthy(got[1].err:find("boom in the game script", 1, true))
    assert.truthy(got[1].trace:find("boom in the game script", 1, true))
    assert.truthy(got[1].trace:find("stack traceback", 1, true))
    assert.truthy(got[1].trace:find("multi_transport_spec.lua", 1, true), got[1].trace)
  end)

  it("logs a raising coroutine at level error through on_log by default, else writes to stderr", function()
    local logged = {}
    local c = mclient { on_log = function(level, line)
      if level == "error" then logged[#logged + 1] = line end
    end }
    local early = c:spawn(function() error("early boom") end) -- before any wait: spawn does not raise
    assert.equal("dead", coroutine.status(early))
    c:spawn(function()
      c:request(ID):cancel()
      error({ code = "a table" }) -- a non-string error is reported too
    end)
    drain(c)
    assert.equal(2, #logged)
    assert.truthy(logged[1]:find("^a coroutine raised: .*early boom.*stack traceback"), logged[1])
    assert.truthy(logged[2]:find("table: ", 1, true), logged[2])

    -- no on_error, no on_log: stderr, never silence
    local written, real = {}, io.stderr
    io.stderr = { -- luacheck: ignore 122
      write = function(_, ...) for _, s in ipairs { ... } do written[#written + 1] = s end end }
    local ok, err = pcall(function()
      local quiet = mclient()
      quiet:spawn(function()
        quiet:request(ID):cancel()
        error("nobody listens")
      end)
      drain(quiet)
    end)
    io.stderr = real -- luacheck: ignore 122
    assert(ok, err)
    local text = table.concat(written)
    assert.truthy(text:find("nobody listens", 1, true), text)
    assert.truthy(text:find("stack traceback", 1, true), text)
  end)

  it("raises when something other than poll resumes a waiting coroutine", function()
    local c = mclient()
    local co = coroutine.create(function() return start(c, "447700900901") end)
    assert.is_true(coroutine.resume(co))
    assert.equal(1, c.transport:pending())
    local ok, msg = coroutine.resume(co, "not from poll")
    assert.is_false(ok)
    assert.truthy(msg:find("resumed by something other than client:poll()", 1, true))
    assert.equal(0, c.transport:pending()) -- its transfer was dropped
  end)

  it("spawns: runs fn with its arguments until its first wait", function()
    local c = mclient()
    local steps = {}
    local co = c:spawn(function(a, b)
      steps[#steps + 1] = a .. b
      local req = start(c, "447700901001")
      steps[#steps + 1] = req and "started" or "failed"
    end, "x", "y")
    assert.same({ "xy" }, steps)
    assert.equal("suspended", coroutine.status(co))
    drain(c)
    assert.same({ "xy", "started" }, steps)
    assert.equal("dead", coroutine.status(co))
    assert.has_error(function() c:spawn("not a function") end)
  end)

  it("answers waiting and sleeping coroutines with 'closed' when the client is closed", function()
    local t = multi.new {}
    local c = H.client { transport = t }
    local refused = vonage.client { api_key = "k", api_secret = "s", api_host = "http://127.0.0.1:1",
                                    retries = 2, transport = t }
    H.fault { method = "DELETE", path = "/v2/verify/*", status = 204, body = "", times = 3, delay = 1 }
    local results = {}
    for i = 1, 3 do
      c:spawn(function()
        local ok, msg, err = c:request(ID):cancel()
        results[i] = { ok = ok, msg = msg, err = err }
      end)
    end
    local backoff = {}
    refused:spawn(function() backoff.req, backoff.msg, backoff.err = start(refused, "447700901101") end)
    for _ = 1, 200 do -- until the refused one sleeps in its backoff
      c:poll(5)
      if tostring(t):find("1 sleeping", 1, true) then break end
    end
    assert.truthy(tostring(t):find("3 in flight, 1 sleeping", 1, true))
    c:close()
    assert.equal("vonage.transport.multi (closed)", tostring(t))
    assert.equal("vonage.multi (curl, closed)", tostring(t.multi))
    assert.equal(0, c:poll(0))
    for i = 1, 3 do
      assert.is_nil(results[i].ok)
      assert.equal("transport", results[i].err.kind)
      assert.equal("closed", results[i].err.code)
      assert.equal("cancel: the transport was closed before the answer came", results[i].msg)
    end
    assert.equal("closed", backoff.err.code) -- its retry met the closed transport
    local _, _, err = t:send { method = "GET", url = H.url .. "/_sandbox/health" }
    assert.equal("closed", err.code)
    t:close() -- safe twice
  end)

  it("frees transfers in flight when the multi is closed or collected", function()
    H.fault { method = "DELETE", path = "/v2/verify/*", status = 204, body = "", times = 6, delay = 1 }
    local m = core.multi_new {}
    for _ = 1, 3 do assert(m:start { method = "DELETE", url = H.url .. "/v2/verify/" .. ID }) end
    assert.equal(0, m:perform(0)) -- now on the wire
    assert.equal("vonage.multi (curl, 3 in flight)", tostring(m))
    assert.equal(3, m:pending())
    m:close()
    m:close()
    assert.equal(0, m:pending())
    assert.has_error(function() m:perform(0) end, "vonage.multi: the transport is closed")
    do -- a client and its waiting coroutines, dropped with transfers on the wire
      local c = mclient()
      for _ = 1, 3 do c:spawn(function() c:request(ID):cancel() end) end
      c:poll(0)
      assert.equal(3, c.transport:pending())
    end
    collectgarbage()
    collectgarbage()
  end)

  it("gives each transfer's result once, by id, and cancels by id", function()
    local m = core.multi_new {}
    local a = assert(m:start { method = "GET", url = H.url .. "/_sandbox/health" })
    local b = assert(m:start { method = "GET", url = H.url .. "/_sandbox/clock" })
    assert.are_not.equal(a, b)
    assert.is_true(m:cancel(b))
    assert.is_false(m:cancel(b))
    assert.has_error(function() m:result(a) end, "vonage.multi: transfer " .. a .. " is still in flight")
    local finished = 0
    for _ = 1, 500 do
      finished = finished + m:perform(20)
      if finished > 0 then break end
    end
    assert.equal(1, finished)
    assert.is_true(m:is_finished(a))
    assert.equal(a, m:next_finished())
    assert.equal(a, m:next_finished()) -- still there: only result or cancel takes it
    local status, headers, body = m:result(a)
    assert.equal(200, status)
    assert.truthy(headers["content-type"]:find("json", 1, true))
    assert.truthy(body:find("ok", 1, true))
    assert.has_error(function() m:result(a) end, "vonage.multi: no transfer with id " .. a)
    assert.is_nil(m:next_finished())
    assert.equal(0, m:pending())
    m:close()
  end)
end)

-- The resume cap: how much Lua one poll runs is bounded by count, however many
-- answers (or fired timers) are due at once. Proved by counts and order.
describe("the multi transport's resume cap", function()
  local LIMIT = core.limits().multi_resume_per_poll

  -- Records the wait each perform asks libcurl for, the real multi underneath.
  local function record_waits(t)
    local real, waits = t.multi, {}
    t.multi = setmetatable({
      perform = function(_, ms) waits[#waits + 1] = ms return real:perform(ms) end,
    }, { __index = function(_, k)
      local f = real[k]
      return function(_, ...) return f(real, ...) end
    end })
    return waits
  end

  -- Polls until idle; the coroutines resumed by each poll (counted by on_resume).
  local function per_poll(t, resumed, ms)
    local counts = {}
    for _ = 1, 100 do
      local before = resumed()
      local left = t:poll(ms)
      counts[#counts + 1] = resumed() - before
      if left == 0 then return counts end
    end
    error("the transport never went idle")
  end

  -- Drives the multi outside poll (as a main-thread call does) until n
  -- transfers are done, none of them handed over yet.
  local function finish_outside_poll(t, n)
    local finished = 0
    for _ = 1, 500 do
      finished = finished + t.multi:perform(20)
      if finished == n then break end
    end
    assert.equal(n, finished)
  end

  before_each(H.reset)

  it("resumes at most multi_resume_per_poll due coroutines per poll, the rest next, in order, not waiting", function()
    local t = multi.new { multi_resume_per_poll = 3 }
    local order = {}
    for i = 1, 8 do
      t:spawn(function()
        t:sleep(i) -- deadlines 1..8 ms from now, in this order
        order[#order + 1] = i
      end)
    end
    socket.sleep(0.05) -- every timer has fired: the first poll has all 8 due
    local waits = record_waits(t)
    local counts = per_poll(t, function() return #order end, 1000)
    assert.same({ 3, 3, 2 }, counts)
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, order)
    -- Work was due at each of the three: none asked libcurl to wait its 1000 ms.
    assert.same({ 0, 0, 0 }, waits)
    assert.equal(0, t:poll(7)) -- idle, it does wait what it is given
    assert.same({ 0, 0, 0, 7 }, waits)
    t:close()
  end)

  it("takes every finished transfer at once, each given its own answer later; a close loses none", function()
    local t = multi.new { multi_resume_per_poll = 2 }
    local results, n = {}, 0
    for i = 1, 10 do
      t:spawn(function()
        -- odd i: the clock (its body has "now"), even i: the health check
        local path = i % 2 == 1 and "/_sandbox/clock" or "/_sandbox/health"
        local status, _, third = t:send { method = "GET", url = H.url .. path }
        results[i] = status and { status = status, body = third } or { err = third }
        n = n + 1
      end)
    end
    finish_outside_poll(t, 10) -- the next polls have 10 finished transfers to hand over
    assert.equal(8, t:poll(0))
    assert.equal(2, n)
    assert.equal(0, t.multi:pending()) -- all ten answers are out of C, in the due queue
    assert.equal(6, t:poll(0))
    assert.equal(4, n)
    -- Closing now drops nothing that came: the six answers due are still handed over.
    t:close()
    assert.same({ 2, 2, 2 }, per_poll(t, function() return n end, 0))
    assert.equal(10, n)
    for i = 1, 10 do
      assert.equal(200, results[i].status)
      assert.equal(i % 2 == 1, results[i].body:find('"now"', 1, true) ~= nil, results[i].body)
    end
  end)

  it("hands over the answers that finished in a main-thread call, though the transport closes first", function()
    local c = mclient()
    local t = c.transport
    local results = {}
    for i = 1, 3 do
      t:spawn(function()
        local status, _, err = t:send { method = "GET", url = H.url .. "/_sandbox/health" }
        results[i] = status or err.code
      end)
    end
    -- The main thread's slow call drives the multi until the three are done too.
    H.fault { method = "DELETE", path = "/v2/verify/" .. ID, status = 204, body = "", delay = 0.5 }
    assert.is_true(c:request(ID):cancel())
    assert.equal(3, t.multi:pending()) -- finished, in C, no poll has taken them
    t:close()
    assert.equal(0, t:poll(0))
    assert.same({ 200, 200, 200 }, results)
  end)

  it("resumes each coroutine once when the transport closes while a poll takes the answers", function()
    -- As a finalizer's close() would, at an allocation inside the poll: here
    -- right after the first answer is read out of C.
    local t = multi.new {}
    local resumed, results = { 0, 0, 0 }, {}
    for i = 1, 3 do
      t:spawn(function()
        local status, _, err = t:send { method = "GET", url = H.url .. "/_sandbox/health" }
        resumed[i], results[i] = resumed[i] + 1, status or err.code
        t:sleep(20) -- a second wait, which only its own timer may end
        resumed[i] = resumed[i] + 1
      end)
    end
    finish_outside_poll(t, 3)
    local real, closed_once = t.multi, false
    t.multi = setmetatable({
      result = function(_, id)
        local a, b, c = real:result(id)
        if not closed_once then closed_once = true t:close() end
        return a, b, c
      end,
    }, { __index = function(_, k)
      local f = real[k]
      return function(_, ...) return f(real, ...) end
    end })
    for _ = 1, 20 do
      if t:poll(0) == 0 then break end
      socket.sleep(0.005)
    end
    assert.equal(0, t:pending())
    assert.equal(0, t.n_waiting)
    -- The first answer was taken before the close: it is handed over; the
    -- other two were still in C and went with it.
    assert.same({ 200, "closed", "closed" }, results)
    assert.same({ 2, 2, 2 }, resumed)
  end)

  it("queues answers behind what an earlier poll left due, and ahead of the timers that fired", function()
    local t = multi.new { multi_resume_per_poll = 2 }
    local order = {}
    for i = 1, 3 do
      t:spawn(function()
        t:sleep(i)
        order[#order + 1] = "timer" .. i
      end)
      t:spawn(function()
        t:send { method = "GET", url = H.url .. "/_sandbox/health" }
        order[#order + 1] = "answer"
      end)
    end
    finish_outside_poll(t, 3)
    socket.sleep(0.05) -- the timers have fired too
    assert.same({ 2, 2, 2 }, per_poll(t, function() return #order end, 0))
    assert.same({ "answer", "answer", "answer", "timer1", "timer2", "timer3" }, order)
  end)

  it("never starves an answer behind timers that keep firing", function()
    -- 8 coroutines that sleep again as soon as they wake: each poll has more
    -- fired timers than its cap of 4. The one answer must still come.
    local t = multi.new { multi_resume_per_poll = 4 }
    local stop, wakes, answered_at = false, 0, nil
    for _ = 1, 8 do
      t:spawn(function()
        while not stop do
          t:sleep(1)
          wakes = wakes + 1
        end
      end)
    end
    local polls = 0
    t:spawn(function()
      local status = t:send { method = "GET", url = H.url .. "/_sandbox/health" }
      answered_at = status == 200 and polls
    end)
    while polls < 100 and not answered_at do
      socket.sleep(0.005) -- a frame's work: every sleeper's timer fires meanwhile
      polls = polls + 1
      t:poll(0)
    end
    assert.truthy(answered_at, "the answer never came")
    assert.truthy(wakes >= 4 * (answered_at - 1), wakes) -- the sleepers were kept busy meanwhile
    -- Once the answer is in C it waits behind at most two polls' worth of due timers.
    assert.truthy(answered_at <= 12, answered_at)
    stop = true
    for _ = 1, 100 do
      if t:poll(0) == 0 then break end
      socket.sleep(0.002)
    end
    assert.equal(0, t:pending())
    t:close()
  end)

  it("refuses a bad multi_resume_per_poll, naming it, in the transport and in the client", function()
    local range = ("multi_resume_per_poll must be between %d and %d"):format(LIMIT.min, LIMIT.max)
    for _, v in ipairs { LIMIT.min - 1, LIMIT.max + 1 } do
      local ok, msg = pcall(multi.new, { multi_resume_per_poll = v })
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("vonage.transport.multi: " .. range, 1, true), msg)
      ok, msg = pcall(vonage.client, { api_key = "k", api_secret = "s", transport = "multi",
                                       multi_resume_per_poll = v })
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("vonage.client: " .. range, 1, true), msg)
    end
    for _, v in ipairs { "8", 2.5 } do
      local ok, msg = pcall(multi.new, { multi_resume_per_poll = v })
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("multi_resume_per_poll must be an integer", 1, true), msg)
    end
    for _, v in ipairs { LIMIT.min, LIMIT.max } do
      local c = vonage.client { api_key = "k", api_secret = "s", transport = "multi", multi_resume_per_poll = v }
      assert.equal(v, c.transport.resume_per_poll)
      c:close()
    end
    local t = multi.new {}
    assert.equal(LIMIT.default, t.resume_per_poll)
    t:close()
  end)
end)
