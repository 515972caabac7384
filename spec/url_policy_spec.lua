-- One URL policy (src/vn_url.c) behind every entry point: each URL of the
-- table in spec/nginx/url_cases.lua gets the table's verdict for its purpose
-- from core.check_url, the curl and multi transports, the resty transport in
-- nginx, the client's host options, redirect_url / redirect_uri validation
-- and vonage.check_silent_auth. The curl transports send through a loopback
-- proxy (a hostile server), which proves what they would connect to while
-- no name is looked up and nothing leaves the machine.
local vonage = require "vonage"
local core = require "vonage.core"
local cjson = require "cjson"
local http = require "socket.http"
local H = require "spec.helper"

local CASES = dofile(H.ROOT .. "/spec/nginx/url_cases.lua")
local PURPOSES = { "api", "redirect", "host" }

local function accepts(case, purpose)
  return case[2]:find(purpose:sub(1, 1), 1, true) ~= nil
end

-- A case in an assertion message, control bytes shown.
local function show(case, where)
  return ("%s: %q"):format(where, case[1]:sub(1, 100))
end

-- host:port a request that reached the proxy was for: CONNECT names it, a
-- plain http request carries the absolute URL.
local function proxied_to(request)
  local hp = request.method == "CONNECT" and request.target or request.target:match("^%a+://([^/?#]+)")
  if hp and not hp:match(":%d+$") then hp = hp .. ":80" end
  return hp and hp:lower()
end

local function expected_target(url)
  local _, host, port = core.check_url(url, "api")
  return host .. ":" .. port
end

