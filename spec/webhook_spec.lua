local H = require "spec.helper"
local core = require "vonage.core"
local cjson = require "cjson"

local SECRET = "sandbox-signature-secret-0123456789"
local SANDBOX_API_KEY = "sandbox-api-key"
local NUMBER = "447700900123"

local sunk, deliveries, settled = H.sunk, H.deliveries, H.settled

local function configure(extra)
  local spec = { url = H.url .. "/_sink/hook", signature_secret = SECRET }
  for k, v in pairs(extra or {}) do spec[k] = v end
  local status, body = H.control("POST", "/_sandbox/callbacks", spec)
  assert(status == 200, cjson.encode(body))
end

-- A completed SMS verification: the sandbox sends its event and summary.
local function completed_verification(client)
  local req = assert((client or H.client()):start_verification {
    brand = "ACME", client_ref = "order-42", workflow = { { channel = "sms", to = NUMBER } } })
  assert(req:check(H.last_code(NUMBER)))
  return req
end

local function opts(extra)
  local o = { signature_secret = SECRET, replay_store = require("vonage").store.memory() }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function b64(s) return core.base64url_encode(s) end

-- forge{header=, claims=, body=, secret=} -> body, "Bearer <token>": a token
-- signed here, so each field can be made hostile on its own.
local function forge(spec)
  spec = spec or {}
  local body = spec.body or '{"type":"event","request_id":"r-1","triggered_at":"2020-01-01T14:00:00.000Z",'
    .. '"channel":"sms","status":"completed"}'
  local claims = {
    iat = os.time(), jti = core.uuid4(), iss = "Vonage", api_key = SANDBOX_API_KEY,
    application_id = H.APP_ID, payload_hash = core.hex(core.sha256(body)),
  }
  for k, v in pairs(spec.claims or {}) do claims[k] = v end
  for _, k in ipairs(spec.drop or {}) do claims[k] = nil end
  local header = spec.raw_header or cjson.encode(spec.header or { alg = "HS256", typ = "JWT" })
  local input = b64(header) .. "." .. b64(spec.raw_claims or cjson.encode(claims))
  return body, "Bearer " .. input .. "." .. b64(core.hmac_sha256(spec.secret or SECRET, input))
end

local function refused(code, body, auth, o)
  local event, msg, err = require("vonage").webhook.verify(body, auth, o or opts())
  assert.is_nil(event)
  assert.equals(code, err.code, msg)
  assert.equals("webhook", err.kind)
  -- never the token, the secret or the body
  local token = auth and auth:match("^%S+ (.+)$")
  assert.is_nil(msg:find(SECRET, 1, true))
  if token and #token > 0 then assert.is_nil(msg:find(token, 1, true)) end
  if #body > 8 then assert.is_nil(msg:find(body, 1, true)) end
  return msg
end

