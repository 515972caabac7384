-- The receiver behind nginx.conf: checks each signed callback with
-- vonage.webhook.ngx_handler and keeps what it accepted in a shared dict.
local vonage = require "vonage"
local cjson = require "cjson.safe"

local ngx = ngx

local M = {}

local received = ngx.shared.received_events

-- Your application's work goes here. Returning false (or raising) answers
-- 500, so Vonage retries; this demo fails the first delivery of requests whose
-- client_ref is "fail-first", to show that.
local function on_event(event)
  if event.client_ref == "fail-first" and received:add("failed:" .. event.claims.jti, true) then
    return false, "failing the first delivery on purpose"
  end
  local n = received:incr("count", 1, 0)
  received:set("event:" .. n, cjson.encode(event))
  return true
end

M.receive = vonage.webhook.ngx_handler({
  signature_secret = os.getenv("VONAGE_SIGNATURE_SECRET"),
  replay_store = vonage.webhook.shared_dict_store(ngx.shared.vonage_webhook_jti),
}, on_event)

-- GET /received -> {"events": [...]} in the order they were accepted
function M.received()
  local events = {}
  for i = 1, received:get("count") or 0 do
    events[i] = cjson.decode(received:get("event:" .. i))
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.print(#events > 0 and cjson.encode({ events = events }) or '{"events":[]}')
end

return M
