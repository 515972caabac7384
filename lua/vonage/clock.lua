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

-- source([client]) -> a function f with f(client) == now(client), the choice
-- made once (for a caller that reads the clock on every call:
-- webhook.verify). f holds neither the client nor its clock: a plan kept
-- under the client in a weak table must not keep it alive (LuaJIT's weak
-- tables are not ephemerons, and a clock may refer to its client).
local function client_now(client) return floor(client.clock()) end
local function os_now() return os_time() end -- os.time(t) would read its argument
function M.source(client)
  if client and client.clock then return client_now end
  local ngx = rawget(_G, "ngx")
  if ngx then
    local ngx_time = ngx.time
    return function() return ngx_time() end
  end
  return os_now
end

return M
