-- Signed status callbacks ("webhooks"), delivered like Vonage delivers them.
--
-- Each event becomes one JSON body, signed with an HS256 JWT in
-- `Authorization: Bearer` (claims iat, jti, iss "Vonage", api_key,
-- application_id, payload_hash = hex SHA-256 of the exact body) and POSTed to
-- the callback URL set through the control API. Only requests started with
-- an application JWT get callbacks, as the silent-auth guide says.
--
-- Deliveries run from one ngx.timer at a time, oldest first, so a request's
-- events arrive in the order they happened. A non-2xx answer (or no answer) is
-- retried with doubling delays, at most max_attempts times in all; every
-- delivery and each of its attempts is in state.deliveries for the control API.
local crypto = require "vonage_sandbox.crypto"
local http = require "vonage_sandbox.http"
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"
local state = require "vonage_sandbox.state"

local ngx = ngx
local type, tonumber, ipairs, pairs, pcall = type, tonumber, ipairs, pairs, pcall
local format, byte, date = string.format, string.byte, os.date
local remove, concat = table.remove, table.concat
local floor = math.floor

local M = {}

local DEFAULT_API_KEY = "sandbox-api-key"
local DEFAULT_MAX_ATTEMPTS = 4
local FIRST_RETRY_DELAY = 0.1 -- real seconds; doubles after each failed attempt
local CONNECT_TIMEOUT_MS, IO_TIMEOUT_MS = 1000, 3000
local MIN_SECRET_BYTES = 16 -- the client refuses shorter secrets too

-- Statuses that end a request and get a summary (the reference lists no
-- summary for a cancelled request).
local SUMMARY_STATUSES = { completed = true, failed = true, expired = true }

---------------------------------------------------------------------------
-- Encoding and signing
---------------------------------------------------------------------------

-- iso8601(epoch) -> "2020-01-01T14:00:00.000Z", the reference's format
function M.iso8601(epoch)
    return date("!%Y-%m-%dT%H:%M:%S.000Z", epoch)
end

local function hex(raw)
    return (raw:gsub(".", function(c)
        return format("%02x", byte(c))
    end))
end

