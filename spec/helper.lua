-- Shared by the specs: the sandbox's control API (vonage_sandbox.client, on
-- luasocket, so the module under test is not used to set up its own test),
-- and clients pointed at the sandbox with the key pair run-specs made.
local cjson = require "cjson"

local H = {}

H.url = assert(os.getenv("VONAGE_SANDBOX_URL"), "run the specs through `make test`")
H.tls_url = os.getenv("VONAGE_SANDBOX_TLS_URL")
H.ca = os.getenv("VONAGE_SANDBOX_CA")
H.other_ca = os.getenv("VONAGE_SANDBOX_OTHER_CA")
H.key_path = os.getenv("VONAGE_TEST_PRIVATE_KEY_PATH")
H.pub_path = os.getenv("VONAGE_TEST_PUBLIC_KEY_PATH")
H.APP_ID = "5a1f9b27-3c8e-4d6f-9a0b-1c2d3e4f5a6b"
H.API_KEY = "a1b2c3d4"
H.API_SECRET = "sandbox-secret-0123"

local sandbox = require("vonage_sandbox.client").new(H.url)
H.sandbox = sandbox

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
H.read = read

-- control(method, path [, body table]) -> status, decoded body
function H.control(method, path, body)
  return sandbox:request(method, path, body)
end

-- A clean sandbox with this run's application key and Basic account.
function H.reset()
  assert(sandbox:reset())
  assert(sandbox:register_application(H.APP_ID, read(H.pub_path)))
  assert(sandbox:register_account(H.API_KEY, H.API_SECRET))
end

local function client_with(opts, overrides)
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return require("vonage").client(opts)
end

function H.client(overrides)
  return client_with({ application_id = H.APP_ID, private_key_path = H.key_path, api_host = H.url }, overrides)
end

function H.basic_client(overrides)
  return client_with({ api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = H.url }, overrides)
end

function H.outbox(to, channel)
  return assert(sandbox:outbox(to, channel))
end

