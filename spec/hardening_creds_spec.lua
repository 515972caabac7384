-- Issue 9, the credential and memory-safety half: closed objects, encrypted
-- keys, credentials that never reach Lua, specs that run Lua behind C's back,
-- range checks on numbers C converts.
local vonage = require "vonage"
local core = require "vonage.core"
local H = require "spec.helper"
local gc = require "spec.support.gc"

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

local ID = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
local LUA = arg and arg[-1] or "lua5.4"
local SIGNATURE_SECRET = "signature-secret-0123456789abcdef"

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs a Lua chunk in a child interpreter with no terminal (stdin from
-- /dev/null, a new session) and a time limit; returns its output and status.
local function child(chunk)
  local p = assert(io.popen(("timeout 5 setsid %s -e %s </dev/null 2>&1; echo \"exit=$?\"")
                            :format(LUA, sh_quote(chunk))))
  local out = p:read("*a")
  p:close()
  return out
end

local function tmpname()
  local p = assert(io.popen("mktemp /tmp/vonage-spec.XXXXXX"))
  local name = p:read("*l")
  p:close()
  return name
end


describe("hardening: closed objects", function()
  before_each(H.reset)

  it("answers every call on a closed client with err.code 'closed', before any I/O", function()
    local c = H.client { api_key = H.API_KEY, api_secret = H.API_SECRET,
                         signature_secret = SIGNATURE_SECRET }
    local req = c:request(ID)
    c:close()
    assert.is_true(c.closed)
    assert.equal("none", c.auth)
    assert.equal("vonage.client (closed, " .. H.url .. ", network https://api-eu.vonage.com, "
                 .. "oidc https://oidc.idp.vonage.com)", tostring(c))
    local results = {
      { req:cancel() },
      { c:start_verification { brand = "ACME", workflow = { vonage.sms { to = "447700900030" } } } },
      { c:template_page() },
      { c:verify_webhook("{}", "Bearer a.b.c") },
    }
    for _, r in ipairs(results) do
      assert.is_nil(r[1])
      assert.equal("transport", r[3].kind)
      assert.equal("closed", r[3].code)
      assert.truthy(r[2]:find("closed", 1, true))
    end
    assert.equal(0, #H.log())
    c:close() -- safe twice
  end)

  it("closes the client's own curl transport with it, which then answers 'closed'", function()
    local c = H.client()
    local t = c.transport
    assert.equal("vonage.http (curl)", tostring(t))
    c:close()
    assert.equal("vonage.http (curl, closed)", tostring(t))
    local status, msg, err = t:send { method = "GET", url = H.url .. "/_sandbox/health" }
    assert.is_nil(status)
    assert.equal("the transport is closed", msg)
    assert.equal("transport", err.kind)
    assert.equal("closed", err.code)
    local m = core.multi_new {}
    m:close()
    local id, _, err2 = m:start { method = "GET", url = H.url .. "/_sandbox/health" }
    assert.is_nil(id)
    assert.equal("closed", err2.code)
  end)

  it("closes a multi transport on the client's __close and __gc as close() does", function()
    H.fault { method = "DELETE", path = "/v2/verify/*", status = 204, body = "", times = 1, delay = 1 }
    local c = H.client { transport = "multi" }
    local t = c.transport
    local got = {}
    c:spawn(function() got.ok, got.msg, got.err = c:request(ID):cancel() end)
    c:poll(0)
    assert.equal(1, t:pending())
    -- What `local c <close> = vonage.client{...}` calls when the scope ends.
    debug.getmetatable(c).__close(c, nil)
    assert.equal("vonage.transport.multi (closed)", tostring(t))
    assert.is_true(c.closed)
    t:poll(0)
    assert.is_nil(got.ok)
    assert.equal("closed", got.err.code)
    assert.equal("cancel: the transport was closed before the answer came", got.msg)

    local t2 = H.client { transport = "multi" }.transport -- its client is garbage now
    collectgarbage()
    collectgarbage()
    assert.equal("vonage.transport.multi (closed)", tostring(t2))
    local _, _, err = t2:send { method = "GET", url = H.url .. "/_sandbox/health" }
    assert.equal("closed", err.code)
  end)
end)

describe("hardening: private keys", function()
  local enc
  setup(function()
    enc = tmpname()
    assert(os.execute(("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 "
                       .. "-pass pass:x -out %s 2>/dev/null"):format(enc)))
  end)
  teardown(function() os.remove(enc) end)

  it("refuses an encrypted PEM at once, without prompting, from a path or a string", function()
    local out = child(([[
      local vonage = require "vonage"
      local f = assert(io.open(%q, "rb")); local pem = f:read("*a"); f:close()
      for _, opts in ipairs { { private_key_path = %q }, { private_key = pem } } do
        opts.application_id = "5a1f9b27-3c8e-4d6f-9a0b-1c2d3e4f5a6b"
        local ok, err = pcall(vonage.client, opts)
        print(ok, err)
      end]]):format(enc, enc))
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(3, #lines, out)
    for i = 1, 2 do
      assert.truthy(lines[i]:find("^false\t"), out)
      assert.truthy(lines[i]:find("vonage.client: the private key is encrypted; give an unencrypted PEM",
                                  1, true), out)
    end
    assert.equal("exit=0", lines[3])
    assert.falsy(out:lower():find("pass phrase", 1, true))
  end)

  it("still takes the unencrypted key of the same kind", function()
    local plain = tmpname()
    assert(os.execute(("openssl pkey -in %s -passin pass:x -out %s 2>/dev/null"):format(enc, plain)))
    local c = H.client { private_key_path = plain }
    os.remove(plain)
    assert.equal("jwt", c.auth)
  end)
end)

describe("hardening: credentials stay in C", function()
  before_each(H.reset)

  local key_pem = H.read(H.key_path)
  local basic = "Basic " .. require("mime").b64(H.API_KEY .. ":" .. H.API_SECRET)
  -- Strings that must never come out: the secrets, the Basic header, any JWT
  -- or Bearer value, a line of the private key.
  local FORBIDDEN = { H.API_SECRET, basic:sub(7), "Basic ", "eyJ", "Bearer ", SIGNATURE_SECRET,
                      (key_pem:match("\n([^\n]+)\n")) }

  local function scan(v, where, seen)
    seen = seen or {}
    local function check(s, at)
      for _, bad in ipairs(FORBIDDEN) do
        assert(not s:find(bad, 1, true), at .. " holds " .. bad:sub(1, 12))
      end
    end
    local t = type(v)
    if t == "string" then
      check(v, where)
    elseif t == "table" or t == "userdata" then
      if seen[v] then return end
      seen[v] = true
      check(tostring(v), "tostring(" .. where .. ")")
      if t == "table" then
        for k, x in next, v do
          scan(k, where .. " key", seen)
          scan(x, where .. "." .. tostring(k), seen)
        end
      end
    end
  end

  -- Every field a user can read from the C objects.
  local FIELDS = {
    client = { "auth", "closed", "api_host", "network_host", "oidc_host", "application_id", "api_key",
               "transport", "timeout_ms", "jwt_ttl", "private_key", "api_secret", "signature_secret",
               "basic", "jwt", "authorization", "_authorization", "credentials" },
    request = { "request_id", "channel", "status", "check_url", "client", "brand", "workflow", "channel_index" },
  }

  it("has no _authorization, and the authorizer cannot be taken by user code", function()
    local c = H.client()
    assert.is_nil(c._authorization)
    assert.is_nil(core.client_methods) -- no method table is reachable from core
    assert.has_error(function() core.take_authorizer() end, "vonage.core: the authorizer was already taken")
  end)

  it("hands no credential back from any method or field of the objects a user holds", function()
    H.control("POST", "/_sandbox/redirect_uris", { application_id = H.APP_ID,
                                                   redirect_uri = H.url .. "/app/callback" })
    local c = H.client { api_key = H.API_KEY, api_secret = H.API_SECRET, signature_secret = SIGNATURE_SECRET,
                         network_host = H.url, oidc_host = H.url }
    local out = {}
    local function call(where, fn, ...)
      local r = { pcall(fn, ...) }
      for i = 1, #r do scan(r[i], where .. " result " .. i) end
      out[#out + 1] = where
      return unpack(r, 2)
    end
    local tpl = call("create_template", c.create_template, c, { name = "walk" })
    local frag_args = { channel = "sms", locale = "en-us", text = "Code ${code}" }
    local args = {
      start_verification = { { brand = "ACME", workflow = { vonage.sms { to = "447700900030" } } } },
      request = { ID },
      templates = {},
      template_page = {},
      create_template = { { name = "walk2" } },
      get_template = { tpl.template_id },
      update_template = { tpl.template_id, { name = "walked" } },
      template_fragment_page = { tpl.template_id },
      template_fragments = { tpl.template_id },
      create_template_fragment = { tpl.template_id, frag_args },
      get_template_fragment = { tpl.template_id, ID },
      update_template_fragment = { tpl.template_id, ID, { text = "Code ${code}!" } },
      delete_template_fragment = { tpl.template_id, ID },
      delete_template = { ID },
      number_verification = { { redirect_uri = H.url .. "/app/callback" } },
      start_silent_auth = { { brand = "ACME", workflow = { vonage.silent_auth { to = "447700900000" },
                                                           vonage.sms { to = "447700900000" } } } },
      resume_silent_auth = { { state = "code_pending", request_id = ID, channels = { "silent_auth", "sms" },
                               channel_index = 2 } },
      verify_webhook = { "{}", "Bearer a.b.c" },
      _authorization = { os.time(), "basic" }, -- gone; it was the way out
      poll = { 0 },
      spawn = { function() end },
      close = false, -- last, below
    }
    for _, name in ipairs(require("vonage.client").methods()) do
      local fn = c[name]
      assert(args[name] ~= nil, "no arguments for client:" .. name .. "; add them here")
      if args[name] then
        local r = { call("client:" .. name, fn, c, unpack(args[name])) }
        if type(r[1]) == "function" then -- an iterator: walk it
          for item in r[1], r[2], r[3] do scan(item, name .. " item") end
        end
      end
    end
    for _, k in ipairs(FIELDS.client) do scan(c[k], "client." .. k) end
    scan(c, "client")

    local req = assert(c:start_verification { brand = "ACME", workflow = { vonage.sms { to = "447700900031" } } })
    for _, name in ipairs(require("vonage.request").methods()) do
      local a = ({ check = { "0000" } })[name] or {}
      call("request:" .. name, req[name], req, unpack(a))
    end
    for _, k in ipairs(FIELDS.request) do scan(req[k], "request." .. k) end

    local page = assert(c:template_page())
    for _, name in ipairs(require("vonage.template_page").methods()) do
      local r = { call("page:" .. name, page[name], page) }
      if type(r[1]) == "function" then
        for a, b in r[1], r[2], r[3] do scan(a, name .. " item"); scan(b, name .. " item") end
      end
    end
    for _, k in ipairs { "page", "page_size", "total_pages", "total_items", 1, "kind", "client" } do
      scan(page[k], "page." .. tostring(k))
    end

    -- Number Verification, with an access token inside the flow.
    local first = c:number_verification { redirect_uri = H.url .. "/app/callback" }
    local auth_url = assert(first:authorize_url { phone_number = "+447700900000", session = "s-1" })
    local _, _, hdrs = require("socket.http").request { url = auth_url, redirect = false }
    local flow = c:number_verification { redirect_uri = H.url .. "/app/callback", state_store = first.state_store }
    assert(flow:callback(hdrs.location, "s-1"))
    assert(flow:exchange()) -- the app JWT, added in C by the curl transport
    assert.is_true(flow:verify { phone_number = "+447700900000" }) -- the flow's Bearer token, from Lua
    local nv_calls = { authorize_url = { { phone_number = "+447700900000", session = "s-2" } },
                       network_enablement = { { phone_number = "+447700900000" } },
                       callback = { hdrs.location, "s-1" }, exchange = {},
                       verify = { { phone_number = "+447700900000" } } }
    for name, fn in pairs(getmetatable(flow).__index) do
      if type(fn) == "function" and not name:match("^__") then
        call("nv:" .. name, fn, flow, unpack(nv_calls[name] or {}))
      end
    end
    scan(flow, "nv flow")

    local sa = assert(c:start_silent_auth { brand = "ACME", workflow = {
      vonage.silent_auth { to = "447700900004" }, vonage.sms { to = "447700900004" } } })
    for name, fn in pairs(getmetatable(sa)) do
      if type(fn) == "function" and not name:match("^__") then
        local a = ({ check = { "0000" }, fallback = { "device said no" } })[name] or {}
        call("silent_auth:" .. name, fn, sa, unpack(a))
      end
    end
    scan(sa, "silent auth flow")
    scan(sa:to_table(), "silent auth table")

    -- The transports: curl and multi, every method.
    for _, t in ipairs { c.transport, H.client { transport = "multi" }.transport } do
      scan(t, "transport")
      local spec = { method = "GET", url = H.url .. "/_sandbox/health" }
      call("transport:send", t.send, t, spec)
      scan(spec, "spec after send")
      for _, m in ipairs { "sleep", "pending", "poll" } do
        if t[m] then call("transport:" .. m, t[m], t, 0) end
      end
    end
    call("client:close", c.close, c)
    assert.truthy(#out > 40)
  end)

  it("adds the client's Authorization only on its own transport, to its own hosts", function()
    local c = H.client()
    local spec = { method = "GET", url = H.url .. "/_sandbox/health", client = c, auth_time = os.time() }
    assert.equal(200, (c.transport:send(spec)))
    assert.has_error(function() core.http_new {}:send(spec) end,
      "vonage.http: spec.client is honoured only on that client's own transport")
    assert.has_error(function() core.multi_new {}:start(spec) end,
      "vonage.multi: spec.client is honoured only on that client's own transport")
    for _, u in ipairs { "http://127.0.0.1:1/x", (H.url:gsub("127%.0%.0%.1", "localhost")) .. "/x", H.url } do
      assert.has_error(function()
        c.transport:send { method = "GET", url = u, client = c, auth_time = os.time() }
      end, "vonage.http: the spec's url is not on the client's api_host or network_host")
    end
    assert.has_error(function()
      c.transport:send { method = "GET", url = H.url .. "/x", client = c, auth_time = os.time(),
                         headers = { authorization = "Bearer x" } }
    end, "vonage.http: spec.client and an Authorization header exclude each other")
  end)

  it("still gives user transports the header they need, and keeps NV's bearer token working", function()
    local t = H.recording_transport()
    local c = H.client { transport = t, api_key = H.API_KEY, api_secret = H.API_SECRET }
    c:request(ID):cancel()
    assert.truthy(t.sent[1].headers.Authorization:match("^Bearer eyJ"))
    assert.is_nil(t.sent[1].client)
    -- A table of one's own is not taken for the multi transport for having a `multi`.
    local t2 = H.recording_transport()
    t2.multi = core.multi_new {}
    H.client({ transport = t2 }):request(ID):cancel()
    assert.truthy(t2.sent[1].headers.Authorization:match("^Bearer eyJ"))
    assert.is_nil(t2.sent[1].client)
  end)

  it("sends a resty client's header only through the resty class's own send", function()
    local resty = require "vonage.transport.resty"
    local real = resty.send
    local caught = {}
    local function catch(_, spec)
      caught[#caught + 1] = spec.headers and spec.headers.Authorization or "none"
      return 204, {}, ""
    end
    -- What user code could do after loading vonage: replace the module's send.
    resty.send = catch
    local ok, err = pcall(function()
      -- A table of the resty class (outside nginx resty.new refuses), with a send of its own.
      local t = setmetatable({ send = catch }, { __name = "vonage.transport.resty" })
      local c = H.client { transport = t }
      -- The real send runs (and, outside nginx, cannot reach ngx).
      local req = c:request(ID)
      local sent, why = pcall(req.cancel, req)
      assert(not sent and tostring(why):find("ngx", 1, true), tostring(why))
    end)
    resty.send = real
    assert(ok, err)
    assert.same({}, caught)
  end)

  it("wipes nothing it still needs: a multi and a curl client sign the same way", function()
    for _, transport in ipairs { "curl", "multi" } do
      H.reset()
      H.client({ transport = transport }):request(ID):cancel()
      assert(H.basic_client({ transport = transport }):template_page())
      local log = H.log()
      assert.equal("jwt", log[1].auth)
      assert.equal("basic", log[2].auth)
    end
  end)
end)

describe("hardening: a spec that runs Lua while C reads it", function()
  before_each(H.reset)

  -- A spec whose __index closes the transport the moment C asks for a field
  -- the table does not hold; C reads raw, so it never runs.
  local function closing_spec(close)
    return setmetatable({ method = "GET", url = H.url .. "/_sandbox/health" }, {
      __index = function() close() end,
    })
  end

  it("never runs a spec's metamethods, so they cannot close the blocking transport under it", function()
    local h = core.http_new {}
    assert.equal(200, (h:send(closing_spec(function() h:close() end))))
    assert.equal("vonage.http (curl)", tostring(h))
    h:close()
  end)

  it("never runs a spec's metamethods, so they cannot close the multi under its start", function()
    local m = core.multi_new {}
    local id = assert(m:start(closing_spec(function() m:close() end)))
    for _ = 1, 100 do
      if m:perform(50) > 0 then break end
    end
    assert.equal(id, m:next_finished())
    assert.equal(200, (m:result(id)))
    m:close()
  end)



  it("defers a close that a finalizer runs while send pushes its answer", function()
    gc.eager(function()
      for i = 1, 300 do
        local h = core.http_new {}
        local stop = gc.act_at(i % 30 + 1, function() h:close() end)
        -- Closed before the call: "closed"; during it: the whole answer.
        local status, headers, body = h:send { method = "GET", url = H.url .. "/_sandbox/log" }
        stop()
        assert(status == 200 and headers["content-type"] and #body > 0 or headers == "the transport is closed",
               tostring(headers))
      end
    end)
  end)

  it("defers a close that a finalizer runs while result pushes its answer", function()
    gc.eager(function()
      for i = 1, 300 do
        local m = core.multi_new {}
        local id = assert(m:start { method = "GET", url = H.url .. "/_sandbox/log" })
        repeat m:perform(50) until m:next_finished()
        local stop = gc.act_at(i % 30 + 1, function() m:close() end)
        local ok, status, headers, body = pcall(m.result, m, id)
        stop()
        assert(ok and status == 200 and headers["content-type"] and #body > 0
               or not ok and status:find("the transport is closed", 1, true), tostring(status))
      end
    end)
  end)
end)

describe("hardening: a client closed while it checks a webhook", function()
  -- The same eager collector and finalizer chains as above.

  it("reads the signature secret only after its arguments are strings", function()
    local b64 = core.base64url_encode
    local token = "Bearer " .. b64('{"alg":"HS256","typ":"JWT"}') .. "." .. b64('{"iat":1}')
                  .. "." .. b64(("s"):rep(32))
    local has_modes, mode = pcall(collectgarbage, "incremental")
    local pause = collectgarbage("setpause", 0)
    local stepmul = collectgarbage("setstepmul", 1000)
    collectgarbage("collect")
    local ok, err = pcall(function()
      for i = 1, 200 do
        local c = H.client { signature_secret = SIGNATURE_SECRET }
        local fired, target, ended = 0, i % 10 + 1, false
        local function link()
          fired = fired + 1
          if ended then return end
          if fired == target then c:close() elseif fired < target then gc.finalizer(link) end
        end
        gc.finalizer(link)
        -- A well-formed token reaches the HMAC; the body as a number is
        -- converted (an allocation) after the token was read.
        local r, _, e = core.client_webhook_verify(c, token, 9876543210987, os.time(), 300, 60)
        ended = true
        assert(r == nil and (e.code == "closed" or e.code == "bad_signature"), tostring(e and e.code))
      end
    end)
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", stepmul)
    if has_modes then collectgarbage(mode) end
    collectgarbage("collect")
    assert(ok, err)
  end)
end)

describe("hardening: memory errors in the multi", function()
  before_each(H.reset)

  -- A small Lua 5.4 host whose allocator fails on request (spec/support), on
  -- the Lua 5.4 build of the module (the one this run uses, or the plain one
  -- under LuaJIT).
  -- Runs script (url, rounds) under that host; returns what it printed.
  local function run_alloc_fail(script, rounds)
    local build = (os.getenv("VN_BUILD_ROOT") or (H.ROOT .. "/build")) .. "/lua5.4"
                  .. (os.getenv("SANITIZE") and "-san" or "")
    if not io.open(build .. "/vonage/core.so") then
      assert(os.execute("make -s build LUA=lua5.4" .. (os.getenv("SANITIZE") and " SANITIZE=1" or "") .. " >/dev/null"))
    end
    local host = tmpname()
    assert(os.execute(("cc -std=c99 $(pkg-config --cflags lua5.4) -o %s spec/support/alloc_fail_host.c "
                       .. "$(pkg-config --libs lua5.4)"):format(host)))
    local paths = ("LUA_CPATH_5_4='%s/?.so' LUA_PATH_5_4='%s/lua/?.lua'"):format(build, H.ROOT)
    local p = assert(io.popen(("env %s %s %s %s %d 2>&1")
                              :format(paths, host, script, H.url .. "/_sandbox/health", rounds)))
    local out = p:read("*a")
    p:close()
    os.remove(host)
    return out
  end

  it("never loses a finished transfer to a memory error in perform", function()
    local out = run_alloc_fail("spec/support/perform_oom.lua", 40)
    local lost, raised = out:match("^lost (%d+) raised (%d+)\n$")
    assert(lost, out)
    assert.equal("0", lost)
    assert.equal("0", raised) -- perform allocates nothing from Lua: the ids wait in C
  end)

  -- The same host: a memory error anywhere in the poll loop (handing over a
  -- finished transfer, expiring a timer) leaves it for the next poll.
  it("never loses a finished transfer or a timer to a memory error in poll", function()
    local out = run_alloc_fail("spec/support/drive_oom.lua", 200)
    local lost, raised = out:match("^lost (%d+) raised (%d+)\n$")
    assert(lost, out)
    assert.equal("0", lost)
    assert.truthy(tonumber(raised) > 0) -- the sweep did hit poll
  end)
end)

describe("hardening: numbers C converts", function()
  before_each(H.reset)

  it("refuses an out-of-range, NaN or infinite option with its name and range", function()
    local t = core.http_new {}
    for _, v in ipairs { 1e300, -1e300, 0 / 0, math.huge, -math.huge, 600001, 2 ^ 63 } do
      assert.has_error(function()
        t:send { method = "GET", url = H.url .. "/_sandbox/health", timeout_ms = v }
      end, "vonage: field 'timeout_ms' must be an integer in 1..600000")
    end
    assert.has_error(function()
      t:send { method = "GET", url = H.url .. "/_sandbox/health", max_response_bytes = 1e300 }
    end, "vonage: field 'max_response_bytes' must be an integer in 0..1073741824")
    assert.has_error(function()
      core.client_new({ api_key = "k", api_secret = "s", jwt_ttl = 1e300 }, {})
    end, "vonage: field 'jwt_ttl' must be an integer in 30..86400")
    assert.equal(200, (t:send { method = "GET", url = H.url .. "/_sandbox/health", timeout_ms = 600000 }))
  end)

  it("answers a clock far outside the JWT's range with a clean auth error, on every path", function()
    for _, v in ipairs { 2 ^ 62, 1e300, -1, 0 / 0 } do
      for _, transport in ipairs { "curl", "multi", H.recording_transport() } do
        local c = H.client { transport = transport, clock = function() return v end }
        local ok, msg, err = c:request(ID):cancel()
        assert.is_nil(ok)
        assert.equal("auth", err.kind)
        assert.equal("bad_clock", err.code)
        assert.truthy(msg:find("outside 0..253402300799 seconds since the epoch", 1, true), msg)
      end
    end
    assert.equal(0, #H.log())
  end)
end)

describe("hardening: exactness", function()
  before_each(H.reset)

  it("compares a request with anything without raising", function()
    local c = H.client()
    local a, b = c:request(ID), c:request(ID)
    assert.is_true(a == b)
    assert.is_false(a == io.stdout)
    assert.is_false(io.stdout == a)
    assert.is_false(a == c:request("1b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"))
  end)

  it("refuses a signature secret the webhook checker would refuse, when the client is made", function()
    assert.has_error(function() H.client { signature_secret = string.rep("s", 4097) } end,
      "vonage.client: signature_secret must be 16 to 4096 bytes")
    local c = H.client { signature_secret = string.rep("s", 4096) }
    local _, _, err = c:verify_webhook("{}", "Bearer a.b.c")
    assert.are_not.equal("no_secret", err.code)
  end)

  it("reads each credential once, raw: a metatable on the option tables never runs", function()
    local reads = {}
    local function counting(t)
      return setmetatable(t, { __index = function(_, k)
        reads[k] = (reads[k] or 0) + 1
        if k == "api_key" then return "key" .. reads[k] end
      end })
    end
    assert.has_error(function() core.client_new(counting { api_secret = "s" }, {}) end,
      "vonage.client: api_key and api_secret go together")
    assert.same({}, reads)
    -- api_key comes only from __index here: not an option, so it is missing.
    local ok, err = pcall(vonage.client, counting { api_secret = H.API_SECRET, api_host = H.url })
    assert.is_false(ok)
    assert.truthy(err:find("api_key and api_secret go together", 1, true))
    assert.same({}, reads)
    local c = vonage.client(counting { api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = H.url })
    assert.same({}, reads)
    assert.equal("basic", c.auth)
  end)

  -- A transport that keeps each Authorization header and answers 204 (nothing leaves).
  local function catching()
    local t = { headers = {} }
    function t.send(_, spec)
      t.headers[#t.headers + 1] = spec.headers and spec.headers.Authorization
      return 204, {}, ""
    end
    return t
  end

  it("signs its JWT RS256 with the key it parsed once, as openssl verifies it, with every claim "
     .. "JSON-escaped", function()
    local t = catching()
    local app = 'app "one" \\ \n\t\1 \u{e9}\u{1F600}'
    local c = vonage.client { application_id = app, private_key_path = H.key_path, transport = t,
                              jwt_sub = 'sub "x"\r', jwt_nbf = true, api_host = H.url }
    assert(c:request(ID):cancel())
    local token = t.headers[1]:match("^Bearer (.+)$")
    local header = token:match("^([^.]+)")
    assert.equal("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", header) -- {"alg":"RS256","typ":"JWT"}
    local claims = H.jwt_claims(token)
    assert.equal(app, claims.application_id)
    assert.equal('sub "x"\r', claims.sub)
    assert.equal(claims.iat, claims.nbf)
    assert.equal(900, claims.exp - claims.iat)
    assert.truthy(claims.jti:match("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$"), claims.jti)
    -- The signature, checked by openssl against the public key.
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local f = assert(io.open(dir .. "/data", "wb"))
    f:write(token:match("^([^.]+%.[^.]+)"))
    f:close()
    local sig = token:match("([^.]+)$"):gsub("-", "+"):gsub("_", "/")
    f = assert(io.open(dir .. "/sig.b64", "wb"))
    f:write(sig .. string.rep("=", (4 - #sig % 4) % 4))
    f:close()
    local p = assert(io.popen(("cd %s && openssl base64 -d -A -in sig.b64 -out sig && openssl dgst -sha256 "
      .. "-verify %s -signature sig data 2>&1; rm -rf %s"):format(dir, H.pub_path, dir)))
    local out = p:read("*a")
    p:close()
    assert.equal("Verified OK\n", out)
  end)

  it("refuses an application_id that is not UTF-8 when it mints, as a failed call", function()
    local t = catching()
    local c = vonage.client { application_id = "app\xff", private_key_path = H.key_path, transport = t,
                              api_host = H.url }
    local ok, msg, err = c:request(ID):cancel()
    assert.is_nil(ok)
    assert.equal("jwt_mint_failed", err.code)
    assert.truthy(msg:find("could not add a claim", 1, true), msg)
    assert.same({}, t.headers)
  end)

  it("takes any JSON value as the acl, as written, and refuses what is not one JSON value", function()
    local key = H.read(H.key_path)
    local function make(grants)
      return pcall(core.client_new, { application_id = H.APP_ID, private_key = key, jwt_grants_json = grants }, {})
    end
    for _, good in ipairs { '{"acl":{"paths":{"/*/users/**":{"methods":["GET"]}}}}', ' { "acl" : [ ] } ',
                            '{"acl":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9 \u{e9}"}', '{"acl":-0.5e+3}',
                            '{"acl":[true,false,null,0,{"a":[1.25E-2]}]}',
                            '{"acl":' .. ("["):rep(60) .. ("]"):rep(60) .. '}' } do
      local ok, err = make(good)
      assert(ok, good .. ": " .. tostring(err))
    end
    for _, bad in ipairs { '{"acl":[1,]}', '{"acl":"\xff"}', '{"acl":"a\\x"}', '{"acl":01}', '{"acl":{}} x',
                           '{"acl":' .. ("["):rep(100) .. ("]"):rep(100) .. '}', '{"\\u0061cl":1}', '{"acl":1,}',
                           '{"acl":"\1"}', '{"acl":.5}', '{"acl":tru}', '{}', '{"acl":1', '' } do
      local ok = make(bad)
      assert(not ok, bad)
    end
    -- A value as written, in the claims the server gets.
    local t = catching()
    local c = vonage.client { application_id = H.APP_ID, private_key_path = H.key_path, transport = t,
                              api_host = H.url, jwt_acl = { paths = { ["/*/users/**"] = { methods = { "GET" } } },
                                                            note = "\u{e9}\"" } }
    assert(c:request(ID):cancel())
    assert.same({ paths = { ["/*/users/**"] = { methods = { "GET" } } }, note = "\u{e9}\"" },
                H.jwt_claims(t.headers[1]:match("^Bearer (.+)$")).acl)
  end)

  -- The strict scanner as the acl meets it: UTF-8 only, arrays and objects
  -- nested at most 64 deep (the grants object is 1), and a surrogate escape
  -- only as a high-low pair, as lua-cjson decodes it (vn_jwt.c's own reader
  -- let a lone one through, which grants_fuzz's oracle refuses).
  it("refuses a lone surrogate escape, a non-UTF-8 byte, and nesting deeper than 64 in the acl", function()
    local key = H.read(H.key_path)
    local function make(grants)
      return pcall(core.client_new, { application_id = H.APP_ID, private_key = key, jwt_grants_json = grants }, {})
    end
    local function nest(k, inner) return '{"acl":' .. ("["):rep(k) .. inner .. ("]"):rep(k) .. "}" end
    for _, good in ipairs { '{"acl":"\\ud83d\\ude00 \\uDBFF\\uDFFF"}', nest(63, "1"), nest(63, ""), nest(62, "{}"),
                            '{"acl":"\240\159\152\128 \244\143\191\191"}' } do
      local ok, err = make(good)
      assert(ok, good .. ": " .. tostring(err))
    end
    for _, bad in ipairs { '{"acl":"\\ud800"}', '{"acl":"\\udc00"}', '{"acl":"\\ud800\\u0041"}',
                           '{"acl":"\\ud800\\udbff"}', '{"acl":"\\ud800\\"}', '{"acl":["\\uDFFF"]}',
                           nest(64, ""), nest(63, "{}"), '{"acl":"\192\175"}', '{"acl":"\237\160\128"}',
                           '{"acl":"\244\144\128\128"}', '{"acl":"\226\130"}' } do
      local ok, err = make(bad)
      assert(not ok, bad)
      assert.equal("vonage.client: jwt_grants_json is not a JSON object", err)
    end
    for grants, why in pairs { ["{}"] = "has no acl", ['{"x":1}'] = "holds a claim other than acl",
                               ['{"acl":1,"x":2}'] = "holds a claim other than acl" } do
      local ok, err = make(grants)
      assert(not ok, grants)
      assert.equal("vonage.client: jwt_grants_json " .. why, err)
    end
  end)

  it("takes the acl as a JSON value, never as text spliced into the claims", function()
    local key = H.read(H.key_path)
    local base = { application_id = H.APP_ID, private_key = key }
    for _, bad in ipairs { '{"acl":{},"application_id":"other"}', '{"acl":1}, "exp": 1',
                           '{"exp":1}', '[1]', 'not json' } do
      local creds = { jwt_grants_json = bad }
      for k, v in pairs(base) do creds[k] = v end
      assert.has_error(function() core.client_new(creds, {}) end)
    end
    local t = H.recording_transport()
    local c = H.client { transport = t, jwt_acl = { paths = { ["/*/users/**"] = { methods = { "GET" } } } } }
    c:request(ID):cancel()
    local claims = H.jwt_claims(t.sent[1].headers.Authorization:match("^Bearer (.+)$"))
    assert.same({ paths = { ["/*/users/**"] = { methods = { "GET" } } } }, claims.acl)
    assert.equal(H.APP_ID, claims.application_id)
  end)
end)
