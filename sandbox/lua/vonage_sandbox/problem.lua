-- RFC 7807 problem bodies, shaped like Vonage's.
--
-- Every builder returns the triple a route handler returns:
-- status, body table, content type.
local crypto = require "vonage_sandbox.crypto"
local json = require "vonage_sandbox.json"

local format, byte = string.format, string.byte
local pairs = pairs

local M = {}

M.CONTENT_TYPE = "application/problem+json"

local GENERIC = "https://www.developer.vonage.com/api-errors#"
local VERIFY = "https://www.developer.vonage.com/api-errors/verify#"
-- The texts print some types under other bases; each answer uses its text's.
local GUIDE_GENERIC = "https://developer.vonage.com/en/api-errors#"       -- the async guide's 422
local SDK_GENERIC = "https://developer.vonage.com/api-errors#"            -- the SDK fixtures' 404
local VERIFY_V2 = "https://developer.vonage.com/en/api-errors/verify-v2#" -- the async guide's 412

-- uuid() -> random version 4 UUID; request ids and problem instances use it
function M.uuid()
    local b = { byte(crypto.random_bytes(16), 1, 16) }
    b[7] = 0x40 + b[7] % 16 -- version 4
    b[9] = 0x80 + b[9] % 64 -- RFC 4122 variant
    return format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
        b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
        b[9], b[10], b[11], b[12], b[13], b[14], b[15], b[16])
end

local function build(status, type_uri, title, detail, extra)
    local body = { type = type_uri, title = title, detail = detail, instance = M.uuid() }
    for k, v in pairs(extra or {}) do
        body[k] = v
    end
    return status, body, M.CONTENT_TYPE
end

-- The Verify errors the sandbox answers with, by the slug of their type URI.
-- Titles and details are the reference's own words where it gives them.
local catalogue = {
    -- The async guide's 422, word for word.
    ["invalid-params"] = { 422, "Invalid params", "The value of one or more parameters is invalid",
        GUIDE_GENERIC .. "invalid-params" },
    -- The live API types the start's 409 #conflict, with the in-flight
    -- request_id (the official SDKs' fixtures, e.g. vonage-python-sdk
    -- tests/data/verify2/error_conflict.json, served with status 409).
    ["concurrent"] = { 409, "Conflict", "Concurrent verifications to the same number are not allowed.",
        VERIFY .. "conflict" },
    ["invalid-code"] = { 400, "Invalid Code", "The code you provided does not match the expected value." },
    ["expired"] = { 410, "Invalid Code",
        "An incorrect code has been provided too many times. Workflow terminated." },
    ["no-code"] = { 409, "Conflict", "The current Verify workflow step does not support a code." },
    ["no-more-workflows"] = { 409, "Conflict", "There are no more workflows" },
    ["conflict"] = { 409, "Conflict", "Verification cannot be cancelled after the second event" },
    ["cancel-too-early"] = { 409, "Conflict",
        "Verification cannot be cancelled in the first 30 seconds after it started", VERIFY .. "conflict" },
    -- The SDK fixtures' 404 (e.g. vonage-python-sdk verify2/already_verified.json);
    -- not_found() puts the request id into the detail.
    ["request-not-found"] = { 404, "Not Found", "The request ID provided could not be found.",
        SDK_GENERIC .. "not-found" },
    -- Silent authentication (silent_auth.lua may replace title and detail)
    -- The 412s under the async guide's verify-v2 base.
    ["network-error"] = { 412, "Network not supported", "The Silent Auth request could not be completed "
        .. "due to formatting or the carrier is not supported.", VERIFY_V2 .. "network-error" },
    ["msisdn-error"] = { 412, "MSISDN mismatch", "The device MSISDN does not match.", VERIFY_V2 .. "msisdn-error" },
    ["precondition-failed"] = { 412, "Precondition failed",
        "Conditions for the Silent Auth request to complete have not been met.", VERIFY_V2 .. "precondition-failed" },
    ["user-rejected"] = { 403, "User rejected", "The silent auth verification cannot be completed." },
    -- Custom templates (templates.lua); the reference gives no statuses, so
    -- missing things are 404, clashes 409 and a disabled feature 403.
    ["template-not-found"] = { 404, "Not Found", "Template not found" },
    ["template-fragment-not-found"] = { 404, "Not Found", "Template Fragment not found" },
    ["template-exists"] = { 409, "Conflict", "A template with this name already exists" },
    ["max-templates"] = { 409, "Conflict", "An account can only have a maximum of 10 custom templates" },
    ["fragment-exists"] = { 409, "Conflict", "A template fragment for this channel and locale already exists" },
    ["not-empty-template"] = { 409, "Conflict",
        "The template is not empty and cannot be deleted. Please delete its fragments first" },
    ["forbidden"] = { 403, "Forbidden", "Templates management is not enabled for your account" },
}

-- verify(slug[, extra]) -> status, body, content type
-- extra adds fields (request_id, invalid_parameters) or replaces detail.
function M.verify(slug, extra)
    local entry = assert(catalogue[slug], slug)
    return build(entry[1], entry[4] or (VERIFY .. slug), entry[2], entry[3], extra)
end

-- not_found(id): the reference's wording for ids that are gone or never were
function M.not_found(id)
    return M.verify("request-not-found", {
        detail = format("Request '%s' was not found or it has been verified already.", id),
    })
end

-- invalid_params(list) -> 422 with one { name, reason } per problem
function M.invalid_params(list)
    return M.verify("invalid-params", { invalid_parameters = json.array(list) })
end

-- invalid(name, reason) -> a 422 about one field
function M.invalid(name, reason)
    return M.invalid_params({ { name = name, reason = reason } })
end

-- generic(status, slug, title, detail) -> problem outside the Verify catalogue
-- (authentication, routing, the control API)
function M.generic(status, slug, title, detail)
    return build(status, GENERIC .. slug, title, detail)
end

function M.unauthorized(detail)
    return M.generic(401, "unauthorized", "Unauthorized", detail)
end

return M
