--- Number Verification (CAMARA): the OAuth2 authorization-code flow that proves
-- a device on mobile data holds a phone number.
--   local flow = client:number_verification { redirect_uri = "https://app/cb" }
--   local auth_url, state = flow:authorize_url { phone_number = "+447700900000", session = sid }
--   -- the device opens auth_url over mobile data; Vonage redirects it to redirect_uri
--   flow:callback(query, sid); flow:exchange(); flow:verify { phone_number = "+447700900000" }
-- One flow object per callback: it keeps the bound number and the access
-- token of that one authorization, never the client.
-- @module vonage.number_verification
local core = require "vonage.core"
local api = require "vonage.api"
local errors = require "vonage.errors"
local json = require "vonage.json"
local url = require "vonage.url"
local validate = require "vonage.validate"
local store_mod = require "vonage.store"
local now = require("vonage.clock").now

local type, pairs, ipairs, setmetatable, tostring, format, concat =
      type, pairs, ipairs, setmetatable, tostring, string.format, table.concat

local M = {}

M.SCOPE = "dpv:FraudPreventionAndDetection#number-verification-verify-read"
local AUTHORIZE_SCOPE = "openid " .. M.SCOPE
local VERIFY_PATH = "/camara/number-verification/v031/verify"
-- Rows of the one table of limits (src/vn_limits.h).
local LIMITS = core.limits()
local STATE_TTL, EXPIRES_IN = LIMITS.state_ttl, LIMITS.token_expires_in
local MAX_TOKEN_BYTES, SESSION = LIMITS.access_token_bytes.max, LIMITS.session_bytes

local Flow = { __name = "vonage.number_verification" }
Flow.__index = Flow

-- The authorization code and the access token of each flow live here, not in
-- the flow table, so printing or walking a flow never shows them.
local secrets = setmetatable({}, { __mode = "k" })

-- Flows of one client share its default store: the callback usually reaches
-- another flow object (another web request) than the one that made the URL.
local default_stores = setmetatable({}, { __mode = "k" })

local function is_e164(v)
  return type(v) == "string" and v:match("^%+[1-9]%d+$") ~= nil and #v >= 8 and #v <= 16
end

-- Users hold numbers with or without the '+'; CAMARA wants it, so an
-- accepted number is used (stored, hashed, sent) in that one form.
local function check_e164(v)
  if not validate.is_phone(v) then
    return "must be an E.164 number, with or without '+' (no '00'): 7 to 15 digits, e.g. +447700900000"
  end
end

local function with_plus(v)
  return "+" .. validate.phone_digits(v)
end

local function sha256_hex(s)
  return core.hex(core.sha256(s))
end

-- Server and user text goes into messages as one bounded line.
local function one_line(s, max)
  if type(s) ~= "string" then return nil end
  s = s:gsub("%c", " ")
  return #s > max and (s:sub(1, max) .. "...") or s
end

local function oauth_fail(code, message)
  return errors.fail("oauth", code, message)
end

-- vonage.hash_phone_number("+447700900000") -> hex SHA-256 of the E.164
-- number, as the verify call's hashedPhoneNumber wants it | nil, msg, err
function M.hash_phone_number(phone_number)
  local ok, msg, err = validate.required("hash_phone_number", "phone_number", phone_number)
  if not ok then return nil, msg, err end
  validate.typed("hash_phone_number", "phone_number", phone_number, "string")
  local reason = check_e164(phone_number)
  if reason then return errors.invalid("hash_phone_number", "phone_number", reason) end
  return sha256_hex(with_plus(phone_number))
end

-- The store only ever sees a hash of the state, so a dump of it (or a Redis
-- MONITOR) cannot be replayed as a callback.
local function store_key(state)
  return "vonage:nv:" .. sha256_hex(state)
end

local START_SCHEMA = {
  phone_number = { "string", check_e164, required = true },
  session = { "string", validate.rules.length(SESSION.min, SESSION.max), required = true },
}

