-- Authentication of API requests: an RS256 application JWT or Basic
-- credentials, checked against what tests registered through /_sandbox/.
local crypto = require "vonage_sandbox.crypto"
local json = require "vonage_sandbox.json"
local state = require "vonage_sandbox.state"

local ngx = ngx
local type = type

local M = {}

local function decode_segment(segment)
    local text = crypto.b64url_decode(segment)
    local value = text and json.decode(text)
    if type(value) ~= "table" then
        return nil
    end
    return value
end

-- Claims are checked only after the signature, so nothing unverified
-- decides anything beyond which key to verify with.
local function check_claims(claims)
    -- Expiry uses the real clock: moving the virtual clock must not
    -- invalidate the client's cached token mid-spec.
    local now = ngx.time()
    if type(claims.exp) ~= "number" then
        return "JWT has no exp claim"
    end
    if claims.exp <= now then
        return "JWT has expired"
    end
    if type(claims.nbf) == "number" and claims.nbf > now then
        return "JWT is not valid yet (nbf)"
    end
    if type(claims.iat) ~= "number" then
        return "JWT has no iat claim"
    end
    if type(claims.jti) ~= "string" or claims.jti == "" then
        return "JWT has no jti claim"
    end
end

local function check_jwt(token)
    local h64, p64, s64 = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]*)$")
    if not h64 then
        return nil, "Malformed JWT"
    end
    local header, claims = decode_segment(h64), decode_segment(p64)
    if not header or not claims then
        return nil, "Malformed JWT"
    end
    if header.alg ~= "RS256" then
        return nil, "Unsupported JWT algorithm: only RS256 is accepted"
    end
    local app = type(claims.application_id) == "string" and state.applications[claims.application_id]
    if not app then
        return nil, "Unknown application_id"
    end
    local signature = crypto.b64url_decode(s64)
    if not signature or not crypto.verify_rs256(app.pkey, h64 .. "." .. p64, signature) then
        return nil, "Invalid JWT signature"
    end
    local problem = check_claims(claims)
    if problem then
        return nil, problem
    end
    return {
        kind = "jwt",
        jti = claims.jti,
        application_id = claims.application_id,
        iat = claims.iat,
        exp = claims.exp,
    }
end

local function check_basic(credentials)
    local decoded = ngx.decode_base64(credentials)
    local key, secret = (decoded or ""):match("^([^:]+):(.*)$")
    if not key then
        return nil, "Malformed Basic credentials"
    end
    if state.accounts[key] ~= secret then
        return nil, "Invalid API key or secret"
    end
    return { kind = "basic", api_key = key }
end

-- check() -> identity table | nil, detail for the 401
function M.check()
    local header = ngx.req.get_headers()["authorization"]
    if header == nil then
        return nil, "Missing Authorization header"
    end
    if type(header) == "table" then
        return nil, "Use either JWT or Basic authentication, not both"
    end
    local scheme, credentials = header:match("^(%a+) +(%S+) *$")
    scheme = scheme and scheme:lower()
    if scheme == "bearer" then
        return check_jwt(credentials)
    elseif scheme == "basic" then
        return check_basic(credentials)
    end
    return nil, "Authorization must be 'Bearer <JWT>' or 'Basic <base64>'"
end

return M
