-- Both curl transports (blocking and multi) at the edges, against hostile
-- loopback servers (spec/support/hostile_server.lua) that log every request
-- they read, so each spec counts what reached the wire: a POST is never sent
-- twice, a timeout after the request left is not retried, a broken answer is a
-- protocol error, and plain http never goes through a proxy.
local vonage = require "vonage"
local H = require "spec.helper"

local gettime = require("socket").gettime
local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

local ID = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
local STARTED = { status = 202, body = '{"request_id":"' .. ID .. '"}' }
local CANCELLED = { status = 204, body = "" }

local function start(c)
  return c:start_verification { brand = "ACME", workflow = { vonage.sms { to = "447700900070" } } }
end

local function pack(...) return { n = select("#", ...), ... } end

-- fn(client) on a client of this transport (JWT auth, api_host = url, plus
-- overrides) -> what fn returned. Under "multi" fn runs in a coroutine the
-- spec polls, as a game loop would.
local function on(transport, url, overrides, fn)
  local opts = { api_host = url }
  for k, v in pairs(overrides or {}) do opts[k] = v end
  if transport == "curl" then return fn(H.client(opts)) end
  opts.transport = "multi"
  local c, out = H.client(opts), nil
  c:spawn(function() out = pack(fn(c)) end)
  for _ = 1, 2000 do
    if c:poll(20) == 0 then break end
  end
  assert(out, "the coroutine never finished")
  return unpack(out, 1, out.n)
end

