local vonage = require "vonage"
local core = require "vonage.core"
local H = require "spec.helper"

local ID = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

local function start(client, to)
  return client:start_verification { brand = "ACME", workflow = { vonage.sms { to = to } } }
end

describe("the curl transport", function()
  before_each(H.reset)

  it("verifies TLS certificates: a clear error without the CA, success with ca_file", function()
    local untrusted = H.client { api_host = H.tls_url }
    local req, msg, err = start(untrusted, "447700900040")
    assert.is_nil(req)
    assert.equal("transport", err.kind)
    assert.equal("tls_verify", err.code)
    assert.truthy(msg:find("^start_verification: TLS certificate verification failed"))
    local wrong_ca = H.client { api_host = H.tls_url, ca_file = H.other_ca }
    local _, _, err2 = start(wrong_ca, "447700900040")
    assert.equal("tls_verify", err2.code)
    local trusted = H.client { api_host = H.tls_url, ca_file = H.ca }
    local ok = assert(start(trusted, "447700900040"))
    assert.equal("completed", ok:check(H.last_code("447700900040")))
  end)

  it("checks the host name against the certificate", function()
    -- the certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same server
    local port = H.tls_url:match(":(%d+)$")
    local c = H.client { api_host = "https://127.0.0.2:" .. port, ca_file = H.ca }
    local _, _, err = start(c, "447700900041")
    assert.equal("transport", err.kind)
    assert.truthy(err.code == "tls_verify" or err.code == "connect_failed")
  end)

  it("refuses plain http to a host that is not loopback: api_host at construction, a URL before connecting", function()
    local ok, raised = pcall(vonage.client, { api_key = "k", api_secret = "s", api_host = "http://api.example.com" })
    assert.is_false(ok)
    assert.truthy(tostring(raised):find("api_host uses plain http to a host that is not loopback", 1, true))
    local _, msg, err = core.http_new {}:send { method = "POST", url = "http://api.example.com/v2/verify" }
    assert.equal("insecure_url", err.code)
    assert.truthy(msg:find("plain http", 1, true))
  end)

  it("caps the response body, with or without a Content-Length, and stays usable", function()
    local c = H.client()
    for _, chunked in ipairs { false, true } do
      H.fault { method = "POST", path = "/v2/verify", status = 202, times = 1,
                body_bytes = 2 * 1024 * 1024, chunked = chunked }
      local req, msg, err = start(c, "447700900043")
      assert.is_nil(req)
      assert.equal("body_too_large", err.code)
      assert.truthy(msg:find("1048576 byte limit", 1, true))
    end
    assert.truthy(start(c, "447700900043"))
  end)

  it("honours max_response_bytes", function()
    local c = H.client { max_response_bytes = 4096 }
    H.fault { method = "POST", path = "/v2/verify", status = 202, times = 1, body_bytes = 5000 }
    local _, _, err = start(c, "447700900044")
    assert.equal("body_too_large", err.code)
  end)

  it("never follows a redirect from the API", function()
    H.fault { method = "POST", path = "/v2/verify", status = 302, times = 1, body = "",
              headers = { Location = H.url .. "/_sandbox/health" } }
    local req, msg, err = start(H.client(), "447700900045")
    assert.is_nil(req)
    assert.equal(302, err.status)
    assert.equal("http", err.kind)
    assert.equal("start_verification: HTTP 302", msg)
  end)

  -- One easy handle, set up once (vn_http.c): what a call sets must not
  -- leak into the next, and what is set once must hold for every call.
  -- send(spec) sends on the transport under test; close() ends it.
  local function reused_handle_keeps_protections(send, close)
    local script = { default = { status = 200, body = "{}" } }
    local methods = { "POST", "DELETE", "GET", "PATCH", "POST", "GET" }
    for _ = 1, 40 do script[#script + 1] = { status = 200, body = "{}" } end
    script[#script + 1] = { status = 302, body = "", headers = { Location = "/followed" } }
    local server = H.hostile(script)
    local ok, e = pcall(function()
      for i = 1, 40 do
        local m = methods[(i - 1) % #methods + 1]
        local body = m == "POST" and '{"n":' .. (1000 + i) .. "}" or nil
        local status = send { method = m, url = server.url .. "/call/" .. i, body = body,
                              headers = { Accept = "application/json" } }
        assert.equal(200, status)
      end
      local status, headers = send { method = "GET", url = server.url .. "/redirect" }
      assert.equal(302, status)
      assert.equal("/followed", headers.location)
      -- The same handle, now over TLS: the certificate is still checked.
      local none, _, err = send { method = "GET", url = H.tls_url .. "/_sandbox/health" }
      assert.is_nil(none)
      assert.equal("tls_verify", err.code)
      local seen = server.requests()
      assert.equal(41, #seen) -- /followed never asked for
      for i = 1, 40 do
        local m = methods[(i - 1) % #methods + 1]
        assert.equal(m, seen[i].method)
        assert.equal("/call/" .. i, seen[i].target)
        assert.equal(m == "POST" and 10 or 0, seen[i].body_len, "call " .. i .. " " .. m)
        assert.equal(seen[1].conn, seen[i].conn) -- one connection, kept alive
      end
      assert.equal("/redirect", seen[41].target)
    end)
    close()
    server.stop()
    assert(ok, e)
  end

  it("keeps its protections on a handle reused for many calls: each call alone, no redirect, TLS verified", function()
    local h = core.http_new {}
    reused_handle_keeps_protections(function(spec) return h:send(spec) end, function() h:close() end)
  end)

  it("keeps them on the multi transport's reused handle too", function()
    local c = H.client { transport = "multi" }
    reused_handle_keeps_protections(function(spec)
      local r
      c:spawn(function() r = { c.transport:send(spec) } end)
      for _ = 1, 1000 do
        if r then break end
        c:poll(50)
      end
      r = assert(r, "the multi transport never answered")
      return r[1], r[2], r[3]
    end, function() c:close() end)
  end)

  it("refuses header values holding CR, LF or NUL", function()
    local h = core.http_new {}
    H.assert_refuses_bad_headers(function(spec) return h:send(spec) end)
    local status, headers, body = h:send { method = "GET", url = H.url .. "/_sandbox/health" }
    assert.equal(200, status)
    assert.truthy(headers["content-type"]:find("json", 1, true))
    assert.truthy(body:find("ok", 1, true))
  end)

  it("returns every response header to a plain send, and to the library's own call only those it reads", function()
    local c = H.client()
    local u = H.url .. "/_sandbox/health"
    local status, all = c.transport:send { method = "GET", url = u }
    assert.equal(200, status)
    assert.is_string(all.server)
    assert.is_string(all.date)
    local status2, few = c.transport:send { method = "GET", url = u, client = c, auth_time = os.time() }
    assert.equal(200, status2)
    assert.is_nil(few.server)
    assert.equal(all.date ~= nil, few.date ~= nil)
    assert.truthy(few["content-type"]:find("json", 1, true))
    c:close()
  end)

  it("retries a refused connection with backoff, then says why", function()
    local lines = {}
    local c = vonage.client { api_key = "k", api_secret = "s", api_host = "http://127.0.0.1:1",
                              retries = 2, on_log = function(_, l) lines[#lines + 1] = l end }
    local _, msg, err = start(c, "447700900046")
    assert.equal("connect_failed", err.code)
    assert.is_true(err.retryable)
    assert.truthy(msg:find("^start_verification: could not connect"))
    assert.truthy(lines[1]:find("retry 1 of 2", 1, true))
    assert.truthy(lines[2]:find("retry 2 of 2", 1, true))
    assert.equal(3, #lines)
  end)

  it("does not retry once the request may have reached the server", function()
    H.fault { method = "POST", path = "/v2/verify", status = 500, times = 1, body = "" }
    local t = H.recording_transport()
    local c = H.client { retries = 2, transport = t }
    local _, _, err = start(c, "447700900047")
    assert.equal("server_error", err.code)
    assert.equal(1, #t.sent)
  end)

  it("keeps the connection alive across calls", function()
    local c = H.client()
    local req = c:request(ID)
    req:cancel()
    req:cancel()
    req:cancel()
    local log = H.log()
    assert.truthy(log[#log].connection)
    assert.equal(log[#log - 2].connection, log[#log].connection)
  end)

  it("sends a User-Agent naming lua-vonage and its version", function()
    local t = H.recording_transport()
    H.client { transport = t }:request(ID):cancel()
    assert.equal("lua-vonage/" .. core.version, t.sent[1].headers["User-Agent"])
    assert.truthy(core.version:match("^%d+%.%d+%.%d+$"))
  end)

  it("times out a call that takes too long", function()
    H.fault { method = "DELETE", path = "/v2/verify/" .. ID, status = 204, times = 1, body = "",
              delay = 1.5 }
    local c = H.client { timeout_ms = 300 }
    local _, _, err = c:request(ID):cancel()
    assert.equal("timeout", err.code)
    assert.is_nil(err.retryable)
  end)
end)
