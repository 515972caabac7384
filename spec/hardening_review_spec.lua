-- The review of the hardening work (issue 9's promises): re-entrant calls from
-- finalizers, framing headers, timeouts whose outcome is unknown, one deadline
-- per call, a reloaded vonage.core.
local core = require "vonage.core"
local H = require "spec.helper"
local vonage = require "vonage"
local gc = require "spec.support.gc"

-- Under busted, LuaJIT's collector ends no cycle inside these calls, so no
-- finalizer lands there: the answers are still checked, the hits on 5.4.
local JIT = rawget(_G, "jit") ~= nil




describe("hardening review: a transport re-entered from a finalizer", function()
  before_each(H.reset)

  it("refuses a send that a finalizer starts while send pushes its answer (err.code busy)", function()
    local busy = 0
    gc.eager(function()
      for i = 1, 300 do
        local h = core.http_new {}
        local nested
        local stop = gc.act_at(i % 40 + 1, function()
          nested = { h:send { method = "GET", url = H.url .. "/_sandbox/health" } }
        end)
        local status, headers, body = h:send { method = "GET", url = H.url .. "/_sandbox/log" }
        stop()
        -- The outer answer is whole whatever ran inside it.
        assert(status == 200 and headers["content-type"] and #body > 0, tostring(headers))
        if nested and nested[1] == nil then
          assert(nested[3].code == "busy" and nested[3].kind == "transport", tostring(nested[2]))
          assert(nested[2]:find("busy", 1, true))
          busy = busy + 1
        end
        h:close()
      end
    end)
    assert.is_true(busy > 0 or JIT)
  end)

  it("refuses result and cancel of the transfer whose answer result is pushing", function()
    local busy = 0
    gc.eager(function()
      for i = 1, 300 do
        local m = core.multi_new {}
        local id = assert(m:start { method = "GET", url = H.url .. "/_sandbox/log" })
        repeat m:perform(50) until m:next_finished()
        local nested, armed
        local stop = gc.act_at(i % 40 + 1, function()
          if not armed then return end
          if i % 2 == 0 then
            nested = { pcall(m.result, m, id) }
          else
            nested = { pcall(m.cancel, m, id) }
          end
        end)
        armed = true
        local status, headers, body = m:result(id)
        armed = false
        stop()
        assert(status == 200 and headers["content-type"] and #body > 0, tostring(headers))
        if nested and nested[1] and nested[2] == nil then
          assert(nested[4].code == "busy", tostring(nested[3]))
          busy = busy + 1
        end
        -- The slot was freed once, by the outer result.
        assert.equal(0, m:pending())
        m:close()
      end
    end)
    assert.is_true(busy > 0 or JIT)
  end)
end)

-- Runs spec/support/<script> in a LuaJIT child on the LuaJIT build (no
-- sanitizer preload); returns what it printed.
local function luajit_child(script, ...)
  local build = (os.getenv("VN_BUILD_ROOT") or (H.ROOT .. "/build")) .. "/luajit"
  assert(io.open(build .. "/vonage/core.so"), "build the LuaJIT module first (make build LUA=luajit)"):close()
  local p = assert(io.popen(("env -u LD_PRELOAD LUA_CPATH='%s/?.so;;' timeout 60 luajit %s/spec/support/%s %s 2>&1")
    :format(build, H.ROOT, script, table.concat({ ... }, " "))))
  local out = p:read("*a")
  p:close()
  return out
end

describe("hardening review: a transport re-entered from a finalizer, in LuaJIT", function()
  before_each(H.reset)

  -- The two specs above, interpreted in a LuaJIT child, where the finalizers
  -- land inside the calls.
  it("refuses a nested send, result or cancel with busy and keeps every outer answer whole", function()
    local out = luajit_child("busy_in_push.lua", H.url .. "/_sandbox/log")
    local whole, busy, bad = out:match("^whole\t(%d+)\tbusy\t(%d+)\tbad\t(%d+)")
    assert(whole, out)
    assert.same({ 400, 0 }, { tonumber(whole), tonumber(bad) })
    assert.is_true(tonumber(busy) > 0, out)
  end)
end)

describe("hardening review: a JWT re-minted while authorize copies it", function()
  -- LuaJIT's lua_pushstring runs the collector before it copies: a finalizer
  -- there that asks for a fresh JWT used to free the token being copied. The
  -- child (LuaJIT, which has not loaded api.lua) takes the authorizer itself.
  it("copies the whole token of its own mint, and the nested call gets the new one", function()
    local out = luajit_child("remint_in_copy.lua", H.key_path)
    local rounds, nested = out:match("^ok\t(%d+)\t(%d+)")
    assert(rounds, out)
    assert.equal(200, tonumber(rounds))
    assert.is_true(tonumber(nested) > 0, out)
  end)
end)

local FRAMING = { "Host", "content-length", "Transfer-Encoding", "HOST", "TRANSFER-encoding" }

describe("hardening review: framing headers from the caller", function()
  local server
  before_each(function() server = H.hostile { default = { status = 200, body = "{}" } } end)
  after_each(function() server.stop() end)

  local function each_transport(fn)
    local h, m = core.http_new {}, core.multi_new {}
    fn("curl", function(spec) return h:send(spec) end)
    fn("multi", function(spec)
      local id, msg, err = m:start(spec)
      if not id then return id, msg, err end
      repeat m:perform(50) until m:next_finished() == id
      return m:result(id)
    end)
    h:close()
    m:close()
  end

  it("refuses Host, Content-Length and Transfer-Encoding in any case, naming the header; nothing is sent", function()
    each_transport(function(kind, send)
      for _, name in ipairs(FRAMING) do
        local r, msg, err = send { method = "POST", url = server.url .. "/v2/verify", body = "{}",
                                   headers = { [name] = "5", ["Content-Type"] = "application/json" } }
        assert.is_nil(r, kind .. " " .. name)
        assert.same({ "validation", "bad_header" }, { err.kind, err.code })
        assert.truthy(msg:find("'" .. name .. "'", 1, true), msg)
      end
    end)
    assert.same({}, server.requests())
    -- The same call without them reaches the server, so the server was there.
    local h = core.http_new {}
    assert.equal(200, (h:send { method = "POST", url = server.url .. "/v2/verify", body = "{}" }))
    h:close()
    assert.equal(1, #server.requests())
  end)

  it("gives the resty transport the same rule (core.check_header)", function()
    assert.is_nil(core.check_header("X-Test", "1"))
    for _, name in ipairs(FRAMING) do
      assert.equal("refused header '" .. name .. "': the transport writes Host, Content-Length and "
                   .. "Transfer-Encoding itself", core.check_header(name, "1"))
    end
    assert.equal("refused header 'X-Test': names and values must not hold CR, LF or NUL",
                 core.check_header("X-Test", "a\r\nb"))
  end)
end)

describe("hardening review: a POST that timed out after it left", function()
  local unpack = rawget(table, "unpack") or rawget(_G, "unpack")
  local server
  after_each(function() if server then server.stop() end server = nil end)

  for _, name in ipairs { "curl", "multi" } do
    -- fn's results, run as this transport's user would (multi: in client:spawn).
    local function run(c, fn)
      if name == "curl" then return { fn() } end
      local out
      c:spawn(function() out = { fn() } end)
      for _ = 1, 200 do
        if c:poll(50) == 0 then break end
      end
      return assert(out, "the coroutine did not finish")
    end

    it("keeps err.code timeout and adds err.outcome_unknown (" .. name .. ")", function()
      server = H.hostile { default = { kind = "stall" } }
      local c = vonage.client { api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = server.url,
                                transport = name, timeout_ms = 400, retries = 2 }
      local r = run(c, function()
        return c:start_verification { brand = "ACME", workflow = { vonage.sms { to = "447700900070" } } }
      end)
      local g = run(c, function() return c:template_page {} end)
      c:close()
      local ok, msg, err = unpack(r, 1, 3)
      assert.is_nil(ok)
      assert.same({ "transport", "timeout", true }, { err.kind, err.code, err.outcome_unknown })
      assert.falsy(err.retryable)
      assert.truthy(msg:find("may have received", 1, true))
      -- A GET that timed out is not of unknown outcome: it may be asked again.
      assert.same({ "timeout" }, { g[3].code })
      assert.is_nil(g[3].outcome_unknown)
      -- The POST reached the server once, the GET once (no retry after a timeout that left).
      local methods = {}
      for _, q in ipairs(server.requests()) do methods[#methods + 1] = q.method end
      assert.same({ "POST", "GET" }, methods)
    end)
  end
end)

-- The resty transport in spec/nginx/resty_app.conf's nginx (as in
-- spec/resty_transport_spec.lua): GET one of its endpoints -> decoded JSON.
describe("hardening review: the resty transport", function()
  local cjson = require "cjson"
  local http = require "socket.http"
  local socket = require "socket"
  local app, server = {}, nil
  -- A name server on loopback that reads every query and answers none.
  local dns

  setup(function()
    dns = assert(socket.udp())
    assert(dns:setsockname("127.0.0.1", 0))
    local _, dns_port = dns:getsockname()
    local template = H.read(H.ROOT .. "/spec/nginx/resty_app.conf")
      :gsub("@CA@", function() return H.ca end)
      :gsub("@OTHER_CA@", function() return H.other_ca end)
      :gsub("lua_ssl_verify_depth 2;", function()
        return ("lua_ssl_verify_depth 2;\n    resolver 127.0.0.1:%d ipv6=off;\n    resolver_timeout 30s;")
          :format(dns_port)
      end)
    local env = ("VONAGE_SANDBOX_URL=%s VONAGE_SANDBOX_TLS_URL=%s VONAGE_TEST_PRIVATE_KEY_PATH=%s RESTY_SPEC_APP_ID=%s")
      :format(H.url, H.tls_url, H.key_path, H.APP_ID)
    local nginx = H.nginx(template, env)
    app.url, app.stop = nginx.url, nginx.stop
  end)
  teardown(function()
    if app.stop then app.stop() end
    if dns then dns:close() end
  end)
  after_each(function() if server then server.stop() end server = nil end)

  local function get(path)
    local body, status = http.request(app.url .. path)
    assert(status == 200, path .. ": HTTP " .. tostring(status) .. ": " .. tostring(body))
    return cjson.decode(body)
  end

  it("refuses a caller's framing headers before any I/O", function()
    server = H.hostile { default = { status = 200, body = "{}" } }
    local r = get("/framing?url=" .. server.url)
    for i, name in ipairs { "Host", "content-length", "Transfer-Encoding", "HOST" } do
      assert.same({ false, "validation", "bad_header" }, { r.refused[i].ok, r.refused[i].kind, r.refused[i].code })
      assert.truthy(r.refused[i].msg:find("'" .. name .. "'", 1, true), r.refused[i].msg)
    end
    assert.same({}, server.requests())
  end)

  it("keeps err.code timeout and adds err.outcome_unknown on a POST that left", function()
    server = H.hostile { default = { kind = "stall" } }
    local r = get(("/hostile?op=start&url=%s&timeout=400&retries=2"):format(server.url))
    assert.same({ false, "timeout" }, { r.ok, r.code })
    assert.truthy(r.msg:find("may have received", 1, true))
    assert.is_true(r.outcome_unknown)
    assert.equal(1, #server.requests())
  end)

  it("bounds a name lookup by the call's deadline, not nginx's resolver_timeout", function()
    -- The name goes only to the loopback name server above, which never answers.
    local r = get("/hostile?op=start&url=https://slow-dns.invalid&timeout=600&retries=2")
    assert.same({ false, "timeout" }, { r.ok, r.code })
    assert.is_true(r.took < 0.9, "took " .. r.took .. " s")
    local queries = 0
    dns:settimeout(0)
    while dns:receive() do queries = queries + 1 end
    assert.is_true(queries > 0)
  end)
end)

describe("hardening review: headers changed after they were checked", function()
  -- In LuaJIT a finalizer can run at the lua_pushstring that reads the
  -- client's api_host, after the headers were checked: it used to smuggle a
  -- second request onto the wire. The child runs interpreted, where it lands.
  it("re-checks each header it sends: a finalizer's CR LF after the check never reaches the wire", function()
    local server = H.hostile { default = { status = 200, body = "{}" } }
    local out = luajit_child("headers_changed.lua", server.url)
    local smuggled = 0
    for _, r in ipairs(server.requests()) do
      if r.target == "/smuggled" then smuggled = smuggled + 1 end
    end
    server.stop()
    local sent, caught, early = out:match("^sent\t(%d+)\tcaught\t(%d+)\tearly\t(%d+)")
    assert(sent, out)
    assert.equal(0, smuggled)
    assert.equal(400, sent + caught + early)
    assert.is_true(tonumber(sent) > 0)
    assert.is_true(tonumber(caught) > 0, out)
  end)
end)

describe("hardening review: a reloaded vonage.core", function()
  before_each(H.reset)

  -- In a child (the reload re-registers the client class for the whole
  -- process), run by this spec's own interpreter and build.
  it("gives an authorizer that refuses the clients of the earlier load; the library's own still serves them", function()
    local lua = arg and arg[-1] or "lua5.4"
    local p = assert(io.popen(("timeout 60 %s %s/spec/support/reload_core.lua %s %s %s 2>&1")
      :format(lua, H.ROOT, H.url, H.API_KEY, H.API_SECRET)))
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("before\ttrue\n", 1, true), out)
    assert.truthy(out:find("stolen\tfalse\tclean\t", 1, true), out)
    assert.truthy(out:find("this authorizer serves only the clients of its own load of vonage.core", 1, true), out)
    assert.truthy(out:find("own\tBasic \n", 1, true), out)
    assert.truthy(out:find("after\ttrue\tnil\n", 1, true), out)
    assert.truthy(out:find("closed\tfalse\n", 1, true), out)
  end)
end)

describe("hardening review: check_silent_auth's one deadline", function()
  it("bounds the whole redirect chain by timeout_ms, not each hop", function()
    local script = { default = { kind = "stall" } }
    for i = 1, 10 do
      script[i] = { delay_ms = 300, status = 302, headers = { Location = "/hop/" .. i } }
    end
    local server = H.hostile(script)
    local t0 = core.monotonic_ms()
    local r, msg, err = vonage.check_silent_auth(server.url .. "/hop/0", { timeout_ms = 1000 })
    local took = core.monotonic_ms() - t0
    local hops = #server.requests()
    server.stop()
    assert.is_nil(r)
    assert.equal("timeout", err.code, msg)
    assert.is_true(took < 1500, "took " .. took .. " ms")
    -- 300 ms a hop: the fourth at the latest is cut short by the deadline.
    assert.is_true(hops >= 2 and hops <= 4, "hops: " .. hops)
  end)
end)

describe("hardening review: a memory error as poll wakes a coroutine", function()
  before_each(H.reset)

  -- spec/support/alloc_fail_host.c, a Lua 5.4 host whose allocator fails on
  -- request, on the Lua 5.4 build of the module (as in
  -- spec/hardening_creds_spec.lua).
  it("never loses the coroutine's answer nor leaves its entry behind", function()
    local build = (os.getenv("VN_BUILD_ROOT") or (H.ROOT .. "/build")) .. "/lua5.4"
                  .. (os.getenv("SANITIZE") and "-san" or "")
    if not io.open(build .. "/vonage/core.so") then
      assert(os.execute("make -s build LUA=lua5.4" .. (os.getenv("SANITIZE") and " SANITIZE=1" or "") .. " >/dev/null"))
    end
    local host = assert(io.popen("mktemp /tmp/vonage-spec.XXXXXX")):read("*l")
    assert(os.execute(("cc -std=c99 $(pkg-config --cflags lua5.4) -o %s spec/support/alloc_fail_host.c "
                       .. "$(pkg-config --libs lua5.4)"):format(host)))
    local paths = ("LUA_CPATH_5_4='%s/?.so' LUA_PATH_5_4='%s/lua/?.lua'"):format(build, H.ROOT)
    local p = assert(io.popen(("env %s %s spec/support/wake_oom.lua %s 80 12 2>&1")
                              :format(paths, host, H.url .. "/_sandbox/health")))
    local out = p:read("*a")
    p:close()
    os.remove(host)
    local lost, leaked = out:match("^lost (%d+) leaked (%d+)\n$")
    assert(lost, out)
    assert.same({ "0", "0" }, { lost, leaked })
  end)
end)

-- LuaJIT's weak tables are not ephemerons: a per-client cache value that
-- refers back to the client (its on_log, its clock, a Lua transport that
-- holds it) would keep the client, and its credentials, alive for good.
describe("speed review: the per-client caches keep no client alive", function()
  before_each(H.reset)

  local function collected(make, n)
    local alive = setmetatable({}, { __mode = "k" })
    for i = 1, n do alive[make(i)] = true end
    collectgarbage("collect")
    collectgarbage("collect")
    local left = 0
    for _ in pairs(alive) do left = left + 1 end
    return left
  end

  it("collects clients whose on_log and clock refer to them, after a call each", function()
    local logged = 0
    local left = collected(function(i)
      local c
      c = H.client {
        on_log = function() if c then logged = logged + 1 end end,
        clock = function() return c and os.time() or 0 end,
      }
      local to = string.format("4477009041%02d", i)
      assert(c:start_verification { brand = "ACME", workflow = { vonage.sms { to = to } } })
      return c
    end, 20)
    assert.is_true(logged >= 20, "on_log lines: " .. logged)
    assert.equal(0, left)
  end)

  it("collects clients whose clock refers to them, after a verify_webhook each", function()
    local secret = "speed-review-signature-secret-01"
    local refused = 0
    local left = collected(function()
      local c
      c = H.client { signature_secret = secret, clock = function() return c and os.time() or 0 end }
      local _, _, err = c:verify_webhook('{"type":"event"}', "Bearer a.b.c")
      if err then refused = refused + 1 end
      return c
    end, 20)
    assert.equal(20, refused)
    assert.equal(0, left)
  end)
end)
