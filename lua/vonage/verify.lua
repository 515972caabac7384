--- Verify v2: start a verification, then check, cancel or move it on.
-- Plain functions: lua/vonage/client.lua lists start_verification and
-- request as client methods, lua/vonage/request.lua the request's own.
-- @module vonage.verify
local core = require "vonage.core"
local api = require "vonage.api"
local errors = require "vonage.errors"
local validate = require "vonage.validate"
local channels = require "vonage.channels"

local rules = validate.rules
local type, ipairs, pairs, format = type, ipairs, pairs, string.format

-- The one way to change a request's status and channel, taken once, here.
local set_state = core.take_request_setter()

local M = {}

-- Top-level fields of POST /v2/verify, from the reference.
local START_SCHEMA = {
  brand = { "string", rules.length(1, 18),
            rules.pattern("^[^/{}:$%c]*$", "must not contain / { } : $ or control characters"),
            required = true },
  workflow = { "table", required = true },
  locale = { "string", rules.pattern("^%a%a%a?%-[%a%d][%a%d][%a%d]?$", "must be a locale like en-us") },
  channel_timeout = { "integer", rules.range(15, 900) },
  client_ref = { "string", rules.length(1, 40) },
  code_length = { "integer", rules.range(4, 10) },
  code = { "string", rules.pattern("^%w+$", "must be letters and digits only"), rules.length(4, 10) },
  template_id = { "string", rules.uuid },
  fraud_check = { "boolean" },
}

local CHECK_SCHEMA = {
  code = { "string", rules.pattern("^%w+$", "must be letters and digits only"),
           rules.length(4, 10), required = true },
}

-- The steps' labels (a workflow has at most 3), so a valid one builds none.
local STEP, STEP_PREFIX = {}, {}
for i = 1, 3 do STEP[i] = format("workflow[%d]", i - 1) STEP_PREFIX[i] = STEP[i] .. "." end

-- Each operation's exchange, made once (api.call only reads it; the path
-- and payload of a call are passed beside it).
local START_CALL = { op = "start_verification", method = "POST", host = "api_host", path = "/v2/verify",
                     codes = { [409] = "concurrent" } }
local CHECK_CALL = { op = "check", method = "POST", host = "api_host" }
local NEXT_CALL = { op = "next_workflow", method = "POST", host = "api_host",
                    codes = { [409] = "no_more_workflows" } }

