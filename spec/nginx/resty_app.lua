-- The app behind resty_app.conf: each endpoint runs one scenario with clients
-- made inside nginx (no transport option) and answers JSON saying what the
-- module returned. spec/resty_transport_spec.lua reads it.
-- luacheck: globals ngx
local vonage = require "vonage"
local core = require "vonage.core"
local cjson = require "cjson.safe"

local ngx = ngx

local M = {}

local SANDBOX = os.getenv("VONAGE_SANDBOX_URL")
local APP_ID = os.getenv("RESTY_SPEC_APP_ID")
local KEY_PATH = os.getenv("VONAGE_TEST_PRIVATE_KEY_PATH")

local function client(overrides)
  local opts = { application_id = APP_ID, private_key_path = KEY_PATH, api_host = SANDBOX }
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return vonage.client(opts)
end

-- A failure as plain data (the err table has a metatable cjson ignores anyway).
local function outcome(ok, msg, err)
  if ok then return { ok = true, value = type(ok) == "userdata" and ok.request_id or ok } end
  return { ok = false, msg = msg, code = err and err.code, kind = err and err.kind,
           status = err and err.status, retryable = err and err.retryable or false,
           retry_after = err and err.retry_after, outcome_unknown = err and err.outcome_unknown }
end

local function start(c, to)
  return c:start_verification { brand = "ACME", workflow = { vonage.sms { to = to } } }
end

local routes = {}

-- What the default transport inside nginx is.
function routes.info()
  local t = client().transport
  return { type = type(t), name = tostring(t) }
end

function routes.start(args)
  return outcome(start(client(), args.to))
end

function routes.check(args)
  return outcome(client():request(args.id):check(args.code))
end

