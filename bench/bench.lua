-- Ratios measured in one run against the same loopback nginx endpoint:
--   transport: vonage.http:send (C transport driven from Lua) vs a plain libcurl C loop
--   auth:      the cached application JWT vs signing anew for every call (what the SDKs do)
--   memory:    the Lua heap after N calls vs before (no growth per call)
-- usage: lua bench/bench.lua C_LOOP_SECONDS URL N KEY_PATH
local core = require "vonage.core"
local vonage = require "vonage"
local gettime = require("socket").gettime

local c_seconds, url, n, key_path = tonumber(arg[1]), arg[2], tonumber(arg[3]), arg[4]

local http = core.http_new {}
local t0 = gettime()
for _ = 1, n do assert(http:send { method = "GET", url = url } == 200) end
local lua_seconds = gettime() - t0

local now = 1700000000
local client = vonage.client { application_id = "5a1f9b27-3c8e-4d6f-9a0b-1c2d3e4f5a6b",
                               private_key_path = key_path, clock = function() return now end }
local auths = math.min(n, 500)
t0 = gettime()
for _ = 1, auths do assert(client:_authorization(now)) end
local cached = gettime() - t0
t0 = gettime()
for i = 1, auths do assert(client:_authorization(now + i * 1000)) end -- every call re-mints
local minted = gettime() - t0

collectgarbage("collect")
local before = collectgarbage("count")
for _ = 1, n do http:send { method = "GET", url = url } end
collectgarbage("collect")
local after = collectgarbage("count")

print(string.format("transport  %d GETs: lua-vonage %.3f s, plain libcurl %.3f s, ratio %.2f",
                    n, lua_seconds, c_seconds, lua_seconds / c_seconds))
print(string.format("auth       %d calls: cached JWT %.4f s, signed each call %.4f s, %.0fx faster",
                    auths, cached, minted, minted / cached))
print(string.format("memory     Lua heap %.0f KiB before, %.0f KiB after %d more calls (ratio %.2f)",
                    before, after, n, after / before))
