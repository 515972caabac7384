-- The ratio rows of make bench: each figure of the module against the C
-- baseline (bench/curl_loop.c: plain libcurl and OpenSSL, the same requests and
-- the same headers) measured in the same run, median of RUNS runs,
-- interleaved. A flow is start_verification (custom code) + check.
--   sequential: flows one at a time, curl transport vs the C easy loop
--   multi:      WINDOW flows in flight, multi transport vs the C multi loop; and
--               the p99 latency of one call
--   webhook:    vonage.webhook.verify (all checks, distinct tokens) vs HS256 + SHA-256
--               (bench/webhook_profile.lua times its stages one by one)
--   cold start: a new process that requires vonage and runs one flow vs the C loop's
--   peak RSS:   over RSS_N calls through api.call (a process of its own) vs the C loop's GETs; flat: RSS after
--               a tenth of them vs after all
-- Numbers are reported, never asserted. usage: lua bench/bench.lua C_LOOP
local vonage = require "vonage"
local api = require "vonage.api"
-- The rss process times itself with the module's own clock: luasocket (its C
-- library and Lua files) would count in its RSS, and the C loop loads nothing like it.
local gettime = arg[2] == "rss" and function() return require("vonage.core").monotonic_ms() / 1000 end
  or require("socket").gettime
local format, concat, sort = string.format, table.concat, table.sort

local C = assert(arg[1], "usage: bench.lua C_LOOP")
local LUA = assert(os.getenv("BENCH_LUA"))
local BASE = assert(os.getenv("VONAGE_SANDBOX_URL"))
local KEY, APP = assert(os.getenv("VONAGE_PRIVATE_KEY_PATH")), assert(os.getenv("VONAGE_APPLICATION_ID"))
local RUNS = tonumber(os.getenv("RUNS")) or 7
local FLOWS = tonumber(os.getenv("FLOWS")) or 500
local WINDOW = 16
local TOKENS = tonumber(os.getenv("TOKENS")) or 20000
local RSS_N = tonumber(os.getenv("RSS_N")) or 100000
local SECRET = "bench-signature-secret-0123456789"

