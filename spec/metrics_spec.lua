-- examples/openresty/metrics.lua in a real nginx (spec/nginx/metrics.conf):
-- calls to the sandbox from two workers, then a scrape of /metrics, read
-- back as Prometheus text and checked count by count.
local H = require "spec.helper"
local http = require "socket.http"

local app = {}

local function get(path)
  local body, status, headers = http.request(app.url .. path)
  assert(status == 200, path .. ": HTTP " .. tostring(status) .. ": " .. tostring(body))
  return body, headers
end

-- The exposition as { [series with labels] = value }, with every line
-- checked against the text format's grammar.
local function scrape()
  local body, headers = get("/metrics")
  assert.truthy(headers["content-type"]:find("text/plain; version=0.0.4", 1, true))
  local samples, types = {}, {}
  for line in body:gmatch("[^\n]+") do
    local name, kind = line:match("^# TYPE (%S+) (%a+)$")
    if name then
      types[name] = kind
    elseif not line:match("^# HELP ") then
      local series, value = line:match('^([%a_:][%w_:]*{[^}]*}) (%S+)$')
      assert(series, "not a sample line: " .. line)
      samples[series] = assert(tonumber(value))
    end
  end
  return samples, types
end

describe("the OpenResty metrics module", function()
  setup(function()
    local env = ("VONAGE_SANDBOX_URL=%s VONAGE_TEST_PRIVATE_KEY_PATH=%s METRICS_SPEC_APP_ID=%s")
      :format(H.url, H.key_path, H.APP_ID)
    local server = H.nginx(H.read(H.ROOT .. "/spec/nginx/metrics.conf"), env)
    app.url, app.stop = server.url, server.stop
  end)
  teardown(function() if app.stop then app.stop() end end)
  before_each(H.reset)

  it("counts calls per op and err.code, with a latency histogram, across workers", function()
    for i = 1, 5 do
      assert.equal("ok\n", (get("/start?to=44770090007" .. i)))
    end
    assert.equal("concurrent\n", (get("/start?to=447700900071")))
    local id = "0b9f5d4e-1a2b-4c3d-8e9f-000000000001"
    assert.equal("not_found\n", (get("/check?id=" .. id .. "&code=1234")))
    assert.equal("not_found\n", (get("/check?id=" .. id .. "&code=1234")))
    H.fault { method = "GET", path = "/v2/verify/templates/" .. id, status = 503,
              headers = { ["Retry-After"] = "0" }, body = "{}" }
    assert.equal("template_not_found\n", (get("/get_template?id=" .. id)))

    local s, types = scrape()
    assert.equal("counter", types.vonage_requests_total)
    assert.equal("counter", types.vonage_retries_total)
    assert.equal("histogram", types.vonage_request_duration_seconds)
    assert.equal(5, s['vonage_requests_total{op="start_verification",code="ok"}'])
    assert.equal(1, s['vonage_requests_total{op="start_verification",code="concurrent"}'])
    assert.equal(2, s['vonage_requests_total{op="check",code="not_found"}'])
    assert.equal(1, s['vonage_requests_total{op="get_template",code="template_not_found"}'])
    assert.equal(1, s['vonage_retries_total{op="get_template",code="server_error"}'])

    local ok = 'op="start_verification",code="ok"'
    assert.equal(5, s["vonage_request_duration_seconds_count{" .. ok .. "}"])
    assert.equal(5, s["vonage_request_duration_seconds_bucket{" .. ok .. ',le="+Inf"}'])
    assert.equal(5, s["vonage_request_duration_seconds_bucket{" .. ok .. ',le="10"}'])
    assert.truthy(s["vonage_request_duration_seconds_sum{" .. ok .. "}"] > 0)
    -- cumulative: each bucket holds at least the one before it
    local last = 0
    for _, le in ipairs { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10" } do
      local n = s["vonage_request_duration_seconds_bucket{" .. ok .. ',le="' .. le .. '"}']
      assert.truthy(n >= last, le)
      last = n
    end
    assert.equal(2, s['vonage_request_duration_seconds_count{op="check",code="not_found"}'])

    -- a second scrape sees the next call
    get("/check?id=" .. id .. "&code=1234")
    assert.equal(3, scrape()['vonage_requests_total{op="check",code="not_found"}'])
  end)
end)
