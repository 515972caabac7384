-- Silent authentication: the check_url's chain of redirects through a
-- "carrier", the test numbers that pick each outcome, and the coverage
-- pre-check of POST /v2/verify.
--
-- The chain a device follows (the carrier is the launcher's second port,
-- $carrier_url; the api is whichever base URL served the check_url):
--   api     GET /v2/verify/:id/silent-auth/redirect            302 -> carrier
--   carrier GET /phone_check/v0.2/checks/:token/redirect       302 -> "result" (relative)
--   carrier GET /phone_check/v0.2/checks/:token/result         302 -> api
--   api     GET /v2/verify/:id/silent-auth/complete/:token     200 {request_id, code},
--           or 302 to the step's redirect_url with the outcome in the fragment,
--           or a 4xx problem
-- Each hop needs the one before it (a session per token, single use), and
-- records what the device sent, so specs can see that no Authorization and no
-- cookie reached any hop. verify.lua owns the state machine: this module only
-- marks the step (step.outcome, req.silent_auth_code) and sends the events.
local callbacks = require "vonage_sandbox.callbacks"
local crypto = require "vonage_sandbox.crypto"
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"
local http = require "vonage_sandbox.http"
local state = require "vonage_sandbox.state"

local ngx = ngx
local type = type
local byte, format = string.byte, string.format
local concat = table.concat

local M = {}

-- The reference's four error_description messages.
local CANNOT_COMPLETE = "The silent auth verification cannot be completed."
local MSISDN_MISMATCH = "Device MSISDN does not match."
local NETWORK_NOT_SUPPORTED = "Device number does not resolve to a supported Mobile Network Operator."
local NOT_CELLULAR = "IP Address does not resolve to a cellular device."

-- How a check ends: the step's status, the device's problem answer, and the
-- fragment message when the step has a redirect_url (the HTTP status comes
-- with the slug, from problem.lua). NETWORK is also what the coverage
-- pre-check at start knows about.
local NETWORK = { step_status = "failed", slug = "precondition-failed",
    title = "Network not supported", detail = NETWORK_NOT_SUPPORTED, fragment = NETWORK_NOT_SUPPORTED }
local FAILURES = {
    ["447700990001"] = NETWORK,
    ["447700990002"] = { step_status = "failed", slug = "msisdn-error",
        title = "MSISDN mismatch", detail = MSISDN_MISMATCH, fragment = MSISDN_MISMATCH },
    ["447700990003"] = { step_status = "failed", slug = "precondition-failed",
        title = "Not a cellular connection", detail = NOT_CELLULAR, fragment = NOT_CELLULAR },
    ["447700990004"] = { step_status = "failed", slug = "precondition-failed",
        title = "Precondition failed",
        detail = "Conditions for the Silent Auth request to complete have not been met.",
        fragment = CANNOT_COMPLETE },
}
local USER_REJECTED = { step_status = "user_rejected", slug = "user-rejected",
    title = "User rejected", detail = CANNOT_COMPLETE, fragment = CANNOT_COMPLETE }
local VIRTUAL_FAILED = { step_status = "failed", slug = "precondition-failed",
    title = "Precondition failed", detail = CANNOT_COMPLETE, fragment = CANNOT_COMPLETE }

-- failure(number) -> nil when the check succeeds, else how it fails.
-- Vonage's virtual operator: 990... numbers ending in an even digit
-- complete, in 99 fail, in any other odd digit are user_rejected.
local function failure(number)
    if number:sub(1, 3) == "990" then
        if number:sub(-2) == "99" then
            return VIRTUAL_FAILED
        end
        return byte(number, -1) % 2 == 1 and USER_REJECTED or nil
    end
    return FAILURES[number]
end

-- check_step(entry, prefix, bad): the silent_auth redirect_url of a
-- workflow entry (verify.lua checks the other fields)
function M.check_step(entry, prefix, bad)
    local url = entry.redirect_url
    if url ~= nil and not (type(url) == "string" and #url <= 2048 and not url:find("[%s#]")
            and (url:find("^https://[^/?#]+") or url:find("^http://127%.0%.0%.1[:/]")
                or url:find("^http://localhost[:/]"))) then
        bad(prefix, "`redirect_url` must be an https URL without a fragment")
    end
end

-- uncovered(step) -> true when POST /v2/verify's coverage pre-check fails
-- for this silent_auth step (coverage_check, default true, looks it up).
function M.uncovered(step)
    return step.coverage_check ~= false and failure(step.to) == NETWORK
end

-- A silent-auth event; each one that ends the step carries finalized_at,
-- as every Verify event does (action_pending ends nothing).
local function event(req, status, at)
    return {
        request_id = req.request_id,
        triggered_at = callbacks.iso8601(at),
        type = "event",
        channel = "silent_auth",
        status = status,
        finalized_at = status ~= "action_pending" and callbacks.iso8601(at) or nil,
        client_ref = req.client_ref,
    }
end

-- started(req, now) -> check_url; tells the application (async mode) too.
function M.started(req, now)
    local check_url = http.base_url() .. "/v2/verify/" .. req.request_id .. "/silent-auth/redirect"
    local pending = event(req, "action_pending", now)
    -- An array, as the reference's webhook shows it (the guide prints one object).
    pending.action = json.array({ { type = "check", check_url = check_url } })
    callbacks.emit(req, pending)
    return check_url
end

