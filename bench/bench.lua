-- Ratios measured in one run against the same loopback nginx endpoint:
--   transport: vonage.http:send (C transport driven from Lua) vs a plain libcurl C loop
--   auth:      a GET with the cached application JWT vs signing anew for every call (what the SDKs do)
--   memory:    the Lua heap after N calls vs before (no growth per call)
--   multi:     the same GETs through vonage.multi, WINDOW in flight at once, vs the
--              plain libcurl loop (one at a time); below 1 means the overlap pays
-- usage: lua bench/bench.lua C_LOOP_SECONDS URL N KEY_PATH
local core = require "vonage.core"
local vonage = require "vonage"
local gettime = require("socket").gettime

local c_seconds, url, n, key_path = tonumber(arg[1]), arg[2], tonumber(arg[3]), arg[4]

local http = core.http_new {}
local t0 = gettime()
for _ = 1, n do assert(http:send { method = "GET", url = url } == 200) end
local lua_seconds = gettime() - t0

-- The JWT is built in C by the client's own transport (spec.client): the same
-- GET with the cached token, then with a token minted anew for every call.
local now = 1700000000
local client = vonage.client { application_id = "5a1f9b27-3c8e-4d6f-9a0b-1c2d3e4f5a6b",
                               private_key_path = key_path, api_host = url:match("^(%a+://[^/]+)"),
                               clock = function() return now end }
local own = client.transport
local auths = math.min(n, 500)
t0 = gettime()
for _ = 1, auths do assert(own:send { method = "GET", url = url, client = client, auth_time = now }) end
local cached = gettime() - t0
t0 = gettime()
for i = 1, auths do -- every call re-mints
  assert(own:send { method = "GET", url = url, client = client, auth_time = now + i * 1000 })
end
local minted = gettime() - t0

-- vonage.multi the way the multi transport drives it: start, perform, result.
local WINDOW = 16
local m = core.multi_new {}
local started, done = 0, 0
local multi_before
t0 = gettime()
while done < n do
  while started < n and started - done < WINDOW do
    assert(m:start { method = "GET", url = url })
    started = started + 1
  end
  m:perform(100)
  for id in m.next_finished, m do
    assert(m:result(id) == 200)
    done = done + 1
    if done == WINDOW then -- the pool and the slots are warm: measure from here
      collectgarbage("collect")
      multi_before = collectgarbage("count")
    end
  end
end
local multi_seconds = gettime() - t0
collectgarbage("collect")
local multi_after = collectgarbage("count")
m:close()

collectgarbage("collect")
local before = collectgarbage("count")
for _ = 1, n do http:send { method = "GET", url = url } end
collectgarbage("collect")
local after = collectgarbage("count")

print(string.format("transport  %d GETs: lua-vonage %.3f s, plain libcurl %.3f s, ratio %.2f",
                    n, lua_seconds, c_seconds, lua_seconds / c_seconds))
print(string.format("auth       %d signed GETs: cached JWT %.4f s, signed each call %.4f s, %.1fx faster",
                    auths, cached, minted, minted / cached))
print(string.format("memory     Lua heap %.0f KiB before, %.0f KiB after %d more calls (ratio %.2f)",
                    before, after, n, after / before))
print(string.format("multi      %d GETs, %d in flight: vonage.multi %.3f s, plain libcurl one at a time %.3f s, "
                    .. "ratio %.2f; Lua heap %.0f KiB -> %.0f KiB", n, WINDOW, multi_seconds, c_seconds,
                    multi_seconds / c_seconds, multi_before, multi_after))
