-- The OpenResty receiver for signed webhooks:
--   location = /webhooks/verify { content_by_lua_block { handler() } }
-- with handler = vonage.webhook.ngx_handler(opts, on_event). The checks are
-- vonage.webhook.verify's; this file reads the body and turns the outcome into
-- an HTTP status.
local webhook = require "vonage.webhook"
local errors = require "vonage.errors"
local store_mod = require "vonage.store"

local type, pairs, pcall, tostring, tonumber, rawget = type, pairs, pcall, tostring, tonumber, rawget
local open = io.open

local M = {}

local MAX_BODY_BYTES = 1024 * 1024
local DEFAULT_STORE_ENTRIES = 100000

-- The request body, also when nginx spilled it to a temp file; never an
-- empty string standing in for a body that could not be read.
local function read_body(ngx)
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local path = ngx.req.get_body_file()
    if path then
      local f = open(path, "rb")
      if not f then return nil, "cannot open the spilled request body" end
      body = f:read(MAX_BODY_BYTES + 1)
      f:close()
    end
  end
  local declared = tonumber(ngx.var.http_content_length or "")
  body = body or ""
  if #body > MAX_BODY_BYTES then return nil, "the request body is too large", 413 end
  if declared and declared ~= #body then return nil, "the request body was not read completely" end
  if not declared and body == "" and ngx.var.http_transfer_encoding then
    return nil, "the chunked request body was not read"
  end
  return body
end

-- ngx_handler(opts, on_event) -> function for content_by_lua: verifies, calls
-- on_event(event) and answers 204; 401 for a bad token, 400 for a bad body,
-- 200 for a replay (the handler is not run again), 500 for a memory error or
-- a failing replay store (nothing recorded), 500 when on_event raises
-- or returns false or nil, err (the jti is forgotten, so Vonage's retry is
-- processed). opts as for verify; replay_store defaults to this worker's
-- memory store: pass vonage.store.shared_dict(ngx.shared.X) with several workers.
function M.ngx_handler(opts, on_event)
  local op = "vonage.webhook.ngx_handler"
  webhook._check_options(op, opts)
  if type(on_event) ~= "function" then errors.misuse(op, "on_event must be a function") end
  local verify_opts = {}
  for k, v in pairs(opts) do verify_opts[k] = v end
  verify_opts.replay_store = opts.replay_store or store_mod.memory { max_entries = DEFAULT_STORE_ENTRIES }
  return function()
    local ngx = rawget(_G, "ngx")
    local function answer(status, why)
      if why then ngx.log(ngx.WARN, "vonage webhook: ", why) end
      ngx.status = status
      return ngx.exit(status)
    end
    if ngx.req.get_method() ~= "POST" then return answer(405) end
    local body, why, status = read_body(ngx)
    if not body then return answer(status or 500, why) end
    local authorization = ngx.req.get_headers()["authorization"]
    if type(authorization) ~= "string" then authorization = nil end
    local event, msg, err = webhook.verify(body, authorization, verify_opts)
    if not event then
      if err.code == "replay" then return answer(200) end
      if err.code == "invalid_body" then return answer(400, msg) end
      if err.code == "replay_store" or err.code == "internal" or err.code == "out_of_memory" then
        return answer(500, msg)
      end
      return answer(401, msg)
    end
    local ok, result, handler_err = pcall(on_event, event)
    if not ok or result == false or (result == nil and handler_err ~= nil) then
      verify_opts.replay_store:delete(event.claims.jti)
      return answer(500, "the handler failed: " .. tostring(ok and handler_err or result))
    end
    return answer(204)
  end
end

return M
