local vonage = require "vonage"
local url = require "vonage.url"
local H = require "spec.helper"
local socket_http = require "socket.http"
local socket_url = require "socket.url"
local cjson = require "cjson"

local NUMBER = "+447700900000"
local SESSION = "session-7f3a"
local VERIFY_PATH = "/camara/number-verification/v031/verify"

local function register_redirect(uri)
  local status = H.control("POST", "/_sandbox/redirect_uris", { application_id = H.APP_ID, redirect_uri = uri })
  assert(status == 200, "redirect_uris: " .. tostring(status))
end

-- The device step: open the URL (over "mobile data") and stop at the redirect.
local function device_opens(auth_url)
  local _, status, headers = socket_http.request { url = auth_url, redirect = false }
  return status, headers and headers.location
end

-- Decodes a query with luasocket, independent of vonage.url.
local function plain_query(u)
  local out = {}
  for k, v in (u:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do
    out[socket_url.unescape(k)] = socket_url.unescape(v)
  end
  return out
end

describe("Number Verification", function()
  local client, redirect_uri, transport
  before_each(function()
    H.reset()
    redirect_uri = H.url .. "/app/callback"
    register_redirect(redirect_uri)
    transport = H.recording_transport()
    client = H.client { oidc_host = H.url, network_host = H.url, transport = transport }
  end)

  local function new_flow(opts)
    opts = opts or {}
    opts.redirect_uri = opts.redirect_uri or redirect_uri
    return client:number_verification(opts)
  end

  -- authorize_url, the device, and the callback on a second flow object
  -- sharing the first one's store (as a second web request would).
  local function authorized(number)
    local first = new_flow()
    local auth_url = assert(first:authorize_url { phone_number = number or NUMBER, session = SESSION })
    local status, location = device_opens(auth_url)
    assert.equal(302, status)
    local flow = new_flow { state_store = first.state_store }
    return flow, location, first
  end

  local function sent(path)
    local out = {}
    for _, s in ipairs(transport.sent) do
      if s.path == path then out[#out + 1] = s end
    end
    return out
  end

  it("takes a number with or without its '+' and sends CAMARA the '+' form", function()
    local digits = NUMBER:sub(2)
    local flow, location, first = authorized(digits)
    assert.equal(NUMBER, flow:callback(location, SESSION))
    assert.equal(NUMBER, flow.phone_number)
    assert.truthy(first)
    assert.equal(3600, flow:exchange())
    assert.is_true(flow:verify { phone_number = digits })
    assert.is_true(flow:verify { phone_number = NUMBER })
    assert.equal(vonage.hash_phone_number(NUMBER), vonage.hash_phone_number(digits))
    assert.is_true(flow:verify { hashed_phone_number = vonage.hash_phone_number(digits) })
    for _, req in ipairs(sent(VERIFY_PATH)) do
      local body = cjson.decode(req.body)
      assert.is_true(body.phoneNumber == nil or body.phoneNumber == NUMBER)
    end
    assert.equal(NUMBER, cjson.decode(sent(VERIFY_PATH)[1].body).phoneNumber)
    local auth_url = assert(new_flow():authorize_url { phone_number = digits, session = SESSION })
    assert.equal(NUMBER, plain_query(auth_url).login_hint)
    assert(new_flow():network_enablement { phone_number = digits, session = SESSION })
    assert.equal(NUMBER, cjson.decode(sent("/v0.1/network-enablement")[1].body).phone_number)
  end)

  it("walks the whole flow: authorize_url, device, callback, exchange, verify", function()
    local flow, location, first = authorized()
    assert.equal(first.state_store, flow.state_store)
    assert.equal(redirect_uri, location:match("^[^?]+"))
    assert.equal(NUMBER, flow:callback(location, SESSION))
    assert.equal(NUMBER, flow.phone_number)
    assert.equal(3600, flow:exchange())
    assert.is_true(flow:verify { phone_number = NUMBER })
    assert.is_true(flow:verify { hashed_phone_number = vonage.hash_phone_number(NUMBER) })

    local token_req = sent("/oauth2/token")[1]
    assert.equal("application/x-www-form-urlencoded", token_req.headers["Content-Type"])
    local form = plain_query("?" .. token_req.body)
    assert.equal("authorization_code", form.grant_type)
    assert.equal(redirect_uri, form.redirect_uri)
    assert.equal(plain_query(location).code, form.code)
    assert.equal("jwt", H.log()[1].auth)
    assert.equal(H.APP_ID, H.jwt_claims(token_req.headers.Authorization:sub(8)).application_id)
    local verify_req = sent(VERIFY_PATH)[1]
    assert.same({ phoneNumber = NUMBER }, cjson.decode(verify_req.body))
    assert.is_not.equal(token_req.headers.Authorization, verify_req.headers.Authorization)
    assert.same({ hashedPhoneNumber = vonage.hash_phone_number(NUMBER) }, cjson.decode(sent(VERIFY_PATH)[2].body))
  end)

  it("builds the authorize URL with every parameter the reference lists", function()
    local flow = new_flow()
    local auth_url, state = flow:authorize_url { phone_number = NUMBER, session = SESSION }
    assert.equal(H.url .. "/oauth2/auth", auth_url:match("^[^?]+"))
    assert.same({
      client_id = H.APP_ID, response_type = "code",
      scope = "openid dpv:FraudPreventionAndDetection#number-verification-verify-read",
      redirect_uri = redirect_uri, state = state, login_hint = NUMBER,
    }, plain_query(auth_url))
    assert.equal(43, #state)
    assert.truthy(state:match("^[%w_%-]+$"))
    local _, other = flow:authorize_url { phone_number = NUMBER, session = SESSION }
    assert.is_not.equal(state, other) -- many pending states per session
  end)

  it("percent-encodes awkward values so the server reads them back byte for byte", function()
    assert.equal("a%20b%2Bc%26d%23e%3Df%2F~._-%25%C3%A9", url.encode("a b+c&d#e=f/~._-%é"))
    assert.same({ a = "x y+z", ["b c"] = "&=#" }, url.parse_query("a=x+y%2Bz&b%20c=%26%3D%23"))
    local awkward = H.url .. "/app/cb?next=/a%2Fb&tag=x+y&q=1=2"
    register_redirect(awkward)
    local first = new_flow { redirect_uri = awkward }
    local auth_url, state = first:authorize_url { phone_number = NUMBER, session = "s p+a&c#e" }
    local q = plain_query(auth_url)
    assert.equal(awkward, q.redirect_uri)
    assert.equal(NUMBER, q.login_hint) -- a literal '+' would arrive as a space
    local status, location = device_opens(auth_url)
    assert.equal(302, status) -- the sandbox found awkward among the registered URIs
    assert.equal(awkward, location:sub(1, #awkward))
    assert.equal(state, url.parse_query(location).state)
    local flow = new_flow { redirect_uri = awkward, state_store = first.state_store }
    assert.equal(NUMBER, flow:callback(location, "s p+a&c#e"))
    assert.equal(3600, flow:exchange()) -- the stored redirect_uri matched byte for byte
    assert.equal(awkward, plain_query("?" .. sent("/oauth2/token")[1].body).redirect_uri)
  end)

  it("uses Network Enablement's auth_url and keeps the state handling", function()
    local first = new_flow()
    local auth_url, state = first:network_enablement { phone_number = NUMBER, session = SESSION }
    assert.is_string(auth_url)
    assert.same({ phone_number = NUMBER, state = state,
                  scopes = { "dpv:FraudPreventionAndDetection#number-verification-verify-read" } },
                cjson.decode(sent("/v0.1/network-enablement")[1].body))
    assert.equal(state, plain_query(auth_url).state)
    local _, location = device_opens(auth_url)
    local flow = new_flow { state_store = first.state_store }
    assert.equal(NUMBER, flow:callback(location, SESSION))
    assert.equal(3600, flow:exchange())
    assert.is_true(flow:verify { phone_number = NUMBER })
  end)

  it("refuses a Network Enablement answer without our state", function()
    H.fault { method = "POST", path = "/v0.1/network-enablement", status = 200, body = cjson.encode {
      scopes = { ["dpv:FraudPreventionAndDetection#number-verification-verify-read"] = {
        auth_url = H.url .. "/oauth2/auth?state=someone-elses-state" } } } }
    local ok, msg, err = new_flow():network_enablement { phone_number = NUMBER, session = SESSION }
    assert.is_nil(ok)
    assert.equal("bad_response", err.code)
    assert.truthy(msg:find("state", 1, true))
  end)

  it("names a scope's own refusal network_blocked, with the API's reason, and drops the state", function()
    H.fault { method = "POST", path = "/v0.1/network-enablement", status = 200, body = cjson.encode {
      scopes = { ["dpv:FraudPreventionAndDetection#number-verification-verify-read"] = {
        error = { error_type = "Forbidden", title = "Forbidden", detail = "Blocked by allowlist" } } } } }
    local ok, msg, err = new_flow():network_enablement { phone_number = NUMBER, session = SESSION }
    assert.is_nil(ok)
    assert.equal("network_blocked", err.code)
    assert.equal("api", err.kind)
    assert.equal(200, err.status)
    assert.equal("Forbidden", err.error_type)
    assert.equal("Blocked by allowlist", err.detail)
    assert.equal("network_enablement: HTTP 200: the number-verification scope was refused: "
                 .. "Forbidden: Blocked by allowlist", msg)
  end)

  it("takes the documented answer (app_url null, requires_carrier_network) and keeps the state check", function()
    -- The sandbox's answer, given the fields Network Enablement documents.
    local real = H.recording_transport()
    local documented = {}
    function documented.send(_, spec)
      local status, headers, body = real:send(spec)
      if status == 200 and spec.path == "/v0.1/network-enablement" then
        local b = cjson.decode(body)
        local scope = b.scopes["dpv:FraudPreventionAndDetection#number-verification-verify-read"]
        scope.app_url, scope.requires_carrier_network = cjson.null, true
        body = cjson.encode(b)
      end
      return status, headers, body
    end
    local c = H.client { oidc_host = H.url, network_host = H.url, transport = documented }
    local first = c:number_verification { redirect_uri = redirect_uri }
    local auth_url, state, carrier = first:network_enablement { phone_number = NUMBER, session = SESSION }
    assert.is_string(auth_url)
    assert.is_true(carrier)
    assert.equal(state, plain_query(auth_url).state)
    local _, location = device_opens(auth_url)
    local flow = c:number_verification { redirect_uri = redirect_uri, state_store = first.state_store }
    local forged = location:gsub("state=[^&]+", "state=" .. string.rep("A", 43))
    local no, _, err = flow:callback(forged, SESSION)
    assert.is_nil(no)
    assert.equal("unknown_state", err.code)
    local flow2 = c:number_verification { redirect_uri = redirect_uri, state_store = first.state_store }
    assert.equal(NUMBER, flow2:callback(location, SESSION))
  end)

  describe("callback", function()
    it("refuses a missing state", function()
      local ok, _, err = new_flow():callback("code=abc", SESSION)
      assert.is_nil(ok)
      assert.equal("oauth", err.kind)
      assert.equal("missing_state", err.code)
    end)

    it("refuses an unknown state", function()
      local forged = string.rep("A", 43)
      local ok, _, err = new_flow():callback({ code = "abc", state = forged }, SESSION)
      assert.is_nil(ok)
      assert.equal("unknown_state", err.code)
    end)

    it("refuses an expired state", function()
      local t = os.time()
      client = H.client { oidc_host = H.url, network_host = H.url, clock = function() return t end }
      local flow, location = authorized()
      t = t + 601
      local ok, msg, err = flow:callback(location, SESSION)
      assert.is_nil(ok)
      assert.equal("expired_state", err.code)
      assert.truthy(msg:find("expired", 1, true))
    end)

    it("takes a state once: a replayed callback is refused", function()
      local flow, location, first = authorized()
      assert.truthy(flow:callback(location, SESSION))
      local again = new_flow { state_store = first.state_store }
      local ok, _, err = again:callback(location, SESSION)
      assert.is_nil(ok)
      assert.equal("unknown_state", err.code)
    end)

    it("refuses a state from another session, and spends it doing so", function()
      local flow, location, first = authorized()
      local ok, _, err = flow:callback(location, "someone-else")
      assert.is_nil(ok)
      assert.equal("session_mismatch", err.code)
      local ok2, _, err2 = new_flow { state_store = first.state_store }:callback(location, SESSION)
      assert.is_nil(ok2)
      assert.equal("unknown_state", err2.code)
    end)

    it("refuses duplicated parameters, as a string or as a framework's table", function()
      local flow, location = authorized()
      local q = plain_query(location)
      local ok, msg, err = flow:callback(location .. "&code=attacker", SESSION)
      assert.is_nil(ok)
      assert.equal("invalid_callback", err.code)
      assert.truthy(msg:find("'code' is repeated", 1, true))
      ok, msg, err = flow:callback({ code = { q.code, "attacker" }, state = q.state }, SESSION)
      assert.is_nil(ok)
      assert.truthy(msg:find("repeated", 1, true))
      assert.equal("invalid_callback", err.code)
      assert.equal(NUMBER, flow:callback({ code = q.code, state = q.state }, SESSION))
    end)

    it("maps error=access_denied to a clear error and spends the state", function()
      local flow, location, first = authorized("+447700900403")
      local q = plain_query(location)
      assert.equal("access_denied", q.error)
      local ok, msg, err = flow:callback(location, SESSION)
      assert.is_nil(ok)
      assert.equal("oauth", err.kind)
      assert.equal("access_denied", err.code)
      assert.truthy(msg:find("refused the request", 1, true))
      local ok2, _, err2 = new_flow { state_store = first.state_store }:callback(location, SESSION)
      assert.is_nil(ok2)
      assert.equal("unknown_state", err2.code)
    end)

    it("lets one of two racing callbacks on one state through to one exchange", function()
      local flow_a, location, first = authorized()
      local flow_b = new_flow { state_store = first.state_store }
      -- a transport that yields like a cosocket, so B runs while A's exchange is in flight
      local real = H.recording_transport()
      local yielding = { send = function(_, spec) coroutine.yield("sending") return real:send(spec) end }
      client = H.client { oidc_host = H.url, network_host = H.url, transport = yielding }
      flow_a.client, flow_b.client = client, client
      local a = coroutine.create(function() assert(flow_a:callback(location, SESSION)) return flow_a:exchange() end)
      local b = coroutine.create(function() return flow_b:callback(location, SESSION) end)
      assert.same({ true, "sending" }, { coroutine.resume(a) })
      local ok_b, result_b, _, err_b = coroutine.resume(b)
      assert.is_true(ok_b)
      assert.is_nil(result_b)
      assert.equal("unknown_state", err_b.code)
      assert.same({ true, 3600 }, { coroutine.resume(a) })
      assert.equal(1, H.logged(nil, "/oauth2/token"))
    end)
  end)

  describe("exchange", function()
    it("does not retry a code the token endpoint refused", function()
      local flow, location = authorized()
      assert.truthy(flow:callback(location, SESSION))
      H.advance(301) -- past the sandbox's code lifetime
      local ok, msg, err = flow:exchange()
      assert.is_nil(ok)
      assert.equal(400, err.status)
      assert.equal("invalid_grant", err.code)
      assert.truthy(msg:find("expired", 1, true))
      local ok2, _, err2 = flow:exchange()
      assert.is_nil(ok2)
      assert.equal("code_used", err2.code)
      assert.equal(1, #sent("/oauth2/token"))
      assert.equal(1, H.logged(nil, "/oauth2/token"))
    end)

    it("refuses a token answer without a proper expires_in", function()
      local flow, location = authorized()
      assert.truthy(flow:callback(location, SESSION))
      H.fault { method = "POST", path = "/oauth2/token", status = 200,
                body = '{"access_token":"abc","token_type":"Bearer","expires_in":"3600"}' }
      local ok, _, err = flow:exchange()
      assert.is_nil(ok)
      assert.equal("bad_response", err.code)
      local ok2, _, err2 = flow:verify { phone_number = NUMBER }
      assert.is_nil(ok2)
      assert.equal("no_access_token", err2.code)
    end)
  end)

  describe("verify", function()
    local function verified_flow(number)
      local flow, location = authorized(number)
      assert.truthy(flow:callback(location, SESSION))
      assert.truthy(flow:exchange())
      return flow
    end

    it("refuses a number other than the one bound to the state, before any I/O", function()
      local flow = verified_flow()
      local before = #transport.sent
      local ok, _, err = flow:verify { phone_number = "+447700900001" }
      assert.is_nil(ok)
      assert.equal("phone_number_mismatch", err.code)
      ok, _, err = flow:verify { hashed_phone_number = vonage.hash_phone_number("+447700900001") }
      assert.is_nil(ok)
      assert.equal("phone_number_mismatch", err.code)
      assert.equal(before, #transport.sent)
    end)

    it("answers false when the device's SIM holds another number", function()
      assert.is_false(verified_flow("+447700900404"):verify { phone_number = "+447700900404" })
      assert.equal(200, (H.control("POST", "/_sandbox/device", { phone_number = "+447700900999" })))
      assert.is_false(verified_flow():verify { phone_number = NUMBER })
    end)

    it("counts only a JSON true: a \"true\" string or a missing field is an error", function()
      local flow = verified_flow()
      for _, body in ipairs { '{"devicePhoneNumberVerified":"true"}', "{}" } do
        H.fault { method = "POST", path = VERIFY_PATH, status = 200, body = body }
        local ok, msg, err = flow:verify { phone_number = NUMBER }
        assert.is_nil(ok)
        assert.equal("bad_response", err.code)
        assert.truthy(msg:find("not a JSON boolean", 1, true))
      end
    end)

    it("says the token has expired by its expires_in", function()
      local t = os.time()
      client = H.client { oidc_host = H.url, network_host = H.url, clock = function() return t end }
      local flow = verified_flow()
      t = t + 3600
      local ok, _, err = flow:verify { phone_number = NUMBER }
      assert.is_nil(ok)
      assert.equal("token_expired", err.code)
    end)

    it("maps the API's CAMARA error bodies", function()
      local flow = verified_flow()
      H.advance(3601) -- the sandbox's token lifetime, on its virtual clock
      local ok, msg, err = flow:verify { phone_number = NUMBER }
      assert.is_nil(ok)
      assert.equal(401, err.status)
      assert.equal("auth", err.kind)
      assert.equal("unauthenticated", err.code)
      assert.truthy(msg:find("expired", 1, true))
    end)
  end)

  it("keeps the code, the state, the access token and the JWT out of logs, errors and tostring", function()
    local lines = {}
    client = H.client { oidc_host = H.url, network_host = H.url, transport = transport,
                        on_log = function(_, line) lines[#lines + 1] = line end }
    local flow, location = authorized()
    local q = plain_query(location)
    assert.truthy(flow:callback(location, SESSION))
    assert.truthy(flow:exchange())
    assert.truthy(flow:verify { phone_number = NUMBER })
    H.fault { method = "POST", path = VERIFY_PATH, status = 500, body = "{}" }
    local _, msg = flow:verify { phone_number = NUMBER }
    local access_token = sent(VERIFY_PATH)[1].headers.Authorization:sub(8)
    local jwt = sent("/oauth2/token")[1].headers.Authorization:sub(8)
    local seen = table.concat(lines, "\n") .. "\n" .. msg .. "\n" .. tostring(flow)
    for k, v in pairs(flow) do seen = seen .. "\n" .. tostring(k) .. "=" .. tostring(v) end
    assert.is_true(#lines > 0)
    for _, secret in ipairs { q.code, q.state, access_token, jwt } do
      assert.is_nil(seen:find(secret, 1, true))
    end
  end)

  describe("state stores", function()
    it("bounds the in-memory store and lets expired states make room", function()
      local t = 1000
      local store = vonage.store.memory { max_entries = 2, clock = function() return t end }
      local flow = new_flow { state_store = store }
      assert.truthy(flow:authorize_url { phone_number = NUMBER, session = SESSION })
      assert.truthy(flow:authorize_url { phone_number = NUMBER, session = SESSION })
      local ok, _, err = flow:authorize_url { phone_number = NUMBER, session = SESSION }
      assert.is_nil(ok)
      assert.equal("state_store_full", err.code)
      t = t + 600
      assert.truthy(flow:authorize_url { phone_number = NUMBER, session = SESSION })
      assert.equal("vonage.store.memory (1 of 2)", tostring(store))
    end)

    it("works with a store the application implements, which never sees a raw state", function()
      local kept, calls = {}, {}
      local store = {
        put = function(_, key, value, ttl) calls[#calls + 1] = key kept[key] = value assert(ttl == 120) return true end,
        take = function(_, key) local v = kept[key] kept[key] = nil return v end,
      }
      local first = new_flow { state_store = store, state_ttl = 120 }
      local auth_url, state = first:authorize_url { phone_number = NUMBER, session = SESSION }
      assert.is_nil(calls[1]:find(state, 1, true))
      local _, location = device_opens(auth_url)
      assert.equal(NUMBER, new_flow { state_store = store }:callback(location, SESSION))
      assert.is_nil(next(kept))
    end)

    it("raises on misuse", function()
      assert.has_error(function() client:number_verification {} end)
      assert.has_error(function() new_flow { state_store = {} } end)
      assert.has_error(function() new_flow { redirect_uri = "http://example.com/cb" } end)
      assert.has_error(function() new_flow { redirect_uri = redirect_uri .. "#frag" } end)
      assert.has_error(function() new_flow { state_ttl = 5 } end)
      assert.has_error(function() H.basic_client():number_verification { redirect_uri = redirect_uri } end)
      assert.has_error(function() new_flow():exchange() end)
      assert.has_error(function() new_flow():verify { phone_number = NUMBER, hashed_phone_number = "x" } end)
    end)

    it("returns a validation error for a number that is not E.164", function()
      for _, bad in ipairs { "00447700900000", "+0447700900000", "+44770", "++447700900000", "447700 900000" } do
        local ok, _, err = new_flow():authorize_url { phone_number = bad, session = SESSION }
        assert.is_nil(ok)
        assert.equal("invalid_params", err.code)
        assert.equal("phone_number", err.field)
      end
    end)
  end)

  describe("the sandbox's authorization server", function()
    it("answers 400 without redirecting for an unregistered redirect_uri or an unknown client", function()
      local flow = new_flow { redirect_uri = H.url .. "/not/registered" }
      local status, location = device_opens((flow:authorize_url { phone_number = NUMBER, session = SESSION }))
      assert.equal(400, status)
      assert.is_nil(location)
      local auth_url = new_flow():authorize_url { phone_number = NUMBER, session = SESSION }
      status = device_opens((auth_url:gsub("client_id=[^&]+", "client_id=unknown")))
      assert.equal(400, status)
    end)

    it("redirects with error=invalid_scope for a bad scope", function()
      local auth_url = new_flow():authorize_url { phone_number = NUMBER, session = SESSION }
      local status, location = device_opens((auth_url:gsub("scope=[^&]+", "scope=openid")))
      assert.equal(302, status)
      assert.equal("invalid_scope", plain_query(location).error)
    end)
  end)
end)
