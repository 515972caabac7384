--- Signed webhooks: vonage.webhook.verify(raw_body, authorization, opts); the
-- OpenResty receiver vonage.webhook.ngx_handler is in vonage.webhook_receiver.
--
-- Fails closed, in this order: token shape, JOSE header, secret, signature
-- (all in C, core.webhook_check), then the claims, payload_hash and the body;
-- the jti is recorded last, once nothing else can fail, so a delivery refused
-- for any reason (a memory error included) is processed when Vonage retries.
-- Messages name what failed, never the token, the secret or the body.
-- The `webhook` codes are listed in vonage.errors.
-- @module vonage.webhook
local core = require "vonage.core"
local errors = require "vonage.errors"
local json = require "vonage.json"
local validate = require "vonage.validate"
local store_mod = require "vonage.store"
local now = require("vonage.clock").now

local type, ipairs, pairs, next, pcall, tostring, getmetatable =
      type, ipairs, pairs, next, pcall, tostring, getmetatable
local format = string.format

local M = {}

-- Rows of the one table of limits (src/vn_limits.h).
local LIMITS = core.limits()
--- The shortest signature_secret accepted (its row of the table of limits).
M.MIN_SECRET_BYTES = LIMITS.signature_secret.min
local MAX_AGE, MAX_AHEAD = LIMITS.max_age, LIMITS.max_ahead
local DEFAULT_MAX_AGE, DEFAULT_MAX_AHEAD = MAX_AGE.default, MAX_AHEAD.default
local DEFAULT_STORE_ENTRIES = LIMITS.replay_max_entries.default

local function fail(code, message)
  return errors.fail("webhook", code, "webhook: " .. message)
end

-- -------------------------------------------------------------------------
-- The replay record: a vonage.store (add/delete); a jti is added only once
-- nothing else can fail, and deleted again when the handler fails, so
-- Vonage's retry is processed.
-- -------------------------------------------------------------------------

local function default_replay_store()
  return store_mod.memory { max_entries = DEFAULT_STORE_ENTRIES }
end

--- Deprecated (0.1): vonage.store.memory, with 100000 entries by default.
-- @tparam[opt] table opts `max_entries`, `clock`
-- @treturn vonage.store.store
function M.memory_store(opts)
  opts = opts or {}
  validate.typed("vonage.webhook.memory_store", "options", opts, "table")
  return store_mod.memory { max_entries = opts.max_entries or DEFAULT_STORE_ENTRIES, clock = opts.clock }
end
--- Deprecated (0.1): vonage.store.shared_dict.
-- @function shared_dict_store
-- @param dict an ngx.shared.DICT
-- @treturn vonage.store.store
M.shared_dict_store = store_mod.shared_dict

local default_store -- created on first use

-- -------------------------------------------------------------------------
-- Options
-- -------------------------------------------------------------------------

local OPTIONS = {
  signature_secret = "string", api_key = "string", application_id = "string",
  max_age = "integer", max_ahead = "integer", replay_store = "any",
  client = "userdata", -- a vonage.client holding the signature_secret instead
}

local function check_options(op, opts)
  validate.typed(op, "opts", opts, "table", true)
  validate.known_fields(op, opts, OPTIONS)
  for k, want in pairs(OPTIONS) do
    local v = opts[k]
    if v ~= nil and want ~= "any" then validate.typed(op, k, v, want) end
  end
  local secret = opts.signature_secret
  if opts.client ~= nil then
    -- The class's __metatable answers its name.
    if getmetatable(opts.client) ~= "vonage.client" then errors.misuse(op, "client must be a vonage.client") end
    if secret ~= nil then errors.misuse(op, "give signature_secret or client, not both") end
  elseif secret == nil then
    errors.misuse(op, "signature_secret (or a client configured with one) is required")
  elseif #secret < M.MIN_SECRET_BYTES then
    errors.misuse(op, format("signature_secret must be at least %d bytes", M.MIN_SECRET_BYTES))
  end
  if opts.max_age and (opts.max_age < MAX_AGE.min or opts.max_age > MAX_AGE.max) then
    errors.misuse(op, format("max_age must be between %d and %d seconds", MAX_AGE.min, MAX_AGE.max))
  end
  if opts.max_ahead and (opts.max_ahead < MAX_AHEAD.min or opts.max_ahead > MAX_AHEAD.max) then
    errors.misuse(op, format("max_ahead must be between %d and %d seconds", MAX_AHEAD.min, MAX_AHEAD.max))
  end
  if opts.replay_store ~= nil then store_mod.check(op, "replay_store", opts.replay_store, "add", "delete") end
  store_mod._check_shared(op, "replay_store", opts.replay_store)
