-- The client against the live API's own answers, as the official SDKs' test
-- fixtures record them, served byte for byte by a loopback server.
local vonage = require "vonage"
local cjson = require "cjson"
local H = require "spec.helper"

-- vonage-python-sdk tests/data/verify2/error_conflict.json (served with 409 by
-- test_new_request_error_conflict); the node and java SDKs' fixtures hold the
-- same body.
local LIVE_CONFLICT = [[{
    "title": "Conflict",
    "type": "https://www.developer.vonage.com/api-errors/verify#conflict",
    "detail": "Concurrent verifications to the same number are not allowed.",
    "instance": "738f9313-418a-4259-9b0d-6670f06fa82d",
    "request_id": "575a2054-aaaf-4405-994e-290be7b9a91f"
}]]

-- The reference's #concurrent slug (verify-v2-api-reference.txt, errors).
local REFERENCE_CONCURRENT = cjson.encode {
  title = "Conflict",
  type = "https://developer.vonage.com/api-errors/verify#concurrent",
  detail = "Concurrent verifications to the same number are not allowed.",
  instance = "bf0ca0bf927b3b52e3cb03217e1a1ddf",
  request_id = "c11236f4-00bf-4b89-84ba-88b25df97315",
}

local PROBLEM = { ["Content-Type"] = "application/problem+json" }
local REQ_ID = "c11236f4-00bf-4b89-84ba-88b25df97315"

describe("the client against the live API's answers", function()
  local server
  after_each(function()
    if server then server.stop() end
    server = nil
  end)

  local function client_for(script)
    server = H.hostile(script)
    return vonage.client { api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = server.url,
                           retries = 0 }
  end

  local function start(client)
    return client:start_verification { brand = "ACME",
                                       workflow = { vonage.sms { to = "447700900000" } } }
  end

  it("names the live #conflict 409 of a start concurrent, with the request in flight", function()
    local client = client_for { { status = 409, reason = "Conflict", body = LIVE_CONFLICT, headers = PROBLEM } }
    local req, msg, err = start(client)
    assert.is_nil(req)
    assert.equal("concurrent", err.code)
    assert.equal("api", err.kind)
    assert.equal(409, err.status)
    assert.equal("575a2054-aaaf-4405-994e-290be7b9a91f", err.request_id)
    assert.equal("738f9313-418a-4259-9b0d-6670f06fa82d", err.instance)
    assert.truthy(msg:find("Concurrent verifications to the same number", 1, true))
    assert.equal(1, #server.requests())
  end)

  it("names the reference's #concurrent 409 the same way", function()
    local client = client_for { { status = 409, reason = "Conflict", body = REFERENCE_CONCURRENT, headers = PROBLEM } }
    local _, _, err = start(client)
    assert.equal("concurrent", err.code)
    assert.equal(REQ_ID, err.request_id)
  end)

  it("gives a cancel refused after the second event its own code", function()
    local body = cjson.encode {
      title = "Conflict",
      type = "https://www.developer.vonage.com/api-errors/verify#conflict",
      detail = "Verification cannot be cancelled after the second event (either TTS or SMS) has taken place.",
      instance = "738f9313-418a-4259-9b0d-6670f06fa82d",
    }
    local client = client_for { { status = 409, reason = "Conflict", body = body, headers = PROBLEM } }
    local ok, msg, err = client:request(REQ_ID):cancel()
    assert.is_nil(ok)
    assert.equal("cancel_too_late", err.code)
    assert.equal(409, err.status)
    assert.truthy(msg:find("second event", 1, true))
    assert.equal("DELETE", server.requests()[1].method)
  end)
end)

describe("field names of invalid parameters", function()
  -- silent-auth-async-guide.txt: the API's 422 for a malformed number.
  local GUIDE_422 = [[{
  "title": "Invalid params",
  "detail": "The value of one or more parameters is invalid",
  "instance": "b30db5a7-338e-402e-aa5a-40073a9aa07c",
  "type": "https://developer.vonage.com/en/api-errors#invalid-params",
  "invalid_parameters": [
    {
      "name": "workflow[0]",
      "reason": "`to` Phone number is invalid"
    }
  ]
}]]

  -- The one handler a caller writes: which workflow step is wrong.
  local function step_of(err)
    return tonumber(err.invalid_parameters[1].name:match("^workflow%[(%d+)%]"))
  end

  it("index the workflow from 0 locally, as the API's 422 does", function()
    local server = H.hostile { { status = 422, reason = "Unprocessable Entity", body = GUIDE_422,
                                 headers = { ["Content-Type"] = "application/problem+json" } } }
    local remote = vonage.client { api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = server.url }
    local _, _, api_err = remote:start_verification { brand = "ACME",
      workflow = { vonage.sms { to = "447700900000" } } }
    server.stop()
    local _, _, local_err = remote:start_verification { brand = "ACME",
      workflow = { vonage.sms { to = "12" } } }
    assert.equal("invalid_params", api_err.code)
    assert.equal("invalid_params", local_err.code)
    assert.equal("workflow[0]", api_err.invalid_parameters[1].name)
    assert.equal("workflow[0].to", local_err.invalid_parameters[1].name)
    assert.equal(0, step_of(api_err))
    assert.equal(0, step_of(local_err))
    local _, _, second = remote:start_verification { brand = "ACME",
      workflow = { vonage.sms { to = "447700900000" }, vonage.voice { to = "12" } } }
    assert.equal(1, step_of(second))
  end)
end)

describe("a silent-auth error in the redirect's fragment", function()
  local server
  after_each(function()
    if server then server.stop() end
    server = nil
  end)

  local function redirected_to(location)
    server = H.hostile { { status = 302, reason = "Found", body = "", headers = { Location = location } } }
    return vonage.check_silent_auth(server.url .. "/v2/verify/" .. REQ_ID .. "/silent-auth/redirect",
                                    { expected_request_id = REQ_ID })
  end

  -- verify-v2-api-reference.txt prints the fragment with raw spaces:
  -- ...your-callback-route#error_description=The silent auth verification cannot be completed.
  it("reads an error_description with raw spaces, as the reference prints it", function()
    local ok, msg, err = redirected_to("/silent-auth/your-callback-route"
      .. "#error_description=The silent auth verification cannot be completed.")
    assert.is_nil(ok)
    assert.equal("silent_auth_failed", err.code)
    assert.equal("The silent auth verification cannot be completed.", err.detail)
    assert.equal("check_silent_auth: The silent auth verification cannot be completed.", msg)
    assert.equal(1, #server.requests()) -- the redirect_url itself is not fetched
  end)

  it("names the reference's causes in that form too", function()
    local _, _, err = redirected_to("/cb#error_description=Device MSISDN does not match.")
    assert.equal("msisdn_mismatch", err.code)
  end)

  it("still refuses a space before the fragment", function()
    local _, _, err = redirected_to("/cb path#error_description=x")
    assert.equal("bad_response", err.code)
  end)
end)
