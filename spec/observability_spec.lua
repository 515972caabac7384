-- on_log(level, line, event): the event beside each line, for metrics and
-- traces, against the sandbox. Nothing secret or personal may ride along.
local vonage = require "vonage"
local H = require "spec.helper"

local TO = "447700900061"
local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

describe("on_log events", function()
  local logged, client
  before_each(function()
    H.reset()
    logged = {}
    client = H.client {
      network_host = H.url, oidc_host = H.url, retries = 1,
      on_log = function(level, line, event)
        logged[#logged + 1] = { level = level, line = line, event = event }
      end,
    }
  end)

  local function events(op)
    local out = {}
    for _, l in ipairs(logged) do
      if l.event and l.event.op == op then out[#out + 1] = l end
    end
    return out
  end

  it("keeps a started verification's answer when on_log raises", function()
    local raising = H.client { on_log = function() error("the metrics dict is full") end }
    local req, msg = raising:start_verification { brand = "ACME", workflow = { vonage.sms { to = TO } } }
    assert.is_truthy(req, msg)
    assert.truthy(req.request_id:match(UUID))
    assert.equal(1, H.logged("POST", "/v2/verify")) -- sent once, and its id reached the caller
    assert.equal("completed", raising:request(req.request_id):check(H.last_code(TO)))
  end)

  -- A call on loopback can take under a millisecond: counted in whole
  -- milliseconds it took 0, and a latency histogram's sum stayed 0.
  it("measures duration_ms to the microsecond", function()
    local req = assert(client:start_verification { brand = "ACME", workflow = { vonage.sms { to = TO } } })
    for _ = 1, 20 do req:check("0000") end
    local fractional = 0
    for _, l in ipairs(events("check")) do
      local ms = l.event.duration_ms
      assert.truthy(ms > 0, ms)
      if ms % 1 ~= 0 then fractional = fractional + 1 end
    end
    -- One whole number of ms in twenty is a chance in a thousand each: all
    -- twenty whole means the clock read whole milliseconds.
    assert.truthy(fractional >= 1, fractional)
  end)

  -- Every string a logged event holds, however deep.
  local function strings(v, out)
    out = out or {}
    if type(v) == "table" then
      for k, x in pairs(v) do strings(k, out); strings(x, out) end
    elseif v ~= nil then
      out[#out + 1] = tostring(v)
    end
    return out
  end

  it("describes each call: op, method, path with :id, status, duration, attempt, code, request_id", function()
    local req = assert(client:start_verification { brand = "ACME", workflow = { vonage.sms { to = TO } } })
    local _, _, bad = req:check("0000")
    assert.equal("invalid_code", bad.code)
    assert.equal("completed", req:check(H.last_code(TO)))
    local _, _, gone = client:request(req.request_id):cancel()

    local start = events("start_verification")
    assert.equal(1, #start)
    local e = start[1].event
    assert.equal("debug", start[1].level)
    assert.equal("POST /v2/verify -> 202", start[1].line) -- the line as it always was
    assert.same({ "POST", "/v2/verify", 202, 1, req.request_id },
                { e.method, e.path, e.status, e.attempt, e.request_id })
    assert.is_nil(e.code)
    assert.is_number(e.duration_ms)
    assert.truthy(e.duration_ms >= 0)

    local checks = events("check")
    assert.equal(2, #checks)
    assert.same({ "POST", "/v2/verify/:id", 400, "invalid_code", req.request_id },
                { checks[1].event.method, checks[1].event.path, checks[1].event.status,
                  checks[1].event.code, checks[1].event.request_id })
    assert.same({ 200, req.request_id }, { checks[2].event.status, checks[2].event.request_id })
    assert.is_nil(checks[2].event.code)

    local cancel = events("cancel")[1].event
    assert.same({ "DELETE", "/v2/verify/:id", gone.status, gone.code, req.request_id },
                { cancel.method, cancel.path, cancel.status, cancel.code, cancel.request_id })
  end)

  it("gives the request in flight on a concurrent 409", function()
    local first = assert(client:start_verification { brand = "ACME", workflow = { vonage.sms { to = TO } } })
    local _, _, err = client:start_verification { brand = "ACME", workflow = { vonage.sms { to = TO } } }
    assert.equal("concurrent", err.code)
    local e = events("start_verification")[2].event
    assert.same({ 409, "concurrent", first.request_id }, { e.status, e.code, e.request_id })
  end)

  it("counts attempts: a retried GET logs the retry and then the answer", function()
    local t = assert(client:create_template { name = "observed" })
    H.fault { method = "GET", path = "/v2/verify/templates/" .. t.template_id, status = 503,
              headers = { ["Retry-After"] = "0" }, body = "{}" }
    assert(client:get_template(t.template_id))
    local got = events("get_template")
    assert.equal(2, #got)
    assert.same({ "info", 1, 503, "server_error", "/v2/verify/templates/:id" },
                { got[1].level, got[1].event.attempt, got[1].event.status, got[1].event.code, got[1].event.path })
    assert.same({ "debug", 2, 200, "/v2/verify/templates/:id" },
                { got[2].level, got[2].event.attempt, got[2].event.status, got[2].event.path })
    assert.is_nil(got[2].event.request_id) -- a template id is not a verification's
  end)

  it("names a transport failure's code", function()
    local dead = H.client { api_host = "http://127.0.0.1:1", retries = 0,
      on_log = function(level, line, event) logged[#logged + 1] = { level = level, line = line, event = event } end }
    local _, _, err = dead:start_verification { brand = "ACME", workflow = { vonage.sms { to = TO } } }
    local e = events("start_verification")[1]
    assert.equal("warn", e.level)
    assert.equal(err.code, e.event.code)
    assert.is_nil(e.event.status)
    assert.equal("/v2/verify", e.event.path)
  end)

  it("never carries a secret, a JWT, a token or a phone number", function()
    local basic = H.basic_client { on_log = client.on_log }
    assert(basic:start_verification { brand = "ACME", workflow = { vonage.sms { to = "+447700900062" } } })
    assert(client:start_verification { brand = "ACME", workflow = { vonage.voice { to = TO } } })
    local flow = client:number_verification { redirect_uri = H.url .. "/app/callback" }
    H.control("POST", "/_sandbox/redirect_uris", { application_id = H.APP_ID, redirect_uri = H.url .. "/app/callback" })
    assert(flow:network_enablement { phone_number = "+447700900063", session = "s" })
    assert.truthy(#logged >= 3)
    local key = H.read(H.key_path):match("\n(%S+)\n") -- a line of the private key's base64
    for _, l in ipairs(logged) do
      assert.is_table(l.event)
      for _, s in ipairs(strings(l.event)) do
        assert.is_nil(s:find(H.API_SECRET, 1, true), s)
        assert.is_nil(s:find(key, 1, true), s)
        assert.is_nil(s:find("eyJ", 1, true), s) -- a JWT's header
        assert.is_nil(s:find("4477009000", 1, true), s)
        assert.is_nil(s:find("Bearer", 1, true), s)
        assert.is_nil(s:find("Basic", 1, true), s)
      end
      for k in pairs(l.event) do
        assert.truthy(({ op = 1, method = 1, path = 1, status = 1, duration_ms = 1, attempt = 1, code = 1,
                         request_id = 1, retry_in_ms = 1 })[k], k)
      end
      if l.event.request_id then assert.truthy(l.event.request_id:match(UUID)) end
    end
  end)
end)
