-- Fault injection: canned answers that replace the next matching requests,
-- so client specs can meet over-size, malformed or slow responses.
local state = require "vonage_sandbox.state"

local ngx = ngx
local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local floor, min = math.floor, math.min
local string_rep, remove = string.rep, table.remove

local M = {}

local CHUNK = 64 * 1024

local function is_integer(v)
    return type(v) == "number" and v == floor(v)
end

local function check_headers(headers, problems)
    if type(headers) ~= "table" then
        problems[#problems + 1] = { name = "headers", reason = "must be an object" }
        return
    end
    for k, v in pairs(headers) do
        if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
            problems[#problems + 1] = { name = "headers." .. tostring(k), reason = "must be a string" }
        end
    end
end

-- validate(spec) -> list of { name, reason } (empty when the spec is usable)
function M.validate(spec)
    local problems = {}
    local function bad(name, reason)
        problems[#problems + 1] = { name = name, reason = reason }
    end
    if type(spec.path) ~= "string" or spec.path:sub(1, 1) ~= "/" then
        bad("path", "must be a path starting with /")
    end
    if spec.method ~= nil and type(spec.method) ~= "string" then
        bad("method", "must be a string")
    end
    if spec.status ~= nil and not (is_integer(spec.status) and spec.status >= 100 and spec.status <= 599) then
        bad("status", "must be an integer between 100 and 599")
    end
    if spec.body ~= nil and type(spec.body) ~= "string" then
        bad("body", "must be a string")
    end
    if spec.body_bytes ~= nil and not (is_integer(spec.body_bytes) and spec.body_bytes >= 0) then
        bad("body_bytes", "must be a non-negative integer")
    end
    if spec.body ~= nil and spec.body_bytes ~= nil then
        bad("body_bytes", "give either body or body_bytes, not both")
    end
    if spec.chunked ~= nil and type(spec.chunked) ~= "boolean" then
        bad("chunked", "must be a boolean")
    end
    if spec.headers ~= nil then
        check_headers(spec.headers, problems)
    end
    if spec.times ~= nil and not (is_integer(spec.times) and spec.times >= 1) then
        bad("times", "must be a positive integer")
    end
    if spec.delay ~= nil and not (type(spec.delay) == "number" and spec.delay >= 0) then
        bad("delay", "must be a non-negative number of seconds")
    end
    return problems
end

-- add(spec): queue a validated spec; returns the stored fault
function M.add(spec)
    local fault = {
        method = spec.method and spec.method:upper(),
        path = spec.path,
        status = spec.status or 200,
        body = spec.body or string_rep("x", spec.body_bytes or 0),
        chunked = spec.chunked or false,
        headers = spec.headers or {},
        times = spec.times or 1,
        delay = spec.delay or 0,
    }
    state.faults[#state.faults + 1] = fault
    return fault
end

-- A path ending in * matches by prefix, so one fault can cover request ids
-- the spec does not know yet.
local function matches(fault, method, path)
    if fault.method and fault.method ~= method then
        return false
    end
    if fault.path:sub(-1) == "*" then
        return path:sub(1, #fault.path - 1) == fault.path:sub(1, -2)
    end
    return path == fault.path
end

-- take(method, path) -> fault | nil; consumes one use of the first match
function M.take(method, path)
    for i, fault in ipairs(state.faults) do
        if matches(fault, method, path) then
            fault.times = fault.times - 1
            if fault.times == 0 then
                remove(state.faults, i)
            end
            return fault
        end
    end
end

-- serve(fault): write the canned answer
function M.serve(fault)
    if fault.delay > 0 then
        ngx.sleep(fault.delay)
    end
    ngx.status = fault.status
    ngx.header["Content-Type"] = "application/json"
    for name, value in pairs(fault.headers) do
        ngx.header[name] = value
    end
    local body = fault.body
    if not fault.chunked then
        ngx.header["Content-Length"] = #body
        ngx.print(body)
        return
    end
    -- Without a Content-Length nginx answers HTTP/1.1 clients with chunked
    -- transfer-encoding; flushing piece by piece makes the chunks real.
    for first = 1, #body, CHUNK do
        ngx.print(body:sub(first, min(first + CHUNK - 1, #body)))
        ngx.flush(true)
    end
end

return M
