-- The webhook row of make bench, taken apart: vonage.webhook.verify (all
-- checks, distinct tokens) against the raw OpenSSL loop of curl_loop.c, and
-- the time of each stage on its own, in us per token. No sandbox needed.
-- usage: lua bench/webhook_profile.lua C_LOOP   (TOKENS, RUNS size it), with
-- LUA_PATH/LUA_CPATH reaching lua/ and the build, and C_LOOP bench/curl_loop.c
-- built as bench/run builds it (make bench leaves it in build/bench/curl_loop).
local vonage = require "vonage"
local core = require "vonage.core"
local json = require "vonage.json"
local gettime = require("socket").gettime
local format, sort = string.format, table.sort

local C = assert(arg[1], "usage: webhook_profile.lua C_LOOP")
local TOKENS = tonumber(os.getenv("TOKENS")) or 20000
local RUNS = tonumber(os.getenv("RUNS")) or 5
local SECRET = "bench-signature-secret-0123456789"
local BODY = '{"request_id":"c11236f4-00bf-4b89-84ba-88b25df97315","triggered_at":"2026-12-02T00:00:00Z",'
  .. '"type":"event","channel":"sms","status":"completed","finalized_at":"2026-12-02T00:00:01Z"}'

local file = os.tmpname()
assert(os.execute(format("%s tokens %d %s '%s' > %s", C, TOKENS, SECRET, BODY, file)))
local TOKS = {}
for line in io.lines(file) do TOKS[#TOKS + 1] = line end

local function median(t)
  sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local function c_loop()
  local p = assert(io.popen(format("%s verify %d %s '%s' < %s", C, TOKENS, SECRET, BODY, file)))
  local s = tonumber(p:read("*a"))
  assert(p:close())
  return s
end

-- Each stage: a function of the token index, timed over every token.
local function time(f)
  local t0 = gettime()
  for i = 1, #TOKS do f(i) end
  return gettime() - t0
end

local stages = {
  { "verify (whole, fresh store each run)", function()
    local opts = { signature_secret = SECRET, api_key = "devkey01",
                   replay_store = vonage.store.memory { max_entries = TOKENS + 1 } }
    local verify = vonage.webhook.verify
    return function(i) assert(verify(BODY, TOKS[i], opts)) end
  end },
  { "json.decode(body)", function()
    local decode = json.decode
    return function() decode(BODY) end
  end },
  { "store:add", function()
    local store = vonage.store.memory { max_entries = TOKENS + 1 }
    return function(i) store:add("k" .. i, 360) end
  end },
}
if core.webhook_verify then -- not in builds before it (to compare with them)
  table.insert(stages, 2, { "core.webhook_verify (C: token, claims, hash)", function()
    local check, key, now = core.webhook_verify, core.webhook_key(SECRET), os.time()
    return function(i) assert(check(key, TOKS[i], BODY, now, 300, 60, "devkey01")) end
  end })
end
if core.sha256 then
  stages[#stages + 1] = { "core.sha256(body)", function()
    local sha = core.sha256
    return function() sha(BODY) end
  end }
end

local results = { c = {} }
for _ = 1, RUNS do
  results.c[#results.c + 1] = c_loop()
  for _, s in ipairs(stages) do
    results[s[1]] = results[s[1]] or {}
    local t = results[s[1]]
    t[#t + 1] = time(s[2]())
  end
end
os.remove(file)

local c = median(results.c)
local jit = rawget(_G, "jit")
print(format("%s, %d tokens, median of %d runs", _VERSION .. (jit and (" " .. jit.version) or ""), TOKENS, RUNS))
print(format("  %-48s %7.2f us/token  %8.0f /s", "C: HMAC + SHA-256 (curl_loop verify)", c / TOKENS * 1e6, TOKENS / c))
for _, s in ipairs(stages) do
  local m = median(results[s[1]])
  print(format("  %-48s %7.2f us/token  %8.0f /s  %5.2fx of C's rate", s[1], m / TOKENS * 1e6, TOKENS / m, c / m))
end
