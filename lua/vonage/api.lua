-- One HTTP exchange with the API: authorization, JSON, the transport, the
-- retry policy and the log line. Every operation goes through call().
local core = require "vonage.core"
local json = require "vonage.json"
local errors = require "vonage.errors"
local url = require "vonage.url"

local type, tostring, byte, format, floor, os_time =
      type, tostring, string.byte, string.format, math.floor, os.time

local M = {}

-- The client's Authorization header as a Lua string, for the transports that
-- need one (resty, a user's own). Taken once, here: no other code can take it,
-- and no object a user holds leads to it. The curl transports never use it:
-- they get spec.client and add the header in C.
local authorize = core.take_authorizer()
local transport_kind = core.transport_kind
-- The resty class's own send, taken now: a client made with the resty
-- transport calls it, so replacing Transport.send (or a transport's send
-- field) later cannot catch the header that transport gets in spec.headers.
local resty_send = require("vonage.transport.resty").Transport.send

M.USER_AGENT = "lua-vonage/" .. core.version

local function now(client)
  local clock = client.clock
  return floor(clock and clock() or os_time())
end

-- Backoff with full jitter: up to 100 ms, 200 ms, 400 ms ... for attempt 1, 2, 3.
local function backoff_ms(attempt)
  local r = core.random_bytes(2)
  local jitter = (byte(r, 1) * 256 + byte(r, 2)) / 65535
  return floor(10 + 100 * 2 ^ (attempt - 1) * jitter)
end

local function log(client, level, line)
  local on_log = client.on_log
  if on_log then on_log(level, line) end
end

-- Sends spec through the client's transport, retrying only failures where the
-- request provably never reached the server (DNS, connect, TLS handshake).
-- `retries` overrides the client's setting (0 for single-use payloads).
function M.send(client, op, spec, retries)
  local transport = client.transport
  local send = transport_kind(client) == "resty" and resty_send or transport.send
  retries = retries or client.retries or 0
  local attempt = 0
  while true do
    local status, headers, body = send(transport, spec)
    if status then return status, headers, body end
    local err = body
    if not (type(err) == "table" and err.retryable and attempt < retries) then
      if type(err) == "table" then err.op = op end
      log(client, "warn", format("%s %s failed: %s", spec.method, spec.path or "", headers))
      return nil, op .. ": " .. tostring(headers), err
    end
    attempt = attempt + 1
    local wait = backoff_ms(attempt)
    log(client, "info", format("%s %s: %s; retry %d of %d in %d ms", spec.method,
                               spec.path or "", err.code, attempt, retries, wait))
    if transport.sleep then transport:sleep(wait) end
  end
end

-- client, op, method, host ("api_host"...), path, payload table | nil, opts
--   -> status, decoded body (table or nil) | nil, msg, err
-- opts.auth picks "jwt" or "basic"; opts.expect lists the success statuses.
-- opts.authorization: a ready header value instead (an OAuth access token);
-- opts.form: payload is a list of { name, value } sent form-encoded;
-- opts.retries: overrides client.retries; opts.on_error(op, status, decoded)
-- maps non-2xx answers that are not RFC 7807 problems.
function M.call(client, op, method, host_field, path, payload, opts)
  opts = opts or {}
  if client.closed then
    return errors.fail("transport", "closed", op .. ": the client is closed")
  end
  local headers = {
    ["Accept"] = "application/json",
    ["User-Agent"] = client.user_agent or M.USER_AGENT,
  }
  local body
  if payload ~= nil and opts.form then
    body = url.query(payload)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  elseif payload ~= nil then
    body = json.encode(payload)
    headers["Content-Type"] = "application/json"
  end
  local spec = {
    method = method, url = client[host_field] .. path, path = path,
    headers = headers, body = body,
    timeout_ms = client.timeout_ms, connect_timeout_ms = client.connect_timeout_ms,
    max_response_bytes = client.max_response_bytes,
  }
  if opts.authorization then
    headers["Authorization"] = opts.authorization
  elseif transport_kind(client) == "c" then
    spec.client, spec.auth, spec.auth_time = client, opts.auth, now(client)
  else
    local value, msg, err = authorize(client, now(client), opts.auth)
    if not value then return nil, op .. ": " .. msg, err end
    headers["Authorization"] = value
  end
  local status, _, raw = M.send(client, op, spec, opts.retries)
  spec.headers, spec.client = nil, nil -- drop the credential as soon as it is sent
  if not status then return nil, _, raw end
  log(client, "debug", format("%s %s -> %d", method, path, status))

  local decoded = raw ~= "" and json.decode(raw) or nil
  if status >= 200 and status < 300 then
    if raw ~= "" and type(decoded) ~= "table" then
      return errors.fail("http", "bad_response",
        format("%s: HTTP %d with a body that is not a JSON object", op, status), { status = status })
    end
    return status, decoded
  end
  return (opts.on_error or errors.from_response)(op, status, decoded, opts.codes)
end

return M
