-- The resty transport in a real nginx: spec/nginx/resty_app.conf runs an app
-- (spec/nginx/resty_app.lua) whose clients are made without a transport
-- option; each endpoint runs one scenario against the sandbox and answers
-- JSON with what the module returned.
local H = require "spec.helper"
local cjson = require "cjson"
local http = require "socket.http"
local socket = require "socket"
local black_hole = require "spec.support.black_hole"

local app = {}

local function start_app()
  local template = H.read(H.ROOT .. "/spec/nginx/resty_app.conf")
    :gsub("@CA@", function() return H.ca end)
    :gsub("@OTHER_CA@", function() return H.other_ca end)
  local env = ("VONAGE_SANDBOX_URL=%s VONAGE_SANDBOX_TLS_URL=%s VONAGE_TEST_PRIVATE_KEY_PATH=%s RESTY_SPEC_APP_ID=%s")
    :format(H.url, H.tls_url, H.key_path, H.APP_ID)
  local server = H.nginx(template, env)
  app.url, app.stop = server.url, server.stop
  app.port = tonumber(server.url:match(":(%d+)$"))
end

-- GET one of the app's endpoints -> its decoded JSON answer
local function get(path)
  local body, status = http.request(app.url .. path)
  assert(status == 200, path .. ": HTTP " .. tostring(status) .. ": " .. tostring(body))
  return cjson.decode(body)
end

-- A request id whose last digits name the scenario (ids must be UUIDs).
local function id(n)
  return ("0b9f5d4e-1a2b-4c3d-8e9f-%012d"):format(n)
end

local function other_code(code)
  local last = tonumber(code:sub(-1))
  return code:sub(1, -2) .. tostring((last + 1) % 10)
end

-- The raw server's scenario `name` answers a first GET, then the connection
-- must not be reused: the second GET gets its answer on a new one.
local function assert_second_get_on_a_fresh_connection(name)
  local r = get("/raw?name=" .. name .. "&method=GET")
  assert.same({ 200, "ok" }, { r.first.status, r.first.body })
  assert.same({ 200, "fresh" }, { r.second.status, r.second.body })
  assert.same({ 0, 1 }, { r.reused, r.fresh })
end

