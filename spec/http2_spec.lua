-- The game-loop promise under load: poll(ms) never spins, HTTP/2 carries many
-- verifications on one connection, and one poll starts a bounded number of
-- TLS handshakes. Proved by counts and order (loop iterations, the sandbox's
-- per-request log of connection and protocol), never by elapsed time.
local vonage = require "vonage"
local socket = require "socket"
local H = require "spec.helper"

local function mclient(overrides)
  local opts = { transport = "multi" }
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return H.client(opts)
end

describe("the multi transport's poll", function()
  it("sleeps out poll(ms) with nothing in flight instead of returning at once", function()
    local c = mclient()
    local n, t0 = 0, socket.gettime()
    while socket.gettime() < t0 + 0.5 do
      assert.equal(0, c:poll(50))
      n = n + 1
    end
    -- About 10 rounds of 50 ms; a spinning poll would count thousands.
    assert.is_true(n >= 1 and n <= 30, "poll rounds in 0.5 s: " .. n)
    c:close()
  end)
end)

-- The sandbox's per-request log: "connection protocol method uri" lines.
local LOG = assert(os.getenv("VONAGE_SANDBOX_DIR"), "run the specs through scripts/run-specs")
  .. "/logs/connections.log"

local function log_size()
  local f = io.open(LOG, "rb")
  if not f then return 0 end
  local size = f:seek("end")
  f:close()
  return size
end