-- The code most recently "sent" to a number.
function H.last_code(to)
  local messages = H.outbox(to)
  return messages[#messages] and messages[#messages].code
end

function H.advance(seconds)
  return assert(sandbox:advance(seconds))
end

-- The API requests the sandbox authenticated, oldest first.
function H.log()
  return assert(sandbox:log())
end

-- How many requests the log holds for method (nil: any) and path (the log
-- leaves the query out).
function H.logged(method, path)
  return assert(sandbox:logged(method, path))
end

function H.fault(spec)
  assert(sandbox:fault(spec))
end

-- Polls (bounded) until ready() gives a value; what the sandbox sends from
-- its timers arrives a moment after the call that caused it.
local function eventually(ready, what)
  for _ = 1, 250 do
    local v = ready()
    if v then return v end
    require("socket").sleep(0.02)
  end
  error(what)
end
H.eventually = eventually

-- The callbacks the sandbox's own sink received, once there are n of them.
function H.sunk(n)
  return eventually(function()
    local received = assert(sandbox:sink())
    return #received >= n and received
  end, "the sink did not receive " .. n .. " requests")
end

-- The sandbox's delivery log (no tokens in it).
function H.deliveries()
  return assert(sandbox:deliveries())
end

-- The delivery log once n deliveries are no longer pending.
function H.settled(n)
  return eventually(function()
    local list, done = H.deliveries(), 0
    for _, d in ipairs(list) do
      if d.state ~= "pending" then done = done + 1 end
    end
    return done >= n and list
  end, "deliveries did not settle")
end

-- Decodes a JWT's payload (base64url JSON) the plain way, independent of the module.
function H.jwt_claims(token)
  local payload = token:match("^[^.]+%.([^.]+)%.[^.]+$")
  local b64 = payload:gsub("-", "+"):gsub("_", "/")
  b64 = b64 .. string.rep("=", (4 - #b64 % 4) % 4)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local bits = b64:gsub("=", ""):gsub(".", function(c)
    local v = alphabet:find(c, 1, true) - 1
    local s = ""
    for i = 5, 0, -1 do s = s .. (math.floor(v / 2 ^ i) % 2) end
    return s
  end)
  local json = bits:gsub("%d%d%d%d%d%d%d%d", function(byte)
    return string.char(tonumber(byte, 2))
  end):gsub("%d+$", "")
  return cjson.decode(json)
end

-- A transport that records what the client handed it, then sends for real.
function H.recording_transport(opts)
  local core = require "vonage.core"
  local real = core.http_new(opts or {})
  local t = { sent = {} }
  function t.send(_, spec)
    local copy = {}
    for k, v in pairs(spec) do copy[k] = v end
    copy.headers = {}
    for k, v in pairs(spec.headers or {}) do copy.headers[k] = v end
    t.sent[#t.sent + 1] = copy
    return real:send(spec)
  end
  function t.sleep(_, ms) return real:sleep(ms) end
  return t
end

-- A transport's send, handed a header value holding CR, LF or NUL, refuses it
-- as a validation error naming the header (before any I/O).
function H.assert_refuses_bad_headers(send)
  local luassert = require "luassert"
  for _, bad in ipairs { "a\r\nX-Injected: 1", "a\nb", "a\0b" } do
    local result, msg, err = send { method = "GET", url = H.url .. "/_sandbox/health",
                                    headers = { ["X-Test"] = bad } }
    luassert.is_nil(result)
    luassert.equal("bad_header", err.code)
    luassert.equal("validation", err.kind)
    luassert.truthy(msg:find("X-Test", 1, true))
  end
end

local function sh(command)
  local ok = os.execute(command)
  return ok == true or ok == 0
end

local function nginx_module_lines()
  for _, dir in ipairs { "/usr/share/nginx/modules", "/usr/lib/nginx/modules" } do
    local f = io.open(dir .. "/ngx_http_lua_module.so")
    if f then
      f:close()
      return ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;"):format(dir, dir)
    end
  end
  return ""
end

H.ROOT = assert(io.popen("pwd")):read("*l")
-- Where `make build LUA=luajit` put the module nginx's LuaJIT loads.
H.LUAJIT_CPATH = (os.getenv("VN_BUILD_ROOT") or (H.ROOT .. "/build")) .. "/luajit"
-- The interpreter running the specs.
H.LUA = rawget(_G, "jit") and "luajit" or "lua5.4"

-- Runs code in a fresh interpreter (the same one, with the specs' paths and
-- sandbox variables) from the project's root; returns its output lines, the
-- last one "exit=<status>".
function H.fresh_lua(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("cd %s && %s %s 2>&1; echo \"exit=$?\""):format(H.ROOT, H.LUA, path)))
  local lines = {}
  for line in p:lines() do lines[#lines + 1] = line end
  p:close()
  os.remove(path)
  return lines
end

-- Starts an nginx of the spec's own (an OpenResty app using this module) from
-- a config template whose @MODULES@ @USER@ @PREFIX@ @ROOT@ @CPATH@ @PORT@ are
-- filled in here. Returns { url =, prefix =, stop = function }.
function H.nginx(template, env)
  assert(io.open(H.LUAJIT_CPATH .. "/vonage/core.so"), "build the LuaJIT module first: make build LUA=luajit")
  local server = { prefix = assert(io.popen("mktemp -d /tmp/vonage-nginx.XXXXXX")):read("*l") }
  local is_root = assert(io.popen("id -u")):read("*l") == "0"
  for _ = 1, 5 do
    local port = 20000 + math.random(0, 39999)
    local conf = template:gsub("@(%u+)@", {
      MODULES = nginx_module_lines(), USER = is_root and "user root;" or "", PREFIX = server.prefix,
      ROOT = H.ROOT, CPATH = H.LUAJIT_CPATH, PORT = tostring(port),
    })
    local f = assert(io.open(server.prefix .. "/nginx.conf", "w"))
    f:write(conf)
    f:close()
    local nginx = os.getenv("VONAGE_SANDBOX_NGINX") or "nginx"
    if sh(("env -u LD_PRELOAD %s PATH=$PATH:/usr/sbin %s -p %s/ -c %s/nginx.conf -e %s/error.log >/dev/null 2>&1")
          :format(env or "", nginx, server.prefix, server.prefix, server.prefix)) then
      server.url = "http://127.0.0.1:" .. port
      function server.stop()
        sh(("kill -QUIT $(cat %s/nginx.pid) 2>/dev/null; sleep 0.2; rm -rf %s"):format(server.prefix, server.prefix))
      end
      return server
    end
  end
  error("nginx did not start: " .. read(server.prefix .. "/error.log"))
end

-- Serializes a hostile-server script (strings, numbers, booleans, tables).
local function serialize(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for k, x in pairs(v) do
      local key = type(k) == "number" and ("[%d]"):format(k) or ("[%q]"):format(k)
      parts[#parts + 1] = key .. "=" .. serialize(x)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return ("%q"):format(v)
  end
  return tostring(v)
end

-- Starts spec/support/hostile_server.lua on a free loopback port with a script
-- of actions (see that file). Returns { url, port, requests(), stop() };
-- requests() lists what the server read: { conn, method, target, auth, body_len }.
function H.hostile(script)
  local dir = assert(io.popen("mktemp -d /tmp/vonage-hostile.XXXXXX")):read("*l")
  local f = assert(io.open(dir .. "/script.lua", "w"))
  f:write("return ", serialize(script))
  f:close()
  local p = assert(io.popen(("exec sh -c 'echo $$; exec env -u LD_PRELOAD lua5.4 %s/spec/support/hostile_server.lua"
    .. " %s/script.lua %s/log 2>%s/stderr'"):format(H.ROOT, dir, dir, dir)))
  local pid, port = p:read("*l"), p:read("*l")
  assert(tonumber(port), "the hostile server did not start: " .. read(dir .. "/stderr"))
  local server = { port = tonumber(port), url = "http://127.0.0.1:" .. port }
  function server.requests()
    local list = {}
    local log = io.open(dir .. "/log")
    for line in (log and log:lines() or function() end) do
      local conn, method, target, auth, len = line:match("^(%d+)\t(%S+)\t(%S+)\t(%d)\t(%d+)$")
      list[#list + 1] = { conn = tonumber(conn), method = method, target = target,
                          auth = auth == "1", body_len = tonumber(len) }
    end
    if log then log:close() end
    return list
  end
  function server.stop()
    sh("kill " .. pid .. " 2>/dev/null")
    p:close()
    sh("rm -rf " .. dir)
  end
  return server
end

return H
