--- The OpenResty transport: HTTP/1.1 over ngx.socket.tcp, so a call yields to
-- nginx's event loop instead of blocking the worker. Same policy as the curl
-- transport (src/vn_http.c): https only (plain http to loopback), TLS
-- verification always on, CR/LF/NUL refused in headers, no redirects
-- followed, the body capped while it is read, the same error codes.
--
-- Trust comes from nginx.conf (lua_ssl_trusted_certificate and
-- lua_ssl_verify_depth), names are looked up with its `resolver`, and idle
-- connections wait in the worker's cosocket pool (lua_socket_pool_size,
-- lua_socket_keepalive_timeout). Its send and sleep are those of the
-- `transport` interface (vonage.transport.multi). A connect failure names a
-- missing `resolver`, and a default host whose VONAGE_*_HOST a worker cannot
-- see (no `env` line).
-- @module vonage.transport.resty
local core = require "vonage.core"
local errors = require "vonage.errors"
local http1 = require "vonage.http1"

local ngx = rawget(_G, "ngx") -- nil outside nginx: new() says so

local type, pairs, tostring, pcall, setmetatable =
      type, pairs, tostring, pcall, setmetatable
local concat, format, min, match = table.concat, string.format, math.min, string.match
local getenv = os.getenv
local now_ms = core.monotonic_ms

local M = {}

local LIMITS = core.limits() -- src/vn_limits.h, as the curl transports read it
local MAX_HEADER_BYTES = http1.MAX_HEADER_BYTES
local MAX_INTERIM_RESPONSES = 8 -- 1xx answers skipped before the real one
local DEFAULT_MAX_BODY = LIMITS.max_response_bytes.default
local DEFAULT_TIMEOUT_MS = LIMITS.timeout_ms.default
local DEFAULT_CONNECT_MS = LIMITS.connect_timeout_ms.default
local METHODS = { GET = true, POST = true, DELETE = true, PATCH = true, PUT = true }
-- Methods that may be sent again when a kept-alive connection closed without
-- answering (RFC 9110 9.2.2): the server may have acted on the first copy of
-- any other. The same set as the curl transports'.
local IDEMPOTENT = core.idempotent_methods()

-- The phases where ngx_lua lets a request use cosockets and ngx.sleep.
local COSOCKET_PHASES = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

local Transport = { __name = "vonage.transport.resty" }
Transport.__index = Transport

function Transport.__tostring()
  return "vonage.transport.resty (ngx cosockets)"
end

local function fail(code, message, retryable)
  return errors.fail("transport", code, message, retryable and { retryable = true } or nil)
end

-- Splits url into scheme, host, port, authority and request target by the
-- one URL policy the curl transports use (src/vn_url.c, purpose "api").
-- Returns nil, reason when refused.
local function parse_url(url)
  local scheme, host, port, target = core.check_url(url, "api")
  if not scheme then return nil, host end
  local default = scheme == "https" and 443 or 80
  return { scheme = scheme, host = host, port = port, target = target,
           authority = port == default and host or host .. ":" .. port }
end

-- The one header rule of every transport (src/vn_http.c): CR, LF or NUL would
-- split the head; Host, Content-Length and Transfer-Encoding are ours. A local
-- taken at load: the Authorization value passes through here, and a module
-- field could be replaced by any code.
local check_header = core.check_header