end

-- -------------------------------------------------------------------------
-- Claims (step 5)
-- -------------------------------------------------------------------------

local function check_claims(claims, opts)
  if type(claims) ~= "table" then return fail("invalid_claims", "the token payload is not a JSON object") end
  if claims.iss ~= "Vonage" then return fail("invalid_claims", "iss must be \"Vonage\"") end
  -- C already refused fractions and exponents in number literals.
  local iat = claims.iat
  if not validate.is_integer(iat) then return fail("invalid_claims", "iat must be an integer") end
  local t = now(opts.client) -- the client's clock, when verify_webhook passed one
  if iat < t - (opts.max_age or DEFAULT_MAX_AGE) then
    return fail("expired", "iat is older than the accepted window")
  end
  if iat > t + (opts.max_ahead or DEFAULT_MAX_AHEAD) then
    return fail("not_yet_valid", "iat is in the future")
  end
  if claims.exp ~= nil then
    if not validate.is_integer(claims.exp) then return fail("invalid_claims", "exp must be an integer") end
    if claims.exp <= t then return fail("expired", "the token has expired (exp)") end
  end
  if claims.nbf ~= nil then
    if not validate.is_integer(claims.nbf) then return fail("invalid_claims", "nbf must be an integer") end
    if claims.nbf > t + (opts.max_ahead or DEFAULT_MAX_AHEAD) then
      return fail("not_yet_valid", "the token is not valid yet (nbf)")
    end
  end
  local jti = claims.jti
  if type(jti) ~= "string" or jti == "" or #jti > 256 then
    return fail("invalid_claims", "jti must be a non-empty string")
  end
  if claims.api_key ~= nil and type(claims.api_key) ~= "string" then
    return fail("invalid_claims", "api_key must be a string")
  end
  if claims.application_id ~= nil and type(claims.application_id) ~= "string" then
    return fail("invalid_claims", "application_id must be a string")
  end
  if opts.api_key and claims.api_key ~= opts.api_key then
    return fail("wrong_account", "api_key is not the configured one")
  end
  if opts.application_id and claims.application_id ~= opts.application_id then
    return fail("wrong_account", "application_id is not the configured one")
  end
  return true
end

-- -------------------------------------------------------------------------
-- The body (step 8)
-- -------------------------------------------------------------------------

local function bad_body(field, reason)
  return fail("invalid_body", field .. " " .. reason)
end

local function opt_string(t, k, max)
  local v = t[k]
  if v == nil or v == json.null then return true, nil end
  if type(v) ~= "string" or #v > (max or 256) then return false end
  return true, v
end

-- Copies the string fields `names` of src into dst; `required` ones must be there.
local function strings(src, dst, names, required, prefix)
  for _, k in ipairs(names) do
    local ok, v = opt_string(src, k)
    if not ok then return bad_body(prefix .. k, "must be a string") end
    if required and v == nil then return bad_body(prefix .. k, "is required") end
    dst[k] = v
  end
  return true
end

local function is_status(s)
  return s:match("^[%a_]+$") ~= nil
end

local function check_url_of(action)
  if type(action) ~= "table" then return nil end
  -- The reference shows an array of actions, the async guide one object.
  local list = action[1] ~= nil and action or { action }
  for _, a in ipairs(list) do
    if type(a) == "table" and a.type == "check" then return a.check_url end
  end
end

-- The bodies' field names, listed once.
local EVENT_REQUIRED, EVENT_OPTIONAL = { "request_id", "triggered_at", "channel", "status" },
                                       { "finalized_at", "client_ref" }
