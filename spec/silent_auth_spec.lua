local vonage = require "vonage"
local cjson = require "cjson"
local H = require "spec.helper"

local CARRIER_URL = assert(os.getenv("VONAGE_SANDBOX_CARRIER_URL"))
local OTHER_ID = "00000000-0000-4000-8000-000000000000"

-- Test numbers (doc/silent_auth.md)
local SUPPORTED = "447700900100"
local NETWORK_NOT_SUPPORTED = "447700990001"
local MSISDN_MISMATCH = "447700990002"
local NOT_CELLULAR = "447700990003"
local PRECONDITION_FAILED = "447700990004"

local function start(client, to, extra, fallback)
  local sa = { to = to }
  for k, v in pairs(extra or {}) do sa[k] = v end
  local workflow = { vonage.silent_auth(sa) }
  if fallback then workflow[2] = vonage.sms { to = to } end
  return client:start_verification { brand = "ACME", workflow = workflow }
end

local function stored(request_id)
  local status, body = H.control("GET", "/_sandbox/requests/" .. request_id)
  assert.equal(200, status)
  return body
end

local function refused(code, ...)
  local result, msg, err = ...
  assert.is_nil(result)
  assert.equal("string", type(msg))
  assert.truthy(vonage.is_error(err))
  assert.equal(code, err.code, msg)
  return msg, err
end

-- check_silent_auth of a URL whose one hop redirects (status, 302 unless
-- given) to location.
local function check_via_hop(location, status)
  H.fault { path = "/hop", status = status or 302, headers = { Location = location }, body = "" }
  return vonage.check_silent_auth(H.url .. "/hop")
end

