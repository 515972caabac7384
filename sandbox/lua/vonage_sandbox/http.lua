-- Reading requests and writing answers inside nginx's content phase.
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"

local ngx = ngx
local type = type

local M = {}

-- read_json() -> value | nil, reason
-- The launcher sets client_body_buffer_size to client_max_body_size, so a
-- body nginx accepted is always in memory and never parked in a temp file.
function M.read_json()
    ngx.req.read_body()
    local data = ngx.req.get_body_data()
    if not data or data == "" then
        return nil, "request body is empty"
    end
    local value = json.decode(data)
    if value == nil then
        return nil, "request body is not valid JSON"
    end
    return value
end

-- read_object() -> table | nil, reason: the JSON body, which must be an object
function M.read_object()
    local value, err = M.read_json()
    if value == nil then
        return nil, err
    end
    if type(value) ~= "table" or value[1] ~= nil then
        return nil, "request body must be a JSON object"
    end
    return value
end

-- with_body(handler) -> a route handler that reads the JSON object body
-- first: (ctx, ...) becomes handler(ctx, body, ...), or a 422 about "body"
function M.with_body(handler)
    return function(ctx, ...)
        local body, err = M.read_object()
        if not body then
            return problem.invalid("body", err)
        end
        return handler(ctx, body, ...)
    end
end

-- base_url() -> scheme://host[:port] the client used, for URLs in answers
function M.base_url()
    return ngx.var.scheme .. "://" .. (ngx.var.http_host or ngx.var.host)
end

-- send(status, body, content_type): answer with JSON (no body when nil)
function M.send(status, body, content_type)
    ngx.status = status
    if body == nil then
        return
    end
    local text = json.encode(body)
    ngx.header["Content-Type"] = content_type or "application/json"
    ngx.header["Content-Length"] = #text
    ngx.print(text)
end

return M
