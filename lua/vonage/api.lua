-- One HTTP exchange with the API: authorization, JSON, the transport, the
-- retry policy and the log line. Every operation goes through call().
local core = require "vonage.core"
local json = require "vonage.json"
local errors = require "vonage.errors"
local url = require "vonage.url"
local clock = require "vonage.clock"
local now = clock.now

local type, tostring, tonumber, byte, format, floor, min, max, pairs, setmetatable =
      type, tostring, tonumber, string.byte, string.format, math.floor, math.min, math.max,
      pairs, setmetatable
local now_ms, now_us = core.monotonic_ms, core.monotonic_us

local M = {}

-- The client's Authorization header as a Lua string, for the transports that
-- need one (resty, a user's own). Taken once, here: no other code can take it,
-- and no object a user holds leads to it. The curl transports never use it:
-- they get spec.client and add the header in C.
local authorize = core.take_authorizer()
local transport_kind = core.transport_kind
-- The resty class's own send, taken now: a client made with the resty
-- transport calls it, so replacing the module's send (or a transport's send
-- field) later cannot catch the header that transport gets in spec.headers.
-- Outside nginx (no ngx as this loads) that send could never run: no resty
-- transport can be made there and its send would fail at ngx. So the module
-- is not loaded for nothing, nor taken later (when code could have replaced
-- its send): a call through a table of that class fails here instead.
local resty_send = rawget(_G, "ngx") and require("vonage.transport.resty").send or function()
  errors.misuse("vonage.transport.resty", "this transport runs only inside nginx (ngx is not there)")
end

M.USER_AGENT = "lua-vonage/" .. core.version

local LIMITS = core.limits() -- src/vn_limits.h
local DEFAULT_TIMEOUT_MS = LIMITS.timeout_ms.default
local MAX_SLEEP_MS = LIMITS.sleep_ms.max

-- Backoff with full jitter: up to 100 ms, 200 ms, 400 ms ... for attempt 1, 2, 3.
local function backoff_ms(attempt)
  local r = core.random_bytes(2)
  local jitter = (byte(r, 1) * 256 + byte(r, 2)) / 65535
  return floor(10 + 100 * 2 ^ (attempt - 1) * jitter)
end

-- A path as metrics and traces want it: no query, and every id segment
-- (a UUID, a number) as ":id", so no value a user sent shows up.
local function route(path)
  path = (path or ""):match("^[^?#]*")
  return (path:gsub("[^/]+", function(seg)
    if seg:match("^[%x%-]+$") and seg:find("%d") and #seg >= 8 or seg:match("^%d+$") then return ":id" end
  end))
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

-- The verification a call is about: the answer's (a start), the problem's
-- (the one in flight, on a 409), or the one in the path (check, cancel).
local function request_id_of(path, body, err)
  local id = type(err) == "table" and err.request_id or type(body) == "table" and body.request_id
  if type(id) == "string" and id:match(UUID) then return id end
  id = (path or ""):match("^/v2/verify/([%x%-]+)")
  return id and id:match(UUID) and id or nil
end

-- Each exchange's attempt number and start, beside its spec (the spec
-- itself goes to the transport, which gets only the fields it documents);
-- kept only for a client with an on_log, the one reader.
local progress = setmetatable({}, { __mode = "k" })

-- What every call reads of its client, read once per client through the C
-- __index: a client's fields are read-only (vonage.client raises on a
-- write), so none of these can change; `closed` can, and is read per call.
-- No value here may refer back to the client (LuaJIT's weak tables are not
-- ephemerons: it would never be collected): on_log, which may, is read per
-- call where present, now(client) is clock.source's client-free reader, and
-- a transport is kept only as C userdata.
-- hosts[name] holds each origin as first asked for (o.host); headers[ctype]
-- the library's own request headers for the C transports, which only read
-- them (the others get a fresh table per call: they add Authorization).
local settings_of = setmetatable({}, { __mode = "k" })
local function settings(client)
  local s = settings_of[client]
  if s then return s end
  local transport = client.transport
  s = { transport = type(transport) == "userdata" and transport or nil, kind = transport_kind(client),
        retries = client.retries or 0,
        timeout_ms = client.timeout_ms, connect_timeout_ms = client.connect_timeout_ms,
        max_response_bytes = client.max_response_bytes, on_log = client.on_log ~= nil,
        now = clock.source(client), user_agent = client.user_agent or M.USER_AGENT,
        hosts = {}, headers = {} }
  settings_of[client] = s
  return s
end

local NO_BODY = false -- the headers key of a call without a body

-- A call's request headers. Without an authorization value they are the
-- library's own, one table per content type for the C transports.
local function request_headers(s, ctype, authorization)
  local shared = s.kind == "c" and not authorization
  local headers = shared and s.headers[ctype or NO_BODY]
  if headers then return headers end
  headers = { ["Accept"] = "application/json", ["User-Agent"] = s.user_agent,
              ["Content-Type"] = ctype, ["Authorization"] = authorization }
  if shared then s.headers[ctype or NO_BODY] = headers end
  return headers
end

