-- The real OpenResty app: examples/openresty/, started by the script `make
-- example-openresty` runs (lua-vonage installed into its nginx prefix), here
-- pointed at the suite's sandbox; it starts and checks verifications over
-- cosockets, the sandbox delivers its callbacks to it, and the spec reads what
-- the handler accepted. (spec/example_openresty_spec.lua runs it as make does.)
local H = require "spec.helper"
local cjson = require "cjson"
local http = require "socket.http"

local SECRET = "receiver-signature-secret-0123456789"
local receiver = {}

local function start_receiver()
  receiver.dir = assert(io.popen("mktemp -d /tmp/vonage-example.XXXXXX")):read("*l")
  local p = assert(io.popen(("env EXAMPLE_SANDBOX=external VONAGE_SIGNATURE_SECRET=%s VONAGE_APPLICATION_ID=%s "
    .. "VONAGE_PRIVATE_KEY_PATH=%s VONAGE_API_HOST=%s sh %s/scripts/example-openresty start %s 2>&1")
    :format(SECRET, H.APP_ID, H.key_path, H.url, H.ROOT, receiver.dir)))
  local out = p:read("*a")
  p:close()
  receiver.url = assert(out:match("on (http://127%.0%.0%.1:%d+)\n"), out)
end

local function stop_receiver()
  if receiver.dir then os.execute("sh " .. H.ROOT .. "/scripts/example-openresty stop " .. receiver.dir) end
end

local function received(n)
  return H.eventually(function()
    local body = http.request(receiver.url .. "/received")
    local events = body and cjson.decode(body).events
    return events and #events >= n and events
  end, "the receiver did not accept " .. n .. " events")
end

-- The events the receiver accepted for one request, oldest first: matching by
-- request_id, a late delivery from an earlier spec cannot shift the positions.
local function received_for(request_id, n)
  return H.eventually(function()
    local mine = {}
    for _, event in ipairs(received(0)) do
      if event.request_id == request_id then mine[#mine + 1] = event end
    end
    return #mine >= n and mine
  end, "the receiver did not accept " .. n .. " events for " .. request_id)
end

local deliveries = H.settled

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

  -- POST path?query to the app -> status, decoded JSON answer
  local function app_post(path)
    local body, status = http.request(receiver.url .. path, "")
    return status, cjson.decode(body)
  end

  it("starts and checks a verification over cosockets; its callbacks come back to it", function()
    point_at("/webhooks/verify")
    local to = "447700900305"
    local status, started = app_post("/verify/start?to=" .. to .. "&client_ref=app-1")
    assert.equal(200, status)
    local log = H.log()
    assert.same({ "POST", "/v2/verify", "jwt" }, { log[#log].method, log[#log].path, log[#log].auth })
    local code = H.last_code(to)
    local wrong = code:sub(1, -2) .. tostring((tonumber(code:sub(-1)) + 1) % 10)
    local refused_status, refused = app_post(("/verify/check?id=%s&code=%s"):format(started.request_id, wrong))
    assert.same({ 400, "invalid_code" }, { refused_status, refused.error })
    local check_status, checked = app_post(("/verify/check?id=%s&code=%s"):format(started.request_id, code))
    assert.same({ 200, "completed" }, { check_status, checked.status })
    local events = received_for(started.request_id, 2)
    assert.same({ "event", "completed", "app-1" }, { events[1].type, events[1].status, events[1].client_ref })
    assert.same({ "summary", "completed" }, { events[2].type, events[2].status })
    -- user input the library refuses becomes a 400 naming the problem, with nothing sent
    local before = #H.log()
    local bad_status, bad = app_post("/verify/start?to=%2B44-7700")
    assert.same({ 400, "invalid_params" }, { bad_status, bad.error })
    assert.truthy(bad.message:find("workflow[0].to", 1, true))
    local bad_id_status = app_post("/verify/check?id=../../v1/account&code=1234")
    assert.equal(400, bad_id_status)
    assert.equal(before, #H.log())
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
