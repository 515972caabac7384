-- Number Verification (CAMARA) and its OAuth2 authorization-code flow:
-- /oauth2/auth, /oauth2/token, /v0.1/network-enablement and the verify call,
-- plus the control endpoints that stand in for the cellular network.
--
-- There is no SIM here: the "device" holds the login_hint's number, unless a
-- test number or the control switch POST /_sandbox/device says otherwise.
local crypto = require "vonage_sandbox.crypto"
local http = require "vonage_sandbox.http"
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"
local state = require "vonage_sandbox.state"

local ngx = ngx
local type, pairs, ipairs = type, pairs, ipairs
local format, byte, concat = string.format, string.byte, table.concat

local M = {}

local SCOPE = "dpv:FraudPreventionAndDetection#number-verification-verify-read"
local CODE_TTL = 300
local TOKEN_TTL = 3600

-- login_hint -> what the network does with it
local TEST_NUMBERS = {
    ["+447700900403"] = { error = "access_denied", description = "The subscriber refused the request" },
    ["+447700900404"] = { device_number = "+447700900405" }, -- the SIM holds another number
}

-- phone_number -> what Network Enablement answers instead of an auth_url:
-- a scope refused for this number (200, the error in the scope's entry), or
-- the pre-check finding no supported network (a CAMARA 422).
local ENABLEMENT_NUMBERS = {
    ["+447700900402"] = { scope_error = { status = 403, error_type = "Forbidden", title = "Forbidden",
        detail = "Blocked by allowlist" } },
    ["+447700900406"] = { unsupported = true },
}

local function is_e164(v)
    return type(v) == "string" and v:find("^%+[1-9]%d+$") ~= nil and #v >= 8 and #v <= 16
end

local function hex(s)
    return (s:gsub(".", function(c) return format("%02x", byte(c)) end))
end

local function random_token()
    local b64 = ngx.encode_base64(crypto.random_bytes(32), true)
    return (b64:gsub("+", "-"):gsub("/", "_"))
end

local function encode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

local function query(list)
    local parts = {}
    for i, pair in ipairs(list) do
        parts[i] = encode(pair[1]) .. "=" .. encode(pair[2])
    end
    return concat(parts, "&")
end

-- CAMARA's error body: { status, code, message }
local function camara(status, code, message)
    return status, { status = status, code = code, message = message }, "application/json"
end

-- single(args) -> args | nil, name: refuses a repeated parameter
local function single(args)
    for name, value in pairs(args) do
        if type(value) ~= "string" then
            return nil, name
        end
    end
    return args
end

local function registered(application_id, redirect_uri)
    for _, uri in ipairs(state.redirect_uris[application_id] or {}) do
        if uri == redirect_uri then
            return true
        end
    end
    return false
end

local function has_scope(scope)
    local openid, nv = false, false
    for word in scope:gmatch("%S+") do
        openid = openid or word == "openid"
        nv = nv or word == SCOPE
    end
    return openid and nv
end

-- GET /oauth2/auth?client_id&response_type&scope&redirect_uri&state&login_hint
-- Problems with the client or the redirect_uri answer 400 here, never a
-- redirect (RFC 6749 4.1.2.1: redirecting to an unchecked URI would make
-- this an open redirector); every later problem goes back to redirect_uri.
local function authorize(ctx)
    local args, repeated = single(ngx.req.get_uri_args(100))
    if not args then
        return camara(400, "INVALID_REQUEST", "parameter " .. repeated .. " is repeated")
    end
    if type(args.client_id) ~= "string" or not state.applications[args.client_id] then
        return camara(400, "INVALID_CLIENT", "unknown client_id")
    end
    if type(args.redirect_uri) ~= "string" or not registered(args.client_id, args.redirect_uri) then
        return camara(400, "INVALID_REQUEST", "redirect_uri is not registered for this application")
    end
    local function back(list)
        local sep = args.redirect_uri:find("?", 1, true) and "&" or "?"
        if type(args.state) == "string" then
            list[#list + 1] = { "state", args.state }
        end
        ngx.header["Location"] = args.redirect_uri .. sep .. query(list)
        return 302
    end
    local function refuse(err, description)
        return back({ { "error", err }, { "error_description", description } })
    end
    if args.response_type ~= "code" then
        return refuse("unsupported_response_type", "response_type must be code")
    end
    if type(args.scope) ~= "string" or not has_scope(args.scope) then
        return refuse("invalid_scope", "scope must hold openid and " .. SCOPE)
    end
    if type(args.state) ~= "string" or #args.state < 8 then
        return refuse("invalid_request", "state must be at least 8 characters")
    end
    if not is_e164(args.login_hint) then
        return refuse("invalid_request", "login_hint must be an E.164 number with +")
    end
    local test = TEST_NUMBERS[args.login_hint] or {}
    if test.error then
        return refuse(test.error, test.description)
    end
    local code = random_token()
    state.oauth_codes[code] = {
        application_id = args.client_id,
        redirect_uri = args.redirect_uri,
        device_number = state.device_number or test.device_number or args.login_hint,
        expires_at = ctx.now + CODE_TTL,
    }
    return back({ { "code", code } })
end

-- POST /oauth2/token (form: grant_type, code, redirect_uri; app JWT)
local function token(ctx)
    if ctx.auth.kind ~= "jwt" then
        return camara(401, "UNAUTHENTICATED", "the token endpoint needs the application JWT")
    end
    local content_type = ngx.var.content_type or ""
    if not content_type:lower():find("^application/x%-www%-form%-urlencoded") then
        return camara(400, "INVALID_REQUEST", "the body must be application/x-www-form-urlencoded")
    end
    ngx.req.read_body()
    local args, repeated = single(ngx.req.get_post_args(100))
    if not args then
        return camara(400, "INVALID_REQUEST", "parameter " .. repeated .. " is repeated")
    end
    if args.grant_type ~= "authorization_code" then
        return camara(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be authorization_code")
    end
    local grant = type(args.code) == "string" and state.oauth_codes[args.code]
    if not grant then
        return camara(400, "INVALID_GRANT", "unknown authorization code")
    end
    if grant.used then
        -- RFC 6749 4.1.2: a replayed code revokes what it bought
        if grant.access_token then
            state.access_tokens[grant.access_token] = nil
        end
        return camara(400, "INVALID_GRANT", "the authorization code was already used")
    end
    grant.used = true -- every presentation spends the code, successful or not
    if ctx.now >= grant.expires_at then
        return camara(400, "INVALID_GRANT", "the authorization code has expired")
    end
    if grant.application_id ~= ctx.auth.application_id then
        return camara(400, "INVALID_GRANT", "the authorization code was issued to another client")
    end
    if args.redirect_uri ~= grant.redirect_uri then
        return camara(400, "INVALID_GRANT", "redirect_uri does not match the authorization request")
    end
    local access_token = random_token()
    state.access_tokens[access_token] = {
        application_id = grant.application_id,
        device_number = grant.device_number,
        expires_at = ctx.now + TOKEN_TTL,
    }
    grant.access_token = access_token
    return 200, { access_token = access_token, token_type = "Bearer", expires_in = TOKEN_TTL }
end

-- POST /v0.1/network-enablement { phone_number, scopes, state } (app JWT)
local function network_enablement(ctx)
    if ctx.auth.kind ~= "jwt" then
        return camara(401, "UNAUTHENTICATED", "network enablement needs the application JWT")
    end
    local body, err = http.read_object()
    if not body then
        return camara(400, "INVALID_ARGUMENT", err)
    end
    if not is_e164(body.phone_number) then
        return camara(400, "INVALID_ARGUMENT", "phone_number must be an E.164 number with +")
    end
    if type(body.state) ~= "string" or #body.state < 8 then
        return camara(400, "INVALID_ARGUMENT", "state must be a string of at least 8 characters")
    end
    local wanted = false
    for _, scope in ipairs(type(body.scopes) == "table" and body.scopes or {}) do
        wanted = wanted or scope == SCOPE
    end
    if not wanted then
        return camara(400, "INVALID_ARGUMENT", "scopes must list " .. SCOPE)
    end
    local application_id = ctx.auth.application_id
    local redirect_uri = (state.redirect_uris[application_id] or {})[1]
    if not redirect_uri then
        return camara(400, "INVALID_ARGUMENT", "the application has no redirect URI registered")
    end
    -- The "smart validation": the number must be on a network that supports the API.
    local test = ENABLEMENT_NUMBERS[body.phone_number] or {}
    if test.unsupported then
        return camara(422, "SERVICE_NOT_APPLICABLE",
            "The phone number is not on a mobile network that supports Number Verification")
    end
    if test.scope_error then
        return 200, { scopes = { [SCOPE] = { error = test.scope_error } } }
    end
    local auth_url = http.base_url() .. "/oauth2/auth?" .. query({
        { "client_id", application_id },
        { "response_type", "code" },
        { "scope", "openid " .. SCOPE },
        { "redirect_uri", redirect_uri },
        { "state", body.state },
        { "login_hint", body.phone_number },
    })
    -- The documented answer: app_url is deprecated ("if present, will always
    -- be null"); the device must open auth_url over its carrier's network.
    return 200, { scopes = { [SCOPE] = { app_url = json.null, auth_url = auth_url, requires_carrier_network = true } } }
end

-- POST /camara/number-verification/v031/verify { phoneNumber | hashedPhoneNumber }
-- (Authorization: Bearer <access token>)
local function verify(ctx)
    local header = ngx.req.get_headers()["authorization"]
    local access_token = type(header) == "string" and header:match("^[Bb]earer +(%S+)$")
    local grant = access_token and state.access_tokens[access_token]
    if not grant then
        return camara(401, "UNAUTHENTICATED", "a valid access token is required")
    end
    if ctx.now >= grant.expires_at then
        return camara(401, "UNAUTHENTICATED", "the access token has expired")
    end
    local body, err = http.read_object()
    if not body then
        return camara(400, "INVALID_ARGUMENT", err)
    end
    local number, hashed = body.phoneNumber, body.hashedPhoneNumber
    if (number == nil) == (hashed == nil) then
        return camara(400, "INVALID_ARGUMENT", "give phoneNumber or hashedPhoneNumber, exactly one")
    end
    local verified
    if number ~= nil then
        if not is_e164(number) then
            return camara(400, "INVALID_ARGUMENT", "phoneNumber must be an E.164 number with +")
        end
        verified = number == grant.device_number
    else
        if type(hashed) ~= "string" or not hashed:find("^" .. ("%x"):rep(64) .. "$") then
            return camara(400, "INVALID_ARGUMENT", "hashedPhoneNumber must be a hex SHA-256")
        end
        verified = hashed:lower() == hex(crypto.sha256(grant.device_number))
    end
    return 200, { devicePhoneNumberVerified = verified }
end

-- POST /_sandbox/redirect_uris { application_id, redirect_uri }: registers
-- one more redirect URI for an application (the first is the one Network
-- Enablement puts into its auth_url)
local function add_redirect_uri(_, body)
    if type(body.application_id) ~= "string" or not state.applications[body.application_id] then
        return problem.invalid("application_id", "must be a registered application")
    end
    if type(body.redirect_uri) ~= "string" or not body.redirect_uri:find("^https?://[^%s]+$") then
        return problem.invalid("redirect_uri", "must be an http(s) URL")
    end
    local list = state.redirect_uris[body.application_id] or json.array()
    if not registered(body.application_id, body.redirect_uri) then
        list[#list + 1] = body.redirect_uri
    end
    state.redirect_uris[body.application_id] = list
    return 200, { application_id = body.application_id, redirect_uris = list }
end

-- POST /_sandbox/device { phone_number = "+44..." | null }: the number the
-- device's SIM holds in every later authorization (null: the login_hint's)
local function set_device(_, body)
    local number = body.phone_number
    if number == json.null then
        number = nil
    elseif not is_e164(number) then
        return problem.invalid("phone_number", "must be an E.164 number with + or null")
    end
    state.device_number = number
    return 200, { phone_number = number or json.null }
end

M.routes = {
    { "GET", "^/oauth2/auth$", authorize },
    { "POST", "^/oauth2/token$", token, auth = true },
    { "POST", "^/v0%.1/network%-enablement$", network_enablement, auth = true },
    { "POST", "^/camara/number%-verification/v031/verify$", verify },
    { "POST", "^/_sandbox/redirect_uris$", http.with_body(add_redirect_uri) },
    { "POST", "^/_sandbox/device$", http.with_body(set_device) },
}

return M