-- on_log(level, line, event): event holds op, method, path (ids as :id),
-- status, duration_ms, attempt, code (err.code; nil on success) and
-- request_id; built only when there is an on_log. Never a secret, a phone
-- number or a body: every value is computed here from those few fields.
local function log(client, level, line, op, spec, fields)
  local on_log = settings(client).on_log and client.on_log
  if not on_log then return end
  local t = progress[spec] or {}
  local event = { op = op, method = spec.method, path = route(spec.path), attempt = t.attempt or 1 }
  if t.started_us then event.duration_ms = (now_us() - t.started_us) / 1000 end
  for k, v in pairs(fields or {}) do event[k] = v end
  -- A logger that raises must not cost the caller an answer already in
  -- (a started verification whose request_id would be lost): only a memory
  -- error goes on; anything else is reported on stderr.
  local ok, e = pcall(on_log, level, line, event)
  if not ok then
    if errors.is_memory_error(e) then error(e, 0) end
    io.stderr:write("vonage: on_log raised: ", tostring(e), "\n")
  end
end

-- Methods that may be sent again after a 429/503 (RFC 9110 9.2.2; the C
-- transports use the same set): every POST may start a paid verification,
-- so it is never sent twice.
local IDEMPOTENT = core.idempotent_methods()

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
                 Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Seconds since the epoch of a UTC calendar time (no os.time: that one
-- takes local time).
local function epoch(y, mon, d, h, mi, s)
  y, mon, d, h, mi, s = tonumber(y), MONTHS[mon], tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if not mon or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  if mon <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (mon + (mon > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return ((days * 24 + h) * 60 + mi) * 60 + s
end

-- An HTTP-date (RFC 9110 5.6.7): IMF-fixdate, or the obsolete RFC 850 and
-- asctime forms a recipient must still accept -> epoch seconds | nil.
local function http_date(v)
  local d, mon, y, h, mi, s = v:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if d then return epoch(y, mon, d, h, mi, s) end
  d, mon, y, h, mi, s = v:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if d then return epoch((tonumber(y) < 70 and 2000 or 1900) + y, mon, d, h, mi, s) end
  mon, d, h, mi, s, y = v:match("^%a%a%a (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  if mon then return epoch(y, mon, d, h, mi, s) end
end

-- retry_after(headers) -> seconds the server asks us to wait (>= 0) | nil.
-- An HTTP-date is measured from the answer's own Date when it has one, so
-- a skewed local clock does not stretch or shrink the wait.
function M.retry_after(headers)
  local v = type(headers) == "table" and (headers["retry-after"] or headers["Retry-After"])
  if type(v) ~= "string" then return nil end
  v = v:match("^[ \t]*(.-)[ \t]*$")
  if v:match("^%d+$") then return #v <= 10 and tonumber(v) or nil end
  local at = http_date(v)
  if not at then return nil end
  local date = headers["date"] or headers["Date"]
  -- Else the wall clock (vonage.clock, no client: a wait is real time, not a test's clock).
  local from = type(date) == "string" and http_date(date) or now()
  return max(0, at - from)
end

-- Waits ms through the transport; without a sleep it cannot wait.
local function sleep(transport, ms)
  while ms > 0 do
    local piece = min(ms, MAX_SLEEP_MS) -- http:sleep's own bound
    transport:sleep(piece)
    ms = ms - piece
  end
end

local function failed(client, op, spec, msg, err)
  if type(err) == "table" then err.op = op end
  local code = type(err) == "table" and type(err.code) == "string" and err.code or "transport"
  log(client, "warn", format("%s %s failed: %s", spec.method, spec.path or "", msg), op, spec,
      { code = code, request_id = request_id_of(spec.path) })
  return nil, op .. ": " .. tostring(msg), err
end

-- Sends spec through the client's transport within one deadline: spec's
-- timeout_ms bounds every attempt, backoff and wait together; each attempt
-- gets the time left. Retries, at most `retries` times (the client's setting
-- unless given; 0 for single-use payloads), only a failure where the request
-- provably never reached the server (DNS, connect, TLS handshake), and an
-- idempotent request answered 429 or 503 with a Retry-After; a wait that
-- would not end before the deadline is not begun.
local function send(client, s, op, spec, retries)
  local transport = s.transport or client.transport
  local transport_send = s.kind == "resty" and resty_send or transport.send
  retries = retries or s.retries
  local timeout, connect = spec.timeout_ms or DEFAULT_TIMEOUT_MS, spec.connect_timeout_ms
  local t = s.on_log and (progress[spec] or { started_us = now_us() })
  if t then progress[spec] = t end
  local deadline = now_ms() + timeout
  local attempt, left = 0, timeout
  while true do
    if t then t.attempt = attempt + 1 end
    if left < 1 then
      local _, msg, err = errors.fail("transport", "timeout",
                                      format("timed out: the call took over %d ms", timeout))
      return failed(client, op, spec, msg, err)
    end
    spec.timeout_ms = left
    if connect then spec.connect_timeout_ms = min(connect, left) end
    local status, headers, body = transport_send(transport, spec) -- or nil, msg, err
    local wait, why, code
    if status then
      local after = (status == 429 or status == 503) and M.retry_after(headers)
      if not (after and IDEMPOTENT[spec.method] and attempt < retries and transport.sleep) then
        return status, headers, body
      end
      wait = after * 1000 + backoff_ms(attempt + 1)
      if wait >= deadline - now_ms() then return status, headers, body end
      why = format("HTTP %d, Retry-After %d s", status, after)
      code = status == 429 and "rate_limited" or "server_error"
    else
      local msg, err = headers, body
      if not (type(err) == "table" and err.retryable and attempt < retries) then
        return failed(client, op, spec, msg, err)
      end
      wait = backoff_ms(attempt + 1)
      if wait >= deadline - now_ms() then return failed(client, op, spec, msg, err) end
      why = err.code
      code = type(err.code) == "string" and err.code or "transport"
    end
    log(client, "info", format("%s %s: %s; retry %d of %d in %d ms", spec.method,
                               spec.path or "", tostring(why), attempt + 1, retries, wait),
        op, spec, { status = status or nil, code = code, retry_in_ms = wait,
                    request_id = request_id_of(spec.path) })
    attempt = attempt + 1
    if transport.sleep then sleep(transport, wait) end
    left = deadline - now_ms()
  end
end

function M.send(client, op, spec, retries)
  return send(client, settings(client), op, spec, retries)
end

-- call(client, o [, path, payload]) -> status, decoded body (table or nil) | nil, msg, err
-- One exchange; path and payload, when given, stand for o.path and
-- o.payload (so an operation's o can be one table made once); o holds, by name:
--   op       the operation's name, the prefix of every message ("check")
--   method   "GET", "POST", "PATCH" or "DELETE"
--   host     the client field holding the origin ("api_host", "network_host")
--   path     the request target under that origin ("/v2/verify")
--   payload  a table sent as JSON, or with form = true a list of
--            { name, value } sent form-encoded; nil sends no body
--   auth     "jwt" or "basic": the credential the Authorization carries
--            (nil: the JWT when the client has a private key, else basic)
--   authorization  a ready header value instead (an OAuth access token)
--   retries  overrides client.retries (0 for a single-use payload)
--   on_error(op, status, decoded, codes) maps a non-2xx answer (default
--            errors.from_response); codes maps a status to err.code
-- A 2xx answer whose body is not a JSON object is a bad_response.
function M.call(client, o, path, payload)
  local op, method = o.op, o.method
  path, payload = path or o.path, payload or o.payload
  if client.closed then
    return errors.fail("transport", "closed", op .. ": the client is closed")
  end
  local s = settings(client)
  local body, ctype
  if payload ~= nil and o.form then
    body, ctype = url.query(payload), "application/x-www-form-urlencoded"
  elseif payload ~= nil then
    body, ctype = json.encode(payload), "application/json"
  end
  local origin = s.hosts[o.host]
  if origin == nil then
    origin = client[o.host]
    s.hosts[o.host] = origin
  end
  -- The C transports add the client's Authorization in C (spec.client);
  -- a ready value (an OAuth token) or another transport's goes in headers.
  local c_auth = not o.authorization and s.kind == "c"
  local headers = request_headers(s, ctype, o.authorization)
  local spec = {
    method = method, url = origin .. path, path = path,
    headers = headers, body = body,
    timeout_ms = s.timeout_ms, connect_timeout_ms = s.connect_timeout_ms,
    max_response_bytes = s.max_response_bytes,
    client = c_auth and client or nil, auth = c_auth and o.auth or nil,
    auth_time = c_auth and s.now(client) or nil,
  }
  if not o.authorization and not c_auth then
    local value, msg, err = authorize(client, s.now(client), o.auth)
    if not value then return nil, op .. ": " .. msg, err end
    headers["Authorization"] = value
  end
  if s.on_log then progress[spec] = { started_us = now_us() } end
  local status, resp_headers, raw = send(client, s, op, spec, o.retries)
  spec.headers, spec.client = nil, nil -- drop the credential as soon as it is sent
  if not status then return nil, resp_headers, raw end -- here: the message and err

  local first, second, err = M.outcome(op, status, resp_headers, raw, o)
  if s.on_log then -- the line and its event are built only for a reader
    log(client, "debug", format("%s %s -> %d", method, path, status), op, spec,
        { status = status, code = err and err.code or nil,
          request_id = request_id_of(path, first and second, err) })
  end
  return first, second, err
end

-- outcome(op, status, headers, raw, o) -> status, decoded | nil, msg, err:
-- a 2xx answer's JSON object, or the error a non-2xx answer maps to.
function M.outcome(op, status, resp_headers, raw, o)
  local decoded = raw ~= "" and json.decode(raw) or nil
  if status >= 200 and status < 300 then
    if raw ~= "" and type(decoded) ~= "table" then
      return errors.bad_response(op, status,
        format("HTTP %d with a body that is not a JSON object", status))
    end
    return status, decoded
  end
  local nothing, msg, err = (o.on_error or errors.from_response)(op, status, decoded, o.codes)
  if (status == 429 or status == 503) and type(err) == "table" then
    err.retry_after = M.retry_after(resp_headers) -- also when it was not waited for
  end
  return nothing, msg, err
end

return M