local function median(t)
  local s = {}
  for i = 1, #t do s[i] = t[i] end -- t stays in run order: paired() reads it
  sort(s)
  return s[math.floor((#s + 1) / 2)]
end

-- The median of the per-run ratios a[i] / b[i]: each run of the module is
-- paired with the C run just before it, so a load that drifts over the
-- minutes of a bench (the machine is shared) cancels out of each ratio.
local function paired(a, b)
  local r = {}
  for i = 1, #a do r[i] = a[i] / b[i] end
  local m = median(r)
  sort(r)
  return { m, r[1], r[#r] }
end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  assert(p:close(), cmd)
  return out
end

local function c_figures(...)
  local out = sh(concat({ C, ... }, " "))
  local a, b = out:match("^(%S+)%s*(%S*)")
  return tonumber(a), tonumber(b)
end

local function rss_kib(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s*(%d+)")
    if v then return tonumber(v) end
  end
end

if arg[2] == "rss" then
  local c = vonage.client.from_env { api_host = BASE }
  local call = { op = "bench", method = "GET", host = "api_host", path = "/_sandbox/health" }
  local function get() assert(api.call(c, call)) end
  local t0 = gettime()
  for _ = 1, RSS_N / 10 do get() end
  local tenth = rss_kib("VmRSS")
  for _ = RSS_N / 10 + 1, RSS_N do get() end
  print(gettime() - t0, tenth, rss_kib("VmRSS"), rss_kib("VmHWM"))
  c:close()
  os.exit(0)
end

local function c_figures2(cmd)
  local a, b, c, d = sh(cmd):match("(%S+)%s+(%S+)%s+(%S+)%s+(%S+)")
  return tonumber(a), tonumber(b), tonumber(c), tonumber(d)
end

local tag = 0
local function number(i)
  return format("44%03d%07d", tag % 1000, i)
end

local function flow(c, to)
  local req = assert(c:start_verification { brand = "ACME", code = "1234", workflow = { vonage.sms { to = to } } })
  assert(req:check("1234") == "completed")
end

local function sequential()
  tag = tag + 1
  local c = vonage.client.from_env { api_host = BASE }
  flow(c, number(0)) -- the JWT is minted once, as the C loop signs once
  local t0 = gettime()
  for i = 1, FLOWS do flow(c, number(i)) end
  local s = gettime() - t0
  c:close()
  return s
end

local function multi()
  tag = tag + 1
  local c = vonage.client.from_env { api_host = BASE, transport = "multi" }
  local lat, done, taken = {}, 0, 0
  local t0 = gettime()
  for _ = 1, WINDOW do
    c:spawn(function()
      while taken < FLOWS do
        taken = taken + 1
        local to = number(taken)
        local a = gettime()
        local req = assert(c:start_verification { brand = "ACME", code = "1234",
                                                  workflow = { vonage.sms { to = to } } })
        local b = gettime()
        assert(req:check("1234") == "completed")
        lat[#lat + 1], lat[#lat + 2] = b - a, gettime() - b
        done = done + 1
      end
    end)
  end
  while done < FLOWS do c:poll(100) end
  local s = gettime() - t0
  c:close()
  sort(lat)
  return s, lat[math.floor(#lat * 0.99) + 1] * 1000
end

-- The webhook row: the same distinct tokens for both, made by the C loop.
local BODY = '{"request_id":"c11236f4-00bf-4b89-84ba-88b25df97315","triggered_at":"2026-12-02T00:00:00Z",'
  .. '"type":"event","channel":"sms","status":"completed","finalized_at":"2026-12-02T00:00:01Z"}'
local tokens_file = os.tmpname()
sh(format("%s tokens %d %s '%s' > %s", C, TOKENS, SECRET, BODY, tokens_file))
local TOKS = {}
for line in io.lines(tokens_file) do TOKS[#TOKS + 1] = line end

local function webhook()
  local opts = { signature_secret = SECRET, api_key = "devkey01", replay_store = vonage.store.memory {
    max_entries = TOKENS + 1 } }
  local verify = vonage.webhook.verify
  local t0 = gettime()
  for i = 1, #TOKS do assert(verify(BODY, TOKS[i], opts)) end
  return gettime() - t0
end

local ONE_FLOW = "local v = require 'vonage'; "
  .. "local c = v.client.from_env { api_host = os.getenv('VONAGE_SANDBOX_URL') }; "
  .. "local r = assert(c:start_verification { brand = 'ACME', code = '1234', workflow = { v.sms { to = '%s' } } }); "
  .. "assert(r:check('1234') == 'completed')"

local function cold_lua()
  tag = tag + 1
  local t0 = gettime()
  assert(os.execute(format('%s -e "%s"', LUA, format(ONE_FLOW, number(1)))))
  return gettime() - t0
end

local function cold_c()
  local t0 = gettime()
  sh(format("%s easy %s 1 %s %s", C, BASE, KEY, APP))
  return gettime() - t0
end


-- Rows: { label, lua figures, c figures }
local seq_l, seq_c, mul_l, mul_c, p99_l, p99_c, wh_l, wh_c, cold_l, cold_c_ = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
for _ = 1, RUNS do
  seq_c[#seq_c + 1] = c_figures("easy", BASE, FLOWS, KEY, APP)
  seq_l[#seq_l + 1] = sequential()
  local s, p = c_figures("multi", BASE, FLOWS, KEY, APP, WINDOW)
  mul_c[#mul_c + 1], p99_c[#p99_c + 1] = s, p
  s, p = multi()
  mul_l[#mul_l + 1], p99_l[#p99_l + 1] = s, p
  wh_c[#wh_c + 1] = c_figures("verify", TOKENS, SECRET, "'" .. BODY .. "'", "<", tokens_file)
  wh_l[#wh_l + 1] = webhook()
  cold_c_[#cold_c_ + 1] = cold_c()
  cold_l[#cold_l + 1] = cold_lua()
end
os.remove(tokens_file)

-- Peak RSS over RSS_N calls in a process of its own (the rows above would
-- count): api.call, the one path every operation takes.
-- The C loop sends the same Authorization (an RS256 JWT it signed once).
local c_s, c_rss = c_figures("get", BASE .. "/_sandbox/health", RSS_N, KEY, APP)
local calls_s, rss_tenth, rss_all, peak = c_figures2(format("%s %s %s rss", LUA, arg[0], C))
-- ratio: { median, lowest, highest } of the runs' ratios, or one number.
local function row(label, lua, cv, unit, ratio, goal)
  local spread = type(ratio) == "table" and format(" (runs %.2f-%.2f)", ratio[2], ratio[3]) or ""
  ratio = type(ratio) == "table" and ratio[1] or ratio
  print(format("  %-40s %9.2f %-3s vs C %9.2f %-3s %5.2fx%s  (goal %s)", label, lua, unit, cv, unit, ratio,
               spread, goal))
end
local function rate(n, t) return n / median(t) end
print(format("%s, median of %d runs (%d flows, %d webhook tokens, %d calls for RSS); the ratio is the "
             .. "median of the runs' own ratios, each against the C run just before it:", LUA, RUNS, FLOWS,
             TOKENS, RSS_N))
-- Rates: the module's time over the C loop's is its rate over theirs, inverted.
row("sequential calls/s, curl transport", rate(FLOWS * 2, seq_l), rate(FLOWS * 2, seq_c), "/s",
    paired(seq_c, seq_l), ">= 0.85x")
row("16 in flight calls/s, multi transport", rate(FLOWS * 2, mul_l), rate(FLOWS * 2, mul_c), "/s",
    paired(mul_c, mul_l), ">= 0.8x")
row("p99 latency of a call, 16 in flight", median(p99_l), median(p99_c), "ms", paired(p99_l, p99_c), "<= 1.5x")
row("webhook verifications/s (vs HS256+SHA)", rate(TOKENS, wh_l), rate(TOKENS, wh_c),
    "/s", paired(wh_c, wh_l), ">= 0.5x")
row("cold start + one flow", median(cold_l) * 1000, median(cold_c_) * 1000, "ms", paired(cold_l, cold_c_),
    "<= 1.3x")
row(format("peak RSS over %d calls", RSS_N), peak / 1024, c_rss / 1024, "MiB", peak / c_rss, "<= 1.3x")
print(format("  %-40s %9.2f MiB after %d, %.2f MiB after %d: %.2fx (goal 1.00x); %.0f calls/s vs C %.0f/s",
             "RSS flat", rss_tenth / 1024, RSS_N / 10, rss_all / 1024, RSS_N, rss_all / rss_tenth,
             RSS_N / calls_s, RSS_N / c_s))
