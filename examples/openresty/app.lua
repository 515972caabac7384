-- The app behind nginx.conf: starts and checks verifications (each call
-- yields to nginx's event loop: the transport is "resty" inside nginx), and
-- checks each signed callback with vonage.webhook.ngx_handler, keeping what
-- it accepted in a shared dict. `make example-openresty` runs it.
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

local function answer(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(cjson.encode(body))
end

-- One client per worker, made in init_worker_by_lua (no I/O happens there:
-- the first call opens the connections). A misconfiguration (no credentials
-- visible to the worker) is logged once and answered on every call.
local client, client_error
function M.init_worker()
  -- Every call's event goes to the shared metrics dict that /metrics serves.
  local metrics = require("metrics").new("vonage_metrics")
  local ok, made = pcall(vonage.client.from_env, { on_log = metrics.on_log })
  if ok then
    client = made
  else
    client_error = tostring(made)
    ngx.log(ngx.ERR, client_error)
  end
end

local function get_client()
  if not client then
    answer(503, { error = "no_client", message = client_error or "init_worker() did not run" })
    return ngx.exit(503)
  end
  return client
end

-- An error from the library: the user's mistake (a bad number, a wrong code)
-- is a 4xx for the caller; Vonage or the network failing is a 502.
local function answer_error(msg, err)
  local status = (err.kind == "validation" or err.kind == "api") and (err.status or 400) or 502
  answer(status < 500 and status or 502, { error = err.code, message = msg })
end

-- POST /verify/start?to=<E.164 digits>[&client_ref=...]
function M.start()
  local args = ngx.req.get_uri_args()
  if type(args.to) ~= "string" or (args.client_ref ~= nil and type(args.client_ref) ~= "string") then
    return answer(400, { error = "invalid_params", message = "give one to and at most one client_ref" })
  end
  local req, msg, err = get_client():start_verification {
    brand = "ACME", client_ref = args.client_ref,
    workflow = { vonage.sms { to = args.to }, vonage.voice { to = args.to } },
  }
  if not req then return answer_error(msg, err) end
  answer(200, { request_id = req.request_id })
end

-- POST /verify/check?id=<request_id>&code=<the code the user typed>
function M.check()
  local args = ngx.req.get_uri_args()
  -- client:request raises on an id that is not a UUID (it goes into the URL
  -- path); here the id is user input, so that is a 400.
  local c = get_client()
  local ok, req = pcall(c.request, c, args.id)
  if not ok or type(args.code) ~= "string" then
    return answer(400, { error = "invalid_params", message = "give one id (a request_id) and one code" })
  end
  local status, msg, err = req:check(args.code)
  if not status then return answer_error(msg, err) end
  answer(200, { status = status })
end

-- The replay store is shared by this nginx's workers; with several hosts
-- behind a load balancer it would be vonage.store.redis{ host = ..., password = ... }.
-- (With several workers and no shared store, ngx_handler refuses to start.)
M.receive = vonage.webhook.ngx_handler({
  signature_secret = os.getenv("VONAGE_SIGNATURE_SECRET"),
  replay_store = vonage.store.shared_dict(ngx.shared.vonage_webhook_jti),
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
