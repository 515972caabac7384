-- Run by spec/hardening_review_spec.lua in a child interpreter:
--   LUA reload_core.lua API_HOST API_KEY API_SECRET
-- Makes a client the library's way, then reloads vonage.core by hand and
-- takes the fresh load's authorizer. Prints one line per finding.
local vonage = require "vonage"
local url, key, secret = arg[1], arg[2], arg[3]
local c = vonage.client { api_key = key, api_secret = secret, api_host = url }
-- The library's own method, held across the reload (a reload re-registers
-- the class, so the client's method lookups then reach only the fresh C part).
local template_page = c.template_page
print("before", template_page(c) ~= nil)

package.loaded["vonage.core"] = nil
local fresh = require "vonage.core"
local authorize = fresh.take_authorizer()
local ok, e = pcall(authorize, c, os.time(), "basic")
print("stolen", ok, tostring(e):find(secret, 1, true) and "leaked" or "clean", ok and "" or e)

local own = fresh.client_new({ api_key = key, api_secret = secret }, {})
print("own", (authorize(own, os.time(), "basic")):sub(1, 6))
fresh.client_close(own)

local page, msg = template_page(c)
print("after", page ~= nil, msg)
c:close()
ok = pcall(authorize, c, os.time(), "basic")
print("closed", ok)