describe("vonage.webhook", function()
  local vonage = require "vonage"

  before_each(function()
    H.reset()
    configure()
  end)

  describe("with callbacks the sandbox signed", function()
    it("accepts the event and the summary and types them", function()
      local req = completed_verification()
      local got = sunk(2)
      local event = assert(vonage.webhook.verify(got[1].body, got[1].authorization,
        opts { api_key = SANDBOX_API_KEY, application_id = H.APP_ID }))
      assert.same({ "event", req.request_id, "sms", "completed", "order-42" },
        { event.type, event.request_id, event.channel, event.status, event.client_ref })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.000Z$", event.finalized_at)
      assert.equals(SANDBOX_API_KEY, event.claims.api_key)
      assert.equals(H.APP_ID, event.claims.application_id)
      assert.equals(deliveries()[1].jti, event.claims.jti)

      local summary = assert(vonage.webhook.verify(got[2].body, got[2].authorization, opts()))
      assert.same({ "summary", req.request_id, "completed", 180, "order-42" },
        { summary.type, summary.request_id, summary.status, summary.channel_timeout, summary.client_ref })
      assert.same({ channel = "sms", status = "completed", initiated_at = summary.submitted_at },
        summary.workflow[1])
    end)

    it("verifies with the signature_secret a client holds, never readable back", function()
      completed_verification()
      local got = sunk(1)[1]
      local client = H.client { signature_secret = SECRET }
      assert.is_nil(client.signature_secret)
      assert.is_nil(tostring(client):find(SECRET, 1, true))
      local event = assert(client:verify_webhook(got.body, got.authorization,
        { replay_store = vonage.store.memory() }))
      assert.equals("completed", event.status)
      local other = H.client { signature_secret = SECRET:upper() }
      local _, _, err = other:verify_webhook(got.body, got.authorization,
        { replay_store = vonage.store.memory() })
      assert.equals("bad_signature", err.code)
      local _, _, err2 = H.client():verify_webhook(got.body, got.authorization)
      assert.equals("no_secret", err2.code)
      assert.has_error(function() H.client { signature_secret = "short" } end,
        "vonage.client: signature_secret must be 16 to 4096 bytes")
    end)

    it("reports the same event delivered twice as a replay", function()
      completed_verification()
      local got = sunk(2)
      local o = opts()
      assert(vonage.webhook.verify(got[1].body, got[1].authorization, o))
      assert(H.control("POST", "/_sandbox/callbacks/1/redeliver") == 200)
      local again = sunk(3)[3]
      assert.equals(got[1].authorization, again.authorization)
      refused("replay", again.body, again.authorization, o)
    end)

    it("refuses a body changed by one byte", function()
      completed_verification()
      local got = sunk(1)[1]
      local changed = got.body:gsub("completed", "complete_")
      assert.equals(#got.body, #changed)
      refused("payload_hash_mismatch", changed, got.authorization)
    end)

    it("refuses the sandbox's token under another secret, api_key or application", function()
      completed_verification()
      local got = sunk(1)[1]
      refused("bad_signature", got.body, got.authorization, opts { signature_secret = SECRET .. "x" })
      refused("wrong_account", got.body, got.authorization, opts { api_key = "another-key" })
      refused("wrong_account", got.body, got.authorization,
        opts { application_id = "00000000-0000-4000-8000-000000000000" })
    end)
  end)

  describe("refuses hostile tokens", function()
    it("with alg none, None, HS512 or RS256, whatever they are signed with", function()
      for _, alg in ipairs { "none", "None", "HS512", "RS256", "hs256" } do
        local body, auth = forge { header = { alg = alg, typ = "JWT" } }
        refused("unsupported_alg", body, auth)
      end
      local body, auth = forge { header = { typ = "JWT" } }
      refused("unsupported_alg", body, auth)
    end)

    it("unsigned, with an empty signature segment", function()
      local body, auth = forge { header = { alg = "none" } }
      refused("malformed", body, (auth:gsub("[^.]+$", "")))
    end)

    it("with a typ other than JWT, a crit header or a repeated alg", function()
      local body, auth = forge { header = { alg = "HS256", typ = "at+jwt" } }
      refused("unsupported_header", body, auth)
      body, auth = forge { header = { alg = "HS256", crit = { "exp" } } }
      refused("unsupported_header", body, auth)
      body, auth = forge { raw_header = '{"alg":"HS256","alg":"none"}' }
      refused("malformed", body, auth)
    end)

    it("signed with a wrong secret or with one signature byte flipped", function()
      local body, auth = forge { secret = "not-the-signature-secret" }
      refused("bad_signature", body, auth)
      body, auth = forge()
      local sig = core.base64url_decode(auth:match("[^.]+$"))
      local flipped = string.char((sig:byte(1) + 1) % 256) .. sig:sub(2)
      refused("bad_signature", body, (auth:gsub("[^.]+$", b64(flipped))))
    end)

    it("longer than 8 KiB, even at 9 MB, but not at exactly 8 KiB", function()
      local body, auth = forge()
      local token = auth:sub(8)
      local padded = token .. string.rep("A", 8192 - #token) -- still three segments
      local msg = refused("bad_signature", body, "Bearer " .. padded)
      assert.is_nil(msg:find("8192"))
      msg = refused("malformed", body, "Bearer " .. padded .. "A")
      assert.matches("longer than 8192 bytes", msg)
      refused("malformed", body, "Bearer " .. token .. string.rep("A", 9 * 1024 * 1024))
    end)

    it("with an embedded NUL, 2 or 4 segments, or another scheme", function()
      local body, auth = forge()
      refused("malformed", body, auth:sub(1, 20) .. "\0" .. auth:sub(21))
      refused("malformed", body, auth:match("^(.*)%.[^.]+$"))
      refused("malformed", body, auth .. ".AAAA")
      refused("malformed", body, "Basic " .. auth:sub(8))
      refused("malformed", body, nil)
      assert(vonage.webhook.verify(body, "bearer  " .. auth:sub(8), opts()))
    end)

    it("whose iat is missing, a string, a float, an hour old or ten minutes ahead", function()
      local now = os.time()
      local cases = {
        { "invalid_claims", { drop = { "iat" } } },
        { "invalid_claims", { claims = { iat = tostring(now) } } },
        { "invalid_claims", { raw_claims = '{"iss":"Vonage","jti":"j","iat":' .. now .. '.0}' } },
        { "invalid_claims", { raw_claims = '{"iss":"Vonage","jti":"j","iat":' .. now .. 'e0}' } },
        { "expired", { claims = { iat = now - 3600 } } },
        { "not_yet_valid", { claims = { iat = now + 600 } } },
      }
      for _, case in ipairs(cases) do
        local body, auth = forge(case[2])
        refused(case[1], body, auth)
      end
      -- the window is an option both ways
      local body, auth = forge { claims = { iat = now - 3600 } }
      assert(vonage.webhook.verify(body, auth, opts { max_age = 7200 }))
      body, auth = forge { claims = { iat = now + 600 } }
      assert(vonage.webhook.verify(body, auth, opts { max_ahead = 900 }))
    end)

    it("through a client, in a window that follows the client's clock", function()
      local ahead = os.time() + 3600
      local client = H.client { signature_secret = SECRET, clock = function() return ahead end }
      local function check(body, auth)
        return client:verify_webhook(body, auth, { replay_store = vonage.webhook.memory_store() })
      end
      local _, _, err = check(forge())
      assert.equals("expired", err.code) -- fresh by the host's clock, an hour old by the client's
      assert.equals("completed", assert(check(forge { claims = { iat = ahead } })).status)
      _, _, err = check(forge { claims = { iat = ahead, exp = os.time() + 60 } })
      assert.equals("expired", err.code) -- exp too is read on the client's clock
    end)

    it("whose iss is Vonag, jti is missing, exp has passed or payload_hash is missing", function()
      local body, auth = forge { claims = { iss = "Vonag" } }
      refused("invalid_claims", body, auth)
      body, auth = forge { drop = { "jti" } }
      refused("invalid_claims", body, auth)
      body, auth = forge { claims = { exp = os.time() - 1 } }
      refused("expired", body, auth)
      body, auth = forge { drop = { "payload_hash" } }
      refused("invalid_claims", body, auth)
      body, auth = forge { claims = { exp = os.time() + 60 } }
      assert(vonage.webhook.verify(body, auth, opts()))
    end)

    it("with a payload that is not a JSON object", function()
      for _, raw in ipairs { "[1]", "not json", '{"iss":"Vonage",}', '{"a":1} x' } do
        local body, auth = forge { raw_claims = raw }
        refused("invalid_claims", body, auth)
      end
    end)

    -- The strict scanner's limits as the header and the claims meet them: any
    -- value nested deeper than 32 (the object itself is 1), a lone surrogate
    -- escape; raw non-ASCII bytes are taken as they are, as lua-cjson takes them.
    it("with JSON nested deeper than 32 or a lone surrogate, in the header or the claims", function()
      local function nest(k, inner) return ("["):rep(k) .. inner .. ("]"):rep(k) end
      local claims = '{"iss":"Vonage","iat":%d,"jti":"%s","payload_hash":"%s","x":%s}'
      local header = '{"alg":"HS256","x":%s}'
      local body = forge()
      local hash = core.hex(core.sha256(body))
      local cases = { -- { the extra member's value, taken }
        { nest(30, "1"), true }, { nest(31, ""), true }, { '"\255\192\175 \\u00e9 \\ud83d\\ude00"', true },
        { nest(31, "1"), false }, { nest(32, ""), false }, { nest(31, "{}"), false },
        { '"\\ud800"', false }, { '"\\udc00"', false }, { '"\\ud800\\u0041"', false },
      }
      for i, case in ipairs(cases) do
        local value = case[1]
        local _, auth = forge { raw_claims = claims:format(os.time(), core.uuid4(), hash, value) }
        local _, auth2 = forge { raw_header = header:format(value) }
        if case[2] then
          assert(vonage.webhook.verify(body, auth, opts()), "claims " .. i)
          assert(vonage.webhook.verify(body, auth2, opts()), "header " .. i)
        else
          refused("invalid_claims", body, auth)
          refused("malformed", body, auth2)
        end
      end
    end)
  end)

  describe("types the body", function()
    it("of an action_pending event, with the check_url as the reference or the guide shows it", function()
      local url = "https://api-eu-4.vonage.com/v2/verify/21a425df/silent-auth/redirect"
      local shapes = {
        { { type = "check", check_url = url } },
        { type = "check", check_url = url },
      }
      for _, action in ipairs(shapes) do
        local body, auth = forge { body = cjson.encode {
          request_id = "21a425df", triggered_at = "2025-07-14T17:01:47.032Z", channel = "silent_auth",
          status = "action_pending", type = "event", action = action } }
        local event = assert(vonage.webhook.verify(body, auth, opts()))
        assert.equals(url, event.check_url)
        assert.same({ type = "check", check_url = url }, event.action)
      end
    end)

    it("and refuses one without its fields, only after the signature checks", function()
      local body, auth = forge { body = '{"type":"event","channel":"sms","status":"completed"}' }
      local msg = refused("invalid_body", body, auth)
      assert.matches("request_id is required", msg)
      body, auth = forge { body = '{"type":"other"}' }
      refused("invalid_body", body, auth)
      body, auth = forge { body = '{"type":"event","request_id":"r","triggered_at":"t","channel":"silent_auth",'
        .. '"status":"action_pending","action":{"type":"check","check_url":"javascript:alert(1)"}}' }
      refused("invalid_body", body, auth)
      body, auth = forge { body = "not json", secret = "another-secret-000000" }
      refused("bad_signature", body, auth)
    end)
  end)

  describe("records the jti only once the event is typed", function()
    -- A memory store whose add is counted, and can raise a memory error first.
    local function store_failing(times)
      local real = vonage.store.memory()
      local store = { adds = 0, real = real }
      function store.add(_, jti, ttl)
        store.adds = store.adds + 1
        if store.adds <= times then error("not enough memory", 0) end
        return real:add(jti, ttl)
      end
      function store.delete(_, jti) real:delete(jti) end
      return store
    end

    it("so a signed token whose body is refused leaves no record, every time", function()
      local store = store_failing(0)
      local body, auth = forge { body = '{"type":"other"}' }
      refused("invalid_body", body, auth, opts { replay_store = store })
      refused("invalid_body", body, auth, opts { replay_store = store })
      assert.equals(0, store.adds)
      assert.matches("%(0 of ", tostring(store.real))
    end)

    it("and reports a memory error as out_of_memory, so the retry is processed", function()
      local store = store_failing(1)
      local body, auth = forge()
      local msg = refused("out_of_memory", body, auth, opts { replay_store = store })
      assert.matches("not recorded", msg)
      local event = assert(vonage.webhook.verify(body, auth, opts { replay_store = store }))
      assert.equals("r-1", event.request_id)
      refused("replay", body, auth, opts { replay_store = store })
      assert.equals(3, store.adds)
    end)

    it("and a memory store write that fails leaves the jti unseen", function()
      local store = vonage.store.memory()
      local writes = 0
      -- Every write of a new key may grow a table, so each can raise.
      for _, name in ipairs { "entries" } do
        setmetatable(store[name], { __newindex = function(t, k, v)
          writes = writes + 1
          if writes == 1 then error("not enough memory", 0) end
          rawset(t, k, v)
        end })
        local body, auth = forge()
        refused("out_of_memory", body, auth, opts { replay_store = store })
        assert(vonage.webhook.verify(body, auth, opts { replay_store = store }))
        refused("replay", body, auth, opts { replay_store = store })
        setmetatable(store[name], nil)
        writes = 0
      end
      assert.matches("%(1 of ", tostring(store))
    end)

    it("and still propagates any other error a replay store raises", function()
      local store = { add = function() error("store bug", 0) end, delete = function() end }
      local body, auth = forge()
      assert.has_error(function() vonage.webhook.verify(body, auth, opts { replay_store = store }) end,
        "store bug")
    end)
  end)

  describe("configuration", function()
    it("raises for a missing or short signature secret and unknown options", function()
      local body, auth = forge()
      assert.has_error(function() vonage.webhook.verify(body, auth, {}) end)
      assert.has_error(function() vonage.webhook.verify(body, auth, { signature_secret = "short" }) end)
      assert.has_error(function() vonage.webhook.verify(body, auth, opts { max_age = "5" }) end)
      assert.has_error(function() vonage.webhook.verify(body, auth, opts { secret = SECRET }) end)
    end)

    it("refuses an event when the replay store is full, and never forgets a live jti", function()
      local store = vonage.webhook.memory_store { max_entries = 2 } -- the deprecated alias
      assert.equal("vonage.store.memory (0 of 2)", tostring(store))
      local seen = {}
      for i = 1, 2 do
        seen[i] = { forge { claims = { jti = "full-" .. i } } }
        assert(vonage.webhook.verify(seen[i][1], seen[i][2], opts { replay_store = store }))
      end
      local body, auth = forge { claims = { jti = "full-3" } }
      local msg = refused("replay_store", body, auth, opts { replay_store = store })
      assert.matches("full", msg)
      for i = 1, 2 do refused("replay", seen[i][1], seen[i][2], opts { replay_store = store }) end
      store:delete("full-1")
      assert(vonage.webhook.verify(body, auth, opts { replay_store = store }))
      assert.matches("memory %(2 of 2%)", tostring(store))
    end)
  end)

  describe("in the sandbox", function()
    it("sends nothing for a request made with Basic auth", function()
      completed_verification(H.basic_client())
      completed_verification(H.client { }) -- a JWT one after it, to know the queue ran
      local got = sunk(2)
      assert.equals(2, #deliveries())
      assert.equals(2, #got)
    end)

    it("retries a non-2xx answer with backoff and logs each attempt", function()
      H.fault { path = "/_sink/hook", status = 500, times = 2 }
      completed_verification()
      local list = settled(2)
      assert.equals("delivered", list[1].state)
      assert.same({ 500, 500, 204 }, { list[1].attempts[1].status, list[1].attempts[2].status,
                                       list[1].attempts[3].status })
      assert.is_true(list[1].attempts[3].at - list[1].attempts[2].at > list[1].attempts[2].at
                     - list[1].attempts[1].at - 0.05)
      assert.equals("delivered", list[2].state)
      assert.is_nil(cjson.encode(list):find(SECRET, 1, true))
    end)

    it("gives up after max_attempts", function()
      configure { max_attempts = 2 }
      H.fault { path = "/_sink/hook", status = 503, times = 5 }
      completed_verification()
      local list = settled(2)
      assert.equals("failed", list[1].state)
      assert.equals(2, #list[1].attempts)
    end)

    it("sends a summary when the last channel expires, and nothing on cancel", function()
      local client = H.client()
      local req = assert(client:start_verification { brand = "ACME",
        workflow = { { channel = "sms", to = NUMBER } } })
      H.advance(181)
      assert(H.control("GET", "/_sandbox/clock") == 200) -- lets the sandbox notice the deadline
      local cancelled = assert(client:start_verification { brand = "ACME",
        workflow = { { channel = "sms", to = "447700900124" } } })
      H.advance(30) -- a cancel is taken from 30 s after the start
      assert(cancelled:cancel())
      completed_verification(client)
      local got = sunk(3)
      local first = vonage.webhook.verify(got[1].body, got[1].authorization, opts())
      assert.same({ "summary", req.request_id, "expired", "expired" },
        { first.type, first.request_id, first.status, first.workflow[1].status })
      for _, d in ipairs(deliveries()) do
        assert.are_not.equal(cancelled.request_id, d.request_id)
      end
    end)

    it("refuses a callback URL off loopback and a short secret", function()
      local status, body = H.control("POST", "/_sandbox/callbacks",
        { url = "http://example.com:80/hook", signature_secret = SECRET })
      assert.equals(422, status)
      assert.equals("url", body.invalid_parameters[1].name)
      status, body = H.control("POST", "/_sandbox/callbacks",
        { url = H.url .. "/_sink/hook", signature_secret = "short" })
      assert.equals(422, status)
      assert.equals("signature_secret", body.invalid_parameters[1].name)
    end)
  end)

  describe("checks its options once per opts table", function()
    local webhook = vonage.webhook

    it("while the table keeps its fields, and again, naming the field, once one changes", function()
      local o = opts { api_key = SANDBOX_API_KEY }
      local made = webhook._plans_made
      for _ = 1, 3 do -- a new table each time: checked each time
        local body, auth = forge()
        assert(webhook.verify(body, auth, opts()))
      end
      assert.equals(made + 3, webhook._plans_made)
      made = webhook._plans_made
      for _ = 1, 5 do
        local body, auth = forge()
        assert(webhook.verify(body, auth, o))
      end
      assert.equals(made + 1, webhook._plans_made)
      -- a bad value, an unknown field or a removed one raises as on a first call
      local body, auth = forge()
      o.max_age = "5"
      assert.has_error(function() webhook.verify(body, auth, o) end,
        "vonage: vonage.webhook.verify: max_age must be an integer (got string)")
      o.max_age = 0
      assert.has_error(function() webhook.verify(body, auth, o) end,
        "vonage: vonage.webhook.verify: max_age must be between 1 and 86400 seconds")
      o.max_age, o.secret = nil, SECRET
      assert.has_error(function() webhook.verify(body, auth, o) end,
        "vonage: vonage.webhook.verify: unknown field 'secret'")
      o.secret, o.signature_secret = nil, nil
      assert.has_error(function() webhook.verify(body, auth, o) end,
        "vonage: vonage.webhook.verify: signature_secret (or a client configured with one) is required")
      o.signature_secret = "short"
      assert.has_error(function() webhook.verify(body, auth, o) end,
        "vonage: vonage.webhook.verify: signature_secret must be at least 16 bytes")
      -- a good change is followed: another api_key, then another secret
      o.signature_secret, o.api_key = SECRET, "another-key"
      refused("wrong_account", body, auth, o)
      o.api_key, o.signature_secret = SANDBOX_API_KEY, SECRET .. "x"
      refused("bad_signature", body, auth, o)
      o.signature_secret = SECRET
      made = webhook._plans_made
      assert(webhook.verify(body, auth, o))
      assert.equals(made + 1, webhook._plans_made)
    end)

    it("and takes another replay store even when the two compare equal by __eq", function()
      local same = { __eq = function() return true end }
      local function store()
        local real = vonage.store.memory()
        return setmetatable({ add = function(_, k, ttl) return real:add(k, ttl) end,
                              delete = function(_, k) real:delete(k) end }, same)
      end
      local first, second = store(), store()
      assert.is_true(first == second)
      local o = opts { replay_store = first }
      local body, auth = forge()
      assert(webhook.verify(body, auth, o))
      refused("replay", body, auth, o)
      o.replay_store = second
      assert(webhook.verify(body, auth, o)) -- new to the second store
    end)

    it("on every call for a table with a metatable, whose fields may live elsewhere", function()
      local defaults = { max_age = "5" }
      local o = setmetatable(opts(), { __index = defaults })
      local body, auth = forge()
      local made = webhook._plans_made
      assert.has_error(function() webhook.verify(body, auth, o) end,
        "vonage: vonage.webhook.verify: max_age must be an integer (got string)")
      defaults.max_age = 7200
      body, auth = forge { claims = { iat = os.time() - 3600 } }
      assert(webhook.verify(body, auth, o))
      defaults.max_age = 60
      body, auth = forge { claims = { iat = os.time() - 3600 } }
      refused("expired", body, auth, o)
      assert.equals(made + 3, webhook._plans_made)
    end)

    it("for a client, per client and per opts table, and never past client:close()", function()
      local store = vonage.store.memory()
      local client = H.client { signature_secret = SECRET }
      local made = webhook._plans_made
      for _ = 1, 3 do
        local body, auth = forge()
        assert(client:verify_webhook(body, auth))
      end
      local o = { replay_store = store }
      for _ = 1, 3 do
        local body, auth = forge()
        assert(client:verify_webhook(body, auth, o))
      end
      assert.equals(made + 2, webhook._plans_made)
      -- the same opts with another client: that client's secret
      local other = H.client { signature_secret = SECRET:upper() }
      local _, _, err = other:verify_webhook(forge())
      assert.equals("bad_signature", err.code)
      local body, auth = forge()
      _, _, err = other:verify_webhook(body, auth, o)
      assert.equals("bad_signature", err.code)
      assert(client:verify_webhook(body, auth, o))
      o.max_age = "5"
      assert.has_error(function() client:verify_webhook(body, auth, o) end,
        "vonage: vonage.webhook.verify: max_age must be an integer (got string)")
      o.max_age = nil
      client:close()
      body, auth = forge()
      _, _, err = client:verify_webhook(body, auth)
      assert.equals("closed", err.code)
      _, _, err = client:verify_webhook(body, auth, o)
      assert.equals("closed", err.code)
    end)

    it("refuses a signature in any base64url but its one canonical form", function()
      local A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      local body, auth = forge()
      assert(webhook.verify(body, auth, opts()))
      local head, sig = auth:match("^(.*%.)([^.]+)$")
      assert.equals(43, #sig) -- 32 bytes: the last character carries 2 unused bits
      local last = A:find(sig:sub(-1), 1, true) - 1
      assert.equals(0, last % 4)
      for bits = 1, 3 do -- the same 32 bytes, with unused bits set
        refused("bad_signature", body, head .. sig:sub(1, -2) .. A:sub(last + bits + 1, last + bits + 1))
      end
      refused("bad_signature", body, head .. sig .. "A") -- 44 characters: 33 bytes
      refused("bad_signature", body, head .. sig:sub(1, -2)) -- 42: 31 bytes
      refused("bad_signature", body, head .. sig:sub(1, -3) .. "=" .. sig:sub(-1)) -- not the alphabet
      refused("malformed", body, head:gsub("^Bearer ", "Bearer =") .. sig)
    end)

    it("keeping the secret in C: the key a plan holds shows nothing", function()
      local key = core.webhook_key(SECRET)
      assert.equals("vonage.webhook_key", tostring(key))
      assert.equals("vonage.webhook_key", getmetatable(key))
      local body, auth = forge()
      local jti, iat = core.webhook_verify(key, auth, body, os.time(), 300, 60)
      assert.equals(36, #jti)
      assert.equals(math.floor(iat), iat)
    end)
  end)

  describe("refuses a token that fails any one claim check, after tokens that passed", function()
    local BIG = "9007199254740992" -- 2^53: cjson's double would not be an integer
    -- { claims JSON after the good ones (a repeated name counts last), code, message }, around now;
    -- the times are far enough from the window's edges for the clock to tick meanwhile
    local function cases(now)
      return {
        { '"iss":"Vonag"', "invalid_claims", 'iss must be "Vonage"' },
        { '"iss":1', "invalid_claims", 'iss must be "Vonage"' },
        { '"iss":null', "invalid_claims", 'iss must be "Vonage"' },
        { '"iat":"' .. now .. '"', "invalid_claims", "iat must be an integer" },
        { '"iat":null', "invalid_claims", "iat must be an integer" },
        { '"iat":' .. BIG, "invalid_claims", "iat must be an integer" },
        { '"iat":' .. (now - 400), "expired", "iat is older than the accepted window" },
        { '"iat":' .. (now + 120), "not_yet_valid", "iat is in the future" },
        { '"exp":"x"', "invalid_claims", "exp must be an integer" },
        { '"exp":null', "invalid_claims", "exp must be an integer" },
        { '"exp":-' .. BIG, "invalid_claims", "exp must be an integer" },
        { '"exp":1.5', "invalid_claims", "exp must be an integer" },
        { '"exp":' .. (now - 10), "expired", "the token has expired (exp)" },
        { '"nbf":{}', "invalid_claims", "nbf must be an integer" },
        { '"nbf":' .. (now + 120), "not_yet_valid", "the token is not valid yet (nbf)" },
        { '"jti":""', "invalid_claims", "jti must be a non-empty string" },
        { '"jti":"' .. ("j"):rep(257) .. '"', "invalid_claims", "jti must be a non-empty string" },
        { '"jti":42', "invalid_claims", "jti must be a non-empty string" },
        { '"api_key":7', "invalid_claims", "api_key must be a string" },
        { '"api_key":null', "invalid_claims", "api_key must be a string" },
        { '"application_id":[]', "invalid_claims", "application_id must be a string" },
        { '"api_key":"another-key"', "wrong_account", "api_key is not the configured one" },
        { '"application_id":"another-app"', "wrong_account", "application_id is not the configured one" },
        { '"payload_hash":5', "invalid_claims", "payload_hash must be a string" },
        { '"payload_hash":"' .. ("0"):rep(64) .. '"', "payload_hash_mismatch",
          "payload_hash does not match the body" },
      }
    end
    local body = '{"type":"event","request_id":"r-1","triggered_at":"t","channel":"sms","status":"completed"}'
    local hash = core.hex(core.sha256(body))
    local REPEATABLE = { iss = true, jti = true, api_key = true, application_id = true }
    -- the good claims at iat = now, with `extra` replacing one of them or, for the
    -- string claims, repeating it after (a decoder keeps the last)
    local function claims(now, extra, jti)
      local good = {
        '"iss":"Vonage"', '"iat":' .. now, '"jti":"' .. jti .. '"', '"api_key":"' .. SANDBOX_API_KEY .. '"',
        '"application_id":"' .. H.APP_ID .. '"', '"payload_hash":"' .. hash .. '"',
      }
      local name, replaced = extra and extra:match('^"([^"]+)"'), false
      for i, c in ipairs(good) do
        if name and not REPEATABLE[name] and c:match('^"([^"]+)"') == name then good[i], replaced = extra, true end
      end
      if name and not replaced then good[#good + 1] = extra end
      return "{" .. table.concat(good, ",") .. "}"
    end

    it("for each claim, with the C checks' own message", function()
      local o = opts { api_key = SANDBOX_API_KEY, application_id = H.APP_ID }
      local now = os.time()
      for i, case in ipairs(cases(now)) do
        local _, ok_auth = forge { body = body, raw_claims = claims(now, nil, "ok-" .. i) }
        local event = assert(vonage.webhook.verify(body, ok_auth, o))
        assert.equals("ok-" .. i, event.claims.jti)
        local _, auth = forge { body = body, raw_claims = claims(now, case[1], "bad-" .. i) }
        local msg = refused(case[2], body, auth, o)
        assert.equals("webhook: " .. case[3], msg, case[1])
      end
      -- what passes: the largest exact integer, an escaped iss, the last of two jti
      local _, auth = forge { body = body, raw_claims = claims(now, '"exp":9007199254740991', "edge-1") }
      assert.equals("edge-1", assert(vonage.webhook.verify(body, auth, o)).claims.jti)
      _, auth = forge { body = body, raw_claims = claims(now, '"iss":"\\u0056onage"', "edge-2") }
      assert(vonage.webhook.verify(body, auth, o))
      _, auth = forge { body = body, raw_claims = claims(now, '"jti":"\\u00e9-last"', "edge-first") }
      local event = assert(vonage.webhook.verify(body, auth, o))
      assert.same({ jti = "\195\169-last", iat = now, api_key = SANDBOX_API_KEY, application_id = H.APP_ID },
        event.claims)
      local math_type = rawget(math, "type") -- Lua 5.3+: cjson gave a float, verify an integer
      if math_type then assert.equals("integer", math_type(event.claims.iat)) end
    end)

    it("through a client too, and on its clock to the second at the window's edges", function()
      local NOW = 1700000000
      local client = H.client { signature_secret = SECRET, clock = function() return NOW + 0.5 end }
      local o = { api_key = SANDBOX_API_KEY, replay_store = vonage.store.memory() }
      for i, case in ipairs(cases(NOW)) do
        local _, auth = forge { body = body, raw_claims = claims(NOW, case[1], "client-" .. i) }
        if case[1]:find("application_id", 1, true) and case[2] == "wrong_account" then
          assert(client:verify_webhook(body, auth, o)) -- no application_id configured here
        else
          local event, msg, err = client:verify_webhook(body, auth, o)
          assert.is_nil(event)
          assert.equals(case[2], err.code)
          assert.equals("webhook: " .. case[3], msg)
        end
      end
      -- { claim, passes }: iat in [now - 300, now + 60], exp > now, nbf <= now + 60
      local edges = {
        { '"iat":' .. (NOW - 300), true }, { '"iat":' .. (NOW - 301), false },
        { '"iat":' .. (NOW + 60), true }, { '"iat":' .. (NOW + 61), false },
        { '"exp":' .. (NOW + 1), true }, { '"exp":' .. NOW, false },
        { '"nbf":' .. (NOW + 60), true }, { '"nbf":' .. (NOW + 61), false },
      }
      for i, edge in ipairs(edges) do
        local _, auth = forge { body = body, raw_claims = claims(NOW, edge[1], "edge-" .. i) }
        assert.equals(edge[2], client:verify_webhook(body, auth, o) ~= nil, edge[1])
      end
    end)
  end)

  describe("types a plain event in C, as the Lua typing does, and leaves the rest to it", function()
    local typed_body = vonage.webhook._typed_body
    local E = '"type":"event","request_id":"r-1","triggered_at":"t","channel":"sms","status":"completed"'
    -- { body, whether C types it itself }
    local bodies = {
      { "{" .. E .. "}", true },
      { "{" .. E .. ',"finalized_at":"f","client_ref":"c","extra":[1,{"a":null}]}', true },
      { "{" .. E .. ',"finalized_at":null,"client_ref":null}', true },
      { ' {"typ\\u0065":"event","request_id":"\\u00e9\\ud83d\\ude00\\n","triggered_at":"t","channel":"sms",'
        .. '"status":"completed"} ', true },
      { "{" .. E .. ',"client_ref":"' .. ("c"):rep(256) .. '"}', true },
      { "{" .. E .. ',"client_ref":"' .. ("c"):rep(257) .. '"}', false },
      { "{" .. E .. ',"client_ref":5}', false },
      { "{" .. E .. ',"request_id":"again"}', false }, -- repeated: the Lua decoder keeps the last
      { "{" .. E .. ',"type":"summary"}', false },
      { '{"type":"event","triggered_at":"t","channel":"sms","status":"completed"}', false },
      { '{"type":"event","request_id":null,"triggered_at":"t","channel":"sms","status":"completed"}', false },
      { (("{" .. E .. "}"):gsub('"completed"', '"action_pending"')), false },
      { (("{" .. E .. "}"):gsub('"completed"', '"compl-eted"')), false },
      { (("{" .. E .. "}"):gsub('"completed"', '""')), false },
      { (("{" .. E .. "}"):gsub('"t"', '"\1"')), false }, -- a raw control byte: cjson's call
      { '{"type":"summary","request_id":"r","submitted_at":"t","status":"s","workflow":[]}', false },
      { "[{" .. E .. "}]", false },
      { "{" .. E .. "} x", false },
      { "{" .. E .. ',"deep":' .. ("["):rep(40) .. ("]"):rep(40) .. "}", false },
      { "not json", false },
    }

    it("with values nested up to 32 deep (the body itself is 1), and raw non-ASCII bytes as they are", function()
      local function nest(k, inner) return ("["):rep(k) .. inner .. ("]"):rep(k) end
      assert.is_table(core.webhook_event("{" .. E .. ',"deep":' .. nest(30, "1") .. "}"))
      assert.is_table(core.webhook_event("{" .. E .. ',"deep":' .. nest(31, "") .. "}"))
      assert.is_nil(core.webhook_event("{" .. E .. ',"deep":' .. nest(31, "1") .. "}"))
      assert.is_nil(core.webhook_event("{" .. E .. ',"deep":' .. nest(32, "") .. "}"))
      assert.is_table(core.webhook_event("{" .. E .. ',"raw":"\255\192\175"}'))
    end)

    it("for each body, with the same table or none", function()
      local by_c = 0
      for i, case in ipairs(bodies) do
        local c = core.webhook_event(case[1])
        assert.equals(case[2], c ~= nil, "body " .. i)
        if c then
          by_c = by_c + 1
          assert.same(typed_body(case[1]), c)
        end
      end
      assert.equals(5, by_c)
    end)

    it("through verify, only after every token check, with claims added", function()
      local body = "{" .. E .. ',"client_ref":"order-42"}'
      local _, good = forge { body = body }
      local event = assert(vonage.webhook.verify(body, good, opts()))
      assert.equals(36, #event.claims.jti)
      event.claims = nil
      assert.same({ type = "event", request_id = "r-1", triggered_at = "t", channel = "sms", status = "completed",
                    client_ref = "order-42" }, event)
      -- a plain event still fails a bad token first, and a bad body second
      refused("payload_hash_mismatch", body, select(2, forge { body = "{" .. E .. "}" }))
      local _, auth = forge { body = "{" .. E .. ',"client_ref":5}' }
      local msg = refused("invalid_body", "{" .. E .. ',"client_ref":5}', auth)
      assert.equals("webhook: client_ref must be a string", msg)
    end)
  end)
end)
