-- vonage_sandbox: a local, stateful emulator of the Vonage APIs this project
-- calls, served by nginx + lua-nginx-module (see sandbox/vonage-sandbox).
--
-- nginx.conf routes every request to handle(), which serves an injected
-- fault if one matches, brings the virtual clock's deadlines up to date,
-- authenticates API routes, dispatches, and logs authenticated requests.
local auth = require "vonage_sandbox.auth"
local callbacks = require "vonage_sandbox.callbacks"
local control = require "vonage_sandbox.control"
local fault = require "vonage_sandbox.fault"
local http = require "vonage_sandbox.http"
local oauth = require "vonage_sandbox.oauth"
local problem = require "vonage_sandbox.problem"
local silent_auth = require "vonage_sandbox.silent_auth"
local state = require "vonage_sandbox.state"
local templates = require "vonage_sandbox.templates"
local verify = require "vonage_sandbox.verify"

local ngx = ngx
local ipairs, unpack, tonumber = ipairs, unpack, tonumber
local xpcall, traceback = xpcall, debug.traceback

local M = {}

-- Feature modules each export an ordered route list: { method, pattern,
-- handler, auth = bool }. Handlers take (ctx, captures...) and return
-- status, body, content type.
local routes = {}
for _, module in ipairs({ control, callbacks, templates, silent_auth, oauth, verify }) do
    for _, route in ipairs(module.routes) do
        routes[#routes + 1] = route
    end
end

-- route_for(method, path) -> route, captures | nil, path_was_known
local function route_for(method, path)
    local known = false
    for _, route in ipairs(routes) do
        -- find, not match: a pattern without captures must yield none,
        -- not the whole path
        local found = { path:find(route[2]) }
        if found[1] then
            if route[1] == method then
                return route, { unpack(found, 3) }
            end
            known = true
        end
    end
    return nil, known
end

local function record(ctx, method, path, status)
    local who = ctx.auth
    state.log[#state.log + 1] = {
        method = method,
        path = path,
        auth = who.kind,
        jti = who.jti,
        application_id = who.application_id,
        iat = who.iat,
        exp = who.exp,
        api_key = who.api_key,
        status = status,
        at = ctx.now,
        -- nginx's connection serial: equal for two requests on one kept-alive connection
        connection = tonumber(ngx.var.connection),
    }
end

local function dispatch(method, path)
    local ctx = { now = state.now() }
    verify.tick(ctx.now)
    local route, captures = route_for(method, path)
    if not route then
        if captures then
            return problem.generic(405, "method-not-allowed", "Method Not Allowed",
                method .. " is not allowed on " .. path)
        end
        return problem.generic(404, "not-found", "Not Found", "No such endpoint: " .. path)
    end
    if route.auth then
        local who, why = auth.check()
        if not who then
            return problem.unauthorized(why)
        end
        ctx.auth = who
    end
    local status, body, content_type = route[3](ctx, unpack(captures))
    if ctx.auth then
        record(ctx, method, path, status)
    end
    return status, body, content_type
end

local function internal_error(err)
    local trace = traceback(err, 2)
    ngx.log(ngx.ERR, trace)
    return trace
end

-- handle(): content_by_lua entry point for every request
function M.handle()
    local method, path = ngx.req.get_method(), ngx.var.uri
    -- Faults never shadow the control API, or a spec could lock itself out.
    local canned = path:sub(1, 10) ~= "/_sandbox/" and fault.take(method, path)
    if canned then
        return fault.serve(canned)
    end
    local ok, status, body, content_type = xpcall(function()
        return dispatch(method, path)
    end, internal_error)
    if not ok then
        status, body, content_type = problem.generic(500, "internal-error", "Internal Error", status)
    end
    http.send(status, body, content_type)
end

return M
