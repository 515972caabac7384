-- The real receiver: a second nginx runs examples/webhook_openresty/ (the
-- project's module built for LuaJIT), the sandbox delivers to it, and the
-- spec reads what the handler accepted.
local H = require "spec.helper"
local cjson = require "cjson"
local http = require "socket.http"
local socket = require "socket"

local SECRET = "receiver-signature-secret-0123456789"
local ROOT = assert(io.popen("pwd")):read("*l")
local CPATH = (os.getenv("VN_BUILD_ROOT") or (ROOT .. "/build")) .. "/luajit"

local function sh(command)
  local ok = os.execute(command)
  return ok == true or ok == 0
end

local function module_lines()
  for _, dir in ipairs { "/usr/share/nginx/modules", "/usr/lib/nginx/modules" } do
    local f = io.open(dir .. "/ngx_http_lua_module.so")
    if f then
      f:close()
      return ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;"):format(dir, dir)
    end
  end
  return ""
end

local receiver = {}

local function start_receiver()
  assert(io.open(CPATH .. "/vonage/core.so"), "build the LuaJIT module first: make build LUA=luajit")
  receiver.prefix = assert(io.popen("mktemp -d /tmp/vonage-receiver.XXXXXX")):read("*l")
  local template = H.read(ROOT .. "/examples/webhook_openresty/nginx.conf")
  local is_root = assert(io.popen("id -u")):read("*l") == "0"
  for _ = 1, 5 do
    receiver.port = 20000 + math.random(0, 39999)
    local conf = template:gsub("@(%u+)@", {
      MODULES = module_lines(), USER = is_root and "user root;" or "", PREFIX = receiver.prefix,
      ROOT = ROOT, CPATH = CPATH, PORT = tostring(receiver.port),
    })
    local f = assert(io.open(receiver.prefix .. "/nginx.conf", "w"))
    f:write(conf)
    f:close()
    local nginx = os.getenv("VONAGE_SANDBOX_NGINX") or "nginx"
    if sh(("env -u LD_PRELOAD VONAGE_SIGNATURE_SECRET=%s PATH=$PATH:/usr/sbin %s -p %s/ -c %s/nginx.conf "
           .. "-e %s/error.log >/dev/null 2>&1"):format(SECRET, nginx, receiver.prefix, receiver.prefix,
                                                       receiver.prefix)) then
      receiver.url = "http://127.0.0.1:" .. receiver.port
      return
    end
  end
  error("the receiver nginx did not start: " .. H.read(receiver.prefix .. "/error.log"))
end

local function stop_receiver()
  if receiver.prefix then
    sh(("kill -QUIT $(cat %s/nginx.pid) 2>/dev/null; sleep 0.2; rm -rf %s"):format(receiver.prefix,
                                                                                receiver.prefix))
  end
end

-- Waits (bounded) until the handler has accepted n events.
local function received(n)
  for _ = 1, 250 do
    local body = http.request(receiver.url .. "/received")
    local events = body and cjson.decode(body).events
    if events and #events >= n then return events end
    socket.sleep(0.02)
  end
  error("the receiver did not accept " .. n .. " events")
end

-- The events the receiver accepted for one request, oldest first: matching by
-- request_id, a late delivery from an earlier spec cannot shift the positions.
local function received_for(request_id, n)
  for _ = 1, 250 do
    local mine = {}
    for _, event in ipairs(received(0)) do
      if event.request_id == request_id then mine[#mine + 1] = event end
    end
    if #mine >= n then return mine end
    socket.sleep(0.02)
  end
  error("the receiver did not accept " .. n .. " events for " .. request_id)
end

local function deliveries(n)
  for _ = 1, 250 do
    local _, body = H.control("GET", "/_sandbox/callbacks")
    local done = 0
    for _, d in ipairs(body.deliveries) do
      if d.state ~= "pending" then done = done + 1 end
    end
    if done >= n then return body.deliveries end
    socket.sleep(0.02)
  end
  error("deliveries did not settle")
end

local function complete(to, client_ref)
  local req = assert(H.client():start_verification {
    brand = "ACME", client_ref = client_ref, workflow = { { channel = "sms", to = to } } })
  assert(req:check(H.last_code(to)))
  return req
end

describe("the OpenResty webhook receiver", function()
  setup(start_receiver)
  teardown(stop_receiver)

  local function point_at(path)
    H.reset()
    assert(H.control("POST", "/_sandbox/callbacks",
      { url = receiver.url .. path, signature_secret = SECRET }) == 200)
  end

  it("accepts what the sandbox signed, answers 204, and does not run the handler on a replay", function()
    point_at("/webhooks/verify")
    local req = complete("447700900301", "order-1")
    local events = received(2)
    assert.same({ "event", "completed", req.request_id }, { events[1].type, events[1].status, events[1].request_id })
    assert.same({ "summary", "completed" }, { events[2].type, events[2].status })
    local list = deliveries(2)
    assert.same({ 204, 204 }, { list[1].attempts[1].status, list[2].attempts[1].status })

    assert(H.control("POST", "/_sandbox/callbacks/1/redeliver") == 200)
    list = deliveries(3)
    assert.equals(200, list[3].attempts[1].status)
    assert.equals(2, #received(2))
  end)

  it("reads a body nginx spilled to a temp file", function()
    point_at("/webhooks/verify-spilled")
    local req = complete("447700900302", "order-2")
    local events = received_for(req.request_id, 2)
    assert.same({ "event", "order-2" }, { events[1].type, events[1].client_ref })
    assert.same({ "summary", "order-2" }, { events[2].type, events[2].client_ref })
  end)

  it("answers 401 to a token signed with another secret", function()
    H.reset()
    assert(H.control("POST", "/_sandbox/callbacks", { url = receiver.url .. "/webhooks/verify",
      signature_secret = "a-different-secret-0000000000", max_attempts = 1 }) == 200)
    local before = #received(0)
    complete("447700900303")
    local list = deliveries(2)
    assert.same({ 401, 401 }, { list[1].attempts[1].status, list[2].attempts[1].status })
    assert.equals(before, #received(0))
  end)

  it("answers 500 when the handler fails, and processes the sandbox's retry", function()
    point_at("/webhooks/verify")
    local before = #received(0)
    local req = complete("447700900304", "fail-first")
    local list = deliveries(2)
    assert.same({ 500, 204 }, { list[1].attempts[1].status, list[1].attempts[2].status })
    local events = received(before + 2)
    assert.equals(req.request_id, events[before + 1].request_id)
  end)
end)