local SUMMARY_REQUIRED, SUMMARY_OPTIONAL = { "request_id", "submitted_at", "status" }, { "client_ref" }
local STEP_REQUIRED, STEP_OPTIONAL = { "channel", "status" }, { "initiated_at" }

local function typed_event(body)
  local event = { type = "event" }
  local ok, msg, err = strings(body, event, EVENT_REQUIRED, true, "")
  if not ok then return nil, msg, err end
  ok, msg, err = strings(body, event, EVENT_OPTIONAL, false, "")
  if not ok then return nil, msg, err end
  if not is_status(event.status) then return bad_body("status", "must be a status name") end
  if event.status == "action_pending" then
    local url = check_url_of(body.action)
    if type(url) ~= "string" or #url > 2048 or not url:match("^https?://[%w%.%-%[%]:]+/[!-~]*$") then
      return bad_body("action.check_url", "must be an http(s) URL")
    end
    event.action = { type = "check", check_url = url }
    event.check_url = url
  end
  return event
end

local function typed_summary(body)
  local summary = { type = "summary" }
  local ok, msg, err = strings(body, summary, SUMMARY_REQUIRED, true, "")
  if not ok then return nil, msg, err end
  ok, msg, err = strings(body, summary, SUMMARY_OPTIONAL, false, "")
  if not ok then return nil, msg, err end
  if not is_status(summary.status) then return bad_body("status", "must be a status name") end
  summary.channel_timeout = json.integer(body.channel_timeout)
  if body.channel_timeout ~= nil and not summary.channel_timeout then
    return bad_body("channel_timeout", "must be an integer")
  end
  if type(body.workflow) ~= "table" or (next(body.workflow) ~= nil and body.workflow[1] == nil) then
    return bad_body("workflow", "must be an array")
  end
  summary.workflow = {}
  for i, step in ipairs(body.workflow) do
    local prefix = format("workflow[%d].", i - 1)
    if type(step) ~= "table" then return bad_body(prefix:sub(1, -2), "must be an object") end
    local out = {}
    ok, msg, err = strings(step, out, STEP_REQUIRED, true, prefix)
    if not ok then return nil, msg, err end
    ok, msg, err = strings(step, out, STEP_OPTIONAL, false, prefix)
    if not ok then return nil, msg, err end
    summary.workflow[i] = out
  end
  return summary
end

local function typed_body(raw_body)
  local body = json.decode(raw_body)
  if type(body) ~= "table" or body[1] ~= nil then
    return fail("invalid_body", "the body is not a JSON object")
  end
  if body.type == "event" then return typed_event(body) end
  if body.type == "summary" then return typed_summary(body) end
  return bad_body("type", "must be \"event\" or \"summary\"")
end

-- -------------------------------------------------------------------------
-- verify
-- -------------------------------------------------------------------------

-- The checks in their order, the replay record last. Raises only what
-- something it calls raises.
local function checked_event(raw_body, authorization, opts)
  local claims_json, hash, err
  if opts.client then
    claims_json, hash, err = core.client_webhook_check(opts.client, authorization, raw_body)
  else
    claims_json, hash, err = core.webhook_check(authorization, raw_body, opts.signature_secret)
  end
  if not claims_json then return nil, hash, err end
  local claims = json.decode(claims_json)
  local ok, msg
  ok, msg, err = check_claims(claims, opts)
  if not ok then return nil, msg, err end
  if hash == "missing" then return fail("invalid_claims", "payload_hash must be a string") end
  if hash ~= "ok" then return fail("payload_hash_mismatch", "payload_hash does not match the body") end
  local event
  event, msg, err = typed_body(raw_body)
  if not event then return nil, msg, err end
  event.claims = { jti = claims.jti, iat = json.integer(claims.iat), api_key = claims.api_key,
                  application_id = claims.application_id }
  local store = opts.replay_store
  if not store then
    default_store = default_store or default_replay_store()
    store = default_store
  end
  -- Remember a jti as long as its iat could still pass the window.
  local fresh, why = store:add(claims.jti, M._replay_ttl(opts))
  if fresh == nil then return fail("replay_store", "the replay store failed: " .. tostring(why)) end
  if not fresh then return fail("replay", "this token (jti) was seen before") end
  return event