describe("Silent authentication", function()
  local client
  before_each(function()
    H.reset()
    client = H.client()
  end)

  describe("the device side, vonage.check_silent_auth", function()
    it("follows the check_url's redirects through the carrier to the code", function()
      local req = assert(start(client, SUPPORTED))
      assert.equal("vonage.request " .. req.request_id .. " (silent_auth, check_url)", tostring(req))
      local result, msg = vonage.check_silent_auth(req.check_url, { expected_request_id = req.request_id })
      assert.is_nil(msg)
      assert.equal(req.request_id, result.request_id)
      assert.truthy(result.code:match("^%w%w%w%w%w%w$"))
      assert.equal(result.code, stored(req.request_id).silent_auth_code)
      assert.equal("completed", req:check(result.code))
    end)

    it("sends no Authorization and no cookie to any hop, across two ports", function()
      local req = assert(start(client, SUPPORTED))
      local t = H.recording_transport()
      assert(vonage.check_silent_auth(req.check_url, { transport = t }))
      local hops = stored(req.request_id).silent_auth_hops
      assert.same({ "check_url", "carrier", "carrier_result", "complete" },
                  { hops[1].hop, hops[2].hop, hops[3].hop, hops[4].hop })
      local api_port, carrier_port = H.url:match(":(%d+)$"), CARRIER_URL:match(":(%d+)$")
      assert.same({ api_port, carrier_port, carrier_port, api_port },
                  { hops[1].port, hops[2].port, hops[3].port, hops[4].port })
      for _, hop in ipairs(hops) do
        assert.is_false(hop.authorization)
        assert.is_false(hop.cookie) -- the carrier set one on hop 2
      end
      assert.equal(4, #t.sent)
      assert.equal(CARRIER_URL .. "/phone_check/v0.2/checks/", t.sent[3].url:match("^(.*/checks/)"))
      assert.truthy(t.sent[3].url:match("/result$")) -- the relative Location, resolved
      for _, spec in ipairs(t.sent) do
        assert.equal("GET", spec.method)
        assert.same({ "Accept", "User-Agent" }, (function()
          local names = {}
          for k in pairs(spec.headers) do names[#names + 1] = k end
          table.sort(names)
          return names
        end)())
      end
    end)

    it("counts redirects against max_redirects", function()
      local req = assert(start(client, SUPPORTED))
      local msg = refused("too_many_redirects", vonage.check_silent_auth(req.check_url, { max_redirects = 2 }))
      assert.equal("check_silent_auth: more than 2 redirects", msg)
      assert(vonage.check_silent_auth(req.check_url, { max_redirects = 3 }))
    end)

    it("works over TLS with the sandbox's CA, and refuses without it", function()
      local tls_client = H.client { api_host = H.tls_url, ca_file = H.ca }
      local req = assert(start(tls_client, SUPPORTED))
      assert.truthy(req.check_url:match("^https://localhost:"))
      refused("tls_verify", vonage.check_silent_auth(req.check_url, { ca_file = H.other_ca }))
      local result = assert(vonage.check_silent_auth(req.check_url,
                                                    { ca_file = H.ca, expected_request_id = req.request_id }))
      assert.equal("completed", req:check(result.code))
    end)

    it("binds to the interface it is given", function()
      local req = assert(start(client, SUPPORTED))
      assert(vonage.check_silent_auth(req.check_url, { interface = "lo" }))
      local msg, err = refused("network", vonage.check_silent_auth(req.check_url, { interface = "nosuchif0" }))
      assert.equal("transport", err.kind)
      assert.truthy(msg:find("nosuchif0", 1, true))
    end)

    it("refuses a request_id other than the expected one, without the code in the message", function()
      local req = assert(start(client, SUPPORTED))
      local msg, err = refused("request_id_mismatch",
        vonage.check_silent_auth(req.check_url, { expected_request_id = OTHER_ID }))
      assert.truthy(msg:find("man-in-the-middle", 1, true))
      assert.falsy(msg:find(stored(req.request_id).silent_auth_code, 1, true))
      assert.equal(200, err.status)
    end)

    it("refuses a redirect loop", function()
      H.fault { path = "/loop/a", status = 302, headers = { Location = "/loop/b" }, body = "" }
      H.fault { path = "/loop/b", status = 302, headers = { Location = "../loop/a" }, body = "" }
      local msg = refused("redirect_loop", vonage.check_silent_auth(H.url .. "/loop/a"))
      assert.equal("check_silent_auth: redirect 2 to " .. H.url .. " leads back to an earlier hop", msg)
    end)

    it("refuses a redirect to plain http on a host that is not loopback", function()
      local msg, err = refused("insecure_redirect", check_via_hop("http://carrier.example/x?t=secret"))
      assert.equal("transport", err.kind)
      assert.truthy(msg:find("redirect 1 to http://carrier.example is refused", 1, true))
      assert.falsy(msg:find("secret", 1, true))
    end)

    it("refuses a redirect to another scheme", function()
      refused("insecure_redirect", check_via_hop("file:///etc/passwd"))
      local msg = refused("insecure_redirect", check_via_hop("ftp://127.0.0.1/x", 307))
      assert.truthy(msg:find("ftp://127.0.0.1", 1, true))
    end)

    it("refuses a check_url that is not https or loopback http", function()
      refused("insecure_redirect", vonage.check_silent_auth("http://api.example/v2/verify/x/silent-auth/redirect"))
      refused("invalid_params", vonage.check_silent_auth("/relative/only"))
    end)

    it("refuses a final answer without a code, or with a malformed one", function()
      local id = OTHER_ID
      H.fault { path = "/final", body = cjson.encode { request_id = id } }
      local msg, err = refused("bad_response", vonage.check_silent_auth(H.url .. "/final"))
      assert.equal("check_silent_auth: the final answer has no valid code", msg)
      assert.equal("http", err.kind)
      H.fault { path = "/final", body = cjson.encode { request_id = id, code = "a b" } }
      refused("bad_response", vonage.check_silent_auth(H.url .. "/final"))
      H.fault { path = "/final", body = cjson.encode { code = "abcd" } }
      refused("bad_response", vonage.check_silent_auth(H.url .. "/final"))
      H.fault { path = "/final", body = "not json" }
      refused("bad_response", vonage.check_silent_auth(H.url .. "/final"))
      H.fault { path = "/final", status = 302, body = "" } -- a redirect without Location
      refused("bad_response", vonage.check_silent_auth(H.url .. "/final"))
    end)

    it("caps the body and times out each hop", function()
      H.fault { path = "/big", body_bytes = 70000 }
      refused("body_too_large", vonage.check_silent_auth(H.url .. "/big"))
      H.fault { path = "/slow", delay = 1 }
      refused("timeout", vonage.check_silent_auth(H.url .. "/slow", { timeout_ms = 100 }))
    end)

    it("raises on misuse", function()
      assert.has_error(function() vonage.check_silent_auth(42) end)
      assert.has_error(function() vonage.check_silent_auth("https://x", { max_redirect = 1 }) end)
      assert.has_error(function() vonage.check_silent_auth("https://x", { max_redirects = 99 }) end)
      assert.has_error(function() vonage.check_silent_auth("https://x", { expected_request_id = 1 }) end)
    end)
  end)

  describe("the final redirect to redirect_url", function()
    it("carries request_id and code in the fragment, and is not fetched", function()
      local req = assert(start(client, SUPPORTED, { redirect_url = "https://app.example/sa/done" }))
      local t = H.recording_transport()
      local result = assert(vonage.check_silent_auth(req.check_url,
                                                    { transport = t, expected_request_id = req.request_id }))
      assert.equal(req.request_id, result.request_id)
      assert.equal(stored(req.request_id).silent_auth_code, result.code)
      assert.equal(4, #t.sent) -- app.example never contacted
      refused("request_id_mismatch", vonage.check_silent_auth(req.check_url, { expected_request_id = OTHER_ID }))
    end)

    it("carries the error_description of a failed check", function()
      local cases = { [MSISDN_MISMATCH] = "msisdn_mismatch", [NOT_CELLULAR] = "not_cellular",
                      [PRECONDITION_FAILED] = "silent_auth_failed" }
      for number, code in pairs(cases) do
        local req = assert(start(client, number, { redirect_url = "https://app.example/sa" }))
        local msg, err = refused(code, vonage.check_silent_auth(req.check_url))
        assert.equal("api", err.kind)
        assert.equal(302, err.status)
        assert.truthy(msg:find("^check_silent_auth: [%u][%w ]+%.$"), msg)
      end
    end)

    it("holds the final redirect to the same policy as every hop", function()
      refused("insecure_redirect", check_via_hop("http://app.example/#request_id=" .. OTHER_ID .. "&code=abcd"))
    end)

    it("is refused by the sandbox when it has a fragment of its own", function()
      local _, err = refused("invalid_params", start(client, SUPPORTED, { redirect_url = "https://app.example/#x" }))
      assert.same({ name = "workflow[0]", reason = "`redirect_url` must be an https URL without a fragment" },
                  err.invalid_parameters[1])
    end)

    it("refuses a fragment with a repeated field", function()
      refused("bad_response", check_via_hop("https://app.example/#request_id=" .. OTHER_ID .. "&code=abcd&code=efgh"))
    end)
  end)

  describe("the sandbox's test numbers", function()
    it("fails an unsupported network at start when coverage_check is on and there is no fallback", function()
      local msg, err = refused("network_not_supported", start(client, NETWORK_NOT_SUPPORTED))
      assert.equal(412, err.status)
      assert.equal("api", err.kind)
      assert.truthy(msg:find("Network not supported", 1, true))
      assert.equal(0, #H.outbox(NETWORK_NOT_SUPPORTED))
    end)

    it("falls back at once on an unsupported network when the workflow has a fallback", function()
      local req = assert(start(client, NETWORK_NOT_SUPPORTED, nil, true))
      assert.is_nil(req.check_url)
      local record = stored(req.request_id)
      assert.equal("sms", record.channel)
      assert.equal("failed", record.workflow[1].status)
      assert.equal(1, #H.outbox(NETWORK_NOT_SUPPORTED, "sms"))
      assert.equal("completed", req:check(H.last_code(NETWORK_NOT_SUPPORTED)))
    end)

    it("returns a check_url with coverage_check off; the device then learns the network is unsupported", function()
      local req = assert(start(client, NETWORK_NOT_SUPPORTED, { coverage_check = false }, true))
      assert.truthy(req.check_url)
      local _, err = refused("network_not_supported", vonage.check_silent_auth(req.check_url))
      assert.equal(412, err.status)
      -- the step failed; the fallback waits for the 60 s timeout (or next_workflow)
      -- (the virtual clock also runs in real time: a slow run spends seconds here)
      assert.equal(0, #H.outbox(NETWORK_NOT_SUPPORTED))
      H.advance(50)
      assert.equal(0, #H.outbox(NETWORK_NOT_SUPPORTED))
      H.advance(10)
      assert.equal(1, #H.outbox(NETWORK_NOT_SUPPORTED, "sms"))
      assert.equal("failed", stored(req.request_id).workflow[1].status)
    end)

    it("answers each device-side error the same whatever coverage_check says", function()
      local cases = { [MSISDN_MISMATCH] = "msisdn_mismatch", [NOT_CELLULAR] = "not_cellular",
                      [PRECONDITION_FAILED] = "precondition_failed" }
      for number, code in pairs(cases) do
        for _, coverage in ipairs { true, false } do
          H.reset()
          local req = assert(start(client, number, { coverage_check = coverage }))
          local _, err = refused(code, vonage.check_silent_auth(req.check_url))
          assert.equal(412, err.status)
          assert.equal("api", err.kind)
          assert.is_string(err.detail)
        end
      end
    end)

    it("follows the virtual operator: even completes, odd is user_rejected, 99 fails", function()
      local req = assert(start(client, "9901234562"))
      local result = assert(vonage.check_silent_auth(req.check_url, { expected_request_id = req.request_id }))
      assert.equal("completed", req:check(result.code))

      req = assert(start(client, "9901234563", nil, true))
      local _, err = refused("user_rejected", vonage.check_silent_auth(req.check_url))
      assert.equal(403, err.status)
      assert(req:next_workflow())
      assert.equal("user_rejected", stored(req.request_id).workflow[1].status)

      req = assert(start(client, "9901234599"))
      refused("precondition_failed", vonage.check_silent_auth(req.check_url))
      H.advance(60)
      local record = stored(req.request_id)
      assert.equal("failed", record.status)
      assert.equal("failed", record.workflow[1].status)
    end)

    it("moves an expired silent-auth step to the next channel after 60 s, whatever channel_timeout says", function()
      local req = assert(client:start_verification { brand = "ACME", channel_timeout = 300,
        workflow = { vonage.silent_auth { to = SUPPORTED }, vonage.sms { to = SUPPORTED } } })
      H.advance(60)
      local record = stored(req.request_id)
      assert.equal("expired", record.workflow[1].status)
      assert.equal("sms", record.channel)
      refused("not_found", vonage.check_silent_auth(req.check_url))
    end)
  end)

  describe("checking a silent-auth code", function()
    it("has no code to check before the device fetched one", function()
      local req = assert(start(client, SUPPORTED))
      local _, err = refused("no_code", req:check("abcd"))
      assert.equal(409, err.status)
    end)

    it("allows one try: the right code completes, and a second check is refused", function()
      local req = assert(start(client, SUPPORTED))
      local result = assert(vonage.check_silent_auth(req.check_url))
      assert.equal("completed", req:check(result.code))
      refused("not_found", req:check(result.code))
    end)

    it("allows one try: a wrong code ends the step, and the right one no longer counts", function()
      local req = assert(start(client, SUPPORTED, nil, true))
      local result = assert(vonage.check_silent_auth(req.check_url))
      refused("invalid_code", req:check(result.code == "abcdef" and "abcdeg" or "abcdef"))
      refused("no_code", req:check(result.code))
      assert(req:next_workflow())
      assert.equal("completed", req:check(H.last_code(SUPPORTED)))
    end)

    it("fails the request on a wrong code when there is no fallback", function()
      local req = assert(start(client, SUPPORTED))
      local result = assert(vonage.check_silent_auth(req.check_url))
      refused("too_many_attempts", req:check(result.code == "abcdef" and "abcdeg" or "abcdef"))
      assert.equal("failed", stored(req.request_id).status)
    end)
  end)

  describe("the flow with fast fallback", function()
    local function workflow(to)
      return { brand = "ACME", workflow = { vonage.silent_auth { to = to }, vonage.sms { to = to } } }
    end

    it("completes with the device's code", function()
      local flow = assert(client:start_silent_auth(workflow(SUPPORTED)))
      assert.equal("silent_auth_pending", flow.state)
      assert.equal("vonage.silent_auth_flow " .. flow.request_id .. " (silent_auth_pending, silent_auth)",
                   tostring(flow))
      local state = flow:device_result(vonage.check_silent_auth(flow.check_url,
                                                                { expected_request_id = flow.request_id }))
      assert.equal("completed", state)
      assert.equal("completed", stored(flow.request_id).status)
      assert.equal(0, #H.outbox(SUPPORTED))
    end)

    it("moves to SMS at once when the device fails, then takes the code from the outbox", function()
      local to = "9907700003" -- user_rejected
      local flow = assert(client:start_silent_auth(workflow(to)))
      assert.equal("code_pending", flow:device_result(vonage.check_silent_auth(flow.check_url)))
      assert.equal("sms", flow.channel)
      assert.equal("user_rejected", flow.reason)
      local record = stored(flow.request_id)
      assert.equal("sms", record.channel)
      assert.equal("user_rejected", record.workflow[1].status)
      local code = H.last_code(to)
      -- a web app keeps the flow between HTTP requests
      local saved = flow:to_table()
      assert.same({ state = "code_pending", request_id = flow.request_id, check_url = flow.check_url,
                    channels = { "silent_auth", "sms" }, channel_index = 2, reason = "user_rejected" }, saved)
      local resumed = assert(client:resume_silent_auth(cjson.decode(cjson.encode(saved))))
      assert.equal(tostring(flow), tostring(resumed))
      local _, _, err = resumed:check(code == "0000" and "1111" or "0000")
      assert.equal("invalid_code", err.code)
      assert.equal("code_pending", resumed.state)
      assert.equal("completed", resumed:check(code))
      assert.equal("vonage.silent_auth_flow " .. flow.request_id .. " (completed, sms)", tostring(resumed))
    end)

    it("falls back when the device's answer is for another request", function()
      local flow = assert(client:start_silent_auth(workflow(SUPPORTED)))
      assert.equal("code_pending", flow:device_result({ request_id = OTHER_ID, code = "abcd" }))
      assert.equal("request_id_mismatch", flow.reason)
      assert.equal(1, #H.outbox(SUPPORTED, "sms"))
    end)

    it("falls back when the silent-auth code is refused", function()
      local flow = assert(client:start_silent_auth(workflow(SUPPORTED)))
      local result = assert(vonage.check_silent_auth(flow.check_url))
      result.code = result.code == "abcdef" and "abcdeg" or "abcdef"
      assert.equal("code_pending", flow:device_result(result))
      assert.equal("invalid_code", flow.reason)
      assert.equal("completed", flow:check(H.last_code(SUPPORTED)))
    end)

    it("starts in code_pending when the coverage check already fell back", function()
      local flow = assert(client:start_silent_auth(workflow(NETWORK_NOT_SUPPORTED)))
      assert.equal("code_pending", flow.state)
      assert.is_nil(flow.check_url)
      assert.equal("completed", flow:check(H.last_code(NETWORK_NOT_SUPPORTED)))
    end)

    it("fails when silent auth was the only channel", function()
      local flow = assert(client:start_silent_auth {
        brand = "ACME", workflow = { vonage.silent_auth { to = MSISDN_MISMATCH } } })
      assert.equal("failed", flow:device_result(vonage.check_silent_auth(flow.check_url)))
      assert.equal("msisdn_mismatch", flow.reason)
      assert.equal("vonage.silent_auth_flow " .. flow.request_id .. " (failed, msisdn_mismatch)", tostring(flow))
      local _, msg, err = flow:check("1234")
      assert.equal("wrong_state", err.code)
      assert.equal("check: the flow is failed, not code_pending", msg)
    end)

    it("refuses saved state that is not a flow's", function()
      refused("invalid_params", client:resume_silent_auth { state = "done", request_id = OTHER_ID })
      refused("invalid_params", client:resume_silent_auth { state = "code_pending", request_id = "x" })
      refused("invalid_params", client:resume_silent_auth {
        state = "code_pending", request_id = OTHER_ID, channels = { "silent_auth", "sms" }, channel_index = 3 })
      assert.has_error(function()
        client:start_silent_auth { brand = "ACME", workflow = { vonage.sms { to = SUPPORTED } } }
      end)
    end)
  end)

  describe("asynchronous mode", function()
    local SECRET = "silent-auth-spec-secret-0123456789"

    local sunk, deliveries = H.sunk, H.deliveries

    before_each(function()
      assert.equal(200, (H.control("POST", "/_sandbox/callbacks",
        { url = H.url .. "/_sink/hook", signature_secret = SECRET })))
    end)

    it("POSTs action_pending with the check_url to the application's callback URL", function()
      local req = assert(start(client, SUPPORTED, { coverage_check = false }))
      local delivered = sunk(1)[1]
      local event = cjson.decode(delivered.body)
      local verified = assert(vonage.webhook.verify(delivered.body, delivered.authorization,
                                                    { signature_secret = SECRET }))
      assert.equal(req.check_url, verified.check_url)
      assert.equal("action_pending", event.status)
      assert.equal("silent_auth", event.channel)
      assert.equal("event", event.type)
      assert.equal(req.request_id, event.request_id)
      -- An array of actions, as the reference's webhook shows it.
      assert.same({ { type = "check", check_url = req.check_url } }, event.action)
      local result = assert(vonage.check_silent_auth(event.action[1].check_url,
                                                    { expected_request_id = req.request_id }))
      assert.equal("completed", req:check(result.code))
      local statuses = {}
      for _, d in ipairs(sunk(3)) do statuses[#statuses + 1] = cjson.decode(d.body).status end
      assert.same({ "action_pending", "completed", "completed" }, statuses) -- event, then summary
    end)

    it("POSTs failed when the device's check fails, and when the pre-check falls back", function()
      local req = assert(start(client, MSISDN_MISMATCH, nil, true))
      refused("msisdn_mismatch", vonage.check_silent_auth(req.check_url))
      local events = sunk(2)
      local failed = cjson.decode(events[2].body)
      assert.same({ req.request_id, "silent_auth", "failed", "event" },
                  { failed.request_id, failed.channel, failed.status, failed.type })

      local fell_back = assert(start(client, NETWORK_NOT_SUPPORTED, nil, true))
      local pre = cjson.decode(sunk(3)[3].body)
      assert.same({ fell_back.request_id, "silent_auth", "failed" }, { pre.request_id, pre.channel, pre.status })
      assert.is_nil(pre.action)
    end)

    it("sends nothing for requests made with Basic auth", function()
      local req = assert(start(H.basic_client(), SUPPORTED))
      assert.truthy(req.check_url)
      assert(vonage.check_silent_auth(req.check_url))
      assert.equal(0, #deliveries())
    end)
  end)
end)