-- Checks the steps and returns them as Verify wants them (channels.to_api:
-- plain copies, so the caller's tables stay as they are) with the channel
-- names, or nil, msg, err for the first step that breaks a rule.
local function check_workflow(op, workflow)
  local n = #workflow
  for k in pairs(workflow) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
      errors.misuse(op, "workflow must be a list of channels")
    end
  end
  if n < 1 or n > 3 then
    return errors.invalid(op, "workflow", "must have 1 to 3 channels")
  end
  local steps, names = {}, {}
  for i = 1, n do
    local step = workflow[i]
    local where = STEP[i] -- the API's 0-based name for the step, made once
    if type(step) ~= "table" then validate.typed(op, where, step, "table", true) end
    local name = step.channel
    if type(name) ~= "string" then validate.typed(op, where .. ".channel", name, "string", true) end
    local schema = channels.schemas[name]
    if not schema then
      return errors.invalid(op, where .. ".channel", "is not a channel (use silent_auth, sms, "
        .. "whatsapp, whatsapp_interactive, voice, email or rcs)")
    end
    if name == "silent_auth" and i ~= 1 then
      return errors.invalid(op, where .. ".channel", "silent_auth may only be the first channel")
    end
    local ok, msg, err = validate.check(op, step, schema, STEP_PREFIX[i], "channel")
    if not ok then return nil, msg, err end
    steps[i], names[i] = channels.to_api(step), name -- no builder metatable reaches the encoder
  end
  return steps, names
end

--- Starts a verification.
-- A value an end user typed that breaks the API's rules comes back as a
-- `validation` error naming the field, before any I/O.
-- @function client:start_verification
-- @tparam table params `brand` (required, 1..18, none of / { } : $), `workflow`
-- (1 to 3 channels from the builders, silent_auth only first), `locale`,
-- `channel_timeout` (15..900 s), `client_ref` (1..40), `code_length` (4..10),
-- `code` (a custom alphanumeric code), `template_id` (sms and rcs only),
-- `fraud_check` (false to skip the network block)
-- @treturn request
-- @return nil, msg, err on failure (`invalid_params`, `concurrent` with
-- err.request_id, `unauthorized`, `timeout`, `outcome_unknown`, ...)
-- @usage local req, msg, err = client:start_verification {
--   brand = "ACME", workflow = { vonage.sms { to = "447700900000" } } }
-- if not req then return fail(msg) end
function M.start_verification(client, params)
  local op = "start_verification"
  if type(params) ~= "table" then validate.typed(op, "argument", params, "table", true) end
  local ok, msg, err = validate.check(op, params, START_SCHEMA)
  if not ok then return nil, msg, err end
  local steps, names
  steps, names, err = check_workflow(op, params.workflow)
  if not steps then return nil, names, err end
  if params.template_id then
    -- The template "works only when channel is sms or rcs": it shapes those
    -- steps, and the other channels of the workflow (a voice fallback) go on
    -- with their own messages. Useless only when no step can take it.
    local takes = false
    for _, name in ipairs(names) do
      if channels.takes_template[name] then takes = true end
    end
    if not takes then
      return errors.invalid(op, "template_id", "applies only to sms and rcs channels, "
        .. "and the workflow has neither")
    end
  end

  local payload = {}
  for k, v in pairs(params) do payload[k] = v end -- no default the caller did not set
  payload.workflow = steps

  -- The start's only 409 is a verification in flight to the same number,
  -- whichever slug the API names it with (#concurrent, or #conflict live).
  local status, body, e = api.call(client, START_CALL, nil, payload)
  if not status then return nil, body, e end
  if type(body) ~= "table" or not validate.is_uuid(body.request_id) then
    return errors.bad_response(op, status, format("HTTP %d without a valid request_id", status))
  end
  local check_url = body.check_url
  if check_url ~= nil and (type(check_url) ~= "string" or rules.redirect_url(check_url)) then
    return errors.bad_response(op, status, "the check_url in the answer is not an https URL")
  end
  local req = core.request_new(client, body.request_id, "pending", check_url, params.brand, names)
  -- Silent auth first and no check_url: the coverage check failed and the
  -- API went on to the next channel (reference: check_url).
  if names[1] == "silent_auth" and not check_url then set_state(req, "pending", true) end
  return req
end

--- A handle for a stored request_id (status "unknown"); no I/O.
-- Raises when the id is not a UUID (it goes into a URL path).
-- @function client:request
-- @string request_id
-- @treturn request
-- @usage local req = client:request(session.request_id)
-- local status, msg, err = req:check(typed_code)
function M.request(client, request_id)
  validate.typed("request", "request_id", request_id, "string", true)
  if not validate.is_uuid(request_id) then
    errors.misuse("request", "request_id must be a UUID")
  end
  return core.request_new(client, request_id, "unknown")
end

local function path(req, suffix)
  return "/v2/verify/" .. req.request_id .. (suffix or "")
end

--- Checks the code the user typed.
-- @function request:check
-- @string code
-- @treturn string "completed"
-- @return nil, msg, err on failure (`invalid_code`: try again; `too_many_attempts`
-- after the third wrong code; `not_found`; `no_code`)
-- @usage local status, msg, err = req:check("1234")
function M.check(req, code)
  local op = "check"
  local payload = { code = code } -- checked, then sent: one table
  local ok, msg, err = validate.check(op, payload, CHECK_SCHEMA)
  if not ok then return nil, msg, err end
  local status, body, e = api.call(req.client, CHECK_CALL, path(req), payload)
  if not status then
    if e.code == "too_many_attempts" then set_state(req, "failed") end
    return nil, body, e
  end
  local result = type(body) == "table" and body.status
  if type(result) ~= "string" or not result:match("^[%w_]+$") or #result > 31 then
    return errors.bad_response(op, status, "the answer has no status")
  end
  set_state(req, result)
  return result
end


-- A cancel's 409 names which of the reference's two rules refused it.
local function cancel_refused(op, status, decoded)
  local nothing, msg, err = errors.from_response(op, status, decoded, { [409] = "cancel_too_late" })
  if err.code == "cancel_too_late" and type(err.detail) == "string" and err.detail:find("30 seconds", 1, true) then
    err.code = "cancel_too_early"
  end
  return nothing, msg, err
end

local CANCEL_CALL = { op = "cancel", method = "DELETE", host = "api_host", on_error = cancel_refused }

--- Cancels the verification.
-- @function request:cancel
-- @treturn boolean true
-- @return nil, msg, err on failure (`cancel_too_early` in the first 30 s, `cancel_too_late`
-- once the second event began, `not_found`)
function M.cancel(req)
  -- A cancel's 409: the second event (the next channel) has already begun,
  -- or (the same problem type; only its detail tells) the first 30 seconds
  -- after the start have not yet passed: cancel_too_late, cancel_too_early.
  local status, body, e = api.call(req.client, CANCEL_CALL, path(req))
  if not status then return nil, body, e end
  set_state(req, "cancelled")
  return true
end

--- Moves the verification on to its next channel now.
-- @function request:next_workflow
-- @treturn boolean true
-- @return nil, msg, err on failure (`no_more_workflows` when none is left)
function M.next_workflow(req)
  local status, body, e = api.call(req.client, NEXT_CALL, path(req, "/next_workflow"))
  if not status then return nil, body, e end
  set_state(req, req.status, true) -- on to the workflow's next channel, if it has one
  return true
end

return M
