-- The error model: misuse raises; run-time failures return nil, message, err.
-- Every err is a table with the vonage.error metatable (shared with C).
local core = require "vonage.core"

local setmetatable, getmetatable, type, error, tostring =
      setmetatable, getmetatable, type, error, tostring
local ipairs, concat, format, getinfo = ipairs, table.concat, string.format, debug.getinfo

local M = {}
local mt = core.error_metatable

-- Returns nil, message, err; `fields` become the err table's other fields.
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