-- A start with vonage.validate's header check replaced: the transport must not
-- hand the Authorization value to a function anyone can swap.
function routes.patched_validate(args)
  local rules = require("vonage.validate").rules
  local original, seen = rules.header_safe, {}
  rules.header_safe = function(v) seen[#seen + 1] = v return original(v) end
  local ok, result = pcall(function() return outcome(start(client(), args.to)) end)
  rules.header_safe = original
  local leaked = false
  for _, v in ipairs(seen) do
    if v:find("Bearer ", 1, true) or v:find("eyJ", 1, true) then leaked = true end
  end
  return { started = ok and result.ok or false, leaked = leaked }
end

-- A cancel the spec has made slow; /in_flight tells whether it is still held.
local in_flight = 0
function routes.slow_cancel(args)
  in_flight = in_flight + 1
  local result = outcome(client():request(args.id):cancel())
  in_flight = in_flight - 1
  return result
end

function routes.in_flight()
  return { in_flight = in_flight }
end

-- n cancels in light threads. The spec made the first n cancels to reach the
-- sandbox slow; the first thread to get its answer back sends one more cancel
-- at once, a probe: it gets the real route (not_found) only if every one of
-- the n requests had reached the sandbox by then.
function routes.parallel(args)
  local c, threads, probe = client(), {}, nil
  for i = 1, tonumber(args.n) do
    threads[i] = ngx.thread.spawn(function()
      local result = outcome(c:request(args.prefix .. i):cancel())
      if not probe then
        probe = { pending = true }
        probe = outcome(c:request(args.prefix .. "0"):cancel())
      end
      return result
    end)
  end
  -- One thread at a time: ngx_lua would resume a parent that waited on
  -- several threads again each time another one ends.
  local results = {}
  for i = 1, #threads do
    local _, r = ngx.thread.wait(threads[i])
    results[i] = r
  end
  return { probe = probe, results = results }
end

-- The TLS port, trusting whatever lua_ssl_trusted_certificate this location has.
function routes.tls(args)
  return outcome(start(client { api_host = os.getenv("VONAGE_SANDBOX_TLS_URL") }, args.to))
end

function routes.tls_check(args)
  local c = client { api_host = os.getenv("VONAGE_SANDBOX_TLS_URL") }
  return outcome(c:request(args.id):check(args.code))
end

-- Three starts: two meet the spec's over-size faults, the third is served.
function routes.body_cap(args)
  local c = client()
  local small = client { max_response_bytes = 4096 }
  return {
    outcome(start(c, args.to)), outcome(start(c, args.to)), outcome(start(small, args.to)),
    outcome(start(c, args.to)),
  }
end

function routes.cancel_three(args)
  local req = client():request(args.id)
  return { outcome(req:cancel()), outcome(req:cancel()), outcome(req:cancel()) }
end

function routes.insecure()
  local result = outcome(client().transport:send { method = "POST", url = "http://api.example.com/v2/verify" })
  local ok, raised = pcall(vonage.client, { api_key = "k", api_secret = "s", api_host = "http://api.example.com" })
  result.constructed, result.raised = ok, tostring(raised)
  return result
end

function routes.no_resolver()
  local c = client { api_host = "https://api.example.invalid", retries = 0 }
  return outcome(start(c, "447700900061"))
end

-- from_env() in a worker of an nginx.conf with no `env VONAGE_API_HOST;` line
-- (the suite exported it to nginx): the real host, and nginx has no resolver.
function routes.default_host()
  local c = vonage.client.from_env { application_id = APP_ID, private_key_path = KEY_PATH, retries = 0 }
  return outcome(start(c, "447700900062"))
end

-- from_env() where no `env` line passes any credential to the worker.
function routes.from_env_bare()
  local ok, msg = pcall(vonage.client.from_env)
  return { constructed = ok, raised = not ok and tostring(msg) or nil }
end

function routes.bad_header()
  local t = client().transport
  local refused = {}
  for i, bad in ipairs { "a\r\nX-Injected: 1", "a\nb", "a\0b" } do
    refused[i] = outcome(t:send { method = "GET", url = SANDBOX .. "/_sandbox/health",
                                  headers = { ["X-Test"] = bad } })
  end
  local status, headers, body = t:send { method = "GET", url = SANDBOX .. "/_sandbox/health" }
  return { refused = refused, status = status, content_type = headers["content-type"], body = body }
end

-- Framing headers a caller must not set, each sent to args.url: refused
-- before any I/O (spec/hardening_review_spec.lua counts what arrived).
function routes.framing(args)
  local t = client().transport
  local refused = {}
  for i, name in ipairs { "Host", "content-length", "Transfer-Encoding", "HOST" } do
    refused[i] = outcome(t:send { method = "POST", url = args.url .. "/v2/verify", body = "{}",
                                  headers = { [name] = "1", ["Content-Type"] = "application/json" } })
  end
  return { refused = refused }
end

-- Connection refused, retried: the backoff must go through ngx.sleep.
function routes.refused()
  local lines, sleeps, real_sleep = {}, 0, ngx.sleep
  ngx.sleep = function(s)
    sleeps = sleeps + 1
    return real_sleep(s)
  end
  local c = vonage.client { api_key = "k", api_secret = "s", api_host = "http://127.0.0.1:1", retries = 2,
                            on_log = function(_, l) lines[#lines + 1] = l end }
  local result = outcome(start(c, "447700900062"))
  ngx.sleep = real_sleep
  result.lines, result.sleeps = lines, sleeps
  return result
end

function routes.timeout(args)
  return outcome(client { timeout_ms = 300 }:request(args.id):cancel())
end

-- One call to the spec's hostile server (args.url): op "cancel" (DELETE),
-- "start" (POST) or "page" (GET), with args.timeout ms and args.retries;
-- answers the outcome, the retry lines logged and the seconds it took.
function routes.hostile(args)
  local lines = {}
  local c = vonage.client { api_key = "k", api_secret = "s", api_host = args.url,
                            timeout_ms = tonumber(args.timeout), retries = tonumber(args.retries or 2),
                            on_log = function(_, l) lines[#lines + 1] = l end }
  ngx.update_time()
  local t0 = ngx.now()
  local result
  if args.op == "start" then
    result = outcome(start(c, "447700900063"))
  elseif args.op == "page" then
    local page, msg, err = c:template_page {}
    result = outcome(page and tostring(page), msg, err)
  else
    result = outcome(c:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"):cancel())
  end
  ngx.update_time()
  result.took, result.lines = ngx.now() - t0, lines
  return result
end

-- The README's content_by_lua example, as written there: ?to= may be absent.
function routes.readme_start()
  local req, msg, err = client():start_verification {
    brand = "ACME",
    workflow = { vonage.sms { to = ngx.var.arg_to } },
  }
  if not req then
    return { status = err.kind == "transport" and 502 or 400, body = msg, field = err.field }
  end
  return { status = 200, body = req.request_id }
end

function routes.misuse()
  local results = {}
  for _, opt in ipairs { "ca_file", "proxy" } do
    local ok, msg = pcall(client, { [opt] = "/dev/null" })
    results[opt] = ok and "accepted" or msg
  end
  return results
end

-- Phases without cosockets: init_by_lua (kept from startup), set_by_lua,
-- log_by_lua (kept for the spec to fetch).
local init = {}
function M.init_phase()
  init.client = client()
  init.result = outcome(init.client:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e60"):cancel())
end

function routes.init_phase()
  -- the client made at init time works once a request phase uses it
  local later = outcome(init.client:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e60"):cancel())
  return { at_init = init.result, later = later }
end

function M.set_phase()
  local _, msg, err = client():request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e61"):cancel()
  return cjson.encode(outcome(nil, msg, err))
end

-- The log phase cannot send; a timer it starts can (the error says so).
local logged, from_timer
function M.log_phase()
  logged = outcome(client():request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e62"):cancel())
  ngx.timer.at(0, function()
    from_timer = outcome(client():request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e62"):cancel())
  end)
end

function routes.log_phase_result()
  if not (logged and from_timer) then return { pending = true } end
  return { logged = logged, from_timer = from_timer }
end

-- /raw/<name>?keep=1 writes RAW[name] on the raw connection, then reads one
-- more request from it and counts it as "reused" (stale: no answer; else a
-- Connection: close one). Without keep, nginx answers "fresh" as usual.
local RAW = {
  stale = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  both = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  extra = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected",
  status = "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
  nothttp = "FOO 200\r\n\r\n",
  bigheader = "HTTP/1.1 200 OK\r\nX-Big: " .. string.rep("a", 300 * 1024) .. "\r\n\r\n",
  hangup = "", -- closes without answering
}
local raw_seen = {}

function M.raw()
  local name = ngx.var.uri:match("^/raw/(%w+)$")
  if not ngx.var.arg_keep then
    ngx.req.read_body()
    raw_seen.fresh = (raw_seen.fresh or 0) + 1
    return ngx.print("fresh")
  end
  local sock = assert(ngx.req.socket(true))
  if name == "hangup" then return end
  sock:settimeout(3000)
  sock:send(RAW[name])
  local head = sock:receiveuntil("\r\n\r\n")()
  if not head then return end
  raw_seen.reused = (raw_seen.reused or 0) + 1
  local length = tonumber(head:lower():match("\r\ncontent%-length: *(%d+)"))
  if length and length > 0 then sock:receive(length) end
  if name ~= "stale" then
    sock:send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nreused")
  end
end

local function answer(status, headers_or_msg, body_or_err)
  if status then return { status = status, body = body_or_err } end
  return { code = body_or_err.code, retryable = body_or_err.retryable or false, msg = headers_or_msg }
end

-- Two sends to /raw/<name>: args.first (default GET) with keep=1, then
-- args.method without.
function routes.raw(args)
  raw_seen = {}
  local t = client().transport
  local url = "http://127.0.0.1:" .. ngx.var.server_port .. "/raw/" .. args.name
  local first = answer(t:send { method = args.first or "GET", url = url .. "?keep=1",
                                body = args.first == "POST" and "{}" or nil })
  local second = answer(t:send { method = args.method, url = url, body = args.method == "POST" and "{}" or nil })
  return { first = first, second = second, reused = raw_seen.reused or 0, fresh = raw_seen.fresh or 0 }
end

-- A URL with a query but no path: the request target must still start with "/".
function routes.query_only()
  return answer(client().transport:send { method = "GET", url = "http://127.0.0.1:" .. ngx.var.server_port .. "?x=1" })
end

-- The URL table (url_cases.lua) inside nginx: core.check_url's verdict for
-- each purpose, and what the resty transport's send does with each URL (no
-- resolver here, so a name fails as "dns"; the accepted addresses are all
-- local). Then loopback spellings that must reach the sandbox.
function routes.url_policy()
  local t, cases, out = client().transport, require "url_cases", { cases = {}, reached = {} }
  for i, case in ipairs(cases) do
    local check = {}
    for _, purpose in ipairs { "api", "redirect", "host" } do
      check[purpose] = core.check_url(case[1], purpose) ~= nil
    end
    local status, msg, err = t:send { method = "GET", url = case[1], timeout_ms = 2000, connect_timeout_ms = 500 }
    out.cases[i] = { check = check, status = status, code = err and err.code, msg = not status and msg or nil }
  end
  local port = SANDBOX:match(":(%d+)$")
  for _, url in ipairs { "HTTP://LOCALHOST:%s/_sandbox/health", "http://127.0.0.1:%s/_sandbox/health?x=1" } do
    out.reached[#out.reached + 1] = outcome(t:send { method = "GET", url = url:format(port) })
  end
  return out
end

function M.handle()
  local name = ngx.var.uri:match("^/([%w_]+)$")
  if ngx.var.uri == "/tls-other-ca" then name = "tls" end
  local route = name and routes[name]
  if not route then return ngx.exit(404) end
  local ok, result = xpcall(route, debug.traceback, ngx.req.get_uri_args())
  ngx.header["Content-Type"] = "application/json"
  local body, why = cjson.encode(ok and result or { raised = tostring(result) })
  if not (ok and body) then ngx.status = 500 end
  ngx.print(body or cjson.encode { raised = why })
end

return M
