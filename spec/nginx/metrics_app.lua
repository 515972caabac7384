-- The app behind metrics.conf: one client per worker whose on_log feeds
-- examples/openresty/metrics.lua; each endpoint makes one call to the
-- sandbox and answers with its err.code ("ok" on success).
-- luacheck: globals ngx
local vonage = require "vonage"
local metrics = require("metrics").new("vonage_metrics")

local ngx = ngx
local M = {}

local client = vonage.client {
  application_id = os.getenv("METRICS_SPEC_APP_ID"),
  private_key_path = os.getenv("VONAGE_TEST_PRIVATE_KEY_PATH"),
  api_host = os.getenv("VONAGE_SANDBOX_URL"),
  on_log = metrics.on_log,
}

local routes = {}

function routes.start(args)
  return client:start_verification { brand = "ACME", workflow = { vonage.sms { to = args.to } } }
end

function routes.check(args)
  return client:request(args.id):check(args.code)
end

function routes.get_template(args)
  return client:get_template(args.id)
end

function M.handle()
  local route = routes[ngx.var.uri:sub(2)]
  if not route then return ngx.exit(404) end
  local ok, _, err = route(ngx.req.get_uri_args())
  ngx.say(ok and "ok" or err.code)
end

return M
