-- The control API under /_sandbox/: what tests use to set the stage and to
-- look behind it. No authentication; the sandbox only listens on loopback.
local crypto = require "vonage_sandbox.crypto"
local fault = require "vonage_sandbox.fault"
local http = require "vonage_sandbox.http"
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"
local state = require "vonage_sandbox.state"

local ngx = ngx
local type, ipairs, pairs = type, ipairs, pairs
local floor = math.floor

local M = {}

local invalid = problem.invalid

local function non_empty_string(v)
    return type(v) == "string" and v ~= ""
end

-- One value of a query argument (the first, if it was repeated)
local function query_arg(name)
    local value = ngx.req.get_uri_args()[name]
    if type(value) == "table" then
        value = value[1]
    end
    if type(value) == "string" then
        return value
    end
end

local function clock()
    return 200, { now = state.now(), offset = state.offset }
end

-- GET /_sandbox/health
local function health()
    return 200, { ok = true }
end

-- POST /_sandbox/reset [{ all = true }]: all also forgets what was kept
local function reset()
    ngx.req.read_body()
    local body = {}
    if (ngx.req.get_body_data() or "") ~= "" then
        local why
        body, why = http.read_object()
        if not body then
            return invalid("body", why)
        end
    end
    if body.all ~= nil and type(body.all) ~= "boolean" then
        return invalid("all", "must be a boolean")
    end
    state.reset(body.all)
    return 200, { ok = true }
end

-- POST /_sandbox/applications { application_id, public_key }
local function register_application(_, body)
    if not non_empty_string(body.application_id) then
        return invalid("application_id", "must be a non-empty string")
    end
    if type(body.public_key) ~= "string" then
        return invalid("public_key", "must be a PEM public key")
    end
    local pkey, why = crypto.load_rsa_public_key(body.public_key)
    if not pkey then
        return invalid("public_key", why)
    end
    if body.keep ~= nil and type(body.keep) ~= "boolean" then
        return invalid("keep", "must be a boolean")
    end
    local entry = { public_key = body.public_key, pkey = pkey }
    if body.keep then
        state.keep_application(body.application_id, entry)
    else
        state.applications[body.application_id] = entry
    end
    return 200, { application_id = body.application_id, keep = body.keep == true }
end

-- POST /_sandbox/accounts { api_key, api_secret }
local function register_account(_, body)
    if not non_empty_string(body.api_key) or body.api_key:find(":", 1, true) then
        return invalid("api_key", "must be a non-empty string without ':'")
    end
    if not non_empty_string(body.api_secret) then
        return invalid("api_secret", "must be a non-empty string")
    end
    if body.keep ~= nil and type(body.keep) ~= "boolean" then
        return invalid("keep", "must be a boolean")
    end
    if body.keep then
        state.keep_account(body.api_key, body.api_secret)
    else
        state.accounts[body.api_key] = body.api_secret
    end
    return 200, { api_key = body.api_key, keep = body.keep == true }
end

-- GET /_sandbox/outbox[?to=...][&channel=...]
local function outbox()
    local to, channel = query_arg("to"), query_arg("channel")
    local messages = json.array()
    for _, message in ipairs(state.outbox) do
        if (not to or message.to == to) and (not channel or message.channel == channel) then
            messages[#messages + 1] = message
        end
    end
    return 200, { messages = messages }
end

-- POST /_sandbox/clock { advance = seconds }
local function advance_clock(_, body)
    local seconds = body.advance
    if type(seconds) ~= "number" or seconds ~= floor(seconds) then
        return invalid("advance", "must be an integer number of seconds")
    end
    state.advance(seconds)
    return clock()
end

-- GET /_sandbox/settings
local function settings()
    return 200, state.settings
end

-- POST /_sandbox/settings { cancel_after = 0..30 }: relax the reference's
-- rules for quick demos (cancel_after 0: cancel at once). A reset restores them.
local function change_settings(_, body)
    for name in pairs(body) do
        if state.settings[name] == nil then
            return invalid(name, "is not a setting")
        end
    end
    local after = body.cancel_after
    if after ~= nil and not (type(after) == "number" and after == floor(after) and after >= 0 and after <= 30) then
        return invalid("cancel_after", "must be an integer number of seconds from 0 to 30")
    end
    if after ~= nil then
        state.settings.cancel_after = after
    end
    return settings()
end

-- GET /_sandbox/requests/:id
local function request_state(_, id)
    local req = state.requests[id]
    if not req then
        return problem.not_found(id)
    end
    return 200, req
end

-- GET /_sandbox/log
local function log()
    return 200, { requests = json.array(state.log) }
end

-- POST /_sandbox/faults { method, path, status, body | body_bytes, ... }
local function add_fault(_, body)
    local problems = fault.validate(body)
    if #problems > 0 then
        return problem.invalid_params(problems)
    end
    local queued = fault.add(body)
    -- Describe the body by size: echoing a 2 MiB filler back helps no one.
    return 200, {
        method = queued.method,
        path = queued.path,
        status = queued.status,
        body_bytes = #queued.body,
        chunked = queued.chunked,
        headers = queued.headers,
        times = queued.times,
        delay = queued.delay,
    }
end

M.routes = {
    { "GET", "^/_sandbox/health$", health },
    { "POST", "^/_sandbox/reset$", reset },
    { "POST", "^/_sandbox/applications$", http.with_body(register_application) },
    { "POST", "^/_sandbox/accounts$", http.with_body(register_account) },
    { "GET", "^/_sandbox/outbox$", outbox },
    { "GET", "^/_sandbox/clock$", clock },
    { "POST", "^/_sandbox/clock$", http.with_body(advance_clock) },
    { "GET", "^/_sandbox/settings$", settings },
    { "POST", "^/_sandbox/settings$", http.with_body(change_settings) },
    { "GET", "^/_sandbox/requests/([^/]+)$", request_state },
    { "GET", "^/_sandbox/log$", log },
    { "POST", "^/_sandbox/faults$", http.with_body(add_fault) },
}

return M
