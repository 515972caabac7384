-- The stores spec/store_spec.lua's nginx tests, by backend name (made per
-- request: a store object is cheap, its connections live in the worker's pool).
local store = require "vonage.store"
local ngx = rawget(_G, "ngx")

local function redis(port_var, timeout_ms)
  return store.redis { port = tonumber(os.getenv(port_var)), password = os.getenv("VN_REDIS_PASSWORD"),
                       timeout_ms = timeout_ms or 2000 }
end

return {
  shared_dict = function() return store.shared_dict(ngx.shared.vonage_store) end,
  shared_dict_small = function() return store.shared_dict(ngx.shared.vonage_small) end,
  redis = function() return redis("VN_REDIS_PORT") end,
  redis_small = function() return redis("VN_REDIS_SMALL_PORT") end,
  redis_fast = function() return redis("VN_REDIS_PORT", 300) end,
}
