-- vonage_sandbox.client: the sandbox's control API (/_sandbox/...) from plain
-- Lua 5.1 to 5.4, for the specs, the examples, the REPL and scripts/env.sh.
-- It speaks HTTP with LuaSocket and JSON with lua-cjson, never through the
-- library, so the module under test never sets up its own test.
--   local sandbox = require("vonage_sandbox.client").new()   -- VONAGE_SANDBOX_URL
--   print(sandbox:last_code("447700900000"))
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"

local setmetatable, tostring, type, ipairs = setmetatable, tostring, type, ipairs
local concat, format, getenv = table.concat, string.format, os.getenv

local M = {}

local Client = { __name = "vonage_sandbox.client" }
Client.__index = Client

function Client:__tostring()
    return "vonage_sandbox.client " .. self.url
end

-- client:request(method, path [, body table]) -> status, decoded body (the raw
-- text when it is not JSON) | nil, message when there was no answer
function Client:request(method, path, body)
    local out = {}
    local payload = body and cjson.encode(body)
    local ok, status = http.request {
        method = method, url = self.url .. path,
        source = payload and ltn12.source.string(payload),
        headers = payload and { ["content-type"] = "application/json",
                                ["content-length"] = tostring(#payload) } or nil,
        sink = ltn12.sink.table(out),
    }
    if not ok then return nil, status end
    local raw = concat(out)
    local decoded = cjson.decode(raw)
    if decoded == nil then decoded = raw end
    return status, decoded
end

-- client:call(method, path [, body]) -> decoded answer | nil, message, answer
-- (a 2xx status is an answer; anything else, or no answer, is a failure)
function Client:call(method, path, body)
    local status, answer = self:request(method, path, body)
    local what = format("sandbox %s %s", method, path)
    if not status then return nil, what .. ": " .. tostring(answer) end
    if status < 200 or status > 299 then
        local detail = type(answer) == "table" and (answer.detail or answer.title) or answer
        return nil, format("%s: HTTP %d %s", what, status, tostring(detail)), answer
    end
    return answer
end

-- Picks one field of a successful answer, or passes the failure on.
local function field(name, answer, msg, raw)
    if answer == nil then return nil, msg, raw end
    return answer[name]
end

local function query_escape(s)
    return (tostring(s):gsub("[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

function Client:health() return self:call("GET", "/_sandbox/health") end

-- Forgets every verification, message, log entry, fault, setting, and every
-- application, account and callback setting but those registered with keep
-- (all = true: those too).
function Client:reset(all) return self:call("POST", "/_sandbox/reset", all and { all = true } or nil) end

-- keep = true: a reset keeps this one (the REPL's, from `make sandbox-start`).
function Client:register_application(application_id, public_key_pem, keep)
    return self:call("POST", "/_sandbox/applications",
                     { application_id = application_id, public_key = public_key_pem, keep = keep })
end

function Client:register_account(api_key, api_secret, keep)
    return self:call("POST", "/_sandbox/accounts", { api_key = api_key, api_secret = api_secret, keep = keep })
end

-- The demo switches: cancel_after (seconds, default 30, the reference's rule).
function Client:settings() return self:call("GET", "/_sandbox/settings") end

-- Lets a verification be cancelled `seconds` (0..30) after its start instead
-- of the reference's 30, until the next reset.
function Client:set_cancel_after(seconds)
    return self:call("POST", "/_sandbox/settings", { cancel_after = seconds })
end

-- The messages "sent" to a number (every number when nil), oldest first, each with its code.
function Client:outbox(to, channel)
    local query = {}
    if to then query[#query + 1] = "to=" .. query_escape(to) end
    if channel then query[#query + 1] = "channel=" .. query_escape(channel) end
    local path = "/_sandbox/outbox" .. (#query > 0 and ("?" .. concat(query, "&")) or "")
    return field("messages", self:call("GET", path))
end

-- The code most recently "sent" to a number.
function Client:last_code(to, channel)
    local messages, msg, raw = self:outbox(to, channel)
    if not messages then return nil, msg, raw end
    local last = messages[#messages]
    if not last then return nil, "no message was sent to " .. tostring(to) end
    return last.code
end

-- Moves the virtual clock forward; returns its new time.
function Client:advance(seconds)
    return field("now", self:call("POST", "/_sandbox/clock", { advance = seconds }))
end

-- The API requests the sandbox authenticated, oldest first.
function Client:log()
    return field("requests", self:call("GET", "/_sandbox/log"))
end

-- How many logged requests have method (nil: any) and path (the log leaves the query out).
function Client:logged(method, path)
    local requests, msg, raw = self:log()
    if not requests then return nil, msg, raw end
    local n = 0
    for _, entry in ipairs(requests) do
        if (method == nil or entry.method == method) and entry.path == path then n = n + 1 end
    end
    return n
end

-- Queues a canned answer (doc/sandbox.md, "Faults").
function Client:fault(spec) return self:call("POST", "/_sandbox/faults", spec) end

-- Where signed callbacks go: { url, signature_secret [, api_key] [, max_attempts] }.
function Client:set_callbacks(spec) return self:call("POST", "/_sandbox/callbacks", spec) end

-- The callback deliveries, oldest first (no tokens in them).
function Client:deliveries()
    return field("deliveries", self:call("GET", "/_sandbox/callbacks"))
end

-- What the sandbox's own /_sink/ receiver was sent, oldest first.
function Client:sink()
    return field("received", self:call("GET", "/_sandbox/sink"))
end

-- What a phone does with a URL of the sandbox (an OAuth auth_url): one GET,
-- redirects not followed -> status, headers (lower-case names), body | nil,
-- message. Other hosts are refused: nothing leaves the machine.
function Client:device_get(url)
    if type(url) ~= "string" or url:sub(1, #self.url + 1) ~= self.url .. "/" then
        return nil, "device_get: not a URL of this sandbox: " .. tostring(url)
    end
    local out = {}
    local ok, status, headers = http.request { method = "GET", url = url, redirect = false,
                                               sink = ltn12.sink.table(out) }
    if not ok then return nil, format("GET %s: %s", url, tostring(status)) end
    return status, headers, concat(out)
end

-- new([url]) -> a client of the sandbox at url (default: $VONAGE_SANDBOX_URL)
function M.new(url)
    url = url or getenv("VONAGE_SANDBOX_URL")
    if type(url) ~= "string" or url == "" then
        error("vonage_sandbox.client: no URL: pass one or set VONAGE_SANDBOX_URL", 2)
    end
    return setmetatable({ url = (url:gsub("/+$", "")) }, Client)
end

return M
