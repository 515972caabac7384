--- The client: `vonage.client { ... }` and vonage.client.from_env().
-- Checks the options, keeps the credentials in C (never readable back: not a
-- field, not in tostring, not in an error), picks the transport. The client's
-- methods are listed under `client`; misuse raises, run-time failures return
-- `nil, msg, err` (vonage.errors).
-- @module vonage.client
local core = require "vonage.core"
local json = require "vonage.json"
local validate = require "vonage.validate"
local errors = require "vonage.errors"

local pairs, ipairs, next, type, setmetatable, getenv = pairs, ipairs, next, type, setmetatable, os.getenv

local M = {}

-- The numeric options' defaults and ranges: rows of the one table of limits
-- (src/vn_limits.h), which C's own checks (jwt_ttl, each request's timeouts
-- and body cap) read too.
local LIMITS = core.limits() -- read at load only: the client keeps no copy of the whole table
local JWT_TTL = LIMITS.jwt_ttl.default
local NUMERIC = { "timeout_ms", "connect_timeout_ms", "retries", "max_response_bytes", "max_pages", "jwt_ttl" }

--- The defaults of the host, timeout and limit options: `api_host`
-- (https://api.nexmo.com), `network_host` (https://api-eu.vonage.com), `oidc_host`,
-- `timeout_ms` (10000: one deadline for the whole call), `connect_timeout_ms`
-- (3000), `retries` (2), `max_response_bytes` (1 MiB), `max_pages` (100).
-- @table DEFAULTS
M.DEFAULTS = {
  api_host = "https://api.nexmo.com",
  network_host = "https://api-eu.vonage.com",
  oidc_host = "https://oidc.idp.vonage.com",
}

-- option = Lua type; credentials go to C, the rest become readable settings.
local OPTIONS = {
  application_id = "string", private_key = "string", private_key_path = "string",
  api_key = "string", api_secret = "string", signature_secret = "string",
  jwt_ttl = "integer", jwt_sub = "string", jwt_acl = "table", jwt_nbf = "boolean",
  api_host = "string", network_host = "string", oidc_host = "string",
  timeout_ms = "integer", connect_timeout_ms = "integer", retries = "integer",
  max_response_bytes = "integer", max_pages = "integer",
  proxy = "string", ca_file = "string", user_agent = "string",
  transport = "any", on_log = "function", on_error = "function", clock = "function",
  multi_resume_per_poll = "integer",
}
local CREDENTIALS = {
  application_id = true, private_key = true, private_key_path = true,
  api_key = true, api_secret = true, signature_secret = true,
  jwt_ttl = true, jwt_sub = true, jwt_nbf = true,
}
local RANGES = {}
for _, k in ipairs(NUMERIC) do
  local limit = LIMITS[k]
  RANGES[k] = { limit.min, limit.max }
  if not CREDENTIALS[k] then M.DEFAULTS[k] = limit.default end
end
-- The multi transport's own default applies (and only there): refused here all the same.
RANGES.multi_resume_per_poll = { LIMITS.multi_resume_per_poll.min, LIMITS.multi_resume_per_poll.max }

local function check_options(opts)
  local op = "vonage.client"
  validate.options(op, opts, OPTIONS, RANGES)
  for _, k in pairs { "api_host", "network_host", "oidc_host" } do
    -- The one URL policy (src/vn_url.c): refused here, not at the first call.
    local ok, why = true, nil
    if opts[k] then ok, why = core.check_url(opts[k], "host") end
    if not ok then errors.misuse(op, k .. " " .. why) end
  end
  if opts.user_agent and validate.rules.header_safe(opts.user_agent) then
    errors.misuse(op, "user_agent must not hold CR, LF or NUL")
  end
  if opts.private_key and opts.private_key_path then
    errors.misuse(op, "give private_key or private_key_path, not both")
  end
end

-- The built-in transports, by name: "curl" blocks the caller; "multi" yields
-- the calling coroutine and client:poll() resumes it; "resty" runs on OpenResty
-- cosockets. Each module is loaded only when a client asks for it.
local TRANSPORTS = {
  curl = function(opts) return core.http_new { ca_file = opts.ca_file, proxy = opts.proxy } end,
  multi = function(opts) return require("vonage.transport.multi").new(opts) end,
  resty = function(opts) return require("vonage.transport.resty").new(opts) end,
}

-- Inside nginx the default is "resty": a blocking call there would stall every
-- request the worker serves. Elsewhere it is "curl".
local function default_transport()
  local ngx = rawget(_G, "ngx")
  return ngx and type(ngx.socket) == "table" and ngx.socket.tcp and "resty" or "curl"
end

local function make_transport(opts)
  local t = opts.transport
  if t == nil then t = default_transport() end
  if type(t) == "string" and TRANSPORTS[t] then return TRANSPORTS[t](opts) end
  if validate.is_transport(t) then return t end
  errors.misuse("vonage.client", 'transport must be "curl", "multi", "resty" or an object with send(spec)')
end

-- A raw copy of the option table: each option is read once, and no
-- metamethod of the caller's table runs (or answers differently later).
local function snapshot(opts)
  validate.typed("vonage.client", "options", opts, "table", true)
  local copy = {}
  for k, v in next, opts do copy[k] = v end
  return copy
end

--- Makes a client; `vonage.client(opts)` is the same. Raises on misuse: an
-- unknown option, a wrong type, a value out of range, a host the URL policy
-- refuses, an encrypted or unreadable key, no credentials.
-- @tparam table opts `application_id` with `private_key` (PEM) or
-- `private_key_path` (the app JWT, RS256), `api_key` and `api_secret` (Basic),
-- `signature_secret` (signed webhooks), `api_host`, `network_host`,
-- `oidc_host`, `timeout_ms`, `connect_timeout_ms`, `retries`,
-- `max_response_bytes`, `max_pages`, `proxy`, `ca_file`, `user_agent`,
-- `jwt_ttl` (900), `jwt_sub`, `jwt_acl`, `jwt_nbf`, `transport` ("curl", the
-- default; "resty", the default inside nginx; "multi"; or an object with
-- send(spec)), `on_log` (function(level, line, event): the event table holds op,
-- method, path with ids as :id, status, duration_ms, attempt, code, request_id;
-- doc/client.md "Logs and metrics"; never a secret),
-- `on_error` (function(trace, co, err), multi), `multi_resume_per_poll` (32:
-- the most coroutines one poll resumes, multi), `clock`
-- @treturn client
-- @usage local client = vonage.client { application_id = APP_ID, private_key_path = "private.key" }
function M.new(opts)
  opts = snapshot(opts)
  check_options(opts)
  local credentials, settings = {}, {}
  for k, v in pairs(opts) do
    if CREDENTIALS[k] then credentials[k] = v
    elseif k ~= "jwt_acl" and k ~= "proxy" then settings[k] = v end
  end
  -- The claim object is built by the encoder, and C takes no other claim from it.
  if opts.jwt_acl then credentials.jwt_grants_json = json.encode { acl = opts.jwt_acl } end
  for k, v in pairs(M.DEFAULTS) do
    if settings[k] == nil then settings[k] = v end
  end
  settings.ca_file = opts.ca_file
  settings.application_id = opts.application_id -- not a secret: the OAuth client_id
  settings.transport = make_transport(opts)
  settings.jwt_ttl = opts.jwt_ttl or JWT_TTL
  return core.client_new(credentials, settings)
end

--- Makes a client from the environment: VONAGE_APPLICATION_ID,
-- VONAGE_PRIVATE_KEY_PATH (or VONAGE_PRIVATE_KEY), VONAGE_API_KEY,
-- VONAGE_API_SECRET, VONAGE_SIGNATURE_SECRET, VONAGE_API_HOST,
-- VONAGE_NETWORK_HOST, VONAGE_OIDC_HOST, VONAGE_CA_FILE. Raises when none of
-- the credentials is set (inside nginx the message names the `env` lines a
-- worker needs), and as vonage.client.new does.
-- @tparam[opt] table overrides options that win over the environment
-- @treturn client
-- @usage local client = vonage.client.from_env { transport = "multi" }
function M.from_env(overrides)
  local opts = {}
  local env = {
    application_id = "VONAGE_APPLICATION_ID", private_key_path = "VONAGE_PRIVATE_KEY_PATH",
    private_key = "VONAGE_PRIVATE_KEY", api_key = "VONAGE_API_KEY",
    api_secret = "VONAGE_API_SECRET", api_host = "VONAGE_API_HOST",
    signature_secret = "VONAGE_SIGNATURE_SECRET",
    network_host = "VONAGE_NETWORK_HOST", oidc_host = "VONAGE_OIDC_HOST",
    ca_file = "VONAGE_CA_FILE",
  }
  for k, name in pairs(env) do
    local v = getenv(name)
    if v and v ~= "" then opts[k] = v end
  end
  if opts.private_key_path and opts.private_key then opts.private_key = nil end
  if overrides ~= nil then
    validate.typed("vonage.client.from_env", "overrides", overrides, "table")
    for k, v in pairs(overrides) do opts[k] = v end
  end
  if not (opts.application_id or opts.api_key) then
    -- Inside nginx the shell's variables reach a worker only through `env` lines.
    local ngx = rawget(_G, "ngx")
    local in_nginx = type(ngx) == "table" and type(ngx.worker) == "table"
    errors.misuse("vonage.client.from_env", "no credentials: set VONAGE_APPLICATION_ID and "
      .. "VONAGE_PRIVATE_KEY_PATH (or VONAGE_PRIVATE_KEY), or VONAGE_API_KEY and VONAGE_API_SECRET"
      .. (in_nginx and "; inside nginx a worker sees only the variables named in nginx.conf's main "
        .. "context: env VONAGE_APPLICATION_ID; env VONAGE_PRIVATE_KEY_PATH; (and env VONAGE_API_HOST; "
        .. "for another host)" or ""))
  end
  return M.new(opts)
end

-- -------------------------------------------------------------------------
-- The class: every method a vonage.client has
-- -------------------------------------------------------------------------

-- The API modules export plain functions; this list makes them the class.
-- C takes it once (core.client_class), so no code loaded later can add or
-- replace a method, and getmetatable(client) answers only the class name.
-- The request class has its own file, loaded here because a client hands out
-- its objects. The modules a first verification does not need (silent auth,
-- templates, Number Verification, webhooks) load at the first call of one of
-- their methods: the method listed below is a fixed function that requires
-- its module then and keeps the implementation in an upvalue, so the sealed
-- table never changes. Templates come with the template page class, whose
-- objects they hand out.
local verify = require "vonage.verify"
require "vonage.request"

-- A stand-in for an API module: reading a field gives that method, which
-- requires the module (and `with`, a class file its functions need) at its
-- first call.
local function deferred(module, with)
  return setmetatable({}, { __index = function(_, name)
    local fn
    return function(...)
      if fn == nil then
        if with then require(with) end
        fn = require(module)[name]
        assert(type(fn) == "function", module .. " has no function " .. name)
      end
      return fn(...)
    end
  end })
end
local silent_auth = deferred "vonage.silent_auth"
local templates = deferred("vonage.templates", "vonage.template_page")
local number_verification = deferred "vonage.number_verification"
local webhook = deferred "vonage.webhook"

local create, resume, traceback, tostring, error =
      coroutine.create, coroutine.resume, debug.traceback, tostring, error

-- The client's transport, when it can poll (the multi transport, or a
-- transport of the user's own with poll); client:poll and client:spawn only
-- hand over to it.
local function pollable(client, op)
  local t = client.transport
  if type(t) ~= "table" or type(t.poll) ~= "function" then
    errors.misuse(op, "this client's transport (" .. tostring(t) .. ") cannot poll; "
      .. 'make the client with transport = "multi"')
  end
  return t
end

--- A client (`vonage.client { ... }`). Its readable fields are its settings:
-- `api_host`, `network_host`, `oidc_host`, `timeout_ms`, `connect_timeout_ms`,
-- `retries`, `max_response_bytes`, `max_pages`, `user_agent`, `ca_file`,
-- `application_id`, `jwt_ttl`, `transport` (the transport object); never a
-- credential. `tostring(client)` names the auth kinds and the API host.
-- The methods are listed in METHODS below; each is documented where it is
-- implemented (vonage.verify, vonage.templates, vonage.silent_auth,
-- vonage.number_verification, vonage.webhook) or here.
-- @type client

--- Drives the client's transport and resumes the coroutines whose answers
-- are in (transport = "multi", or a transport of your own with poll).
-- Raises when the transport cannot poll.
-- @function client:poll
-- @int[opt=0] timeout_ms how long to wait for activity
-- @treturn int the transfers and timers still pending (0: idle)
-- @usage while running do handle_input(); client:poll(0); update_world() end
local function poll(client, timeout_ms)
  return pollable(client, "client:poll"):poll(timeout_ms)
end

--- Runs fn(...) in a coroutine that client:poll resumes (transport:spawn).
-- @function client:spawn
-- @tparam function fn
-- @param ... its arguments
-- @treturn thread the coroutine
-- @usage client:spawn(function()
--   local req, msg = client:start_verification { brand = "ACME", workflow = { vonage.sms { to = phone } } }
-- end)
local function spawn(client, fn, ...)
  local t = pollable(client, "client:spawn")
  validate.typed("client:spawn", "fn", fn, "function", true)
  if type(t.spawn) == "function" then return t:spawn(fn, ...) end
  local co = create(fn)
  local ok, err = resume(co, ...)
  if not ok then error(traceback(co, tostring(err)), 0) end
  return co
end

--- Wipes the credentials and closes the client's own transport; a later
-- call fails with `closed`. Safe twice; also `__close` (Lua 5.4) and `__gc`.
-- @function client:close

local METHODS = {
  -- Verify v2 (doc/verify.md, doc/silent-auth.md)
  start_verification = verify.start_verification,
  request = verify.request,
  start_silent_auth = silent_auth.start_silent_auth,
  resume_silent_auth = silent_auth.resume_silent_auth,
  -- Custom templates and fragments (doc/templates.md)
  template_page = templates.template_page,
  templates = templates.templates,
  create_template = templates.create_template,
  get_template = templates.get_template,
  update_template = templates.update_template,
  delete_template = templates.delete_template,
  template_fragment_page = templates.template_fragment_page,
  template_fragments = templates.template_fragments,
  create_template_fragment = templates.create_template_fragment,
  get_template_fragment = templates.get_template_fragment,
  update_template_fragment = templates.update_template_fragment,
  delete_template_fragment = templates.delete_template_fragment,
  -- Number Verification (doc/number-verification.md)
  number_verification = number_verification.number_verification,
  -- Signed webhooks (doc/webhooks.md)
  verify_webhook = webhook.verify_webhook,
  -- The transport's (doc/transports.md)
  poll = poll,
  spawn = spawn,
  -- Wipes the credentials and closes the client's own transport (doc/client.md)
  close = core.client_close,
}
--- Class functions.
-- @section class

--- A new sorted list of the client's method names (this file's METHODS).
-- @treturn {string,...}
-- @function methods
M.methods = core.client_class(METHODS)

return setmetatable(M, { __call = function(_, opts) return M.new(opts) end })