-- Creates, stores and returns a fresh state bound to the number, the
-- redirect_uri and the session | nil, msg, err
local function new_state(flow, op, params)
  validate.typed(op, "argument", params, "table", true)
  local ok, msg, err = validate.check(op, params, START_SCHEMA)
  if not ok then return nil, msg, err end
  local state = core.base64url_encode(core.random_bytes(32))
  local created_at = now(flow.client)
  local record = json.encode {
    phone_number = with_plus(params.phone_number),
    redirect_uri = flow.redirect_uri,
    session = sha256_hex(params.session),
    created_at = created_at,
    expires_at = created_at + flow.state_ttl,
  }
  ok, msg, err = flow.state_store:put(store_key(state), record, flow.state_ttl)
  if not ok then
    local code = type(err) == "table" and err.code
    code = (code == "store_full" and "state_store_full") or (code == "store_unavailable" and code)
           or "state_store_failed"
    return oauth_fail(code, op .. ": the state store refused the state: " .. tostring(msg))
  end
  return state
end

--- A Number Verification flow (client:number_verification): one per
-- authorization; it keeps the bound number and the access token of that one
-- authorization, never the client.
-- @type number_verification_flow

--- The URL the device must open over mobile data, built locally (no
-- Network Enablement call); the state is stored, bound to the number and session.
-- @function number_verification_flow:authorize_url
-- @tparam table params `phone_number` (E.164 with +), `session` (your session id)
-- @treturn string the URL
-- @treturn string the state
-- @return nil, msg, err on failure (`invalid_params`, `store_full`, ...)
function Flow:authorize_url(params)
  local state, msg, err = new_state(self, "authorize_url", params)
  if not state then return nil, msg, err end
  return self.client.oidc_host .. "/oauth2/auth?" .. url.query {
    { "client_id", self.client.application_id },
    { "response_type", "code" },
    { "scope", AUTHORIZE_SCOPE },
    { "redirect_uri", self.redirect_uri },
    { "state", state },
    { "login_hint", with_plus(params.phone_number) },
  }, state
end

-- Checks the auth_url Network Enablement answered: a URL the device may
-- open, carrying our state and, when it names one, our redirect_uri.
local function check_auth_url(auth_url, state, redirect_uri)
  if type(auth_url) ~= "string" or validate.rules.redirect_url(auth_url) then
    return "no https auth_url for the number-verification scope"
  end
  local query = url.parse_query(auth_url)
  if not query or type(query.state) ~= "string" or not core.const_equal(query.state, state) then
    return "the auth_url does not carry the state that was sent"
  end
  if query.redirect_uri ~= nil and query.redirect_uri ~= redirect_uri then
    return "the auth_url redirects to another redirect_uri than this flow's"
  end
end