-- step_failed(req, status, now): the silent-auth step ended badly; the
-- application hears it now, the workflow moves on at the step's deadline
-- or at next_workflow (verify.lua reads step.outcome).
function M.step_failed(req, status, now)
    req.workflow[req.channel_index].outcome = status
    callbacks.emit(req, event(req, status, now))
end

-- step_expired(req, at): the 60 s of the silent-auth step passed with no
-- check; verify.lua moves the workflow on.
function M.step_expired(req, at)
    callbacks.emit(req, event(req, "expired", at))
end

---------------------------------------------------------------------------
-- The chain
---------------------------------------------------------------------------

local CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

-- A code like the reference's "si9sfG" (bytes >= 248 rejected: no bias).
local function random_code(n)
    local out = {}
    while #out < n do
        local b = byte(crypto.random_bytes(1))
        if b < 248 then
            local i = b % #CODE_ALPHABET + 1
            out[#out + 1] = CODE_ALPHABET:sub(i, i)
        end
    end
    return concat(out)
end

local function random_token()
    return (crypto.random_bytes(16):gsub(".", function(c)
        return format("%02x", byte(c))
    end))
end

-- What the device sent to this hop.
local function record_hop(req, name)
    local headers = ngx.req.get_headers()
    local hops = req.silent_auth_hops
    hops[#hops + 1] = {
        hop = name,
        port = ngx.var.server_port,
        path = ngx.var.uri,
        authorization = headers["authorization"] ~= nil,
        cookie = headers["cookie"] ~= nil,
    }
end

local function redirect(location)
    ngx.header["Location"] = location
    return 302
end

local function gone()
    return problem.generic(404, "not-found", "Not Found", "This silent-auth check is not in progress.")
end

-- The request a session belongs to, when it still is at silent auth
local function silent_auth_request(id)
    local req = state.requests[id]
    if req and req.status == "in_progress" and req.channel == "silent_auth" then
        return req
    end
end

-- next_stage(token, from, to) -> session, req | nil: the device must follow
-- the chain in order, each hop once
local function next_stage(token, from, to)
    local session = state.silent_auth[token]
    if not session or session.stage ~= from then
        return nil
    end
    local req = silent_auth_request(session.request_id)
    if not req then
        return nil
    end
    session.stage = to
    return session, req
end

-- GET /v2/verify/:id/silent-auth/redirect: the check_url
local function check_url(_, id)
    local req = silent_auth_request(id)
    if not req then
        return problem.not_found(id)
    end
    local token = random_token()
    state.silent_auth[token] = { request_id = id, api_base = http.base_url(), stage = 1 }
    req.silent_auth_hops = json.array()
    record_hop(req, "check_url")
    return redirect(ngx.var.carrier_url .. "/phone_check/v0.2/checks/" .. token .. "/redirect")
end

-- carrier_hop(token, from, to, hop) -> session, req | nil: a hop served
-- only on the carrier's port, recorded as `hop` when the chain allows it
local function carrier_hop(token, from, to, hop)
    if ngx.var.sandbox_role ~= "carrier" then
        return nil
    end
    local session, req = next_stage(token, from, to)
    if req then
        record_hop(req, hop)
    end
    return session, req
end

-- GET /phone_check/v0.2/checks/:token/redirect, on the carrier's port
local function carrier_redirect(_, token)
    local _, req = carrier_hop(token, 1, 2, "carrier")
    if not req then
        return gone()
    end
    -- Carriers set cookies; the device must not send them on.
    ngx.header["Set-Cookie"] = "carrier_session=" .. random_token() .. "; Path=/; HttpOnly"
    return redirect("result")
end

-- GET /phone_check/v0.2/checks/:token/result, on the carrier's port
local function carrier_result(_, token)
    local session, req = carrier_hop(token, 2, 3, "carrier_result")
    if not req then
        return gone()
    end
    return redirect(session.api_base .. "/v2/verify/" .. req.request_id .. "/silent-auth/complete/" .. token)
end

-- GET /v2/verify/:id/silent-auth/complete/:token: the outcome
local function complete(ctx, id, token)
    local session, req = next_stage(token, 3, 4)
    if not req or session.request_id ~= id then
        return gone()
    end
    state.silent_auth[token] = nil
    record_hop(req, "complete")
    local step = req.workflow[req.channel_index]
    local failed = failure(step.to)
    if failed then
        M.step_failed(req, failed.step_status, ctx.now)
        if step.redirect_url then
            return redirect(step.redirect_url .. "#error_description=" .. ngx.escape_uri(failed.fragment))
        end
        return problem.verify(failed.slug, { title = failed.title, detail = failed.detail })
    end
    -- A new code for each completed chain; verify.lua's check takes it once.
    req.silent_auth_code = random_code(6)
    if step.redirect_url then
        return redirect(format("%s#request_id=%s&code=%s", step.redirect_url, id, req.silent_auth_code))
    end
    return 200, { request_id = id, code = req.silent_auth_code }
end

-- Before the /v2/verify/:id patterns (init.lua keeps this module first).
M.routes = {
    { "GET", "^/v2/verify/([^/]+)/silent%-auth/redirect$", check_url },
    { "GET", "^/v2/verify/([^/]+)/silent%-auth/complete/(%x+)$", complete },
    { "GET", "^/phone_check/v0%.2/checks/(%x+)/redirect$", carrier_redirect },
    { "GET", "^/phone_check/v0%.2/checks/(%x+)/result$", carrier_result },
}

return M
