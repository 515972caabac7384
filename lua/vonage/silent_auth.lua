--- Silent Authentication: what runs on the device (vonage.check_silent_auth
-- follows the check_url's redirects to a code), and a backend flow with fast
-- fallback (client:start_silent_auth, client:resume_silent_auth).
-- @module vonage.silent_auth
local core = require "vonage.core"
local api = require "vonage.api"
local json = require "vonage.json"
local errors = require "vonage.errors"
local validate = require "vonage.validate"
local url = require "vonage.url"

local type, ipairs, pairs, setmetatable, format, min =
      type, ipairs, pairs, setmetatable, string.format, math.min
local now_ms = core.monotonic_ms

local M = {}

-- What error messages show of a URL: never its path, which may hold tokens.
local function origin(t)
  return (t.scheme or "?") .. "://" .. (t.authority or ""):gsub("^.*@", "")
end

-- -------------------------------------------------------------------------
-- The device side
-- -------------------------------------------------------------------------

local OP = "check_silent_auth"

local OPTIONS = {
  expected_request_id = "string", interface = "string", ca_file = "string",
  max_redirects = "integer", timeout_ms = "integer", connect_timeout_ms = "integer",
  max_response_bytes = "integer", transport = "any",
}
-- Each numeric option's default and range: its row of the one table of
-- limits (src/vn_limits.h); the body cap per hop has its own, smaller row.
local LIMITS = core.limits()
local ROWS = { max_redirects = "max_redirects", timeout_ms = "timeout_ms",
               connect_timeout_ms = "connect_timeout_ms",
               max_response_bytes = "silent_auth_max_response_bytes" }
local RANGES, DEFAULTS = {}, {}
for option, row in pairs(ROWS) do
  RANGES[option] = { LIMITS[row].min, LIMITS[row].max }
  DEFAULTS[option] = LIMITS[row].default
end
local MAX_URL_BYTES = LIMITS.url_bytes.max

local REDIRECTS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

-- The reference's error messages name the cause, whether they come as a
-- problem's detail or as a redirect_url's error_description.
local BY_MESSAGE = {
  ["Device MSISDN does not match."] = "msisdn_mismatch",
  ["Device number does not resolve to a supported Mobile Network Operator."] = "network_not_supported",
  ["IP Address does not resolve to a cellular device."] = "not_cellular",
}

local function check_options(opts)
  opts = opts or {}
  validate.options(OP, opts, OPTIONS, RANGES)
  local out = {}
  for k in pairs(OPTIONS) do
    out[k] = opts[k]
    if out[k] == nil then out[k] = DEFAULTS[k] end
  end
  if opts.transport ~= nil and not validate.is_transport(opts.transport) then
    errors.misuse(OP, "transport must be an object with send(spec)")
  end
  return out
end

-- The outcome both final forms carry: request_id and code, checked.
local function outcome(request_id, code, expected, status)
  if not validate.is_uuid(request_id) then
    return errors.bad_response(OP, status, "the final answer has no valid request_id")
  end
  if type(code) ~= "string" or not code:match("^%w+$") or #code < 4 or #code > 10 then
    return errors.bad_response(OP, status, "the final answer has no valid code")
  end
  if expected and not core.const_equal(expected, request_id) then
    return errors.fail("http", "request_id_mismatch", OP .. ": the answer is for another "
      .. "request_id than the one started; refused as a possible man-in-the-middle", { status = status })
  end
  return { request_id = request_id, code = code }
end

-- The redirect to the application's redirect_url: the outcome is in the
-- fragment, meant for the device, so that URL is not fetched (but it must
-- pass the same policy as every hop).
local function from_fragment(fragment, expected, status)
  local fields, why = url.parse_query(fragment)
  if not fields then return errors.bad_response(OP, status, "the redirect_url fragment is malformed: " .. why) end
  local description = fields.error_description
  if description then
    local text = description:gsub("%c", " "):sub(1, 200)
    return errors.fail("api", BY_MESSAGE[description] or "silent_auth_failed",
      format("%s: %s", OP, text), { status = status, detail = text })
  end
  return outcome(fields.request_id, fields.code, expected, status)
end

local function is_final_fragment(fragment)
  return fragment and (fragment:find("code=", 1, true) or fragment:find("error_description=", 1, true)
                       or fragment:find("request_id=", 1, true))
end

-- The last answer of the chain, when it is not a redirect.
local function from_final(status, raw, expected)
  local decoded = json.decode(raw)
  if status == 200 then
    if type(decoded) ~= "table" then
      return errors.bad_response(OP, 200, "HTTP 200 with a body that is not a JSON object")
    end
    return outcome(decoded.request_id, decoded.code, expected, 200)
  end
  if status >= 400 then
    local _, msg, err = errors.from_response(OP, status, decoded)
    err.code = BY_MESSAGE[err.detail] or err.code
    return nil, msg, err
  end
  return errors.bad_response(OP, status, format("unexpected HTTP %d", status))
end

-- vonage.check_silent_auth(check_url [, opts]) -> { request_id, code } | nil, msg, err
-- opts: expected_request_id, interface (bind to the cellular link), ca_file,
-- max_redirects (10), timeout_ms (one deadline for the whole chain of
-- redirects), connect_timeout_ms (per connection, within that deadline),
-- max_response_bytes (64 KiB), transport (an object with send(spec)).
function M.check_silent_auth(check_url, opts)
  opts = check_options(opts)
  local present, msg, err = validate.required(OP, "check_url", check_url)
  if not present then return nil, msg, err end
  validate.typed(OP, "check_url", check_url, "string")
  local transport = opts.transport or core.http_new { interface = opts.interface, ca_file = opts.ca_file }
  local current = url.split(check_url)
  if not current.scheme or not current.authority then
    return errors.invalid(OP, "check_url", "must be an absolute URL")
  end
  local seen, redirects, last_status = {}, 0, nil
  local deadline = now_ms() + opts.timeout_ms
  while true do
    local target = url.join(current)
    -- The hop as the device would follow it, with its fragment (the final one carries the outcome there).
    -- Raw spaces in the fragment are how the API words an error there
    -- ("#error_description=The silent auth ..."): checked as %20.
    local fragment = current.fragment and current.fragment:gsub(" ", "%%20")
    local ok, why = core.check_url(fragment and target .. "#" .. fragment or target, "redirect")
    if not ok then
      local which = redirects == 0 and "the check_url" or format("redirect %d to %s", redirects, origin(current))
      return errors.fail("transport", "insecure_redirect", format("%s: %s is refused: it %s", OP, which, why))
    end
    if seen[target] then
      return errors.fail("transport", "redirect_loop",
        format("%s: redirect %d to %s leads back to an earlier hop", OP, redirects, origin(current)))
    end
    seen[target] = true
    if redirects > 0 and is_final_fragment(current.fragment) then
      return from_fragment(current.fragment, opts.expected_request_id, last_status)
    end
    -- Each hop gets what is left of the call's one deadline.
    local left = deadline - now_ms()
    if left < 1 then
      return errors.fail("transport", "timeout", format("%s: timed out: the redirects took over %d ms",
                                                        OP, opts.timeout_ms))
    end
    -- No Authorization and no Cookie: only what a plain GET needs.
    local status, headers, raw = transport:send {
      method = "GET", url = target,
      headers = { ["Accept"] = "application/json", ["User-Agent"] = api.USER_AGENT },
      timeout_ms = left, connect_timeout_ms = min(opts.connect_timeout_ms, left),
      max_response_bytes = opts.max_response_bytes,
    }
    if not status then return nil, OP .. ": " .. headers, raw end
    local location = REDIRECTS[status] and headers.location
    if not location then return from_final(status, raw, opts.expected_request_id) end
    -- A space is refused before the fragment only: the fragment is never
    -- fetched, and the reference prints its error_description with raw spaces.
    if #location > MAX_URL_BYTES or location:find("%c") or location:match("^[^#]*"):find(" ", 1, true) then
      return errors.bad_response(OP, status, format("HTTP %d with an unusable Location", status))
    end
    if redirects == opts.max_redirects then
      return errors.fail("transport", "too_many_redirects",
        format("%s: more than %d redirects", OP, opts.max_redirects))
    end
    redirects = redirects + 1
    current, last_status = url.resolve(target, location), status
  end
end

-- -------------------------------------------------------------------------
-- The backend flow
-- -------------------------------------------------------------------------

local STATES = { silent_auth_pending = true, code_pending = true, completed = true, failed = true }

local Flow = { __name = "vonage.silent_auth_flow" }

-- The flow keeps its own state (state, reason); these are its request's
-- fields, read there, so the two never disagree.
local FROM_REQUEST = { request_id = "request_id", check_url = "check_url", channels = "workflow",
                       channel = "channel", channel_index = "channel_index" }

function Flow.__index(self, k)
  local field = FROM_REQUEST[k]
  if field then return rawget(self, "req")[field] end
  return Flow[k]
end

function Flow:__tostring()
  local where = self.state == "failed" and (self.reason or "?") or self.channels[self.channel_index]
  return format("vonage.silent_auth_flow %s (%s, %s)", self.request_id, self.state, where)
end

local function new_flow(client, req, fields)
  return setmetatable({ client = client, req = req, state = fields.state, reason = fields.reason }, Flow)
end

local function fail(flow, reason)
  flow.state, flow.reason = "failed", reason
  return flow.state
end

local function wrong_state(flow, op, want)
  return errors.fail("validation", "wrong_state",
    format("%s: the flow is %s, not %s", op, flow.state, want), { state = flow.state })
end

--- A silent-auth flow: silent authentication first, an SMS (or the next
-- channel) at once when it fails. Fields: `request_id`, `check_url` (for the
-- device), `state` ("silent_auth_pending", "code_pending", "completed",
-- "failed"), `channel` (the one in use), `channels`, `reason` (why silent
-- auth did not complete, or why the flow failed).
-- @type silent_auth_flow

--- Moves on to the next channel now (next_workflow), instead of waiting out
-- the silent-auth timeout.
-- @function silent_auth_flow:fallback
-- @string[opt] reason kept in flow.reason
-- @treturn string the new state ("code_pending", or "failed" with no channel left)
-- @return nil, msg, err on failure (`wrong_state` unless silent_auth_pending)
function Flow:fallback(reason)
  if self.state ~= "silent_auth_pending" then return wrong_state(self, "fallback", "silent_auth_pending") end
  if not self.channels[self.channel_index + 1] then return fail(self, reason or "silent_auth_failed") end
  local ok, msg, err = self.req:next_workflow()
  if not ok then
    if err.code == "not_found" then return fail(self, err.code) end
    return nil, msg, err
  end
  self.state, self.reason = "code_pending", reason -- why silent auth did not complete
  return self.state
end

--- Takes what vonage.check_silent_auth returned on the device: a code is
-- checked (once, as the API allows); any failure falls back at once.
-- @function silent_auth_flow:device_result
-- @param result the device's result table, or nil
-- @param msg the device's message (unused)
-- @param err the device's err: its code becomes flow.reason
-- @treturn string the state: "completed", or "code_pending" (moved to the next channel)
-- @return nil, msg, err on failure
-- @usage local state = flow:device_result(result, msg, err)
function Flow:device_result(result, _, device_err)
  if self.state ~= "silent_auth_pending" then
    return wrong_state(self, "device_result", "silent_auth_pending")
  end
  if type(result) ~= "table" then
    return self:fallback(errors.is(device_err) and device_err.code or nil)
  end
  if type(result.request_id) ~= "string" or not core.const_equal(result.request_id, self.request_id) then
    return self:fallback("request_id_mismatch")
  end
  if type(result.code) ~= "string" then return self:fallback("bad_response") end
  local status, msg, err = self.req:check(result.code)
  if status == "completed" then self.state = "completed"; return self.state end
  if not status then
    if err.code == "invalid_code" or err.code == "invalid_params" then return self:fallback(err.code) end
    if err.code == "too_many_attempts" or err.code == "not_found" then return fail(self, err.code) end
    return nil, msg, err
  end
  return fail(self, status)
end

--- Checks the code the user typed (after the fallback).
-- @function silent_auth_flow:check
-- @string code
-- @treturn string the state ("completed")
-- @return nil, msg, err on failure (`invalid_code`: try again; `wrong_state`)
function Flow:check(code)
  if self.state ~= "code_pending" then return wrong_state(self, "check", "code_pending") end
  local status, msg, err = self.req:check(code)
  if status == "completed" then self.state = "completed"; return self.state end
  if not status then
    if err.code == "too_many_attempts" or err.code == "not_found" then fail(self, err.code) end
    return nil, msg, err
  end
  return fail(self, status)
end

--- A plain table to keep between HTTP requests (client:resume_silent_auth takes it).
-- @function silent_auth_flow:to_table
-- @treturn table state, request_id, check_url, channels, channel_index, reason
-- @usage session.flow = flow:to_table()
function Flow:to_table()
  local channels = {}
  for i, name in ipairs(self.channels) do channels[i] = name end
  return { state = self.state, request_id = self.request_id, check_url = self.check_url,
           channels = channels, channel_index = self.channel_index, reason = self.reason }
end

--- Client methods.
-- @section client

--- Starts a verification whose workflow begins with silent_auth, as a flow with fast fallback.
-- @function client:start_silent_auth
-- @tparam table params as for client:start_verification; workflow[1] must be vonage.silent_auth
-- @treturn silent_auth_flow
-- @return nil, msg, err on failure
-- @usage local flow = assert(client:start_silent_auth { brand = "ACME",
--   workflow = { vonage.silent_auth { to = phone }, vonage.sms { to = phone } } })
function M.start_silent_auth(client, params)
  local op = "start_silent_auth"
  validate.typed(op, "argument", params, "table", true)
  validate.typed(op, "workflow", params.workflow, "table", true)
  if type(params.workflow[1]) ~= "table" or params.workflow[1].channel ~= "silent_auth" then
    errors.misuse(op, "workflow[1] must be a silent_auth channel")
  end
  local req, msg, err = client:start_verification(params)
  if not req then return nil, msg, err end
  local channels = {}
  for i, step in ipairs(params.workflow) do channels[i] = step.channel end
  local fields = { state = "silent_auth_pending" }
  if not req.check_url then
    -- No check_url: the coverage check failed and the API went on to the
    -- fallback channel (reference: check_url), which has the code now
    -- (start_verification moved req.channel there).
    if not channels[2] then return errors.bad_response(OP, nil, "the answer has no check_url") end
    fields.state, fields.reason = "code_pending", "network_not_supported"
  end
  return new_flow(client, req, fields)
end

--- The flow again, from what flow:to_table() gave; checked like any outside input. No I/O.
-- @function client:resume_silent_auth
-- @tparam table saved
-- @treturn silent_auth_flow
-- @return nil, msg, err for a table that is not a saved flow (kind `validation`)
-- @usage local flow = assert(client:resume_silent_auth(session.flow))
function M.resume_silent_auth(client, saved)
  local op = "resume_silent_auth"
  validate.typed(op, "saved", saved, "table", true)
  if not STATES[saved.state] then return errors.invalid(op, "state", "is not a flow state") end
  if not validate.is_uuid(saved.request_id) then return errors.invalid(op, "request_id", "must be a UUID") end
  local channels = saved.channels
  if type(channels) ~= "table" or #channels < 1 or #channels > 3 or channels[1] ~= "silent_auth" then
    return errors.invalid(op, "channels", "must list 1 to 3 channels, silent_auth first")
  end
  local fields = { state = saved.state, channels = {}, channel_index = saved.channel_index }
  for i, name in ipairs(channels) do
    if type(name) ~= "string" or not name:match("^[%a_]+$") then
      return errors.invalid(op, format("channels[%d]", i), "is not a channel name")
    end
    fields.channels[i] = name
  end
  if not (validate.is_integer(fields.channel_index) and fields.channels[fields.channel_index]) then
    return errors.invalid(op, "channel_index", "must point into channels")
  end
  for _, k in ipairs { "check_url", "reason" } do
    local v = saved[k]
    if v ~= nil and (type(v) ~= "string" or #v > 2048 or v:find("%c")) then
      return errors.invalid(op, k, "must be a string")
    end
    fields[k] = v
  end
  -- The request as the flow left it: its workflow, at the flow's channel.
  return new_flow(client, core.request_new(client, saved.request_id, "unknown", fields.check_url, nil,
                                           fields.channels, fields.channel_index), fields)
end

return M
