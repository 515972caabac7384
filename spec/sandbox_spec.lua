-- Specs for the sandbox itself, spoken over plain HTTP with luasocket so they
-- depend on nothing from the client. They mint their own RS256 JWTs with the
-- openssl CLI: a third crypto path, next to the client's and the sandbox's.
local http = require "socket.http"
local ltn12 = require "ltn12"
local mime = require "mime"
local cjson = require "cjson"
local H = require "spec.helper"

local BASE = H.url
local APP_ID = "0f6a5d3e-sandbox-spec"
local API_KEY, API_SECRET = "spec-key", "spec-secret"
local PROBLEM = "application/problem+json"
local VERIFY_ERRORS = "https://www.developer.vonage.com/api-errors/verify#"
local INVALID_PARAMS = "https://developer.vonage.com/en/api-errors#invalid-params" -- the async guide's
local NOT_FOUND = "https://developer.vonage.com/api-errors#not-found"             -- the SDK fixtures'
local NV_SCOPE = "dpv:FraudPreventionAndDetection#number-verification-verify-read"
local ISO8601 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.000Z$"

-- request(method, path[, body[, headers]]) -> status, decoded body, headers, raw body
local function request(method, path, body, headers)
  headers = headers or {}
  local payload = body
  if type(body) == "table" then
    payload = cjson.encode(body)
  end
  if payload then
    headers["content-type"] = "application/json"
    headers["content-length"] = tostring(#payload)
  end
  local out = {}
  local _, status, response_headers = http.request {
    method = method,
    url = BASE .. path,
    headers = headers,
    source = payload and ltn12.source.string(payload),
    sink = ltn12.sink.table(out),
  }
  local raw = table.concat(out)
  local ok, decoded = pcall(cjson.decode, raw)
  return status, ok and decoded or nil, response_headers, raw
end

local function spit(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function b64url(data)
  if data == "" then return "" end -- mime.b64 answers nil for no input
  return (mime.b64(data):gsub("=", ""):gsub("%+", "-"):gsub("/", "_"))
end

local function hex(data)
  return (data:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local workdir = os.tmpname()
os.remove(workdir)
assert(os.execute("mkdir -p " .. workdir))
local KEY, PUB = workdir .. "/key.pem", workdir .. "/pub.pem"

-- openssl(args, input) -> output bytes of `openssl args < input`
local function openssl(args, input)
  spit(workdir .. "/in", input)
  os.execute("openssl " .. args .. " -binary -out " .. workdir .. "/out < " .. workdir .. "/in")
  return H.read(workdir .. "/out")
end

-- jwt{ header = ..., claims = ..., sign = fn(signing_input) } with RS256 defaults
local function jwt(opts)
  local now = os.time()
  local claims = { application_id = APP_ID, iat = now, exp = now + 300, jti = tostring(math.random(1e9)) }
  for k, v in pairs(opts and opts.claims or {}) do claims[k] = v end
  local header = opts and opts.header or { alg = "RS256", typ = "JWT" }
  local input = b64url(cjson.encode(header)) .. "." .. b64url(cjson.encode(claims))
  local sign = opts and opts.sign or function(data)
    return openssl("dgst -sha256 -sign " .. KEY, data)
  end
  return input .. "." .. b64url(sign(input)), claims
end

local function bearer(token)
  return { authorization = "Bearer " .. token }
end

local function basic(key, secret)
  return { authorization = "Basic " .. mime.b64(key .. ":" .. secret) }
end

local function start(to, extra)
  local body = { brand = "ACME", workflow = { { channel = "sms", to = to }, { channel = "voice", to = to } } }
  for k, v in pairs(extra or {}) do body[k] = v end
  return request("POST", "/v2/verify", body, basic(API_KEY, API_SECRET))
end

local outbox = H.outbox

describe("vonage_sandbox", function()
  setup(function()
    assert(os.execute("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " .. KEY
      .. " 2>/dev/null && openssl pkey -in " .. KEY .. " -pubout -out " .. PUB))
  end)

  teardown(function()
    os.execute("rm -rf " .. workdir)
  end)

  before_each(function()
    assert.are.equal(200, (request("POST", "/_sandbox/reset")))
    assert.are.equal(200, (request("POST", "/_sandbox/applications",
      { application_id = APP_ID, public_key = H.read(PUB) })))
    assert.are.equal(200, (request("POST", "/_sandbox/accounts",
      { api_key = API_KEY, api_secret = API_SECRET })))
  end)

  describe("control API", function()
    it("moves the virtual clock and forgets the offset on reset", function()
      local _, before = request("GET", "/_sandbox/clock")
      local status, after = request("POST", "/_sandbox/clock", { advance = 3600 })
      assert.are.equal(200, status)
      assert.are.equal(3600, after.offset)
      assert.is_true(after.now - before.now >= 3600 and after.now - before.now <= 3602)
      request("POST", "/_sandbox/reset")
      local _, reset = request("GET", "/_sandbox/clock")
      assert.are.equal(0, reset.offset)
    end)

    it("puts the code it sends in the outbox, and empties it on reset", function()
      local _, started = start("447700900100", { code_length = 6 })
      local messages = outbox("447700900100")
      assert.are.equal(1, #messages)
      assert.are.equal(started.request_id, messages[1].request_id)
      assert.are.equal("sms", messages[1].channel)
      assert.matches("^%d%d%d%d%d%d$", messages[1].code)
      assert.are.equal("Your ACME verification code is " .. messages[1].code, messages[1].text)
      request("POST", "/_sandbox/reset")
      assert.are.same({}, outbox("447700900100"))
    end)

    it("serves an injected fault the given number of times, streaming big bodies chunked", function()
      assert.are.equal(200, (request("POST", "/_sandbox/faults",
        { method = "POST", path = "/v2/verify", status = 200, body_bytes = 2 * 1024 * 1024, chunked = true })))
      local status, _, headers, raw = request("POST", "/v2/verify", {})
      assert.are.equal(200, status)
      assert.are.equal(2 * 1024 * 1024, #raw)
      assert.are.equal("chunked", headers["transfer-encoding"])
      -- Used up: the next request reaches the real endpoint again.
      assert.are.equal(401, (request("POST", "/v2/verify", {})))
    end)
  end)

  describe("authentication", function()
    it("answers a request without credentials with a 401 problem", function()
      local status, body, headers = request("POST", "/v2/verify", {})
      assert.are.equal(401, status)
      assert.are.equal(PROBLEM, headers["content-type"])
      assert.are.equal("https://www.developer.vonage.com/api-errors#unauthorized", body.type)
      assert.are.equal("Unauthorized", body.title)
    end)

    it("refuses JWTs that are unsigned, HMAC-signed, signed by another key or expired", function()
      local other = workdir .. "/other.pem"
      assert(os.execute("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " .. other
        .. " 2>/dev/null"))
      -- Each token, with the reason the sandbox must give for refusing it.
      local cases = {
        { "algorithm", jwt { header = { alg = "none", typ = "JWT" }, sign = function() return "" end } },
        -- The classic confusion attack: the public key used as HMAC secret.
        { "algorithm", jwt { header = { alg = "HS256", typ = "JWT" }, sign = function(data)
          return openssl("dgst -sha256 -mac HMAC -macopt hexkey:" .. hex(H.read(PUB)), data)
        end } },
        { "signature", jwt { sign = function(data) return openssl("dgst -sha256 -sign " .. other, data) end } },
        { "expired", jwt { claims = { exp = os.time() - 1 } } },
        { "application_id", jwt { claims = { application_id = "unknown-app" } } },
      }
      for _, case in ipairs(cases) do
        local status, body = request("POST", "/v2/verify", {}, bearer(case[2]))
        assert.are.equal(401, status)
        assert.are.equal("Unauthorized", body.title)
        assert.matches(case[1], body.detail, 1, true)
      end
      local _, log = request("GET", "/_sandbox/log")
      assert.are.same({}, log.requests)
    end)

    it("accepts an RS256 JWT and logs its jti, and is not fooled by the virtual clock", function()
      local token, claims = jwt()
      request("POST", "/_sandbox/clock", { advance = 86400 })
      assert.are.equal(422, (request("POST", "/v2/verify", {}, bearer(token))))
      local _, log = request("GET", "/_sandbox/log")
      assert.are.equal(1, #log.requests)
      local entry = log.requests[1]
      assert.are.equal("jwt", entry.auth)
      assert.are.equal(claims.jti, entry.jti)
      assert.are.equal(APP_ID, entry.application_id)
      assert.are.equal(422, entry.status)
    end)

    it("accepts Basic credentials only with the registered secret", function()
      assert.are.equal(401, (request("POST", "/v2/verify", {}, basic(API_KEY, "wrong"))))
      assert.are.equal(422, (request("POST", "/v2/verify", {}, basic(API_KEY, API_SECRET))))
    end)
  end)

  describe("Verify v2", function()
    it("answers invalid input with the guide's 422: 0-based step names, one entry per problem", function()
      local status, body, headers = request("POST", "/v2/verify", {
        brand = "AC:ME",
        workflow = { { channel = "sms", to = "+447700900000" }, { channel = "silent_auth", to = "447700900000" } },
        code_length = 3,
      }, basic(API_KEY, API_SECRET))
      assert.are.equal(422, status)
      assert.are.equal(PROBLEM, headers["content-type"])
      assert.are.equal(INVALID_PARAMS, body.type)
      assert.are.equal("Invalid params", body.title)
      assert.are.equal("The value of one or more parameters is invalid", body.detail)
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", body.instance)
      assert.are.same({
        { name = "brand", reason = "must match ^[^/{}:$]*$" },
        { name = "workflow[0]", reason = "`to` Phone number is invalid" },
        { name = "workflow[1]", reason = "`channel` silent_auth can only be the first channel of a workflow" },
        { name = "code_length", reason = "must be an integer between 4 and 10" },
      }, body.invalid_parameters)
    end)

    -- Raw JSON, so a client that stopped checking these locally is caught.
    it("refuses what the API refuses: unknown fields, bad types, channel rules, a template without sms/rcs", function()
      local template = "4ed3027d-8762-44a0-aa3f-c393717413a4"
      local cases = {
        { { colour = "red" }, nil, { name = "colour", reason = "is not a parameter of this request" } },
        { { fraud_check = "no" }, nil, { name = "fraud_check", reason = "must be a boolean" } },
        { {}, { channel = "sms", to = "447700900000", priority = 1 },
          { name = "workflow[0]", reason = "`priority` is not a field of the sms channel" } },
        { {}, { channel = "sms", to = "447700900000", app_hash = "short" },
          { name = "workflow[0]", reason = "`app_hash` must be an Android app hash of 11 characters" } },
        { {}, { channel = "sms", to = "447700900000", from = "A-C-M-E" },
          { name = "workflow[0]", reason = "`from` must be a sender id of 1 to 15 letters, digits or spaces" } },
        { {}, { channel = "sms", to = "447700900000", entity_id = "12ab" },
          { name = "workflow[0]", reason = "`entity_id` must be 1 to 20 digits" } },
        { {}, { channel = "sms", to = "447700900000", content_id = ("1"):rep(21) },
          { name = "workflow[0]", reason = "`content_id` must be 1 to 20 digits" } },
        { {}, { channel = "whatsapp", to = "447700900000", mode = "telepathy" },
          { name = "workflow[0]", reason = "`mode` must be one of: otp_code, zero_tap" } },
        { {}, { channel = "voice", to = "447700900000", redirect_url = "https://app.example/" },
          { name = "workflow[0]", reason = "`redirect_url` is not a field of the voice channel" } },
        { { template_id = template }, { channel = "voice", to = "447700900000" },
          { name = "template_id", reason = "works only when a channel of the workflow is sms or rcs" } },
      }
      for i, case in ipairs(cases) do
        local body = { brand = "ACME", workflow = { case[2] or { channel = "sms", to = "447700900000" } } }
        for k, v in pairs(case[1]) do body[k] = v end
        local status, answer = request("POST", "/v2/verify", body, basic(API_KEY, API_SECRET))
        assert.are.equal(422, status, "case " .. i)
        assert.are.same({ case[3] }, answer.invalid_parameters, "case " .. i)
      end
      -- The rules' good values pass; a template needs one sms or rcs step, not all.
      local created_status, created = request("POST", "/v2/verify/templates", { name = "spec-template" },
        basic(API_KEY, API_SECRET))
      assert.are.equal(200, created_status)
      local status, started = request("POST", "/v2/verify", {
        brand = "ACME", fraud_check = false, template_id = created.template_id,
        workflow = {
          { channel = "sms", to = "447700900001", app_hash = "FA+9qCX9VSu", from = "ACME", entity_id = "1",
            content_id = "2" },
          { channel = "whatsapp", to = "447700900001", mode = "zero_tap" },
        },
      }, basic(API_KEY, API_SECRET))
      assert.are.equal(202, status)
      assert.matches("^%x+%-", started.request_id)
    end)

    it("refuses a second verification to a number in flight with the live 409 #conflict and its request_id", function()
      local _, first = start("447700900200")
      local status, body = start("447700900200")
      assert.are.equal(409, status)
      -- The body of the SDK fixtures (vonage-python-sdk verify2/error_conflict.json).
      assert.are.equal(VERIFY_ERRORS .. "conflict", body.type)
      assert.are.equal("Conflict", body.title)
      assert.are.equal("Concurrent verifications to the same number are not allowed.", body.detail)
      assert.are.equal(first.request_id, body.request_id)
      -- Cancelling (30 s on) frees the number.
      request("POST", "/_sandbox/clock", { advance = 30 })
      assert.are.equal(204, (request("DELETE", "/v2/verify/" .. first.request_id, nil, basic(API_KEY, API_SECRET))))
      assert.are.equal(202, (start("447700900200")))
    end)

    it("refuses a cancel in the first 30 s of the virtual clock and after the second event", function()
      local auth = basic(API_KEY, API_SECRET)
      local _, started = start("447700900210", { channel_timeout = 60 })
      local path = "/v2/verify/" .. started.request_id
      request("POST", "/_sandbox/clock", { advance = 29 })
      local status, body = request("DELETE", path, nil, auth)
      assert.are.equal(409, status)
      assert.are.equal(VERIFY_ERRORS .. "conflict", body.type)
      assert.are.equal("Verification cannot be cancelled in the first 30 seconds after it started", body.detail)
      local _, stored = request("GET", "/_sandbox/requests/" .. started.request_id)
      assert.are.equal("in_progress", stored.status)
      -- The voice call is the second event: too late now.
      request("POST", "/_sandbox/clock", { advance = 31 })
      status, body = request("DELETE", path, nil, auth)
      assert.are.equal(409, status)
      assert.are.equal(VERIFY_ERRORS .. "conflict", body.type)
      assert.are.equal("Verification cannot be cancelled after the second event", body.detail)
      -- Between the two, the cancel is taken.
      local _, other = start("447700900211", { channel_timeout = 60 })
      request("POST", "/_sandbox/clock", { advance = 30 })
      assert.are.equal(204, (request("DELETE", "/v2/verify/" .. other.request_id, nil, auth)))
    end)

    it("lets the demo switch relax the 30 s, until a reset", function()
      local auth = basic(API_KEY, API_SECRET)
      local status, settings = request("POST", "/_sandbox/settings", { cancel_after = 0 })
      assert.are.equal(200, status)
      assert.are.same({ cancel_after = 0 }, settings)
      local _, started = start("447700900220")
      assert.are.equal(204, (request("DELETE", "/v2/verify/" .. started.request_id, nil, auth)))
      assert.are.equal(422, (request("POST", "/_sandbox/settings", { cancel_after = 31 })))
      assert.are.equal(422, (request("POST", "/_sandbox/settings", { cancel_before = 0 })))
      request("POST", "/_sandbox/reset")
      local _, after = request("GET", "/_sandbox/settings")
      assert.are.same({ cancel_after = 30 }, after)
    end)

    it("answers a request it does not know with the SDK fixtures' 404", function()
      local id = "091e717f-8715-41a0-a3f0-cc04912deaa1"
      local status, body = request("POST", "/v2/verify/" .. id, { code = "1234" }, basic(API_KEY, API_SECRET))
      assert.are.equal(404, status)
      assert.are.equal(NOT_FOUND, body.type)
      assert.are.equal("Not Found", body.title)
      assert.are.equal("Request '" .. id .. "' was not found or it has been verified already.", body.detail)
    end)

    it("falls back to the next channel when channel_timeout passes on the virtual clock, then expires", function()
      local _, started = start("447700900300", { channel_timeout = 60 })
      request("POST", "/_sandbox/clock", { advance = 30 })
      assert.are.equal(1, #outbox("447700900300"))
      request("POST", "/_sandbox/clock", { advance = 30 })
      local messages = outbox("447700900300")
      assert.are.equal(2, #messages)
      assert.are.equal("voice", messages[2].channel)
      assert.are.equal(messages[1].at + 60, messages[2].at)
      assert.are.equal(messages[1].code:gsub(".", "%0 "):sub(1, -2),
        messages[2].text:match("code is (.*)$"))
      request("POST", "/_sandbox/clock", { advance = 60 })
      local _, stored = request("GET", "/_sandbox/requests/" .. started.request_id)
      assert.are.equal("expired", stored.status)
      local status, body = request("POST", "/v2/verify/" .. started.request_id,
        { code = messages[1].code }, basic(API_KEY, API_SECRET))
      assert.are.equal(404, status)
      assert.are.equal(NOT_FOUND, body.type)
    end)

    it("terminates the workflow on the third wrong code", function()
      local _, started = start("447700900400")
      local path = "/v2/verify/" .. started.request_id
      local auth = basic(API_KEY, API_SECRET)
      assert.are.equal(400, (request("POST", path, { code = "0000x" }, auth)))
      assert.are.equal(400, (request("POST", path, { code = "0000y" }, auth)))
      local status, body = request("POST", path, { code = "0000z" }, auth)
      assert.are.equal(410, status)
      assert.are.equal(VERIFY_ERRORS .. "expired", body.type)
      -- Even the right code is too late now.
      assert.are.equal(410, (request("POST", path, { code = outbox("447700900400")[1].code }, auth)))
    end)
  end)

  describe("statuses and events", function()
    -- Events go to requests made with the application JWT.
    local function start_jwt(workflow, extra)
      local body = { brand = "ACME", workflow = workflow }
      for k, v in pairs(extra or {}) do body[k] = v end
      return request("POST", "/v2/verify", body, bearer((jwt())))
    end

    local function events(n)
      local out = {}
      for i, got in ipairs(H.sunk(n)) do out[i] = cjson.decode(got.body) end
      return out
    end

    before_each(function()
      assert.are.equal(200, (request("POST", "/_sandbox/callbacks",
        { url = BASE .. "/_sink/hook", signature_secret = "sandbox-spec-signature-secret" })))
    end)

    it("sends silent_auth expired when the 60 s step times out, then falls back", function()
      local _, started = start_jwt({ { channel = "silent_auth", to = "447700900500" },
                                      { channel = "sms", to = "447700900500" } })
      request("POST", "/_sandbox/clock", { advance = 60 })
      local got = events(2)
      assert.are.same({ "action_pending", "expired" }, { got[1].status, got[2].status })
      assert.are.equal("silent_auth", got[2].channel)
      assert.are.equal(started.request_id, got[2].request_id)
      assert.matches(ISO8601, got[2].finalized_at)
      assert.is_nil(got[1].finalized_at) -- action_pending ends nothing
      assert.are.equal(1, #outbox("447700900500", "sms"))
      local _, stored = request("GET", "/_sandbox/requests/" .. started.request_id)
      assert.are.equal("expired", stored.workflow[1].status)
      assert.are.equal("sms", stored.channel)
    end)

    it("rejects the fraud-check test number at once with a rejected event, unless fraud_check is false", function()
      local status, started = start_jwt({ { channel = "sms", to = "447700900666" } })
      assert.are.equal(202, status)
      local got = events(1)
      assert.are.same({ "event", "sms", "rejected", started.request_id },
        { got[1].type, got[1].channel, got[1].status, got[1].request_id })
      assert.matches(ISO8601, got[1].finalized_at)
      assert.are.same({}, outbox("447700900666"))
      local _, stored = request("GET", "/_sandbox/requests/" .. started.request_id)
      assert.are.equal("rejected", stored.status)
      -- Finished: no check, and the number is free again.
      assert.are.equal(404, (request("POST", "/v2/verify/" .. started.request_id, { code = "1234" },
        bearer((jwt())))))
      assert.are.equal(202, (start_jwt({ { channel = "sms", to = "447700900666" } }, { fraud_check = false })))
      assert.are.equal(1, #outbox("447700900666"))
    end)

    it("puts finalized_at on the completed and the failed event", function()
      local _, done = start_jwt({ { channel = "sms", to = "447700900510" } })
      local code = outbox("447700900510")[1].code
      assert.are.equal(200, (request("POST", "/v2/verify/" .. done.request_id, { code = code }, bearer((jwt())))))
      local _, failed = start_jwt({ { channel = "sms", to = "447700900511" } })
      for _, wrong in ipairs({ "0000x", "0000y", "0000z" }) do
        request("POST", "/v2/verify/" .. failed.request_id, { code = wrong }, bearer((jwt())))
      end
      local got = events(4) -- each event, then its summary
      assert.are.same({ "event", "summary", "event", "summary" },
        { got[1].type, got[2].type, got[3].type, got[4].type })
      assert.are.same({ done.request_id, "completed", failed.request_id, "failed" },
        { got[1].request_id, got[1].status, got[3].request_id, got[3].status })
      assert.matches(ISO8601, got[1].finalized_at)
      assert.matches(ISO8601, got[3].finalized_at)
    end)
  end)

  describe("Network Enablement", function()
    local REDIRECT = "https://app.example/callback"

    local function enable(number)
      return request("POST", "/v0.1/network-enablement",
        { phone_number = number, scopes = { NV_SCOPE }, state = "spec-state-0123" }, bearer((jwt())))
    end

    before_each(function()
      assert.are.equal(200, (request("POST", "/_sandbox/redirect_uris",
        { application_id = APP_ID, redirect_uri = REDIRECT })))
    end)

    it("answers the documented shape: app_url null, auth_url, requires_carrier_network", function()
      local status, body, _, raw = enable("+447700900000")
      assert.are.equal(200, status)
      local scope = body.scopes[NV_SCOPE]
      assert.are.equal(cjson.null, scope.app_url)
      assert.truthy(raw:find('"app_url":null', 1, true))
      assert.is_true(scope.requires_carrier_network)
      assert.truthy(scope.auth_url:find("state=spec%-state%-0123"))
    end)

    it("refuses the allowlist test number in the scope's own error, with its error_type", function()
      local status, body = enable("+447700900402")
      assert.are.equal(200, status)
      assert.are.same({ error = { status = 403, error_type = "Forbidden", title = "Forbidden",
        detail = "Blocked by allowlist" } }, body.scopes[NV_SCOPE])
    end)

    it("refuses a number on no supported network at the pre-check", function()
      local status, body = enable("+447700900406")
      assert.are.equal(422, status)
      assert.are.same({ 422, "SERVICE_NOT_APPLICABLE" }, { body.status, body.code })
    end)
  end)
end)
