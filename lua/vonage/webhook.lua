--- Signed webhooks: vonage.webhook.verify(raw_body, authorization, opts); the
-- OpenResty receiver vonage.webhook.ngx_handler is in vonage.webhook_receiver.
--
-- Fails closed, in this order: token shape, JOSE header, secret, signature,
-- the claims and payload_hash (all in one C call, core.webhook_verify), then
-- the body (typed by that call too when it is a plain event, else here); the
-- jti is recorded last, once nothing else can fail, so a delivery refused
-- for any reason (a memory error included) is processed when Vonage retries.
-- Messages name what failed, never the token, the secret or the body.
-- The `webhook` codes are listed in vonage.errors.
-- @module vonage.webhook
local core = require "vonage.core"
local errors = require "vonage.errors"
local json = require "vonage.json"
local validate = require "vonage.validate"
local store_mod = require "vonage.store"
local clock_source = require("vonage.clock").source

local type, ipairs, pairs, next, pcall, tostring, getmetatable, setmetatable, rawequal =
      type, ipairs, pairs, next, pcall, tostring, getmetatable, setmetatable, rawequal
local format = string.format
local null = json.null
local webhook_key, webhook_verify, client_webhook_verify =
      core.webhook_key, core.webhook_verify, core.client_webhook_verify

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
-- Plans
-- -------------------------------------------------------------------------

-- What verify needs from one opts table, worked out once: a plan. It is
-- reused while the table holds exactly the same fields (one pass of next()
-- compares them with a copy), so a field changed, added or removed is
-- checked again, and refused with the same message, before the next call.
-- A table with a metatable (fields it may not hold itself) is checked on
-- every call. Weak keys: a plan lives as long as its opts table (or client).
local plans = setmetatable({}, { __mode = "k" })        -- opts -> plan (verify)
local client_plans = setmetatable({}, { __mode = "k" }) -- opts or client -> plan (verify_webhook)
M._plans_made = 0 -- for the specs: how many times options were checked in full