end

--- Checks a signed callback and returns its event.
-- A memory error during the checks is `out_of_memory` (raised as such when
-- even that cannot be built); the jti is not recorded, so the retry is
-- processed. Other errors a replay store raises propagate.
-- @string raw_body the request body, exactly as received
-- @tparam string|nil authorization the Authorization header ("Bearer <JWT>")
-- @tparam table opts `signature_secret` (required, >= 16 bytes; or `client`, a
-- vonage.client holding it), `api_key`, `application_id` (the claims must equal
-- them), `max_age` (300) and `max_ahead` (60) seconds for iat, `replay_store`
-- (a vonage.store; default one in-memory store per process)
-- @treturn table the event: the body's fields typed (`type` "event" or
-- "summary", `request_id`, `status`, ...), and `claims` (jti, iat, api_key, application_id)
-- @return nil, msg, err on failure (kind `webhook`)
-- @usage local event, msg, err = vonage.webhook.verify(body, headers.authorization,
--   { signature_secret = os.getenv("VONAGE_SIGNATURE_SECRET") })
-- if not event then return reject(401, msg) end
function M.verify(raw_body, authorization, opts)
  local op = "vonage.webhook.verify"
  validate.typed(op, "raw_body", raw_body, "string", true)
  check_options(op, opts)
  if type(authorization) ~= "string" then
    return fail("malformed", "no Authorization header")
  end
  local ok, event, msg, err = pcall(checked_event, raw_body, authorization, opts)
  if ok then return event, msg, err end
  if errors.is_memory_error(event) then
    return fail("out_of_memory", "not enough memory to process the event (not recorded: its retry will be)")
  end
  error(event, 0)
end

--- vonage.webhook.verify with the signature_secret the client holds in C.
-- @function client:verify_webhook
-- @string raw_body
-- @tparam string|nil authorization
-- @tparam[opt] table opts as for vonage.webhook.verify, without signature_secret
-- @treturn table the event
-- @return nil, msg, err on failure (kind `webhook`)
-- @usage local event, msg, err = client:verify_webhook(body, headers.authorization)
function M.verify_webhook(client, raw_body, authorization, opts)
  local with_client = { client = client }
  for k, v in pairs(opts or {}) do with_client[k] = v end
  return M.verify(raw_body, authorization, with_client)
end

--- An OpenResty receiver: a function for content_by_lua (the code is in
-- vonage.webhook_receiver, loaded on first use). It verifies, calls
-- on_event(event) and answers 204. At most once: the token's jti (and with
-- dedupe = "event" the event itself) is claimed in opts.replay_store before
-- on_event runs; a delivery whose claim exists gets 200 and is not run. At
-- least once: when on_event raises or returns false (or nil, err) the claims
-- are released and the answer is 500; when the store fails, nothing runs and
-- the answer is 503. 401 for a bad token, 400 for a bad body, 405 for a method
-- other than POST. Raises on bad options, and with several nginx workers and
-- no shared store.
-- @tparam table opts as for verify, plus `dedupe` ("token", the default, or "event"); `replay_store`:
-- vonage.store.shared_dict(ngx.shared.X) in one nginx, vonage.store.redis{...} across hosts
-- @tparam function on_event function(event) -> true, or false / nil, err to have Vonage retry
-- @treturn function the content handler
-- @usage M.receive = vonage.webhook.ngx_handler({
--   signature_secret = os.getenv("VONAGE_SIGNATURE_SECRET"),
--   replay_store = vonage.store.shared_dict(ngx.shared.vonage_webhook_jti),
-- }, function(event) return save(event) end)
function M.ngx_handler(opts, on_event)
  return require("vonage.webhook_receiver").ngx_handler(opts, on_event)
end

-- For the receiver: the same option checks verify makes, and how long a
-- replay record lives.
M._check_options = check_options
function M._replay_ttl(opts)
  return (opts.max_age or DEFAULT_MAX_AGE) + (opts.max_ahead or DEFAULT_MAX_AHEAD)
end

return M