-- The requests logged since offset (a log_size() taken before), as
-- { conn =, proto =, method =, uri =, resumed = } in the order nginx finished them.
-- nginx writes a line after the answer went out, so a client can hold the
-- answer a moment before its line is there: see logged_at_least.
local function logged_since(offset, uri)
  local f = assert(io.open(LOG, "rb"))
  f:seek("set", offset)
  local list = {}
  for line in f:lines() do
    local conn, proto, method, path, reused = line:match("^(%d+) (%S+) (%S+) (%S+) ?(%S*)$")
    if conn and (uri == nil or path == uri) then
      list[#list + 1] = { conn = conn, proto = proto, method = method, uri = path, resumed = reused == "r" }
    end
  end
  f:close()
  return list
end

local function logged_at_least(n, offset, uri)
  return H.eventually(function()
    local list = logged_since(offset, uri)
    return #list >= n and list
  end, "the sandbox did not log " .. n .. " requests")
end

-- Requests other than the control API's.
local function api_calls(list)
  local api = {}
  for _, e in ipairs(list) do
    if e.uri:sub(1, 10) ~= "/_sandbox/" then api[#api + 1] = e end
  end
  return api
end

local function distinct(list, field)
  local seen, n = {}, 0
  for _, e in ipairs(list) do
    if not seen[e[field]] then seen[e[field]], n = true, n + 1 end
  end
  return n, seen
end

local function drain(client)
  for _ = 1, 3000 do
    if client:poll(20) == 0 then return end
  end
  error("the transport never went idle")
end

local function start(client, to)
  return client:start_verification { brand = "ACME", workflow = { vonage.sms { to = to } } }
end

describe("HTTP/2 against the sandbox's TLS port", function()
  before_each(H.reset)

  it("multiplexes 40 verifications started at once on one connection", function()
    local c = mclient { api_host = H.tls_url, ca_file = H.ca }
    local before, ok = log_size(), 0
    for i = 1, 40 do
      c:spawn(function()
        local req = start(c, string.format("4477009020%02d", i))
        if req then ok = ok + 1 end
      end)
    end
    drain(c)
    assert.equal(40, ok)
    local posts = logged_at_least(40, before, "/v2/verify")
    assert.equal(40, #posts)
    for _, e in ipairs(posts) do
      assert.same({ "HTTP/2.0", "POST" }, { e.proto, e.method })
    end
    assert.equal(1, (distinct(posts, "conn")))
    c:close()
  end)

  it("keeps one connection for a curl-transport client's sequential calls, checks included", function()
    local c = H.client { api_host = H.tls_url, ca_file = H.ca }
    local before = log_size()
    local to = "447700902100"
    local req = assert(start(c, to))
    assert.equal("completed", (req:check(H.last_code(to))))
    local api = api_calls(H.eventually(function()
      local list = api_calls(logged_since(before))
      return #list >= 2 and list
    end, "the sandbox did not log both calls"))
    assert.equal(2, #api)
    for _, e in ipairs(api) do assert.equal("HTTP/2.0", e.proto) end
    assert.equal(1, (distinct(api, "conn")))
    c:close()
  end)

  it("still speaks HTTP/1.1 on the plain port", function()
    local c = mclient()
    local before = log_size()
    c:spawn(function() assert(start(c, "447700902200")) end)
    drain(c)
    local posts = logged_at_least(1, before, "/v2/verify")
    assert.equal(1, #posts)
    assert.equal("HTTP/1.1", posts[1].proto)
    c:close()
  end)

  it("classes a POST that timed out on a stream as sent, and never sends it again (both curl transports)", function()
    local opts = { api_host = H.tls_url, ca_file = H.ca, timeout_ms = 300, retries = 2 }
    for round, make in ipairs { mclient, H.client } do
      local c = make(opts)
      H.fault { method = "POST", path = "/v2/verify", delay = 1.5 }
      local before = log_size()
      local result = {}
      local to = "44770090230" .. round
      if round == 1 then
        c:spawn(function() result = { start(c, to) } end)
        drain(c)
      else
        result = { start(c, to) }
      end
      local err = result[3]
      assert.same({ "transport", "timeout" }, { err.kind, err.code })
      assert.truthy(result[2]:find("the server may have received the request", 1, true))
      assert.is_nil(err.retryable)
      -- The fault is used up: a re-send would reach the sandbox's handler (its
      -- own log) and be answered at once, so it would also be in nginx's log
      -- before the delayed POST.
      local posts = logged_at_least(1, before, "/v2/verify")
      assert.equal(0, H.logged("POST", "/v2/verify"))
      assert.equal(1, #posts)
      assert.equal("HTTP/2.0", posts[1].proto)
      c:close()
    end
  end)
end)

describe("the multi transport's handshake bound", function()
  before_each(H.reset)

  it("opens at most 4 TLS connections per poll when each transfer needs its own (HTTP/1.1)", function()
    -- 127.0.0.1, not localhost: one socket per connection (no IPv6 attempt).
    local host = assert(os.getenv("VONAGE_SANDBOX_TLS1_URL")):gsub("localhost", "127.0.0.1")
    local c = mclient { api_host = host, ca_file = H.ca }
    local m = c.transport.multi
    -- Held at the sandbox, so no connection frees up for another transfer.
    H.fault { method = "POST", path = "/v2/verify", status = 429, body = "{}", times = 24, delay = 1 }
    local before, answered = log_size(), 0
    for i = 1, 24 do
      c:spawn(function()
        local _, _, err = start(c, string.format("4477009030%02d", i))
        if err and err.code == "rate_limited" then answered = answered + 1 end
      end)
    end
    assert.equal(0, m:connections_opened()) -- spawn only queues: no handshake outside poll
    local per_poll, polls_opening, last = 0, 0, 0
    for _ = 1, 3000 do
      local left = c:poll(20)
      local opened = m:connections_opened()
      if opened > last then polls_opening = polls_opening + 1 end
      per_poll = math.max(per_poll, opened - last)
      last = opened
      if left == 0 then break end
    end
    assert.equal(24, answered)
    assert.is_true(per_poll >= 1 and per_poll <= 4, "most connections opened in one poll: " .. per_poll)
    -- Each held a connection of its own (a slow machine may reuse a few that
    -- freed up): far more than one poll may open, spread over the polls.
    assert.is_true(last >= 12, "connections opened: " .. last)
    assert.is_true(polls_opening * 4 >= last)
    local posts = logged_at_least(24, before, "/v2/verify")
    assert.equal(24, #posts)
    assert.equal(last, (distinct(posts, "conn")))
    -- The client's connections share TLS sessions: only those opened before
    -- the first handshake ended (at most 4) did a full one.
    local resumed = 0
    for _, e in ipairs(posts) do
      assert.equal("HTTP/1.1", e.proto)
      if e.resumed then resumed = resumed + 1 end
    end
    assert.is_true(resumed >= #posts - 4, "resumed TLS sessions: " .. resumed)
    c:close()
  end)
end)

describe("the multi transport's trust store", function()
  before_each(H.reset)

  -- libcurl keeps the parsed CA store for the transport only with no CA
  -- directory set (Debian's default adds /etc/ssl/certs): else every new
  -- connection parsed the whole file again, a few ms of CPU inside one poll.
  it("parses the CA file once: connections opened after it is gone still verify", function()
    local ca = os.tmpname()
    local src = assert(io.open(H.ca, "rb"))
    local out = assert(io.open(ca, "wb"))
    out:write(src:read("*a"))
    src:close()
    out:close()
    local host = assert(os.getenv("VONAGE_SANDBOX_TLS1_URL")):gsub("localhost", "127.0.0.1")
    local c = mclient { api_host = host, ca_file = ca }
    local m = c.transport.multi
    local first
    c:spawn(function() first = start(c, "447700903201") end)
    drain(c)
    assert.is_truthy(first)
    assert.equal(1, m:connections_opened())
    assert(os.remove(ca))
    -- Held at the sandbox, so each needs a connection of its own.
    H.fault { method = "POST", path = "/v2/verify", status = 429, body = "{}", times = 3, delay = 0.3 }
    local codes = {}
    for i = 1, 3 do
      c:spawn(function()
        local _, _, err = start(c, string.format("44770090321%d", i))
        codes[#codes + 1] = err and err.code
      end)
    end
    drain(c)
    assert.same({ "rate_limited", "rate_limited", "rate_limited" }, codes)
    assert.is_true(m:connections_opened() >= 3, "connections opened: " .. m:connections_opened())
    c:close()
  end)
end)

describe("the multi transport's C queue", function()
  before_each(H.reset)

  it("counts the time an https call waited in the queue against its timeout_ms, and sends none late", function()
    local c = mclient { api_host = H.tls_url, ca_file = H.ca, timeout_ms = 200, retries = 0 }
    local before, results = log_size(), {}
    for i = 1, 5 do
      c:spawn(function() results[i] = { start(c, string.format("4477009040%02d", i)) } end)
    end
    socket.sleep(0.3) -- no poll meanwhile: all five are still queued, past their deadline
    drain(c)
    for i = 1, 5 do
      local r = results[i]
      assert.is_nil(r[1])
      assert.same({ "transport", "timeout", true }, { r[3].kind, r[3].code, r[3].retryable })
      assert.truthy(r[2]:find("ran out before it started", 1, true))
    end
    assert.equal(0, c.transport.multi:connections_opened())
    assert.equal(0, H.logged("POST", "/v2/verify"))
    assert.equal(0, #logged_since(before, "/v2/verify"))
    c:close()
  end)

  it("ends a queued call at its own deadline while the handshakes ahead of it stall", function()
    -- A TLS port that never answers a ClientHello: four calls hold every
    -- handshake the queue allows; the fifth, with a shorter timeout_ms, waits
    -- in the queue and must end at its own deadline, not at theirs.
    local server = H.hostile { default = { kind = "stall" } }
    local host = "https://127.0.0.1:" .. server.port
    local slow = mclient { api_host = host, ca_file = H.ca, timeout_ms = 5000, retries = 0 }
    local quick = mclient { api_host = host, ca_file = H.ca, timeout_ms = 200, retries = 0,
                            transport = slow.transport }
    local slow_results, quick_result = {}, nil
    for i = 1, 4 do
      slow:spawn(function() slow_results[i] = { start(slow, "44770090410" .. i) } end)
    end
    slow:poll(0) -- the four start their handshakes
    local started = socket.gettime()
    quick:spawn(function() quick_result = { start(quick, "447700904105") } end)
    local rounds = 0
    while not quick_result and rounds < 1000 do
      slow:poll(50)
      rounds = rounds + 1
    end
    local took = socket.gettime() - started
    assert.is_table(quick_result)
    assert.same({ "timeout", true }, { quick_result[3].code, quick_result[3].retryable })
    assert.truthy(quick_result[2]:find("ran out before it started", 1, true), quick_result[2])
    assert.is_true(took < 1.5, "the queued call ended after " .. took .. " s") -- not at the others' 5 s
    assert.equal(0, #slow_results) -- the four still wait on their handshakes
    assert.equal(0, #server.requests()) -- nothing reached HTTP
    slow:close()
    server.stop()
  end)
end)