-- Builds the request head; nil, message when a header is refused (the
-- message shows the name only, never a value).
local function request_head(method, u, headers, body)
  local lines = { format("%s %s HTTP/1.1", method, u.target), "Host: " .. u.authority }
  if body or method == "POST" or method == "PUT" or method == "PATCH" then
    lines[#lines + 1] = "Content-Length: " .. (body and #body or 0)
  end
  for name, value in pairs(headers) do
    if type(name) ~= "string" or type(value) ~= "string" then
      errors.misuse("vonage.transport.resty", "spec.headers must map strings to strings")
    end
    local refused = check_header(name, value)
    if refused then return nil, refused end
    lines[#lines + 1] = name .. ": " .. value
  end
  lines[#lines + 1] = "\r\n"
  return concat(lines, "\r\n")
end

-- Gives the socket what is left of the exchange's deadline (monotonic ms);
-- false once spent.
local function arm(sock, deadline)
  local left = deadline - now_ms()
  if left < 1 then return false end
  sock:settimeouts(left, left, left)
  return true
end

-- Every read of an answer goes through receiveany, armed with the time
-- left before each call: it returns as soon as any byte arrives, whereas a
-- receive(n) or receiveuntil reader restarts its timer on each byte, so a
-- server trickling a byte a second held it past the deadline without end.
-- The framing itself is vonage.http1's.
local function new_reader(sock, deadline)
  return http1.reader(function(n)
    if not arm(sock, deadline) then return nil, "timeout" end
    return sock:receiveany(n)
  end)
end

local function no_cosocket(phase)
  return errors.fail("transport", "no_cosocket", format(
    "cannot send from nginx's %s phase: cosockets work in rewrite_by_lua, access_by_lua, "
    .. "content_by_lua and ngx.timer.at callbacks (start a timer for background work)", phase))
end

-- A worker sees only the variables nginx.conf names with `env`: a client made
-- by from_env() then quietly targets the real host. When a call to a default
-- host fails and its variable is invisible here, say that too.
local HOST_VARS = { api_host = "VONAGE_API_HOST", network_host = "VONAGE_NETWORK_HOST",
                    oidc_host = "VONAGE_OIDC_HOST" }
local function env_hint(host)
  for option, var in pairs(HOST_VARS) do
    local default = require("vonage.client").DEFAULTS[option]
    if match(default, "^https://([^/:]+)") == host and not getenv(var) then
      return format("; %s is the default %s: if you meant %s, nginx passes it to its workers "
        .. "only with an `env %s;` line in nginx.conf's main context", host, option, var, var)
    end
  end
  return ""
end

-- Maps a connect failure to the curl transport's codes. All are retryable:
-- nothing was sent.
local function connect_error(err, u, connect_ms)
  local where = u.host .. ":" .. u.port
  if err:find("no resolver defined", 1, true) then
    return errors.fail("transport", "dns", format(
      "could not resolve host %s: nginx has no `resolver` directive "
      .. "(cosockets need one to look up names, e.g. resolver 127.0.0.53;)%s", u.host, env_hint(u.host)))
  end
  if err == "timeout" then
    return fail("timeout", format("timed out: connecting to %s took over %d ms", where, connect_ms), true)
  end
  if err:find("resolve", 1, true) or err:find("not found", 1, true) then
    return fail("dns", format("could not resolve host: %s (%s)%s", u.host, err, env_hint(u.host)), true)
  end
  return fail("connect_failed", format("could not connect to %s: %s%s", where, err, env_hint(u.host)), true)
end

-- Whether host is an IP literal (IPv4 dotted, or IPv6 in brackets).
local function is_ip_literal(host)
  return host:find("^%[.*%]$") ~= nil or host:find("^%d+%.%d+%.%d+%.%d+$") ~= nil
end

-- sock:connect, name lookup included, within ms. nginx looks a name up with
-- its `resolver` under its own resolver_timeout (30 s by default), before the
-- cosocket's connect timeout even starts; so for a name the connect runs in a
-- light thread, raced against a sleep of ms, as libcurl counts the lookup in
-- its connect timeout. The loser is killed (ngx_lua cleans up a killed
-- thread's pending lookup or connect).
local function connect(sock, address, port, pool, ms)
  if is_ip_literal(address) then return sock:connect(address, port, { pool = pool }) end
  local spawn, wait, kill = ngx.thread.spawn, ngx.thread.wait, ngx.thread.kill
  local connecting = spawn(function() return sock:connect(address, port, { pool = pool }) end)
  local sleeping = spawn(function()
    ngx.sleep(ms / 1000)
    return nil, "timeout", "deadline"
  end)
  local done, ok, err = wait(connecting, sleeping)
  kill(connecting)
  kill(sleeping)
  if not done then return nil, tostring(ok) end -- the thread raised
  return ok, err
end

-- sslhandshake with the host as server name, verification on. The session
-- argument must be nil, not false: ngx_lua 0.10.23 reports success for a
-- handshake that completed at once (common on loopback) but failed
-- verification when given false; given nil it raises instead, which pcall
-- turns back into a verification failure.
local function tls_handshake(sock, u)
  local server_name = u.host:match("^%[(.*)%]$") or u.host
  local ok, session, err = pcall(sock.sslhandshake, sock, nil, server_name, true)
  if not ok then
    return fail("tls_verify", format("TLS certificate verification failed for %s "
      .. "(is its CA in lua_ssl_trusted_certificate?)", u.host))
  end
  if session then return true end
  -- ngx_lua may prefix a stale OpenSSL code: read the words, not the number.
  local reason = tostring(err):gsub("^%-?%d+: ", "")
  local lower = reason:lower()
  if lower:find("certif", 1, true) or lower:find("issuer", 1, true) or lower:find("verif", 1, true)
     or lower:find("mismatch", 1, true) or lower:find("trust", 1, true) then
    return fail("tls_verify", format("TLS certificate verification failed: %s "
      .. "(trust comes from lua_ssl_trusted_certificate)", reason))
  end
  if reason == "timeout" then
    return fail("timeout", "timed out: TLS handshake with " .. u.host, true)
  end
  return fail("tls", "TLS handshake failed: " .. reason, true)
end

-- One attempt on one connection. Returns status, headers, body | nil, msg,
-- err, stale (stale: a pooled connection the server had already closed, so
-- the request could not be sent whole, or, for an idempotent method, was not
-- answered at all; worth one more try on a fresh one).
local function exchange(spec, u, head, deadline)
  local connect_ms = spec.connect_timeout_ms or DEFAULT_CONNECT_MS
  local left = deadline - now_ms()
  if left < 1 then
    return fail("timeout", format("timed out after %d ms before connecting",
      spec.timeout_ms or DEFAULT_TIMEOUT_MS), true)
  end
  local sock = ngx.socket.tcp()
  sock:settimeouts(min(connect_ms, left), left, left)
  -- "localhost" is loopback by definition (RFC 6761): no resolver needed.
  local address = u.host == "localhost" and "127.0.0.1" or u.host
  local pool = format("vonage:%s://%s:%d", u.scheme, u.host, u.port)
  local ok, err = connect(sock, address, u.port, pool, min(connect_ms, left))
  if not ok then return connect_error(err, u, min(connect_ms, left)) end
  local reused = (sock:getreusedtimes() or 0) > 0
  if u.scheme == "https" and not reused then
    if not arm(sock, deadline) then
      sock:close()
      return fail("timeout", "timed out before the TLS handshake", true)
    end
    local shaken, msg, terr = tls_handshake(sock, u)
    if not shaken then
      sock:close()
      return nil, msg, terr
    end
  end

  -- After the connect the request may have reached the server: not retryable,
  -- and for a POST or PATCH the outcome is unknown (the curl transport's codes).
  local once_only = not IDEMPOTENT[spec.method]
  local function broken(step, why)
    sock:close()
    if why == "timeout" then
      local _, msg, terr = fail("timeout", format("timed out after %d ms while %s%s",
                                spec.timeout_ms or DEFAULT_TIMEOUT_MS, step,
                                once_only and "; the server may have received the request" or ""))
      terr.outcome_unknown = once_only or nil -- it may have been processed
      return nil, msg, terr
    end
    if once_only then
      return fail("outcome_unknown", format("outcome unknown: the request was sent, then the exchange "
        .. "failed (connection to %s:%d failed while %s: %s); the server may have received it, "
        .. "so it was not sent again", u.host, u.port, step, why))
    end
    return fail("network", format("connection to %s:%d failed while %s: %s", u.host, u.port, step, why))
  end
  local function not_http(why)
    sock:close()
    return fail("bad_response", "the answer is not valid HTTP: " .. why)
  end

  if not arm(sock, deadline) then -- nothing was sent yet
    sock:close()
    return fail("timeout", format("timed out after %d ms before sending the request", spec.timeout_ms or 10000))
  end
  local sent, serr = sock:send(spec.body and { head, spec.body } or head)
  if not sent then
    if reused and serr ~= "timeout" then return nil, nil, nil, true end
    return broken("sending the request", serr)
  end

  local r = new_reader(sock, deadline)
  local status, headers, http11
  for _ = 1, MAX_INTERIM_RESPONSES do
    local block, herr, seen = http1.read_header_block(r)
    if not block then
      if herr == "headers_too_large" then
        sock:close()
        return fail("headers_too_large", format("response headers exceed %d bytes", MAX_HEADER_BYTES))
      end
      -- Sent, then closed without a byte: maybe a stale connection, maybe the
      -- server acted and then failed. Only an idempotent request goes again.
      if reused and seen == 0 and herr ~= "timeout" and status == nil and IDEMPOTENT[spec.method] then
        return nil, nil, nil, true
      end
      return broken("reading the answer", herr)
    end
    status, headers, http11 = http1.parse_head(block)
    if not status then return not_http("the status line is not HTTP/1.x") end
    if status >= 200 then break end
  end
  if status < 200 then return not_http("too many interim (1xx) answers") end

  local body, reusable, msg = http1.read_body(r, status, headers, spec.max_response_bytes or DEFAULT_MAX_BODY)
  if not body then
    local code = reusable
    sock:close()
    if code == "body_too_large" then return fail("body_too_large", msg) end
    if code == "headers_too_large" then
      return fail("headers_too_large", format("response trailers exceed %d bytes", MAX_HEADER_BYTES))
    end
    return broken("reading the body", code)
  end
  -- Bytes read past the answer belong to no request: such a connection is closed.
  if reusable and r.buf == "" and http11 and not http1.has_token(headers.connection, "close") then
    -- nginx refuses to pool a socket with unread bytes; then it must be closed here.
    if not sock:setkeepalive() then sock:close() end
  else
    sock:close()
  end
  return status, headers, body
end

-- transport:send{ method=, url=, headers=, body=, timeout_ms=,
--                 connect_timeout_ms=, max_response_bytes= }
--   -> status, headers, body | nil, msg, err
function Transport.send(_, spec)
  local method, url = spec.method, spec.url
  if type(method) ~= "string" or type(url) ~= "string" then
    errors.misuse("vonage.transport.resty", "spec.method and spec.url are required")
  end
  if not METHODS[method] then
    errors.misuse("vonage.transport.resty", "unsupported method '" .. method .. "'")
  end
  local headers = spec.headers or {}
  if type(headers) ~= "table" then errors.misuse("vonage.transport.resty", "spec.headers must be a table") end
  if spec.body ~= nil and type(spec.body) ~= "string" then
    errors.misuse("vonage.transport.resty", "spec.body must be a string")
  end

  local u, why = parse_url(url)
  if not u then return fail("insecure_url", "refused URL: it " .. why) end
  local head, refused = request_head(method, u, headers, spec.body)
  if not head then return errors.fail("validation", "bad_header", refused) end
  local phase = ngx.get_phase()
  if not COSOCKET_PHASES[phase] then return no_cosocket(phase) end

  local deadline = now_ms() + (spec.timeout_ms or DEFAULT_TIMEOUT_MS)
  for _ = 1, 2 do
    local status, resp_headers, body, stale = exchange(spec, u, head, deadline)
    if not stale then return status, resp_headers, body end
  end
  return fail("network", "the server closed the connection before answering")
end

-- transport:sleep(ms): the backoff between retries, yielding to nginx.
function Transport.sleep(_, ms)
  ngx.sleep(ms / 1000)
end

--- Makes a resty transport (the default of a client made inside nginx).
-- Raises outside nginx, and for `ca_file` or `proxy`: nginx.conf decides
-- them for cosockets (lua_ssl_trusted_certificate), so asking is a mistake.
-- @tparam[opt] table opts client options
-- @treturn transport
function M.new(opts)
  opts = opts or {}
  if not (ngx and type(ngx.socket) == "table" and ngx.socket.tcp) then
    errors.misuse("vonage.client", 'transport "resty" runs only inside nginx with lua-nginx-module (OpenResty)')
  end
  if opts.ca_file then
    errors.misuse("vonage.client", "ca_file cannot be used with the resty transport: "
      .. "set lua_ssl_trusted_certificate (and lua_ssl_verify_depth) in nginx.conf instead")
  end
  if opts.proxy then
    errors.misuse("vonage.client", "proxy cannot be used with the resty transport: "
      .. "nginx cosockets connect directly; use the curl transport for a proxy")
  end
  return setmetatable({}, Transport)
end

--- The resty transport's send, for lua/vonage/api.lua, which takes it when it
-- loads (the class table itself is not handed out): `send(transport, spec)`.
-- @function send
M.send = Transport.send

return M