-- The methods of the requests a hostile server read, in order.
local function methods(server)
  local list = {}
  for _, r in ipairs(server.requests()) do list[#list + 1] = r.method end
  return list
end

-- The interpreter running the specs; a child inherits LUA_PATH, LUA_CPATH and,
-- under SANITIZE=1, the LD_PRELOAD that loads the sanitizer runtimes.
local LUA = H.LUA

-- Cancels ID through the sandbox in a child process whose environment names
-- proxy_url as every kind of proxy -> "<ok> <err.code>" as the child saw it.
local function cancel_in_child_with_proxy_env(transport, proxy_url)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(([[
    local c = require("vonage").client { application_id = %q, private_key_path = %q,
                                         api_host = %q, transport = %q, retries = 0 }
    local ok, _, err = c:request(%q):cancel()
    io.write(tostring(ok), " ", tostring(err and err.code))
  ]]):format(H.APP_ID, H.key_path, H.url, transport == "multi" and "multi" or "curl", ID))
  f:close()
  local p = assert(io.popen(("env -u no_proxy -u NO_PROXY http_proxy=%s HTTP_PROXY=%s all_proxy=%s "
    .. "ALL_PROXY=%s %s %s 2>&1"):format(proxy_url, proxy_url, proxy_url, proxy_url, LUA, script)))
  local out = p:read("*a")
  p:close()
  os.remove(script)
  return out
end

for _, transport in ipairs { "curl", "multi" } do
  describe("the " .. transport .. " transport at the edges", function()
    local server
    before_each(H.reset)
    after_each(function()
      if server then server.stop() end
      server = nil
    end)

    it("fails a POST that timed out on a kept-alive connection once, without sending it again", function()
      server = H.hostile { CANCELLED, { kind = "stall" }, default = { kind = "stall" } }
      local timeout_ms = 400
      local cancelled, req, msg, err, took = on(transport, server.url, { timeout_ms = timeout_ms, retries = 2 },
        function(c)
          local ok = c:request(ID):cancel() -- leaves the connection alive
          local t0 = gettime()
          local r, m, e = start(c)
          return ok, r, m, e, gettime() - t0
        end)
      assert.is_true(cancelled)
      assert.is_nil(req)
      assert.same({ "transport", "timeout" }, { err.kind, err.code })
      assert.is_nil(err.retryable)
      assert.truthy(msg:find("the server may have received the request", 1, true))
      assert.same({ "DELETE", "POST" }, methods(server))
      assert.is_true(took < 1.8 * timeout_ms / 1000)
    end)

    it("does not retry a DELETE that timed out after it was sent on a kept-alive connection", function()
      server = H.hostile { CANCELLED, { kind = "stall" }, default = { kind = "stall" } }
      local ok, _, err = on(transport, server.url, { timeout_ms = 300, retries = 2 }, function(c)
        c:request(ID):cancel()
        return c:request(ID):cancel()
      end)
      assert.is_nil(ok)
      assert.same({ "timeout", nil }, { err.code, err.retryable })
      assert.same({ "DELETE", "DELETE" }, methods(server))
    end)

    for _, kind in ipairs { "hangup", "reset" } do
      it("never sends a POST again when its kept-alive connection dies unanswered (" .. kind .. ")", function()
        server = H.hostile { CANCELLED, { kind = kind }, default = STARTED }
        local req, msg, err = on(transport, server.url, nil, function(c)
          c:request(ID):cancel()
          return start(c)
        end)
        assert.is_nil(req)
        assert.same({ "transport", "outcome_unknown" }, { err.kind, err.code })
        assert.is_nil(err.retryable)
        assert.truthy(msg:find("^start_verification: outcome unknown: the request was sent"))
        assert.truthy(msg:find("may have received it", 1, true))
        assert.same({ "DELETE", "POST" }, methods(server))
      end)
    end

    it("never re-sends an empty-body POST or a PATCH on a dead kept-alive connection; a DELETE goes again", function()
      server = H.hostile { CANCELLED, { kind = "hangup" }, CANCELLED, { kind = "hangup" },
                           CANCELLED, { kind = "hangup" }, CANCELLED,
                           CANCELLED, { kind = "hangup" }, { kind = "hangup" }, default = CANCELLED }
      local next_err, patch_err, deleted, again_err = on(transport, server.url, { retries = 2 }, function(c)
        c:request(ID):cancel()
        local _, _, e1 = c:request(ID):next_workflow() -- a POST with no body
        c:request(ID):cancel()
        local _, _, e2 = c:update_template(ID, { name = "renamed" })
        c:request(ID):cancel()
        local ok = c:request(ID):cancel() -- idempotent: libcurl's one re-send is fine
        c:request(ID):cancel()
        local _, _, e3 = c:request(ID):cancel() -- re-sent, and that copy too is unanswered
        return e1, e2, ok, e3
      end)
      assert.equal("outcome_unknown", next_err.code)
      assert.equal("outcome_unknown", patch_err.code)
      assert.is_true(deleted)
      assert.same({ "network", nil }, { again_err.code, again_err.retryable })
      assert.same({ "DELETE", "POST", "DELETE", "PATCH", "DELETE", "DELETE", "DELETE",
                    "DELETE", "DELETE", "DELETE" }, methods(server))
    end)

    it("says the outcome is unknown when a fresh connection closes after a POST; network for a GET", function()
      server = H.hostile { { kind = "hangup" }, { kind = "reset" }, default = STARTED }
      local closed, reset = on(transport, server.url, { retries = 2 }, function(c)
        return select(3, start(c)), select(3, start(c))
      end)
      assert.equal("outcome_unknown", closed.code)
      assert.equal("outcome_unknown", reset.code)
      assert.truthy(closed.message:find("Empty reply from server", 1, true))
      assert.same({ "POST", "POST" }, methods(server))
      server.stop()
      server = H.hostile { { kind = "hangup" }, default = { status = 200, body = "{}" } }
      local _, _, err = on(transport, server.url, { retries = 2 }, function(c)
        return c.transport:send { method = "GET", url = server.url .. "/v2/verify/" .. ID }
      end)
      assert.same({ "network", nil }, { err.code, err.retryable })
    end)

    it("answers headers_too_large for a 300 KB header line", function()
      server = H.hostile { { status = 204, body = "", headers = { ["X-Big"] = string.rep("a", 300 * 1024) } },
                           default = CANCELLED }
      local ok, msg, err = on(transport, server.url, nil, function(c) return c:request(ID):cancel() end)
      assert.is_nil(ok)
      assert.same({ "transport", "headers_too_large" }, { err.kind, err.code })
      assert.equal("cancel: response headers exceed 65536 bytes", msg)
      assert.same({ "DELETE" }, methods(server))
    end)

    it("answers bad_response, not insecure_url, for a status line that is not HTTP", function()
      server = H.hostile { { raw = "FOO 200\r\n\r\n" }, { raw = "HTTP/1.1 2000 OK\r\n\r\n" },
                           { raw = "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n" }, default = CANCELLED }
      local results = pack(on(transport, server.url, { retries = 2 }, function(c)
        local r = {}
        for i = 1, 3 do r[i] = pack(c:request(ID):cancel()) end
        return unpack(r)
      end))
      for i = 1, 3 do
        local msg, err = results[i][2], results[i][3]
        assert.same({ "transport", "bad_response" }, { err.kind, err.code })
        assert.truthy(msg:find("^cancel: the answer is not valid HTTP: "))
      end
      assert.truthy(results[1][2]:find("HTTP/0.9", 1, true))
      assert.same({ "DELETE", "DELETE", "DELETE" }, methods(server))
    end)

    it("uses a proxy only for https, as a CONNECT tunnel; plain http goes direct whatever the settings", function()
      server = H.hostile { default = CANCELLED } -- the "proxy": it would answer every cancel
      assert.equal("nil not_found", cancel_in_child_with_proxy_env(transport, server.url))
      local ok, _, err = on(transport, H.url, { proxy = server.url }, function(c) return c:request(ID):cancel() end)
      assert.is_nil(ok)
      assert.equal("not_found", err.code) -- the sandbox's own answer
      assert.same({}, server.requests())
      assert.equal(2, H.logged("DELETE", "/v2/verify/" .. ID))
      server.stop()

      server = H.hostile { default = { status = 403, body = "" } } -- refuses the tunnel
      ok, _, err = on(transport, H.tls_url, { proxy = server.url, ca_file = H.ca, retries = 0 },
                      function(c) return c:request(ID):cancel() end)
      assert.is_nil(ok)
      assert.equal("transport", err.kind)
      local seen = server.requests()
      assert.equal(1, #seen)
      assert.same({ "CONNECT", H.tls_url:match("^https://(.*)$"), false },
                  { seen[1].method, seen[1].target, seen[1].auth })
    end)
  end)
end
