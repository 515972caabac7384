-- The app of spec/nginx/multi_host.conf. Every on_event run appends one line
-- "host pid request_id type status" to VN_EVENTS_LOG (one file for both
-- hosts, O_APPEND), so the spec counts runs even across a Redis restart.
local vonage = require "vonage"
local ngx = rawget(_G, "ngx")

local M = {}

local HOST = os.getenv("VN_HOST_NAME")

local function store()
  return vonage.store.redis { port = tonumber(os.getenv("VN_REDIS_PORT")), password = os.getenv("VN_REDIS_PASSWORD"),
                              timeout_ms = 500 }
end

-- A handler that fails the first delivery of an event whose client_ref is
-- "fail-first" (remembered in the same Redis, as an app would).
local function on_event(event)
  if event.client_ref == "fail-first" then
    local first = store():add("failed-once:" .. event.request_id .. event.type, 600)
    if first then return false, "failing the first delivery on purpose" end
  end
  local f = assert(io.open(os.getenv("VN_EVENTS_LOG"), "a"))
  f:write(("%s %d %s %s %s\n"):format(HOST, ngx.worker.pid(), event.request_id, event.type, event.status))
  f:close()
  return true
end

local secret = os.getenv("VN_SIGNATURE_SECRET")
M.by_token = vonage.webhook.ngx_handler({ signature_secret = secret, replay_store = store() }, on_event)
M.by_event = vonage.webhook.ngx_handler({ signature_secret = secret, replay_store = store(), dedupe = "event" },
                                        on_event)

local client = vonage.client.from_env()

-- POST /nv/start?phone=+44...&session=...&redirect_uri=... -> the auth_url
function M.nv_start()
  local args = ngx.req.get_uri_args()
  local flow = client:number_verification { redirect_uri = args.redirect_uri, state_store = store() }
  local url, _, err = flow:authorize_url { phone_number = args.phone, session = args.session }
  ngx.print(url or err.code)
end

-- GET /nv/callback?code=...&state=... with Cookie: sid=... -> "exchanged +44..." | the error code
function M.nv_callback()
  local flow = client:number_verification { redirect_uri = "https://lb.example/nv/callback", state_store = store() }
  local number, _, err = flow:callback(ngx.var.args or "", ngx.var.cookie_sid)
  if not number then return ngx.print(HOST, " ", err.code) end
  local expires_in, _, e = flow:exchange()
  ngx.print(HOST, " ", expires_in and ("exchanged " .. number) or e.code)
end

-- What a multi-worker nginx says to a per-worker store, as "op: message" lines.
function M.unsafe()
  local lines = { "workers " .. ngx.worker.count() }
  local function try(name, fn)
    local ok, e = pcall(fn)
    lines[#lines + 1] = name .. ": " .. (ok and "accepted" or tostring(e))
  end
  try("ngx_handler", function() vonage.webhook.ngx_handler({ signature_secret = secret }, on_event) end)
  try("ngx_handler memory", function()
    vonage.webhook.ngx_handler({ signature_secret = secret, replay_store = vonage.store.memory() }, on_event)
  end)
  try("verify", function() vonage.webhook.verify("{}", "Bearer x", { signature_secret = secret }) end)
  try("number_verification", function() client:number_verification { redirect_uri = "https://app.example/cb" } end)
  try("number_verification shared_dict", function()
    client:number_verification { redirect_uri = "https://app.example/cb",
                                 state_store = vonage.store.shared_dict(ngx.shared.multi_host_dict) }
  end)
  try("dedupe", function()
    vonage.webhook.ngx_handler({ signature_secret = secret, replay_store = store(), dedupe = "body" }, on_event)
  end)
  try("ngx_handler redis", function()
    vonage.webhook.ngx_handler({ signature_secret = secret, replay_store = store() }, on_event)
  end)
  ngx.print(table.concat(lines, "\n"))
end

return M
