local vonage = require "vonage"
local H = require "spec.helper"

local function start(client, to, extra)
  local params = { brand = "ACME", workflow = { vonage.sms { to = to }, vonage.voice { to = to } } }
  for k, v in pairs(extra or {}) do params[k] = v end
  return client:start_verification(params)
end

describe("Verify v2 over HTTP to the sandbox", function()
  local client
  before_each(function()
    H.reset()
    client = H.client()
  end)

  it("starts a verification and returns a printable request handle", function()
    local req, msg = start(client, "447700900001")
    assert.is_nil(msg)
    assert.equal("vonage.request", getmetatable(req))
    assert.truthy(req.request_id:match("^%x+%-%x+%-%x+%-%x+%-%x+$"))
    assert.equal("sms", req.channel)
    assert.equal("pending", req.status)
    assert.is_nil(req.check_url)
    assert.equal("vonage.request " .. req.request_id .. " (sms, pending)", tostring(req))
  end)

  it("sends only the fields the caller set, with the workflow in order", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    assert.truthy(start(c, "447700900002", { client_ref = "order-42" }))
    local sent = require("cjson").decode(t.sent[1].body)
    assert.same({ "brand", "client_ref", "workflow" }, (function()
      local keys = {}
      for k in pairs(sent) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end)())
    assert.same({ channel = "sms", to = "447700900002" }, sent.workflow[1])
    assert.same({ channel = "voice", to = "447700900002" }, sent.workflow[2])
    assert.equal("POST", t.sent[1].method)
    assert.equal(H.url .. "/v2/verify", t.sent[1].url)
  end)

  it("completes with the code from the outbox", function()
    local req = assert(start(client, "447700900003"))
    local code = H.last_code("447700900003")
    assert.truthy(code and code:match("^%d%d%d%d$"))
    local status, msg = req:check(code)
    assert.is_nil(msg)
    assert.equal("completed", status)
    assert.equal("completed", req.status)
    assert.equal("vonage.request " .. req.request_id .. " (sms, completed)", tostring(req))
  end)

  it("honours code_length and a custom code", function()
    assert.truthy(start(client, "447700900004", { code_length = 8 }))
    assert.truthy(H.last_code("447700900004"):match("^%d%d%d%d%d%d%d%d$"))
    assert.truthy(start(client, "447700900005", { code = "ab12CD" }))
    assert.equal("ab12CD", H.last_code("447700900005"))
  end)

  it("gives invalid_code twice, then too_many_attempts on the third wrong code", function()
    local req = assert(start(client, "447700900006"))
    local wrong = H.last_code("447700900006") == "0000" and "1111" or "0000"
    for _ = 1, 2 do
      local ok, msg, err = req:check(wrong)
      assert.is_nil(ok)
      assert.equal("api", err.kind)
      assert.equal("invalid_code", err.code)
      assert.equal(400, err.status)
      assert.truthy(msg:find("check: HTTP 400", 1, true))
      assert.truthy(err.type:find("#invalid%-code$"))
    end
    local ok, msg, err = req:check(wrong)
    assert.is_nil(ok)
    assert.equal("too_many_attempts", err.code)
    assert.equal(410, err.status)
    assert.truthy(msg:find("too many times", 1, true))
    assert.equal("failed", req.status)
    -- the right code no longer helps: the workflow is over
    local _, _, err2 = req:check(H.last_code("447700900006"))
    assert.equal("too_many_attempts", err2.code)
  end)

  it("refuses a second verification to the same number with the in-flight request_id", function()
    local first = assert(start(client, "447700900007"))
    local req, msg, err = start(client, "447700900007")
    assert.is_nil(req)
    assert.equal("concurrent", err.code)
    assert.equal(409, err.status)
    assert.equal(first.request_id, err.request_id)
    assert.truthy(msg:find("Concurrent verifications", 1, true))
  end)

  it("cancels, after which the number is free and the id is gone", function()
    local req = assert(start(client, "447700900008"))
    H.advance(30) -- the API takes a cancel only from 30 s after the start
    assert.is_true(req:cancel())
    assert.equal("cancelled", req.status)
    local again, msg, err = req:cancel()
    assert.is_nil(again)
    assert.equal("not_found", err.code)
    assert.equal(404, err.status)
    assert.truthy(msg:find("^cancel: HTTP 404"))
    assert.truthy(start(client, "447700900008"))
  end)

  it("says why a cancel is refused once the second channel has started", function()
    local req = assert(start(client, "447700900009"))
    assert.is_true(req:next_workflow())
    H.advance(30) -- past the first 30 s, so the second event is what refuses it
    local ok, msg, err = req:cancel()
    assert.is_nil(ok)
    assert.equal(409, err.status)
    assert.equal("api", err.kind)
    assert.equal("cancel_too_late", err.code)
    assert.truthy(#msg > #"cancel: HTTP 409")
  end)

  it("says a cancel in the first 30 seconds is too early, and takes it after them", function()
    local req = assert(start(client, "447700900019"))
    local ok, _, err = req:cancel()
    assert.is_nil(ok)
    assert.equal(409, err.status)
    assert.equal("cancel_too_early", err.code)
    assert.equal("pending", req.status)
    H.advance(30)
    assert.is_true(req:cancel())
  end)

  it("moves to the next channel on next_workflow, then has none left", function()
    local req = assert(start(client, "447700900010"))
    assert.is_true(req:next_workflow())
    assert.equal("voice", req.channel)
    local voice = H.outbox("447700900010", "voice")
    assert.equal(1, #voice)
    assert.equal(req.request_id, voice[1].request_id)
    local ok, msg, err = req:next_workflow()
    assert.is_nil(ok)
    assert.equal("no_more_workflows", err.code)
    assert.equal(409, err.status)
    assert.truthy(msg:find("^next_workflow: HTTP 409"))
    -- the code sent by voice still completes the request
    assert.equal("completed", req:check(voice[1].code))
  end)

  it("falls back to the next channel when channel_timeout passes", function()
    assert.truthy(start(client, "447700900011", { channel_timeout = 60 }))
    assert.equal(0, #H.outbox("447700900011", "voice"))
    H.advance(61)
    assert.equal(1, #H.outbox("447700900011", "voice"))
  end)

  it("reports an unknown request as not_found", function()
    local req = client:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f")
    assert.equal("vonage.request 0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f (unknown, unknown)", tostring(req))
    local ok, _, err = req:check("1234")
    assert.is_nil(ok)
    assert.equal("not_found", err.code)
    local _, _, err2 = req:next_workflow()
    assert.equal("not_found", err2.code)
  end)

  it("works on a stored request_id through client:request", function()
    local req = assert(start(client, "447700900012"))
    local again = client:request(req.request_id)
    assert.equal(req, again)
    assert.equal("completed", again:check(H.last_code("447700900012")))
  end)

  it("works with Basic credentials", function()
    local c = H.basic_client()
    assert.equal("basic", c.auth)
    local req = assert(start(c, "447700900013"))
    assert.equal("completed", req:check(H.last_code("447700900013")))
    local log = H.log()
    assert.equal("basic", log[#log].auth)
  end)

  it("maps bad credentials to an auth error, and the client stays usable", function()
    local bad = H.basic_client { api_secret = "wrong-secret-000" }
    local req, msg, err = start(bad, "447700900014")
    assert.is_nil(req)
    assert.equal("auth", err.kind)
    assert.equal("unauthorized", err.code)
    assert.equal(401, err.status)
    assert.falsy(msg:find("wrong-secret-000", 1, true))
    assert.truthy(start(client, "447700900014"))
  end)

  it("maps a JWT signed by a key the sandbox does not know to 401", function()
    -- register a different public key for our application id
    local other = os.tmpname()
    os.execute("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null"
               .. " | openssl pkey -pubout -out " .. other)
    H.control("POST", "/_sandbox/applications",
              { application_id = H.APP_ID, public_key = H.read(other) })
    os.remove(other)
    local _, _, err = start(client, "447700900015")
    assert.equal(401, err.status)
    assert.equal("auth", err.kind)
  end)

  it("keeps the API's 422 problem with its invalid_parameters", function()
    H.fault { method = "POST", path = "/v2/verify", status = 422, times = 1,
      headers = { ["Content-Type"] = "application/problem+json" },
      body = [[{"type":"https://www.developer.vonage.com/api-errors#invalid-params",
        "title":"Invalid params","detail":"The value of one or more parameters is invalid",
        "instance":"bf0ca0bf927b3b52e3cb03217e1a1ddf",
        "invalid_parameters":[{"name":"brand","reason":"Brand is not allowed"}]}]] }
    local req, msg, err = start(client, "447700900016")
    assert.is_nil(req)
    assert.equal("invalid_params", err.code)
    assert.equal("api", err.kind)
    assert.equal(422, err.status)
    assert.equal("Invalid params", err.title)
    assert.equal("bf0ca0bf927b3b52e3cb03217e1a1ddf", err.instance)
    assert.same({ { name = "brand", reason = "Brand is not allowed" } }, err.invalid_parameters)
    assert.truthy(msg:find("brand: Brand is not allowed", 1, true))
  end)

  it("maps 429 to rate_limited and a 5xx without a problem body to kind http", function()
    H.fault { method = "POST", path = "/v2/verify", status = 429, times = 1, body = "" }
    local _, _, err = start(client, "447700900017")
    assert.equal("rate_limited", err.code)
    H.fault { method = "POST", path = "/v2/verify", status = 503, times = 1, body = "<html>down</html>" }
    local _, msg, err2 = start(client, "447700900017")
    assert.equal("http", err2.kind)
    assert.equal("server_error", err2.code)
    assert.equal(503, err2.status)
    assert.equal("start_verification: HTTP 503", msg)
  end)

  it("refuses a 2xx answer without a valid request_id", function()
    H.fault { method = "POST", path = "/v2/verify", status = 202, times = 1,
              body = [[{"request_id":"../../v1/account"}]] }
    local req, msg, err = start(client, "447700900018")
    assert.is_nil(req)
    assert.equal("bad_response", err.code)
    assert.truthy(msg:find("without a valid request_id", 1, true))
    H.fault { method = "POST", path = "/v2/verify", status = 202, times = 1, body = "not json" }
    local _, _, err2 = start(client, "447700900018")
    assert.equal("bad_response", err2.code)
  end)
end)
