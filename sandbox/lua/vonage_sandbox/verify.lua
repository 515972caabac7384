-- Verify v2: start, check, cancel and advance verifications, with the state
-- machine the reference describes.
--
-- A verification record walks its workflow one channel at a time. Each step
-- gets a deadline on the virtual clock; tick() moves overdue requests on
-- (next channel, or "expired" after the last), so there are no timers: the
-- router calls tick() before serving anything.
local callbacks = require "vonage_sandbox.callbacks"
local crypto = require "vonage_sandbox.crypto"
local http = require "vonage_sandbox.http"
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"
local silent_auth = require "vonage_sandbox.silent_auth"
local state = require "vonage_sandbox.state"
local templates = require "vonage_sandbox.templates"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local floor = math.floor
local concat = table.concat
local format, byte = string.format, string.byte

local M = {}

-- Channel -> kind of address its "to" holds.
local CHANNELS = {
    silent_auth = "phone",
    sms = "phone",
    whatsapp = "phone",
    whatsapp_interactive = "phone",
    voice = "phone",
    email = "email",
    rcs = "phone",
}
local CHANNEL_LIST = "silent_auth, sms, whatsapp, whatsapp_interactive, voice, email, rcs"

local DEFAULT_CODE_LENGTH = 4
local DEFAULT_CHANNEL_TIMEOUT = 180
local SILENT_AUTH_TIMEOUT = 60 -- fixed by the reference, whatever channel_timeout says
local MAX_ATTEMPTS = 3
-- Test number whose start the fraud check rejects (unless fraud_check = false):
-- the request ends at once with a "rejected" event and sends no code.
local FRAUD_REJECTED = "447700900666"

local UUID = "^" .. ("%x"):rep(8) .. "%-" .. ("%x"):rep(4) .. "%-" .. ("%x"):rep(4)
    .. "%-" .. ("%x"):rep(4) .. "%-" .. ("%x"):rep(12) .. "$"

---------------------------------------------------------------------------
-- Validation: each check appends { name = field path, reason } problems.
---------------------------------------------------------------------------

local function is_integer(v)
    return type(v) == "number" and v == floor(v)
end

-- Length in characters, not bytes: brand limits count what users see.
local function utf8_length(s)
    return #(s:gsub("[\128-\191]", ""))
end

local function check_brand(brand, bad)
    if brand == nil then
        return bad("brand", "is required")
    end
    if type(brand) ~= "string" then
        return bad("brand", "must be a string")
    end
    local length = utf8_length(brand)
    if length < 1 or length > 18 then
        return bad("brand", "must be 1 to 18 characters long")
    end
    if brand:find("[/{}:$]") then
        bad("brand", "must match ^[^/{}:$]*$")
    end
end

-- The guide's shape for a step's problem: the step is the name and the
-- field leads the reason ("workflow[0]", "`to` Phone number is invalid").
local function check_recipient(kind, to, name, bad)
    if to == nil then
        return bad(name, "`to` is required")
    end
    if kind == "email" then
        if type(to) ~= "string" or #to > 254 or not to:find("^[^@%s]+@[^@%s]+%.[^@%s]+$") then
            bad(name, "`to` Email address is invalid")
        end
    elseif type(to) ~= "string" or #to < 7 or #to > 15 or not to:find("^[1-9]%d+$") then
        bad(name, "`to` Phone number is invalid")
    end
end

