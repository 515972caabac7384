--- The error model: misuse raises; run-time failures return `nil, message, err`.
-- Misuse that no end-user input can cause (a wrong Lua type, an unknown option
-- name) raises `"vonage: op: ..."`. A bad or missing value and everything that
-- fails at run time returns `nil, message, err`: `message` is one line that
-- never holds a secret, `err` a table with the metatable `vonage.error`
-- (`tostring(err)` is `vonage.error kind/code: message`). `vonage.is_error(x)`
-- tells one apart.
--
-- Kinds (`err.kind`): `validation` (a value broke the API's rules; caught before
-- any I/O), `transport`, `http` (a status without a problem body), `api` (an
-- RFC 7807 problem), `auth` (401/403, or no credentials for the call),
-- `webhook` (a refused callback), `oauth` (the Number Verification flow),
-- `store` (a vonage.store refused or failed).
--
-- Codes (`err.code`), stable names to match on:
--
-- validation: `invalid_params` (a value; `err.field` names it), `bad_header`
-- (CR, LF or NUL in a header, or a caller's `Host`, `Content-Length` or
-- `Transfer-Encoding`), `wrong_state` (a silent-auth flow call out of
-- order), `phone_number_mismatch` (flow:verify given another number than the
-- callback's).
--
-- transport: `timeout` (the call's one deadline passed), `connect_failed`, `dns`,
-- `tls`, `tls_verify`, `insecure_url` (a URL the policy refuses, before any
-- I/O), `insecure_redirect`, `redirect_loop` and `too_many_redirects` (silent
-- auth's hops), `body_too_large`, `headers_too_large`, `bad_response` (not
-- HTTP, or a body that is not the JSON expected), `outcome_unknown` (a POST or
-- PATCH that may have reached the server; never sent again), `network`,
-- `closed` (the client or transport was closed), `busy` (a transport re-entered
-- from a finalizer or metamethod while in a call on it; nothing was sent), `no_cosocket` (resty, from an
-- nginx phase without cosockets), `request_id_mismatch` (silent auth answered
-- for another request), `out_of_memory`.
--
-- http and api (from the status and the problem type): `invalid_code`,
-- `too_many_attempts` (the API's 410), `concurrent` (a start's 409, slug
-- `#concurrent` or `#conflict`; `err.request_id` is the one in flight),
-- `cancel_too_late` (a cancel's 409: the next channel has begun),
-- `cancel_too_early` (a cancel's 409 in the first 30 s after the start),
-- `network_blocked` (Network Enablement refused the scope for the number), `not_found`, `no_code`, `no_more_workflows`,
-- `rate_limited` (429; `err.retry_after`), `unauthorized`, `forbidden`,
-- `bad_request`, `conflict`, `gone`, `template_not_found`, `template_exists`,
-- `max_templates`, `fragment_exists`, `template_fragment_not_found`,
-- `not_empty_template`, `network_not_supported`, `msisdn_mismatch`,
-- `precondition_failed`, `user_rejected`, `too_many_pages` (client:templates()
-- stopped at `max_pages`), `server_error` (5xx), `http_NNN` (another status);
-- a problem type this list lacks gets its slug with `-` as `_`, a CAMARA error
-- its code lower-cased.
--
-- auth: `no_credentials` (the call needs credentials the client lacks),
-- `bad_auth`, `jwt_mint_failed`, `bad_clock` (`clock` gave a time out of range),
-- `out_of_memory`, and `unauthorized`/`forbidden` from the API.
--
-- webhook: `malformed` (no or a broken Authorization header),
-- `unsupported_alg` (not HS256), `unsupported_header`, `no_secret`,
-- `bad_signature`, `invalid_claims`, `expired`, `not_yet_valid`,
-- `wrong_account`, `payload_hash_mismatch`, `invalid_body`, `replay` (a `jti`
-- seen before), `replay_store` (the store failed), `internal`, `out_of_memory`
-- (not recorded: the retry will be).
--
-- oauth: `invalid_callback`, `missing_state`, `unknown_state`, `expired_state`,
-- `session_mismatch`, `missing_code`, `code_used`, `no_access_token`,
-- `token_expired`.
--
-- store: `store_full` (never evicts a live entry), `store_exists` (put on a
-- live key), `store_failed` (the backend failed), `store_unavailable` (Redis
-- did not answer within its `timeout_ms`, or refused the connection or the
-- password: nothing was stored or taken).
-- @module vonage.errors
local core = require "vonage.core"

local setmetatable, getmetatable, type, error, tostring =
      setmetatable, getmetatable, type, error, tostring
local ipairs, concat, format, getinfo = ipairs, table.concat, string.format, debug.getinfo

local M = {}
local mt = core.error_metatable

--- The error object (metatable `vonage.error`).
-- @type err

--- one of the kinds above.
-- @field err.kind

--- one of the codes above.
-- @field err.code

--- the HTTP status, when there was one.
-- @field err.status

--- the API's RFC 7807 fields, on `api` errors.
-- @field err.type

--- see err.type.
-- @field err.title

--- see err.type.
-- @field err.detail

--- see err.type.
-- @field err.instance

--- the API's list of `{ name =, reason = }`, on a 422.
-- @field err.invalid_parameters

--- the verification in flight, on a 409 `concurrent`.
-- @field err.request_id

--- the field a local validation error is about (`workflow[0].to`, 0-based as the API names it).
-- @field err.field

--- true for the transport failures that were safe to retry (nothing was sent).
-- @field err.retryable

--- seconds, from the `Retry-After` of a 429 or 503.
-- @field err.retry_after

--- true on a `timeout` of a POST or PATCH that had left: the server may have processed it.
-- @field err.outcome_unknown

-- Returns nil, message, err; `fields` become the err table's other fields.
-- kind is one of "validation", "transport", "http", "api", "auth", "webhook",
-- "oauth", "store" (vonage.store: store_full, store_exists, store_failed,
-- store_unavailable when Redis cannot be reached in time); doc/errors.md.
function M.fail(kind, code, message, fields)
  local err = fields or {}
  err.kind, err.code, err.message = kind, code, message
  return nil, message, setmetatable(err, mt)
end

-- An answer this library cannot use (a 2xx without the id it must carry, a
-- body of the wrong shape): message "op: what", err.status the HTTP status.
function M.bad_response(op, status, what)
  return M.fail("http", "bad_response", op .. ": " .. what, { status = status })
end

-- A value that breaks the API's rules, caught before any I/O. It mirrors the
-- API's own 422 so callers handle both the same way.
function M.invalid(op, field, reason)
  local message = format("%s: %s %s", op, field, reason)
  return M.fail("validation", "invalid_params", message, {
    field = field,
    invalid_parameters = { { name = field, reason = reason } },
  })
end

-- The directory this library's Lua files were loaded from ("@.../vonage/").
local own_dir = getinfo(1, "S").source:match("^(@.*[/\\])errors%.lua$")

-- Misuse (a wrong type, an unknown or missing field) raises, blaming the
-- first caller outside this library, however deep the check sits.
function M.misuse(op, message)
  local level = 2
  while own_dir do
    local info = getinfo(level, "S")
    if not info or info.source:sub(1, #own_dir) ~= own_dir then break end
    level = level + 1
  end
  error(format("vonage: %s: %s", op, message), level)
end

function M.is(x)
  return getmetatable(x) == mt
end

-- Whether a caught error is a failed allocation: Lua 5.x and LuaJIT raise
-- this exact string (no position), and it must never pass for bad input.
function M.is_memory_error(e)
  return e == "not enough memory"
end

-- Stable names for the API's problem types (the slug after '#').
local by_slug = {
  ["invalid-code"] = "invalid_code",
  ["request-not-found"] = "not_found",
  ["concurrent"] = "concurrent",
  ["conflict"] = "concurrent", -- the live API's slug for the start's 409 (SDK fixtures)
  ["no-code"] = "no_code",
  ["no-more-workflows"] = "no_more_workflows",
  ["no-workflows"] = "no_more_workflows",
  ["invalid-params"] = "invalid_params",
  ["unprocessable-entity"] = "invalid_params",
  ["unauthorized"] = "unauthorized",
  ["forbidden"] = "forbidden",
  ["throttled"] = "rate_limited",
  ["rate-limit"] = "rate_limited",
  ["template-not-found"] = "template_not_found",
  ["template-exists"] = "template_exists",
  ["max-templates"] = "max_templates",
  ["fragment-exists"] = "fragment_exists",
  ["template-fragment-not-found"] = "template_fragment_not_found",
  ["not-empty-template"] = "not_empty_template",
  ["network-error"] = "network_not_supported",
  ["msisdn-error"] = "msisdn_mismatch",
  ["precondition-failed"] = "precondition_failed",
  ["user-rejected"] = "user_rejected",
}

local by_status = {
  [400] = "bad_request", [401] = "unauthorized", [403] = "forbidden",
  [404] = "not_found", [409] = "conflict", [410] = "gone",
  [422] = "invalid_params", [429] = "rate_limited",
}

local function stable_code(status, slug)
  -- The API names its 410 "expired", but the reference's only 410 is the
  -- one for a code tried too many times; say what happened.
  if status == 410 and (slug == nil or slug == "expired") then
    return "too_many_attempts"
  end
  if slug and by_slug[slug] then return by_slug[slug] end
  if slug and slug:match("^[%w%-]+$") then return (slug:gsub("%-", "_")) end
  if by_status[status] then return by_status[status] end
  return status >= 500 and "server_error" or "http_" .. tostring(status)
end

-- Server text is shown but never trusted: one line, bounded.
local function clean(s, max)
  if type(s) ~= "string" then return nil end
  s = s:gsub("[%c]", " ")
  if #s > max then s = s:sub(1, max) .. "..." end
  return s
end

local function problem_params(list)
  if type(list) ~= "table" then return nil end
  local out = {}
  for _, p in ipairs(list) do
    if type(p) == "table" then
      out[#out + 1] = { name = clean(p.name, 200) or "?", reason = clean(p.reason, 300) or "?" }
    end
    if #out == 50 then break end
  end
  return out
end

-- Turns a non-2xx answer into nil, message, err. `body` is the decoded JSON
-- object or nil when the answer was not JSON.
function M.from_response(op, status, body, overrides)
  local problem = type(body) == "table" and body or {}
  local slug = type(problem.type) == "string" and problem.type:match("#([%w%-_]+)$") or nil
  local code = overrides and overrides[status] or stable_code(status, slug)
  local title = clean(problem.title, 200)
  local detail = clean(problem.detail, 300)
  local params = problem_params(problem.invalid_parameters)
  local parts = { format("%s: HTTP %d", op, status) }
  if title then parts[#parts + 1] = title end
  if detail and detail ~= title then parts[#parts + 1] = detail end
  if params and params[1] then
    parts[#parts + 1] = format("%s: %s", params[1].name, params[1].reason)
  end
  local kind = (status == 401 or status == 403) and "auth"
            or (type(body) == "table" and (title or slug)) and "api" or "http"
  return M.fail(kind, code, concat(parts, ": "), {
    status = status,
    type = clean(problem.type, 300),
    title = title,
    detail = detail,
    instance = clean(problem.instance, 100),
    invalid_parameters = params,
    request_id = clean(problem.request_id, 64),
  })
end

-- The network APIs (CAMARA) answer { status, code = "INVALID_ARGUMENT",
-- message }, their OAuth endpoints { error = "invalid_grant",
-- error_description }; err.code is the name in lower case ("." becomes "_").
-- Anything else is left to from_response.
function M.from_camara(op, status, body)
  local b = type(body) == "table" and body or {}
  local name, text = b.code, b.message
  if type(name) ~= "string" then name, text = b.error, b.error_description end
  if type(name) ~= "string" or #name > 100 or not name:match("^[%a_][%w_%.]*$") then
    return M.from_response(op, status, body)
  end
  local code = name:lower():gsub("%.", "_")
  local detail = clean(text, 300)
  local message = format("%s: HTTP %d: %s", op, status, code) .. (detail and (": " .. detail) or "")
  return M.fail((status == 401 or status == 403) and "auth" or "api", code, message,
                { status = status, detail = detail })
end

return M
