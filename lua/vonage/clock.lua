-- The one clock every time check reads (JWT iat/exp, token and state expiry,
-- the webhook iat window): the client's `clock` option when it has one, so a
-- test or a host with a known skew moves them all together; else ngx.time()
-- inside OpenResty (cached, no syscall); else os.time().
local floor, os_time, rawget = math.floor, os.time, rawget

local M = {}

-- now([client]) -> whole seconds since the epoch
function M.now(client)
  local clock = client and client.clock
  if clock then return floor(clock()) end
  local ngx = rawget(_G, "ngx")
  return ngx and ngx.time() or os_time()
end

-- source([client]) -> a function giving now(client), with the choice made
-- once (for a caller that reads the clock on every call: webhook.verify).
function M.source(client)
  local clock = client and client.clock
  if clock then return function() return floor(clock()) end end
  local ngx = rawget(_G, "ngx")
  return ngx and ngx.time or os_time
end

return M