-- A scope's own refusal in a 200 answer ({ error = { error_type, title,
-- detail } }, e.g. Forbidden: Blocked by allowlist): code network_blocked,
-- the API's words kept as bounded fields | nil when the scope has none.
local function scope_error(op, status, answer)
  local e = answer.error
  if type(e) == "string" then e = { detail = e } end
  if type(e) ~= "table" then return nil end -- absent, or JSON null
  local error_type, title = one_line(e.error_type, 100), one_line(e.title, 200)
  local detail = one_line(e.detail or e.message, 300)
  local parts = {}
  for _, p in ipairs { error_type or false, title or false, detail or false } do
    if p and p ~= parts[#parts] then parts[#parts + 1] = p end
  end
  local why = parts[1] and concat(parts, ": ") or "no reason given"
  return errors.fail("api", "network_blocked",
    format("%s: HTTP %d: the number-verification scope was refused: %s", op, status, why),
    { status = status, error_type = error_type, title = title, detail = detail,
      scope_status = json.integer(e.status) })
end

--- Vonage's recommended first step: the API checks the number is on a
-- supported network and builds the URL the device opens. The answer's
-- deprecated app_url (null when present) is not used.
-- @function number_verification_flow:network_enablement
-- @tparam table params `phone_number`, `session`
-- @treturn string the URL
-- @treturn string the state
-- @treturn boolean|nil requires_carrier_network, as the API answered it
-- @return nil, msg, err on failure (`network_not_supported`, `network_blocked`, ...)
-- @usage local auth_url, state = flow:network_enablement {
--   phone_number = "+447700900000", session = session_id }
function Flow:network_enablement(params)
  local op = "network_enablement"
  local state, msg, err = new_state(self, op, params)
  if not state then return nil, msg, err end
  local status, body, e = api.call(self.client, {
    op = op, method = "POST", host = "network_host", path = "/v0.1/network-enablement",
    payload = { phone_number = with_plus(params.phone_number), scopes = { M.SCOPE }, state = state },
    auth = "jwt", on_error = errors.from_camara })
  local auth_url, carrier
  if status then
    local answer = type(body) == "table" and type(body.scopes) == "table"
                   and type(body.scopes[M.SCOPE]) == "table" and body.scopes[M.SCOPE] or {}
    local refused, msg2, err2 = scope_error(op, status, answer)
    if msg2 then
      status, body, e = refused, msg2, err2
    else
      auth_url = answer.auth_url
      if type(answer.requires_carrier_network) == "boolean" then carrier = answer.requires_carrier_network end
      local why = check_auth_url(auth_url, state, self.redirect_uri)
      if why then status, body, e = errors.bad_response(op, status, format("HTTP %d: %s", status, why)) end
    end
  end
  if not status then
    self.state_store:take(store_key(state)) -- nobody will use it now
    return nil, body, e
  end
  return auth_url, state, carrier
end

-- The callback's query as { name = value }, from a raw query string or URL,
-- or a table of strings (a framework's parsed arguments, where a repeated
-- name shows up as a list) | nil, reason
local function callback_params(query)
  if type(query) == "string" then
    local params, why = url.parse_query(query)
    return params, why
  end
  local params = {}
  for name, value in pairs(query) do
    if type(value) == "table" then return nil, "parameter '" .. tostring(name) .. "' is repeated" end
    if type(name) ~= "string" or type(value) ~= "string" then
      return nil, "parameters must be strings"
    end
    params[name] = value
  end
  return params
end

-- The OAuth error codes of RFC 6749 4.1.2.1 keep their own names.
local function callback_error(params)
  local code = params.error
  code = (#code <= 64 and code:match("^[%w_]+$")) and code or "oauth_error"
  local description = one_line(params.error_description, 200)
  return oauth_fail(code, "callback: the authorization was refused: " .. code
                          .. (description and (" (" .. description .. ")") or ""))
end

--- Takes the redirect_uri's request: the state is consumed first (single use,
-- constant-time compare, bounded lifetime), whatever follows.
-- @function number_verification_flow:callback
-- @param query the raw query string (or whole URL), or a table of its parameters
-- @string session the session the state was bound to
-- @treturn string the phone number the state was bound to
-- @return nil, msg, err on failure (kind `oauth`: `unknown_state`,
-- `expired_state`, `session_mismatch`, `missing_code`, an RFC 6749 error)
-- @usage local number, msg, err = flow:callback(ngx.var.args, session_id)
function Flow:callback(query, session)
  local op = "callback"
  if type(query) ~= "string" and type(query) ~= "table" then
    errors.misuse(op, "query must be the query string or a table of parameters")
  end
  local ok, msg, err = validate.required(op, "session", session) -- a cookie the browser did not send
  if not ok then return nil, msg, err end
  validate.typed(op, "session", session, "string")
  if secrets[self] then
    errors.misuse(op, "this flow already took a callback; make one flow per callback")
  end
  local params, why = callback_params(query)
  if not params then return oauth_fail("invalid_callback", op .. ": " .. why) end
  local state = params.state
  if state == nil or state == "" then return oauth_fail("missing_state", op .. ": no state parameter") end

  local raw, why_not, store_err
  if #state == 43 and state:match("^[%w_%-]+$") then
    raw, why_not, store_err = self.state_store:take(store_key(state))
    -- a store that cannot answer is not an unknown state: the user may retry
    if raw == nil and store_err then
      return oauth_fail("store_unavailable", op .. ": the state store failed: " .. tostring(why_not))
    end
  end
  local record = raw and json.decode(raw)
  if type(record) ~= "table" then
    return oauth_fail("unknown_state", op .. ": the state is unknown, already used or expired")
  end
  if type(record.expires_at) ~= "number" or now(self.client) >= record.expires_at then
    return oauth_fail("expired_state", op .. ": the state has expired")
  end
  if not core.const_equal(sha256_hex(session), tostring(record.session)) then
    return oauth_fail("session_mismatch", op .. ": the state belongs to another session")
  end
  if params.error ~= nil then return callback_error(params) end
  local code = params.code
  if type(code) ~= "string" or #code > 2048 or not code:match("^[!-~]+$") then
    return oauth_fail("missing_code", op .. ": no valid code parameter")
  end
  if not is_e164(record.phone_number) or type(record.redirect_uri) ~= "string" then
    return oauth_fail("unknown_state", op .. ": the stored state is damaged")
  end
  self.phone_number = record.phone_number
  secrets[self] = { code = code, redirect_uri = record.redirect_uri }
  return record.phone_number
end

local function check_token_answer(op, status, body)
  local token = body and body.access_token
  if type(token) ~= "string" or #token > MAX_TOKEN_BYTES or not token:match("^[!-~]+$") then
    return errors.bad_response(op, status, format("HTTP %d: no valid access_token", status))
  end
  if type(body.token_type) ~= "string" or body.token_type:lower() ~= "bearer" then
    return errors.bad_response(op, status, format("HTTP %d: token_type is not Bearer", status))
  end
  local expires_in = json.integer(body.expires_in)
  if not expires_in or expires_in < EXPIRES_IN.min or expires_in > EXPIRES_IN.max then
    return errors.bad_response(op, status, format("HTTP %d: expires_in is not a positive number of seconds", status))
  end
  return token, expires_in
end

--- Trades the callback's code for an access token, kept in this flow. The
-- code is spent by the attempt, success or not: it is never sent twice.
-- @function number_verification_flow:exchange
-- @treturn int expires_in, seconds
-- @return nil, msg, err on failure (`code_used`, `unauthorized`, ...)
function Flow:exchange()
  local op = "exchange"
  local s = secrets[self]
  if not s then errors.misuse(op, "call flow:callback(query, session) first") end
  local code = s.code
  if not code then return oauth_fail("code_used", op .. ": the code was already exchanged") end
  s.code = nil
  local status, body, err = api.call(self.client, {
    op = op, method = "POST", host = "network_host", path = "/oauth2/token",
    payload = {
      { "grant_type", "authorization_code" },
      { "code", code },
      { "redirect_uri", s.redirect_uri },
    },
    auth = "jwt", form = true, retries = 0, on_error = errors.from_camara })
  if not status then return nil, body, err end
  local token, expires_in, e = check_token_answer(op, status, body)
  if not token then return nil, expires_in, e end
  s.access_token = token
  self.expires_at = now(self.client) + expires_in
  return expires_in
end

local VERIFY_FIELDS = { phone_number = true, hashed_phone_number = true }

--- Asks whether the device's SIM holds the number.
-- @function number_verification_flow:verify
-- @tparam table params `phone_number` ("+44...") or `hashed_phone_number` (vonage.hash_phone_number)
-- @treturn boolean true: the device holds the number; false: another number
-- @return nil, msg, err on failure (`no_access_token`, `token_expired`, `phone_number_mismatch`)
-- @usage if flow:verify { phone_number = number } == true then log_in() end
function Flow:verify(params)
  local op = "verify"
  validate.typed(op, "argument", params, "table", true)
  validate.known_fields(op, params, VERIFY_FIELDS)
  validate.typed(op, "phone_number", params.phone_number, "string")
  validate.typed(op, "hashed_phone_number", params.hashed_phone_number, "string")
  if params.phone_number ~= nil and params.hashed_phone_number ~= nil then
    errors.misuse(op, "give phone_number or hashed_phone_number, not both")
  end
  if params.hashed_phone_number == nil then
    local ok, msg, err = validate.required(op, "phone_number", params.phone_number)
    if not ok then return nil, msg, err end
  end
  local s = secrets[self]
  if not (s and s.access_token) then
    return oauth_fail("no_access_token", op .. ": no access token: call flow:exchange() first")
  end
  if now(self.client) >= self.expires_at then
    return oauth_fail("token_expired", op .. ": the access token has expired")
  end
  local payload
  if params.phone_number then
    local reason = check_e164(params.phone_number)
    if reason then return errors.invalid(op, "phone_number", reason) end
    local number = with_plus(params.phone_number)
    if number ~= self.phone_number then
      return errors.fail("validation", "phone_number_mismatch",
                         op .. ": phone_number is not the number this authorization was for")
    end
    payload = { phoneNumber = number }
  else
    local hashed = params.hashed_phone_number:lower()
    if not hashed:match("^" .. ("%x"):rep(64) .. "$") then
      return errors.invalid(op, "hashed_phone_number", "must be a hex SHA-256 (64 digits)")
    end
    if hashed ~= sha256_hex(self.phone_number) then
      return errors.fail("validation", "phone_number_mismatch",
                         op .. ": hashed_phone_number is not the number this authorization was for")
    end
    payload = { hashedPhoneNumber = hashed }
  end
  local status, body, err = api.call(self.client, {
    op = op, method = "POST", host = "network_host", path = VERIFY_PATH, payload = payload,
    authorization = "Bearer " .. s.access_token, on_error = errors.from_camara })
  if not status then return nil, body, err end
  local verified = type(body) == "table" and body.devicePhoneNumberVerified
  if type(verified) ~= "boolean" then
    return errors.bad_response(op, status, format("HTTP %d: devicePhoneNumberVerified is not a JSON boolean", status))
  end
  return verified
end

function Flow:__tostring()
  local stage = "waiting for a callback"
  local s = secrets[self]
  if s and s.access_token then stage = "access token until " .. tostring(self.expires_at)
  elseif s then stage = "callback received" end
  return format("vonage.number_verification %s (%s)", self.redirect_uri, stage)
end

local NEW_SCHEMA = { redirect_uri = "string", state_store = "any", state_ttl = "integer" }

--- Client methods.
-- @section client

--- A Number Verification flow. Misconfiguration raises (these are the
-- application's settings, not user input); the client needs application_id
-- and a private key.
-- @function client:number_verification
-- @tparam table opts `redirect_uri` (required, https), `state_store` (a vonage.store;
-- default this process's memory store; shared_dict with several workers),
-- `state_ttl` (600 s)
-- @treturn number_verification_flow
-- @usage local flow = client:number_verification {
--   redirect_uri = "https://app.example/nv/callback", state_store = store }
function M.number_verification(client, opts)
  local op = "number_verification"
  validate.typed(op, "options", opts, "table", true)
  validate.known_fields(op, opts, NEW_SCHEMA)
  validate.typed(op, "redirect_uri", opts.redirect_uri, "string", true)
  validate.typed(op, "state_ttl", opts.state_ttl, "integer")
  local why = validate.rules.redirect_url(opts.redirect_uri)
  if why or opts.redirect_uri:find("#", 1, true) then
    errors.misuse(op, "redirect_uri " .. (why or "must not hold a #fragment"))
  end
  local ttl = opts.state_ttl or STATE_TTL.default
  if ttl < STATE_TTL.min or ttl > STATE_TTL.max then
    errors.misuse(op, format("state_ttl must be between %d and %d seconds", STATE_TTL.min, STATE_TTL.max))
  end
  if not client.application_id then
    errors.misuse(op, "the client needs application_id and a private key (the app JWT)")
  end
  local store = opts.state_store
  store_mod._check_shared(op, "state_store", store)
  if store == nil then
    store = default_stores[client] or store_mod.memory()
    default_stores[client] = store
  end
  store_mod.check(op, "state_store", store, "put", "take")
  return setmetatable({ client = client, redirect_uri = opts.redirect_uri, state_store = store,
                        state_ttl = ttl }, Flow)
end

return M