describe("the URL policy", function()
  describe("core.check_url", function()
    it("gives every case the table's verdict for every purpose", function()
      assert.truthy(#CASES >= 40)
      for _, case in ipairs(CASES) do
        for _, purpose in ipairs(PURPOSES) do
          local scheme, why = core.check_url(case[1], purpose)
          assert.equal(accepts(case, purpose), scheme ~= nil, show(case, purpose) .. " " .. tostring(why))
          if not scheme then
            assert.is_string(why)
            -- the reason is a fixed phrase: never the URL, which may hold a secret
            assert.falsy(#case[1] > 0 and why:find(case[1], 1, true))
          end
        end
      end
    end)

    it("returns what a request needs: scheme, lower-case host, port, path and query", function()
      assert.same({ "http", "localhost", 8080, "/?x=1" }, { core.check_url("HTTP://LocalHost:8080?x=1#f", "redirect") })
      assert.same({ "https", "[::1]", 443, "/" }, { core.check_url("https://[0:0:0:0:0:0:0:1]", "host") })
      assert.same({ "https", "api.nexmo.com", 443, "/v2/verify?a=%20" },
                  { core.check_url("HTTPS://API.nexmo.com/v2/verify?a=%20", "api") })
      assert.same({ "http", "127.0.0.1", 80, "/cb" }, { core.check_url("http://127.0.0.1/cb#code=1", "redirect") })
    end)

    it("names the rule a URL breaks", function()
      local function why(url, purpose) return select(2, core.check_url(url, purpose or "api")) end
      assert.truthy(why("http://[::ffff:127.0.0.1]/"):find("plain http to a host that is not loopback", 1, true))
      assert.truthy(why("http://127.1/"):find("IPv4 address in another form", 1, true))
      assert.truthy(why("http://user@127.0.0.1/"):find("userinfo", 1, true))
      assert.truthy(why("http://%31%32%37.0.0.1/"):find("percent-encoded host", 1, true))
      assert.truthy(why("http://localhost./"):find("ending in a dot", 1, true))
      assert.truthy(why("http://127.0.0.1:0/"):find("outside 1-65535", 1, true))
      assert.truthy(why("HTTPX://api.nexmo.com"):find("scheme other than https", 1, true))
      assert.truthy(why("https://a.example/#x"):find("#fragment", 1, true))
      assert.truthy(why("https://a.example/", "host"):find("path, query or fragment", 1, true))
      assert.truthy(why("https://a.example/\0"):find("control character", 1, true))
      assert.truthy(why(CASES[#CASES][1]):find("longer than 4096 bytes", 1, true))
    end)

    it("raises on a purpose it does not know, or a URL that is not a string", function()
      assert.has_error(function() core.check_url("https://a.example", "callback") end)
      assert.has_error(function() core.check_url("https://a.example") end)
      assert.has_error(function() core.check_url(nil, "api") end)
      assert.has_error(function() core.check_url(443, "api") end)
    end)
  end)

  describe("the curl transports", function()
    local proxy
    before_each(function() proxy = H.hostile { default = { status = 502, body = "", close = true } } end)
    after_each(function() proxy.stop() end)

    -- send(url) -> status, msg, err; the verdict: insecure_url before any
    -- I/O, or one request to the proxy for the host and port check_url gave.
    local function same_verdicts(send, where)
      local seen, accepted = 0, 0
      for _, case in ipairs(CASES) do
        local status, msg, err = send(case[1])
        if accepts(case, "api") then accepted = accepted + 1 end
        local requests = proxy.requests()
        if accepts(case, "api") and core.check_url(case[1], "api") == "http" then
          -- plain http (loopback only) never uses a proxy: it goes direct
          assert.is_not.equal("insecure_url", err and err.code, show(case, where) .. " " .. tostring(msg))
          assert.equal(seen, #requests, show(case, where))
        elseif accepts(case, "api") then
          assert.is_not.equal("insecure_url", err and err.code, show(case, where) .. " " .. tostring(msg))
          assert.equal(seen + 1, #requests, show(case, where))
          assert.equal(expected_target(case[1]), proxied_to(requests[#requests]), show(case, where))
          if not status then assert.equal("transport", err.kind) end
        else
          assert.is_nil(status, show(case, where))
          assert.equal("insecure_url", err.code, show(case, where))
          assert.equal("transport", err.kind)
          assert.truthy(msg:find("^refused URL: it "), msg)
          assert.equal(seen, #requests, show(case, where)) -- nothing reached the wire
        end
        seen = #requests
      end
      assert.truthy(accepted >= 20 and seen >= 5)
    end

    it("the blocking one gives every case the same verdict twice in a row on one handle (its origin memo)", function()
      -- The second send of an accepted URL skips libcurl's parse of an
      -- origin already checked; every other rule still runs.
      local t = core.http_new { proxy = proxy.url }
      local function verdict(url)
        local status, msg, err = t:send { method = "GET", url = url, timeout_ms = 5000 }
        return status ~= nil or err.code ~= "insecure_url", not status and msg or nil
      end
      for _, case in ipairs(CASES) do
        local ok1, msg1 = verdict(case[1])
        local ok2, msg2 = verdict(case[1])
        assert.equal(accepts(case, "api"), ok1, show(case, "first"))
        assert.equal(ok1, ok2, show(case, "second"))
        if not ok1 then assert.equal(msg1, msg2) end
      end
      -- After an accepted URL, the same origin with a refused tail is refused.
      assert.is_true((verdict(H.url .. "/_sandbox/health")))
      for _, tail in ipairs { "/x#f", "/x y", "/x\r\nHost: evil", "/\127" } do
        local ok, msg = verdict(H.url .. tail)
        assert.is_false(ok, tail)
        assert.truthy(msg:find("^refused URL: it "), msg)
      end
    end)

    it("the blocking one gives every case the api verdict", function()
      local t = core.http_new { proxy = proxy.url }
      same_verdicts(function(url) return t:send { method = "GET", url = url, timeout_ms = 5000 } end, "curl")
    end)

    it("the multi one gives every case the api verdict", function()
      local c = H.client { transport = "multi", proxy = proxy.url }
      same_verdicts(function(url)
        local r
        c:spawn(function() r = { c.transport:send { method = "GET", url = url, timeout_ms = 5000 } } end)
        for _ = 1, 500 do
          if r then break end
          c:poll(20)
        end
        return assert(r, "the multi transport never answered")[1], r[2], r[3]
      end, "multi")
      assert.equal(0, c:poll(0))
    end)

    it("reach a loopback server however loopback is spelled", function()
      local server = H.hostile { default = { status = 200, body = "{}" } }
      local t, c = core.http_new {}, H.client { transport = "multi" }
      local urls = { "http://127.0.0.1:%d/a", "HTTP://LOCALHOST:%d/b?x=1", "http://localhost:%d?y=2" }
      for i, pattern in ipairs(urls) do
        local url = pattern:format(server.port)
        assert.equal(200, (t:send { method = "GET", url = url }))
        local status
        c:spawn(function() status = c.transport:send { method = "GET", url = url } end)
        for _ = 1, 500 do
          if status then break end
          c:poll(20)
        end
        assert.equal(200, status)
        local requests = server.requests()
        assert.equal(2 * i, #requests)
        assert.equal(select(4, core.check_url(url, "api")), requests[#requests].target)
        assert.equal(requests[#requests - 1].target, requests[#requests].target)
      end
      server.stop()
    end)
  end)

  describe("the client's host options", function()
    it("are checked when the client is made, naming the option", function()
      for _, case in ipairs(CASES) do
        for _, option in ipairs { "api_host", "network_host", "oidc_host" } do
          local ok, raised = pcall(vonage.client, { api_key = "k", api_secret = "s", [option] = case[1] })
          assert.equal(accepts(case, "host"), ok, show(case, option) .. " " .. tostring(raised))
          if not ok then
            assert.truthy(tostring(raised):find("vonage.client: " .. option .. " ", 1, true), raised)
            assert.equal(select(2, core.check_url(case[1], "host")),
                         tostring(raised):match("vonage.client: " .. option .. " (.*)$"))
          end
        end
      end
    end)
  end)

  describe("redirect URLs", function()
    it("redirect_uri of client:number_verification: the redirect verdict, and no fragment (RFC 6749)", function()
      local client = H.client()
      for _, case in ipairs(CASES) do
        local ok, raised = pcall(client.number_verification, client, { redirect_uri = case[1] })
        assert.equal(accepts(case, "redirect") and not case[1]:find("#", 1, true), ok,
                     show(case, "redirect_uri") .. " " .. tostring(raised))
      end
    end)

    it("redirect_url of a silent_auth workflow: the redirect verdict, before anything is sent", function()
      local sent = 0
      local transport = { send = function()
        sent = sent + 1
        return nil, "stopped here", setmetatable({ kind = "transport", code = "network" }, core.error_metatable)
      end }
      local client = H.client { transport = transport, retries = 0 }
      for _, case in ipairs(CASES) do
        local before = sent
        local req, msg, err = client:start_verification {
          brand = "ACME", workflow = { vonage.silent_auth { to = "447700900000", redirect_url = case[1] } },
        }
        assert.is_nil(req)
        if accepts(case, "redirect") then
          assert.equal(before + 1, sent, show(case, "redirect_url") .. " " .. msg)
        else
          assert.equal(before, sent, show(case, "redirect_url"))
          assert.equal("invalid_params", err.code)
          assert.equal("workflow[0].redirect_url", err.invalid_parameters[1].name)
          assert.equal(select(2, core.check_url(case[1], "redirect")), err.invalid_parameters[1].reason)
        end
      end
    end)

    it("vonage.check_silent_auth's check_url: the redirect verdict, before any I/O", function()
      local proxy = H.hostile { default = { status = 502, body = "", close = true } }
      local transport = core.http_new { proxy = proxy.url }
      local seen = 0
      for _, case in ipairs(CASES) do
        local result, msg, err = vonage.check_silent_auth(case[1], { transport = transport, timeout_ms = 5000 })
        local requests = proxy.requests()
        assert.is_nil(result)
        if accepts(case, "redirect") and core.check_url(case[1], "redirect") == "http" then
          assert.equal(seen, #requests, show(case, "check_silent_auth")) -- direct, never proxied
          assert.is_not.equal("insecure_url", err.code, show(case, "check_silent_auth"))
        elseif accepts(case, "redirect") then
          assert.equal(seen + 1, #requests, show(case, "check_silent_auth") .. " " .. msg)
          assert.equal(expected_target(case[1]:match("^[^#]*")), proxied_to(requests[#requests]))
        else
          assert.equal(seen, #requests, show(case, "check_silent_auth"))
          assert.truthy(err.code == "insecure_redirect" or err.code == "invalid_params", err.code)
        end
        seen = #requests
      end
      proxy.stop()
    end)
  end)

  describe("the resty transport in nginx", function()
    it("gives every case the api verdict, and core.check_url there agrees on every purpose", function()
      local template = H.read(H.ROOT .. "/spec/nginx/resty_app.conf")
        :gsub("@CA@", function() return H.ca end)
        :gsub("@OTHER_CA@", function() return H.other_ca end)
      local env = ("VONAGE_SANDBOX_URL=%s VONAGE_TEST_PRIVATE_KEY_PATH=%s RESTY_SPEC_APP_ID=%s")
        :format(H.url, H.key_path, H.APP_ID)
      local app = H.nginx(template, env)
      local body, status = http.request(app.url .. "/url_policy")
      app.stop()
      assert.equal(200, status, body)
      local out = cjson.decode(body)
      assert.equal(#CASES, #out.cases)
      for i, case in ipairs(CASES) do
        local got = out.cases[i]
        for _, purpose in ipairs(PURPOSES) do
          assert.equal(accepts(case, purpose), got.check[purpose], show(case, "nginx " .. purpose))
        end
        if accepts(case, "api") then
          assert.is_not.equal("insecure_url", got.code, show(case, "resty") .. " " .. tostring(got.msg))
        else
          assert.equal("insecure_url", got.code, show(case, "resty"))
          assert.truthy(got.msg:find("^refused URL: it "), got.msg)
        end
      end
      assert.same({ { ok = true, value = 200 }, { ok = true, value = 200 } }, out.reached)
    end)
  end)
end)