-- Field -> check(value) -> reason | nil, per channel: what each step may
-- hold besides channel and to (the reference's fields; anything else is a 422).
local function pattern_rule(pattern, low, high, reason)
    return function(v)
        if type(v) ~= "string" or #v < low or #v > high or not v:find(pattern) then
            return reason
        end
    end
end
local function boolean_rule(v)
    if type(v) ~= "boolean" then
        return "must be a boolean"
    end
end
local SENDER = pattern_rule("^[%w ]+$", 1, 15, "must be a sender id of 1 to 15 letters, digits or spaces")
local DIGITS = pattern_rule("^%d+$", 1, 20, "must be 1 to 20 digits")
local STEP_FIELDS = {
    silent_auth = { redirect_url = true, coverage_check = boolean_rule, sandbox = boolean_rule },
    sms = {
        from = SENDER,
        entity_id = DIGITS,
        content_id = DIGITS,
        app_hash = pattern_rule("^[%w+/=]+$", 11, 11, "must be an Android app hash of 11 characters"),
    },
    whatsapp = {
        from = pattern_rule("^[1-9]%d+$", 7, 15, "must be an E.164 number without a leading + or 00"),
        mode = function(v)
            if v ~= "otp_code" and v ~= "zero_tap" then
                return "must be one of: otp_code, zero_tap"
            end
        end,
    },
    whatsapp_interactive = {},
    voice = {},
    email = { from = pattern_rule("^[^@%s]+@[^@%s]+%.[^@%s]+$", 3, 254, "must be an email address") },
    rcs = { from = pattern_rule(".", 1, 100, "must be a string of 1 to 100 characters") },
}

local function check_step(entry, index, bad)
    local prefix = format("workflow[%d]", index - 1)
    if type(entry) ~= "table" then
        return bad(prefix, "must be an object")
    end
    local channel = entry.channel
    local kind = CHANNELS[channel]
    if channel == nil then
        bad(prefix, "`channel` is required")
    elseif not kind then
        bad(prefix, "`channel` must be one of: " .. CHANNEL_LIST)
    elseif channel == "silent_auth" and index > 1 then
        bad(prefix, "`channel` silent_auth can only be the first channel of a workflow")
    end
    if kind then
        check_recipient(kind, entry.to, prefix, bad)
    elseif entry.to == nil then
        bad(prefix, "`to` is required")
    end
    local fields = STEP_FIELDS[channel]
    if not fields then
        return
    end
    for name, value in pairs(entry) do
        local rule = fields[name]
        if name ~= "channel" and name ~= "to" then
            if not rule then
                bad(prefix, format("`%s` is not a field of the %s channel", tostring(name), channel))
            elseif rule ~= true then
                local why = rule(value)
                if why then
                    bad(prefix, format("`%s` %s", name, why))
                end
            end
        end
    end
    if channel == "silent_auth" then
        silent_auth.check_step(entry, prefix, bad)
    end
end

local function is_sequence(t)
    local count = 0
    for _ in pairs(t) do
        count = count + 1
    end
    return count == #t
end

local function check_workflow(workflow, bad)
    if workflow == nil then
        return bad("workflow", "is required")
    end
    if type(workflow) ~= "table" or not is_sequence(workflow) then
        return bad("workflow", "must be an array")
    end
    if #workflow < 1 or #workflow > 3 then
        return bad("workflow", "must contain 1 to 3 entries")
    end
    for i, entry in ipairs(workflow) do
        check_step(entry, i, bad)
    end
end

local function check_integer(value, name, low, high, bad)
    if value ~= nil and not (is_integer(value) and value >= low and value <= high) then
        bad(name, format("must be an integer between %d and %d", low, high))
    end
end

local function check_string(value, name, low, high, bad)
    if value ~= nil and not (type(value) == "string" and #value >= low and #value <= high) then
        bad(name, format("must be a string of %d to %d characters", low, high))
    end
end

local function check_options(body, bad)
    check_integer(body.code_length, "code_length", 4, 10, bad)
    check_integer(body.channel_timeout, "channel_timeout", 15, 900, bad)
    if body.code ~= nil and not (type(body.code) == "string" and #body.code >= 4
            and #body.code <= 10 and body.code:find("^%w+$")) then
        bad("code", "must be 4 to 10 letters or digits")
    end
    check_string(body.client_ref, "client_ref", 1, 40, bad)
    if body.template_id ~= nil and not (type(body.template_id) == "string" and body.template_id:find(UUID)) then
        bad("template_id", "must be a UUID")
    end
    check_string(body.locale, "locale", 2, 35, bad)
    if body.fraud_check ~= nil and type(body.fraud_check) ~= "boolean" then
        bad("fraud_check", "must be a boolean")
    end
end

-- The top-level fields of POST /v2/verify (reference); others are refused.
local START_FIELDS = {
    brand = true, workflow = true, locale = true, channel_timeout = true, client_ref = true,
    code_length = true, code = true, template_id = true, fraud_check = true,
}

local function check_known(body, bad)
    for name in pairs(body) do
        if not START_FIELDS[name] then
            bad(tostring(name), "is not a parameter of this request")
        end
    end
end

-- template_id "works only when channel is sms or rcs": a workflow with at
-- least one such step may carry it (the others send their own messages).
local function check_template_channels(body, bad)
    if body.template_id == nil or type(body.workflow) ~= "table" then
        return
    end
    for _, entry in ipairs(body.workflow) do
        if type(entry) == "table" and (entry.channel == "sms" or entry.channel == "rcs") then
            return
        end
    end
    bad("template_id", "works only when a channel of the workflow is sms or rcs")
end

-- validate(body) -> list of { name, reason }, empty when the request is valid
local function validate(body)
    local problems = {}
    local function bad(name, reason)
        problems[#problems + 1] = { name = name, reason = reason }
    end
    check_known(body, bad)
    check_brand(body.brand, bad)
    check_workflow(body.workflow, bad)
    check_options(body, bad)
    check_template_channels(body, bad)
    return problems
end

---------------------------------------------------------------------------
-- The state machine
---------------------------------------------------------------------------

-- A uniformly random code of n digits (bytes >= 250 are rejected so that
-- no digit is likelier than another).
local function random_digits(n)
    local digits = {}
    while #digits < n do
        for _, b in ipairs({ byte(crypto.random_bytes(n), 1, n) }) do
            if b < 250 and #digits < n then
                digits[#digits + 1] = b % 10
            end
        end
    end
    return concat(digits)
end

local function message_text(req, channel)
    local code = req.code
    if channel == "voice" then
        code = (code:gsub(".", "%0 ")):sub(1, -2) -- spoken digit by digit
    end
    return templates.render(req, channel, code)
        or format("Your %s verification code is %s", req.brand, code)
end

local function step_timeout(req, channel)
    if channel == "silent_auth" then
        return SILENT_AUTH_TIMEOUT
    end
    return req.channel_timeout
end

-- Start workflow step `index` at virtual time `at`; every channel except
-- silent_auth "sends" the code, which lands in the outbox.
local function start_step(req, index, at)
    local step = req.workflow[index]
    req.channel_index = index
    req.channel = step.channel
    step.status = "in_progress"
    step.initiated_at = at
    step.deadline = at + step_timeout(req, step.channel)
    if step.channel ~= "silent_auth" then
        state.outbox[#state.outbox + 1] = {
            request_id = req.request_id,
            channel = step.channel,
            to = step.to,
            code = req.code,
            text = message_text(req, step.channel),
            at = at,
        }
    end
end

-- End the request; its recipients become free for a new verification.
local function finish(req, status, at)
    req.status = status
    req.finalized_at = at
    state.active[req.request_id] = nil
    callbacks.request_finished(req)
end

-- Apply every deadline that passed by `now`. A step that times out hands
-- over at its deadline, not at `now`, so one big clock jump replays the
-- whole fallback chain with the times it would have had.
local function settle(req, now)
    while req.status == "in_progress" do
        local step = req.workflow[req.channel_index]
        if now < step.deadline then
            return
        end
        -- A silent-auth step whose check already failed keeps that outcome;
        -- one that just ran out of its 60 s says so (the reference's
        -- silent-auth "expired" event).
        step.status = step.outcome or "expired"
        if step.channel == "silent_auth" and not step.outcome then
            silent_auth.step_expired(req, step.deadline)
        end
        if req.workflow[req.channel_index + 1] then
            start_step(req, req.channel_index + 1, step.deadline)
        else
            finish(req, step.outcome and "failed" or "expired", step.deadline)
        end
    end
end

-- tick(now): bring every in-progress request up to the virtual time `now`
function M.tick(now)
    for _, req in pairs(state.active) do
        settle(req, now)
    end
end

-- The in-progress request already verifying one of `workflow`'s recipients
local function in_flight(workflow)
    for _, req in pairs(state.active) do
        for _, step in ipairs(req.workflow) do
            for _, entry in ipairs(workflow) do
                if entry.to == step.to then
                    return req
                end
            end
        end
    end
end

local function new_request(body, now)
    local workflow = json.array()
    for i, entry in ipairs(body.workflow) do
        local step = { status = "unused" }
        for k, v in pairs(entry) do
            step[k] = v
        end
        workflow[i] = step
    end
    local req = {
        request_id = problem.uuid(),
        status = "in_progress",
        brand = body.brand,
        client_ref = body.client_ref,
        locale = body.locale or "en-us",
        template_id = body.template_id,
        code_length = body.code_length or DEFAULT_CODE_LENGTH,
        channel_timeout = body.channel_timeout or DEFAULT_CHANNEL_TIMEOUT,
        attempts = 0,
        created_at = now,
        workflow = workflow,
    }
    req.code = body.code or random_digits(req.code_length)
    return req
end

---------------------------------------------------------------------------
-- Route handlers: (ctx, captures...) -> status, body, content type
---------------------------------------------------------------------------

-- with_live_request(handler): (ctx, request_id) becomes handler(ctx, req)
-- for a request still in progress, or a 404
local function with_live_request(handler)
    return function(ctx, id)
        local req = state.requests[id]
        if not req or req.status ~= "in_progress" then
            return problem.not_found(id)
        end
        return handler(ctx, req)
    end
end

-- POST /v2/verify
local function create(ctx, body)
    local problems = validate(body)
    if #problems > 0 then
        return problem.invalid_params(problems)
    end
    if body.template_id and not templates.find(body.template_id) then
        return problem.verify("template-not-found")
    end
    local busy = in_flight(body.workflow)
    if busy then
        return problem.verify("concurrent", { request_id = busy.request_id })
    end
    -- The coverage pre-check (reference: coverage_check) fails at once, or
    -- falls back to the next channel when there is one (guide).
    local uncovered = body.workflow[1].channel == "silent_auth" and silent_auth.uncovered(body.workflow[1])
    if uncovered and not body.workflow[2] then
        return problem.verify("network-error")
    end
    local req = new_request(body, ctx.now)
    -- Callbacks go only to requests made with an application JWT (the guide:
    -- Basic auth is for synchronous use), and to that application.
    req.auth_kind = ctx.auth.kind
    req.application_id = ctx.auth.application_id
    state.requests[req.request_id] = req
    state.active[req.request_id] = req
    if body.fraud_check ~= false and body.workflow[1].to == FRAUD_REJECTED then
        req.channel_index, req.channel = 1, body.workflow[1].channel
        req.workflow[1].status = "failed"
        finish(req, "rejected", ctx.now)
        return 202, { request_id = req.request_id }
    end
    start_step(req, 1, ctx.now)
    if uncovered then
        silent_auth.step_failed(req, "failed", ctx.now)
        req.workflow[1].status = "failed"
        start_step(req, 2, ctx.now)
    end
    local answer = { request_id = req.request_id }
    if req.channel == "silent_auth" then
        answer.check_url = silent_auth.started(req, ctx.now)
    end
    return 202, answer
end

-- The right code: the step and the request are done.
local function code_accepted(ctx, req, step)
    step.status = "completed"
    finish(req, "completed", ctx.now)
    return 200, { request_id = req.request_id, status = "completed" }
end

-- No tries left: the workflow ends, and later checks get the same 410.
local function out_of_tries(ctx, req, step)
    step.status = "failed"
    req.failure = "too_many_attempts"
    finish(req, "failed", ctx.now)
    return problem.verify("expired")
end

-- A code the device got through the check_url may be tried once
-- (reference); before it has one, and after its one try, there is no code.
local function check_silent_auth(ctx, req, step, code)
    local expected = req.silent_auth_code
    if not expected then
        return problem.verify("no-code")
    end
    req.silent_auth_code = nil
    if code == expected then
        return code_accepted(ctx, req, step)
    end
    if req.workflow[req.channel_index + 1] then
        silent_auth.step_failed(req, "failed", ctx.now)
        return problem.verify("invalid-code")
    end
    return out_of_tries(ctx, req, step)
end

-- POST /v2/verify/:id with { "code": ... }
local function check(ctx, body, id)
    local code = body.code
    if type(code) ~= "string" or #code < 4 or #code > 10 then
        return problem.invalid("code", "must be a string of 4 to 10 characters")
    end
    local req = state.requests[id]
    if req and req.failure == "too_many_attempts" then
        return problem.verify("expired")
    end
    if not req or req.status ~= "in_progress" then
        return problem.not_found(id)
    end
    local step = req.workflow[req.channel_index]
    if step.channel == "silent_auth" then
        return check_silent_auth(ctx, req, step, code)
    end
    if code == req.code then
        return code_accepted(ctx, req, step)
    end
    req.attempts = req.attempts + 1
    if req.attempts < MAX_ATTEMPTS then
        return problem.verify("invalid-code")
    end
    return out_of_tries(ctx, req, step)
end

-- DELETE /v2/verify/:id
-- The reference: "only possible 30 seconds after the start of the
-- verification request and before the second event". The 30 s are on the
-- virtual clock, and POST /_sandbox/settings { cancel_after } relaxes them.
local function cancel(ctx, req)
    if ctx.now - req.created_at < state.settings.cancel_after then
        return problem.verify("cancel-too-early")
    end
    if req.channel_index > 1 then
        return problem.verify("conflict")
    end
    req.workflow[req.channel_index].status = "cancelled"
    finish(req, "cancelled", ctx.now)
    return 204
end

-- POST /v2/verify/:id/next_workflow
local function next_workflow(ctx, req)
    if not req.workflow[req.channel_index + 1] then
        return problem.verify("no-more-workflows")
    end
    -- The skipped step counts as failed (or keeps how its silent-auth
    -- check ended): it ended without a code.
    local skipped = req.workflow[req.channel_index]
    skipped.status = skipped.outcome or "failed"
    start_step(req, req.channel_index + 1, ctx.now)
    return 200, {}
end

-- Tried in order; the first whose method and pattern match serves. Later
-- fixed paths under /v2/verify/ (templates, silent-auth) must come before
-- the /v2/verify/:id patterns.
M.routes = {
    { "POST", "^/v2/verify/?$", http.with_body(create), auth = true },
    { "POST", "^/v2/verify/([^/]+)/next_workflow$", with_live_request(next_workflow), auth = true },
    { "POST", "^/v2/verify/([^/]+)$", http.with_body(check), auth = true },
    { "DELETE", "^/v2/verify/([^/]+)$", with_live_request(cancel), auth = true },
}

return M
