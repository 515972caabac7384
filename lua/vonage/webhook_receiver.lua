-- The OpenResty receiver for signed webhooks:
--   location = /webhooks/verify { content_by_lua_block { handler() } }
-- with handler = vonage.webhook.ngx_handler(opts, on_event). The checks are
-- vonage.webhook.verify's; this file reads the body and turns the outcome into
-- an HTTP status.
local webhook = require "vonage.webhook"
local errors = require "vonage.errors"
local json = require "vonage.json"
local store_mod = require "vonage.store"
local validate = require "vonage.validate"

local type, pairs, pcall, tostring, tonumber, rawget = type, pairs, pcall, tostring, tonumber, rawget
local open = io.open

local M = {}

-- Rows of the one table of limits (src/vn_limits.h).
local LIMITS = require("vonage.core").limits()
local MAX_BODY_BYTES = LIMITS.webhook_body_bytes.max
local DEFAULT_STORE_ENTRIES = LIMITS.replay_max_entries.default

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

-- The key a redelivery of the same event shares, whatever its token.
local function event_key(event)
  return "vonage:event:" .. json.encode { event.request_id, event.type, event.status, event.channel or "",
                                          event.triggered_at or event.submitted_at or "" }
end

-- ngx_handler(opts, on_event) -> function for content_by_lua: verifies, calls
-- on_event(event) and answers 204.
-- At most once: the token's jti (and with dedupe = "event" the event itself:
-- request_id, type, status, channel, triggered_at or submitted_at) is claimed
-- in opts.replay_store before on_event runs; a delivery whose claim exists is
-- answered 200 and not run. At least once: when on_event raises or returns
-- false (or nil, err) the claims are released and the answer is 500; when the
-- store fails (Redis down or slow) nothing runs and the answer is 503: either
-- way Vonage retries. 401 for a bad token, 400 for a bad body, 500 for a
-- memory error. Share the store between every worker and host that receives:
-- vonage.store.shared_dict(ngx.shared.X) in one nginx, vonage.store.redis{...}
-- across hosts; with several workers and no shared store this raises.
function M.ngx_handler(opts, on_event)
  local op = "vonage.webhook.ngx_handler"
  validate.typed(op, "opts", opts, "table", true)
  local dedupe = opts.dedupe
  if dedupe ~= nil and dedupe ~= "token" and dedupe ~= "event" then
    errors.misuse(op, "dedupe must be \"token\" (the default) or \"event\"")
  end
  local verify_opts = {}
  for k, v in pairs(opts) do verify_opts[k] = v end
  verify_opts.dedupe = nil
  webhook._check_options(op, verify_opts)
  if type(on_event) ~= "function" then errors.misuse(op, "on_event must be a function") end
  local store = opts.replay_store or store_mod.memory { max_entries = DEFAULT_STORE_ENTRIES }
  verify_opts.replay_store = store
  local ttl = webhook._replay_ttl(verify_opts)
  return function()
    local ngx = rawget(_G, "ngx")
    local function answer(status, why)
      if why then ngx.log(status >= 500 and ngx.ERR or ngx.WARN, "vonage webhook: ", why) end
      ngx.status = status
      return ngx.exit(status)
    end
    -- A claim that cannot be released stays until its ttl: the retry would pass for a replay.
    local function release(key)
      local ok, why = store:delete(key)
      if ok == nil and why then ngx.log(ngx.ERR, "vonage webhook: a claim stays (the event may be lost): ", why) end
    end
    if ngx.req.get_method() ~= "POST" then return answer(405) end
    local body, why, status = read_body(ngx)
    if not body then return answer(status or 500, why) end
    local authorization = ngx.req.get_headers()["authorization"]
    if type(authorization) ~= "string" then authorization = nil end
    local event, msg, err = webhook.verify(body, authorization, verify_opts) -- claims the jti
    if not event then
      if err.code == "replay" then return answer(200) end
      if err.code == "invalid_body" then return answer(400, msg) end
      if err.code == "replay_store" then return answer(503, msg) end
      if err.code == "internal" or err.code == "out_of_memory" then return answer(500, msg) end
      return answer(401, msg)
    end
    local jti, key = event.claims.jti, dedupe == "event" and event_key(event)
    if key then
      local fresh, store_msg = store:add(key, ttl)
      if fresh == nil then
        release(jti)
        return answer(503, "the replay store failed: " .. tostring(store_msg))
      end
      if not fresh then return answer(200) end -- the same event under another token
    end
    local ok, result, handler_err = pcall(on_event, event)
    if not ok or result == false or (result == nil and handler_err ~= nil) then
      if key then release(key) end
      release(jti)
      return answer(500, "the handler failed: " .. tostring(ok and handler_err or result))
    end
    return answer(204)
  end
end

return M