local function b64url(raw)
    return (ngx.encode_base64(raw, true):gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
end

-- sign(config, application_id, body) -> token, jti
local function sign(config, application_id, body)
    local jti = problem.uuid()
    local header = b64url(json.encode({ alg = "HS256", typ = "JWT" }))
    local claims = b64url(json.encode({
        iat = ngx.time(), -- real time, like the API's own JWT checks: receivers use wall clocks
        jti = jti,
        iss = "Vonage",
        api_key = config.api_key,
        application_id = application_id,
        payload_hash = hex(crypto.sha256(body)),
    }))
    local signing_input = header .. "." .. claims
    return signing_input .. "." .. b64url(crypto.hmac_sha256(config.signature_secret, signing_input)), jti
end

---------------------------------------------------------------------------
-- Delivery
---------------------------------------------------------------------------

-- parse_url(url) -> host, port, path | nil: plain HTTP to loopback only
local function parse_url(url)
    if type(url) ~= "string" or #url > 2048 then
        return nil
    end
    local host, port, path = url:match("^http://([%w%.%[%]:]-):(%d+)(/[!-~]*)$")
    if not host then
        host, port = url:match("^http://([%w%.%[%]:]-):(%d+)$")
        path = "/"
    end
    port = tonumber(port)
    if not port or port < 1 or port > 65535 or path:find("#", 1, true) then
        return nil
    end
    if host == "127.0.0.1" or host == "localhost" then
        return "127.0.0.1", port, path
    end
    if host == "[::1]" then
        return "[::1]", port, path
    end
end

-- post(delivery) -> HTTP status | nil, reason: one attempt
local function post(delivery)
    local sock = ngx.socket.tcp()
    sock:settimeouts(CONNECT_TIMEOUT_MS, IO_TIMEOUT_MS, IO_TIMEOUT_MS)
    local ok, err = sock:connect(delivery.host, delivery.port)
    if not ok then
        return nil, "connect: " .. err
    end
    local request = concat({
        "POST " .. delivery.path .. " HTTP/1.1",
        "Host: " .. delivery.host .. ":" .. delivery.port,
        "User-Agent: vonage-sandbox",
        "Content-Type: application/json",
        "Content-Length: " .. #delivery.body,
        "Authorization: Bearer " .. delivery.token,
        "Connection: close",
        "", delivery.body,
    }, "\r\n")
    ok, err = sock:send(request)
    if not ok then
        sock:close()
        return nil, "send: " .. err
    end
    local line
    line, err = sock:receive("*l")
    sock:close()
    if not line then
        return nil, "receive: " .. err
    end
    local status = tonumber(line:match("^HTTP/1%.[01] (%d%d%d)"))
    if not status then
        return nil, "not an HTTP status line"
    end
    return status
end

-- Try one delivery until it succeeds or runs out of attempts.
local function deliver(delivery)
    local delay = FIRST_RETRY_DELAY
    while true do
        local status, why = post(delivery)
        delivery.attempts[#delivery.attempts + 1] = { status = status, error = why, at = ngx.now() }
        if status and status >= 200 and status < 300 then
            delivery.state = "delivered"
            return
        end
        if #delivery.attempts >= delivery.max_attempts then
            delivery.state = "failed"
            return
        end
        ngx.sleep(delay)
        delay = delay * 2
    end
end

local pumping = false

-- The one timer that drains the queue; queue and log are re-read from
-- state each time, because a reset replaces them.
local function pump(premature)
    if premature then
        pumping = false
        return
    end
    while state.callback_queue[1] do
        local delivery = remove(state.callback_queue, 1)
        local ok, err = pcall(deliver, delivery)
        if not ok then
            delivery.state = "failed"
            ngx.log(ngx.ERR, "callback delivery failed: ", err)
        end
    end
    pumping = false
end

local function enqueue(delivery)
    state.deliveries[#state.deliveries + 1] = delivery
    state.callback_queue[#state.callback_queue + 1] = delivery
    if not pumping then
        local ok, err = ngx.timer.at(0, pump)
        if not ok then
            delivery.state = "failed"
            ngx.log(ngx.ERR, "cannot start the callback timer: ", err)
            return
        end
        pumping = true
    end
end

-- emit(req, event): sign `event` (a table, encoded here) and queue it for the
-- callback URL. Nothing is sent for requests made with Basic auth or while
-- no callback URL is configured. Returns the delivery record, or nil.
function M.emit(req, event)
    local config = state.callback
    if req.auth_kind ~= "jwt" or not config then
        return nil
    end
    local body = json.encode(event)
    local token, jti = sign(config, req.application_id, body)
    local delivery = {
        id = #state.deliveries + 1,
        request_id = req.request_id,
        type = event.type,
        status = event.status,
        url = config.url,
        host = config.host,
        port = config.port,
        path = config.path,
        jti = jti,
        body = body,
        token = token,
        state = "pending",
        max_attempts = config.max_attempts,
        attempts = json.array(),
    }
    enqueue(delivery)
    return delivery
end

---------------------------------------------------------------------------
-- The Verify events
---------------------------------------------------------------------------

-- status_event(req, status, at) -> the "event" callback for the current step
function M.status_event(req, status, at)
    return {
        request_id = req.request_id,
        triggered_at = M.iso8601(req.created_at),
        type = "event",
        channel = req.channel,
        status = status,
        finalized_at = M.iso8601(at),
        client_ref = req.client_ref,
    }
end

-- summary(req) -> the "summary" callback: the request and each step of its workflow
function M.summary(req)
    local workflow = json.array()
    for i, step in ipairs(req.workflow) do
        workflow[i] = {
            channel = step.channel,
            initiated_at = step.initiated_at and M.iso8601(step.initiated_at),
            status = step.status,
        }
    end
    return {
        request_id = req.request_id,
        submitted_at = M.iso8601(req.created_at),
        status = req.status,
        type = "summary",
        channel_timeout = req.channel_timeout,
        workflow = workflow,
        client_ref = req.client_ref,
    }
end

-- Ends that get a status event (the reference's event statuses; rejected is
-- the fraud check's refusal).
local EVENT_STATUSES = { completed = true, failed = true, rejected = true }

-- request_finished(req): verify.lua calls this once a request has ended;
-- a completed, failed or rejected request gets its event, every end but a
-- cancel or a rejection a summary.
function M.request_finished(req)
    if EVENT_STATUSES[req.status] then
        M.emit(req, M.status_event(req, req.status, req.finalized_at))
    end
    if SUMMARY_STATUSES[req.status] then
        M.emit(req, M.summary(req))
    end
end

---------------------------------------------------------------------------
-- Control API
---------------------------------------------------------------------------

local invalid = problem.invalid

-- POST /_sandbox/callbacks { url, signature_secret [, api_key] [, max_attempts] [, keep] }
local function configure(_, body)
    local host, port, path = parse_url(body.url)
    if not host then
        return invalid("url", "must be http://127.0.0.1:PORT/path (plain HTTP to loopback)")
    end
    local secret = body.signature_secret
    if type(secret) ~= "string" or #secret < MIN_SECRET_BYTES then
        return invalid("signature_secret", format("must be a string of at least %d bytes", MIN_SECRET_BYTES))
    end
    local api_key = body.api_key or DEFAULT_API_KEY
    if type(api_key) ~= "string" or api_key == "" then
        return invalid("api_key", "must be a non-empty string")
    end
    local max_attempts = body.max_attempts or DEFAULT_MAX_ATTEMPTS
    if type(max_attempts) ~= "number" or max_attempts ~= floor(max_attempts)
            or max_attempts < 1 or max_attempts > 10 then
        return invalid("max_attempts", "must be an integer between 1 and 10")
    end
    if body.keep ~= nil and type(body.keep) ~= "boolean" then
        return invalid("keep", "must be a boolean")
    end
    local config = {
        url = body.url, host = host, port = port, path = path,
        signature_secret = secret, api_key = api_key, max_attempts = max_attempts,
    }
    if body.keep then
        state.keep_callback(config) -- the REPL's: a reset keeps it
    else
        state.callback = config
    end
    return 200, { url = body.url, api_key = api_key, max_attempts = max_attempts, keep = body.keep == true }
end

-- A delivery as the control API shows it: everything but the token.
local function public(delivery)
    return {
        id = delivery.id,
        request_id = delivery.request_id,
        type = delivery.type,
        status = delivery.status,
        url = delivery.url,
        jti = delivery.jti,
        body = delivery.body,
        state = delivery.state,
        attempts = delivery.attempts,
    }
end

-- GET /_sandbox/callbacks
local function deliveries()
    local list = json.array()
    for i, delivery in ipairs(state.deliveries) do
        list[i] = public(delivery)
    end
    local config = state.callback
    return 200, {
        url = config and config.url,
        api_key = config and config.api_key,
        deliveries = list,
    }
end

-- POST /_sandbox/callbacks/:id/redeliver: send a delivery again, same body
-- and same token, as Vonage does when it never saw an answer.
local function redeliver(_, id)
    local original = state.deliveries[tonumber(id)]
    if not original then
        return problem.not_found(id)
    end
    local copy = {}
    for k, v in pairs(original) do
        copy[k] = v
    end
    copy.id = #state.deliveries + 1
    copy.redelivery_of = original.id
    copy.state = "pending"
    copy.attempts = json.array()
    enqueue(copy)
    return 200, public(copy)
end

-- POST /_sink/...: a receiver inside the sandbox that stores what it gets, so
-- specs can read a delivery byte for byte. Faults on /_sink/ paths make it fail.
local function sink(ctx)
    ngx.req.read_body()
    state.sink[#state.sink + 1] = {
        path = ngx.var.uri,
        authorization = ngx.req.get_headers()["authorization"],
        content_type = ngx.var.content_type,
        body = ngx.req.get_body_data() or "",
        at = ctx.now,
    }
    return 204
end

-- GET /_sandbox/sink
local function sunk()
    return 200, { received = json.array(state.sink) }
end

M.routes = {
    { "POST", "^/_sandbox/callbacks$", http.with_body(configure) },
    { "GET", "^/_sandbox/callbacks$", deliveries },
    { "POST", "^/_sandbox/callbacks/(%d+)/redeliver$", redeliver },
    { "GET", "^/_sandbox/sink$", sunk },
    { "POST", "^/_sink/", sink },
}

return M