-- The plan for the checked options; filed as cache[key] unless watched has a
-- metatable. by_client: the client the plan was made for (verify_webhook).
local function build_plan(checked, watched, cache, key, by_client)
  local fields, n = {}, 0
  if watched ~= nil then
    for k, v in next, watched do
      fields[k], n = v, n + 1
    end
  end
  local client = checked.client
  local plan = {
    fields = fields, n = n, by_client = by_client,
    -- not when filed under the client: a value naming its weak key would
    -- keep it alive (LuaJIT's weak tables are not ephemerons)
    client = key ~= client and client or nil,
    -- the secret stays in C: a copy in the key, keyed once for HMAC
    key = client == nil and webhook_key(checked.signature_secret) or nil,
    now = clock_source(client),
    api_key = checked.api_key, application_id = checked.application_id,
    max_age = checked.max_age or DEFAULT_MAX_AGE, max_ahead = checked.max_ahead or DEFAULT_MAX_AHEAD,
    replay_store = checked.replay_store, ttl = M._replay_ttl(checked),
  }
  if watched == nil or getmetatable(watched) == nil then cache[key] = plan end
  return plan
end

-- new_plan(op, checked, watched, cache, key[, by_client]) -> plan | nil on a
-- memory error: checks the options `checked` (raises as check_options does)
-- and files a plan that stays valid while `watched` (the caller's own table,
-- or nil) keeps the same fields.
local function new_plan(op, checked, watched, cache, key, by_client)
  M._plans_made = M._plans_made + 1
  check_options(op, checked)
  local ok, plan = pcall(build_plan, checked, watched, cache, key, by_client)
  if ok then return plan end
  if errors.is_memory_error(plan) then return nil end
  error(plan, 0)
end

local function unchanged(plan, opts)
  if getmetatable(opts) ~= nil then return false end
  local fields, n = plan.fields, 0
  for k, v in next, opts do
    if not rawequal(fields[k], v) then return false end -- not a store's own __eq
    n = n + 1
  end
  return n == plan.n
end

-- -------------------------------------------------------------------------
-- The body (step 8)
-- -------------------------------------------------------------------------

local function bad_body(name, reason)
  return fail("invalid_body", name .. " " .. reason)
end

-- A string field of a body: the string; nil when absent or null; false when
-- it is not a string of at most 256 bytes.
local function field(t, k)
  local v = t[k]
  if v == nil or v == null then return nil end
  if type(v) ~= "string" or #v > 256 then return false end
  return v
end

-- Only once a field is known to be wrong: the message for the first wrong
-- one, the required names first, each list in its order.
local function first_bad(src, required, optional, prefix)
  for _, k in ipairs(required) do
    local v = field(src, k)
    if v == false then return bad_body(prefix .. k, "must be a string") end
    if v == nil then return bad_body(prefix .. k, "is required") end
  end
  for _, k in ipairs(optional) do
    if field(src, k) == false then return bad_body(prefix .. k, "must be a string") end
  end
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
  local request_id, triggered_at, channel, status =
        field(body, "request_id"), field(body, "triggered_at"), field(body, "channel"), field(body, "status")
  local finalized_at, client_ref = field(body, "finalized_at"), field(body, "client_ref")
  if not (request_id and triggered_at and channel and status) or finalized_at == false or client_ref == false then
    return first_bad(body, EVENT_REQUIRED, EVENT_OPTIONAL, "")
  end
  if not is_status(status) then return bad_body("status", "must be a status name") end
  local event = { type = "event", request_id = request_id, triggered_at = triggered_at, channel = channel,
                  status = status, finalized_at = finalized_at, client_ref = client_ref }
  if status == "action_pending" then
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
  local request_id, submitted_at, status = field(body, "request_id"), field(body, "submitted_at"), field(body, "status")
  local client_ref = field(body, "client_ref")
  if not (request_id and submitted_at and status) or client_ref == false then
    return first_bad(body, SUMMARY_REQUIRED, SUMMARY_OPTIONAL, "")
  end
  if not is_status(status) then return bad_body("status", "must be a status name") end
  local channel_timeout = json.integer(body.channel_timeout)
  if body.channel_timeout ~= nil and not channel_timeout then
    return bad_body("channel_timeout", "must be an integer")
  end
  local steps = body.workflow
  if type(steps) ~= "table" or (next(steps) ~= nil and steps[1] == nil) then
    return bad_body("workflow", "must be an array")
  end
  local workflow = {}
  for i, step in ipairs(steps) do
    if type(step) ~= "table" then return bad_body(format("workflow[%d]", i - 1), "must be an object") end
    local channel, step_status, initiated_at =
          field(step, "channel"), field(step, "status"), field(step, "initiated_at")
    if not (channel and step_status) or initiated_at == false then
      return first_bad(step, STEP_REQUIRED, STEP_OPTIONAL, format("workflow[%d].", i - 1))
    end
    workflow[i] = { channel = channel, status = step_status, initiated_at = initiated_at }
  end
  return { type = "summary", request_id = request_id, submitted_at = submitted_at, status = status,
           client_ref = client_ref, channel_timeout = channel_timeout, workflow = workflow }
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
local function checked_event(raw_body, authorization, plan, client)
  -- the body comes typed when it is a plain event, else Lua types it
  -- the secret: the plan's key, or the one the client holds in C
  local verify, holder = webhook_verify, plan.key
  if client then verify, holder = client_webhook_verify, client end
  local jti, iat, api_key, application_id, event = verify(holder, authorization, raw_body, plan.now(client),
    plan.max_age, plan.max_ahead, plan.api_key, plan.application_id)
  if not jti then return nil, iat, api_key end -- nil, msg, err
  if not event then
    local msg, err
    event, msg, err = typed_body(raw_body)
    if not event then return nil, msg, err end
  end
  event.claims = { jti = jti, iat = iat, api_key = api_key, application_id = application_id }
  local store = plan.replay_store
  if not store then
    default_store = default_store or default_replay_store()
    store = default_store
  end
  -- Remember a jti as long as its iat could still pass the window.
  local fresh, why = store:add(jti, plan.ttl)
  if fresh == nil then return fail("replay_store", "the replay store failed: " .. tostring(why)) end
  if not fresh then return fail("replay", "this token (jti) was seen before") end
  return event
end

local VERIFY = "vonage.webhook.verify"

local function out_of_memory()
  return fail("out_of_memory", "not enough memory to process the event (not recorded: its retry will be)")
end

local function verify_with(raw_body, authorization, plan, client)
  if type(authorization) ~= "string" then
    return fail("malformed", "no Authorization header")
  end
  local ok, event, msg, err = pcall(checked_event, raw_body, authorization, plan, client)
  if ok then return event, msg, err end
  if errors.is_memory_error(event) then return out_of_memory() end
  error(event, 0)
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
  if type(raw_body) ~= "string" then validate.typed(VERIFY, "raw_body", raw_body, "string", true) end
  local plan = plans[opts]
  if plan == nil or not unchanged(plan, opts) then
    plan = new_plan(VERIFY, opts, opts, plans, opts)
    if plan == nil then return out_of_memory() end
  end
  return verify_with(raw_body, authorization, plan, plan.client)
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
  if type(raw_body) ~= "string" then validate.typed(VERIFY, "raw_body", raw_body, "string", true) end
  if opts == nil then
    local plan = client_plans[client]
    if plan == nil then
      plan = new_plan(VERIFY, { client = client }, nil, client_plans, client)
      if plan == nil then return out_of_memory() end
    end
    return verify_with(raw_body, authorization, plan, client)
  end
  local plan = client_plans[opts]
  if plan == nil or plan.by_client ~= client or not unchanged(plan, opts) then
    local with_client = { client = client }
    for k, v in pairs(opts) do with_client[k] = v end -- opts may name another client: that one is used
    plan = new_plan(VERIFY, with_client, opts, client_plans, opts, client)
    if plan == nil then return out_of_memory() end
  end
  return verify_with(raw_body, authorization, plan, plan.client)
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
-- For the specs and the fuzzer: the Lua typing of a body, which
-- core.webhook_event must agree with whenever it types one itself.
M._typed_body = typed_body
function M._replay_ttl(opts)
  return (opts.max_age or DEFAULT_MAX_AGE) + (opts.max_ahead or DEFAULT_MAX_AHEAD)
end

return M