describe("the resty transport", function()
  setup(start_app)
  teardown(function() if app.stop then app.stop() end end)
  before_each(H.reset)

  it("is the default inside nginx, not the curl userdata", function()
    local info = get("/info")
    assert.equal("table", info.type)
    assert.equal("vonage.transport.resty (ngx cosockets)", info.name)
  end)

  it("runs the Verify flow: start, check the code that was sent, completed", function()
    local to = "447700900050"
    local started = get("/start?to=" .. to)
    assert.is_true(started.ok)
    local checked = get(("/check?id=%s&code=%s"):format(started.value, H.last_code(to)))
    assert.same({ ok = true, value = "completed" }, checked)
    -- the sandbox saw both calls, authenticated with the app's JWT
    local log = H.log()
    assert.same({ "POST", "/v2/verify/" .. started.value, "jwt" },
                { log[#log].method, log[#log].path, log[#log].auth })
  end)

  it("never passes the Authorization value to a replaceable module function", function()
    assert.same({ started = true, leaked = false }, get("/patched_validate?to=447700900051"))
  end)

  it("maps a wrong code to the API's error code, as the curl transport does", function()
    local to = "447700900051"
    local started = get("/start?to=" .. to)
    local wrong = other_code(H.last_code(to))
    local resty = get(("/check?id=%s&code=%s"):format(started.value, wrong))
    local _, curl_msg, curl = H.client():request(started.value):check(wrong)
    assert.is_false(resty.ok)
    assert.equal("invalid_code", resty.code)
    assert.same({ curl.kind, curl.code, curl.status }, { resty.kind, resty.code, resty.status })
    assert.equal(curl_msg, resty.msg)
  end)

  it("does not block the worker: a second request is answered while the first waits on the API", function()
    local held_id = id(70)
    H.fault { method = "DELETE", path = "/v2/verify/" .. held_id, status = 204, body = "", times = 1, delay = 1.5 }
    local held = assert(socket.connect("127.0.0.1", app.port))
    assert(held:send("GET /slow_cancel?id=" .. held_id .. " HTTP/1.0\r\n\r\n"))
    -- A blocked worker would answer only after the slow cancel returned, and
    -- then always with in_flight = 0.
    local seen = H.eventually(function()
      local state = get("/in_flight")
      return state.in_flight > 0 and state
    end, "the worker never answered while the slow call was held")
    assert.equal(1, seen.in_flight)
    local answer = held:receive("*a")
    held:close()
    assert.same({ ok = true, value = true }, cjson.decode(answer:match("\r\n\r\n(.*)$")))
  end)

  it("has several calls in flight at once: all reach the sandbox before any answer comes back", function()
    local n = 4
    local prefix = id(80):sub(1, -2) -- ids ...81 to ...84; ...80 is the probe
    H.fault { method = "DELETE", path = "/v2/verify/" .. prefix .. "*", status = 204, body = "",
              times = n, delay = 0.5 }
    local r = get(("/parallel?n=%d&prefix=%s"):format(n, prefix))
    for i = 1, n do
      assert.same({ ok = true, value = true }, r.results[i])
    end
    -- The probe, sent once the first answer was back, found the fault used up.
    assert.equal("not_found", r.probe.code)
    local log = H.log()
    assert.same({ "/v2/verify/" .. prefix .. "0", 404 }, { log[#log].path, log[#log].status })
  end)

  it("verifies TLS with lua_ssl_trusted_certificate: another CA fails, the sandbox's CA works", function()
    -- Other CA first: an idle pooled connection would skip the handshake.
    local to = "447700900052"
    local untrusted = get("/tls-other-ca?to=" .. to)
    assert.same({ false, "transport", "tls_verify", false },
                { untrusted.ok, untrusted.kind, untrusted.code, untrusted.retryable })
    assert.truthy(untrusted.msg:find("^start_verification: TLS certificate verification failed"))
    local started = get("/tls?to=" .. to)
    assert.is_true(started.ok)
    local checked = get(("/tls_check?id=%s&code=%s"):format(started.value, H.last_code(to)))
    assert.same({ ok = true, value = "completed" }, checked)
  end)

  it("caps the response body, with a Content-Length or chunked, and stays usable", function()
    local verify = { method = "POST", path = "/v2/verify", status = 202, times = 1 }
    local function fault(extra)
      local f = {}
      for k, v in pairs(verify) do f[k] = v end
      for k, v in pairs(extra) do f[k] = v end
      H.fault(f)
    end
    fault { body_bytes = 2 * 1024 * 1024 }
    fault { body_bytes = 2 * 1024 * 1024, chunked = true }
    fault { body_bytes = 5000 } -- met by a client with max_response_bytes = 4096
    local r = get("/body_cap?to=447700900053")
    for i, limit in ipairs { 1048576, 1048576, 4096 } do
      assert.same({ false, "transport", "body_too_large" }, { r[i].ok, r[i].kind, r[i].code })
      assert.truthy(r[i].msg:find(limit .. " byte limit", 1, true))
    end
    assert.is_true(r[4].ok)
  end)

  it("keeps the connection alive across calls", function()
    local r = get("/cancel_three?id=" .. id(90))
    assert.same({ "not_found", "not_found", "not_found" }, { r[1].code, r[2].code, r[3].code })
    local log = H.log()
    assert.equal(3, #log)
    assert.truthy(log[1].connection)
    assert.same({ log[1].connection, log[1].connection }, { log[2].connection, log[3].connection })
  end)

  it("never sends a POST again when a kept-alive connection closes unanswered; a GET goes again", function()
    local post = get("/raw?name=stale&method=POST")
    assert.same({ 200, "ok" }, { post.first.status, post.first.body })
    -- the curl transports' code for the same case
    assert.same({ "outcome_unknown", false }, { post.second.code, post.second.retryable })
    assert.truthy(post.second.msg:find("may have received it", 1, true))
    assert.same({ 1, 0 }, { post.reused, post.fresh }) -- the server saw it once
    local again = get("/raw?name=stale&method=GET")
    assert.same({ 200, "fresh" }, { again.second.status, again.second.body })
    assert.same({ 1, 1 }, { again.reused, again.fresh })
  end)

  it("does not pool a connection whose answer had both Transfer-Encoding and Content-Length", function()
    assert_second_get_on_a_fresh_connection("both")
  end)

  it("does not let bytes after an answer's body become the next answer", function()
    assert_second_get_on_a_fresh_connection("extra")
  end)

  it("answers bad_response for a status line that is not HTTP/1.x, headers_too_large for a 300 KB line", function()
    -- the curl transports' codes for the same answers
    for _, name in ipairs { "status", "nothttp" } do
      local r = get("/raw?name=" .. name .. "&method=GET")
      assert.same({ "bad_response", false }, { r.first.code, r.first.retryable })
      assert.equal("the answer is not valid HTTP: the status line is not HTTP/1.x", r.first.msg)
    end
    local r = get("/raw?name=bigheader&method=GET")
    assert.same({ "headers_too_large", "response headers exceed 65536 bytes" }, { r.first.code, r.first.msg })
  end)

  it("says the outcome is unknown when a fresh connection closes after a POST", function()
    local r = get("/raw?name=hangup&first=POST&method=GET")
    assert.same({ "outcome_unknown", false }, { r.first.code, r.first.retryable })
    assert.same({ 0, 1 }, { r.reused, r.fresh }) -- sent once; the GET after it is the fresh one
  end)

  it("sends a URL with a query and no path as /?query", function()
    local r = get("/query_only")
    assert.equal(404, r.status) -- the app's own answer for "/", not nginx's 400 for a bad request line
  end)

  it("refuses plain http to a host that is not loopback, before any I/O", function()
    -- nginx here has no resolver: an attempt to connect would fail as "dns".
    local r = get("/insecure")
    assert.same({ false, "transport", "insecure_url" }, { r.ok, r.kind, r.code })
    assert.truthy(r.msg:find("plain http", 1, true))
    assert.is_false(r.constructed) -- api_host is refused when the client is made
    assert.truthy(r.raised:find("api_host uses plain http", 1, true))
  end)

  it("names the missing `resolver` and not an env line when a host of the user's own fails to resolve", function()
    local r = get("/no_resolver")
    assert.same({ false, "transport", "dns" }, { r.ok, r.kind, r.code })
    assert.truthy(r.msg:find("could not resolve host api.example.invalid: nginx has no `resolver` directive", 1, true),
      r.msg)
    assert.falsy(r.msg:find("env ", 1, true), r.msg)
  end)

  it("says the worker cannot see VONAGE_API_HOST when from_env's client fails on the default host", function()
    -- nginx's master has VONAGE_API_HOST (the suite's sandbox); its conf has no env line for it
    assert.truthy(os.getenv("VONAGE_API_HOST"))
    local r = get("/default_host")
    assert.same({ false, "transport", "dns" }, { r.ok, r.kind, r.code })
    assert.truthy(r.msg:find("could not resolve host api.nexmo.com: nginx has no `resolver` directive", 1, true), r.msg)
    assert.truthy(r.msg:find("api.nexmo.com is the default api_host: if you meant VONAGE_API_HOST, nginx passes it "
      .. "to its workers only with an `env VONAGE_API_HOST;` line", 1, true), r.msg)
  end)

  it("names the env lines when from_env finds no credentials in a worker", function()
    assert.truthy(os.getenv("VONAGE_APPLICATION_ID")) -- exported to nginx, but no env line passes it on
    local r = get("/from_env_bare")
    assert.is_false(r.constructed)
    assert.truthy(r.raised:find("vonage: vonage.client.from_env: no credentials", 1, true), r.raised)
    assert.truthy(r.raised:find("inside nginx a worker sees only the variables named in nginx.conf's main context: "
      .. "env VONAGE_APPLICATION_ID; env VONAGE_PRIVATE_KEY_PATH;", 1, true), r.raised)
  end)

  it("refuses header values holding CR, LF or NUL without echoing them", function()
    local r = get("/bad_header")
    for i = 1, 3 do
      assert.same({ false, "validation", "bad_header" }, { r.refused[i].ok, r.refused[i].kind, r.refused[i].code })
      assert.truthy(r.refused[i].msg:find("X-Test", 1, true))
      assert.falsy(r.refused[i].msg:find("Injected", 1, true))
    end
    assert.equal(200, r.status)
    assert.truthy(r.content_type:find("json", 1, true))
    assert.truthy(r.body:find("ok", 1, true))
  end)

  it("retries a refused connection after ngx.sleep backoffs, then says why", function()
    local r = get("/refused")
    assert.same({ false, "connect_failed", true }, { r.ok, r.code, r.retryable })
    assert.truthy(r.msg:find("^start_verification: could not connect"))
    assert.truthy(r.lines[1]:find("retry 1 of 2", 1, true))
    assert.truthy(r.lines[2]:find("retry 2 of 2", 1, true))
    assert.equal(3, #r.lines)
    assert.equal(2, r.sleeps)
  end)

  it("says that nginx needs a resolver to look up a name", function()
    local r = get("/no_resolver")
    assert.same({ false, "transport", "dns" }, { r.ok, r.kind, r.code })
    assert.truthy(r.msg:find("resolver", 1, true))
    assert.truthy(r.msg:find("api.example.invalid", 1, true))
  end)

  it("times out a call that takes too long, and does not retry it", function()
    H.fault { method = "DELETE", path = "/v2/verify/" .. id(91), status = 204, body = "", times = 1, delay = 1.5 }
    local r = get("/timeout?id=" .. id(91))
    assert.same({ false, "transport", "timeout", false }, { r.ok, r.kind, r.code, r.retryable })
  end)

  it("refuses ca_file and proxy, naming what to configure in nginx instead", function()
    local r = get("/misuse")
    assert.truthy(r.ca_file:find("lua_ssl_trusted_certificate", 1, true))
    assert.truthy(r.proxy:find("proxy cannot be used with the resty transport", 1, true))
  end)

  it("answers a clear error from init_by_lua, where nginx has no cosockets", function()
    local r = get("/init_phase")
    assert.same({ false, "transport", "no_cosocket" }, { r.at_init.ok, r.at_init.kind, r.at_init.code })
    assert.truthy(r.at_init.msg:find("init phase", 1, true))
    assert.truthy(r.at_init.msg:find("content_by_lua", 1, true))
    -- the same client, used from a request, reaches the sandbox
    assert.equal("not_found", r.later.code)
  end)

  it("answers a clear error from set_by_lua and log_by_lua; a timer started there can send", function()
    local body, status = http.request(app.url .. "/set-phase")
    assert.equal(200, status)
    local set = cjson.decode(body)
    assert.same({ "no_cosocket", false }, { set.code, set.retryable })
    assert.truthy(set.msg:find("set phase", 1, true))

    assert.equal("logged\n", (http.request(app.url .. "/log-phase")))
    local r = H.eventually(function()
      local answer = get("/log_phase_result")
      return not answer.pending and answer
    end, "the log phase or its timer did not run")
    assert.equal("no_cosocket", r.logged.code)
    assert.truthy(r.logged.msg:find("log phase", 1, true))
    assert.truthy(r.logged.msg:find("ngx.timer.at", 1, true))
    -- the timer's cancel reached the sandbox, which knows no such request
    assert.equal("not_found", r.from_timer.code)
    assert.equal(1, #H.log())
  end)

  it("answers the README's content_by_lua example without ?to= with 400 and the message", function()
    local r = get("/readme_start")
    assert.same({ 400, "start_verification: workflow[0].to is required", "workflow[0].to" },
                { r.status, r.body, r.field })
    assert.equal(0, #H.log())
  end)

  describe("against a hostile server: one deadline per call, Retry-After", function()
    local server
    after_each(function()
      if server then server.stop() end
      server = nil
    end)

    local function call(op, script, timeout, retries)
      server = H.hostile(script)
      return get(("/hostile?op=%s&url=%s&timeout=%d&retries=%d"):format(op, server.url, timeout, retries or 2))
    end

    local function seen(method)
      local n = 0
      for _, r in ipairs(server.requests()) do
        if r.method == method then n = n + 1 end
      end
      return n
    end

    it("ends a trickling answer at the deadline as timeout, not when the server stops", function()
      -- One byte every 200 ms: each read used to wait for the next byte
      -- afresh, so the call lasted as long as the server went on.
      local r = call("cancel", { { status = 204, trickle_ms = 200 } }, 1000)
      assert.same({ false, "transport", "timeout" }, { r.ok, r.kind, r.code })
      assert.truthy(r.took < 3, r.took)
      assert.equal(1, seen("DELETE"))
    end)

    it("retries a GET answered 503 with Retry-After: 1, then succeeds", function()
      local r = call("page", { { status = 503, headers = { ["Retry-After"] = "1" } },
                               { status = 200, body = '{"page":1,"page_size":10,"total_pages":1,"total_items":0}' } },
                     5000)
      assert.is_true(r.ok, r.msg)
      assert.equal(2, seen("GET"))
      assert.truthy(r.lines[1]:find("HTTP 503, Retry-After 1 s; retry 1 of 2", 1, true))
    end)

    it("never sends a POST again: a 429 with Retry-After: 2 fails once with retry_after = 2", function()
      local r = call("start", { { status = 429, headers = { ["Retry-After"] = "2" },
                                  body = '{"type":"https://developer.vonage.com/api-errors#throttled"}' } }, 5000)
      assert.same({ false, "rate_limited", 2 }, { r.ok, r.code, r.retry_after })
      assert.equal(1, seen("POST"))
    end)

    it("bounds attempts and waits together: 503s with Retry-After: 1 in 1500 ms", function()
      local r = call("cancel", { default = { status = 503, headers = { ["Retry-After"] = "1" } } }, 1500)
      assert.same({ false, "server_error", 1 }, { r.ok, r.code, r.retry_after })
      assert.equal(2, seen("DELETE"))
      assert.truthy(r.took < 2.5, r.took)
    end)

    it("gives connect attempts only the time left: a black-holed connect ends as timeout", function()
      local port, release = black_hole()
      local r = get(("/hostile?op=cancel&url=http://127.0.0.1:%d&timeout=1500&retries=2"):format(port))
      release()
      assert.same({ false, "timeout" }, { r.ok, r.code })
      assert.truthy(r.took < 2.5, r.took) -- each of 3 attempts used to get 1500 ms
      assert.equal(1, #r.lines) -- the failure, no retry
    end)
  end)
end)
