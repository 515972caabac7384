-- The game-loop rows of make bench, against the sandbox's TLS ports:
--   frame stall: a 60 Hz loop calls client:poll(0) once per tick and sleeps out the
--                rest of the frame; N logins (start_verification with the
--                code, then check, on the multi transport) are spawned at once
--                in the first tick. Reported: the
--                longest poll(0) in wall time and in this process's CPU time (the
--                CPU figure is what a shared, busy machine cannot inflate), the
--                ticks whose poll took over 16 ms, and what spawning the N
--                coroutines cost (Lua, up to each one's first yield).
--   connections: the TCP connections the sandbox saw for the N starts (its
--                connections.log), and the protocol they spoke.
-- Numbers are reported, never asserted. usage: lua bench/stall.lua
local vonage = require "vonage"
local socket = require "socket"
local gettime, sleep, cpu = socket.gettime, socket.sleep, os.clock
local max, format = math.max, string.format

local TLS_URL = assert(os.getenv("VONAGE_SANDBOX_TLS_URL"))
local TLS1_URL = assert(os.getenv("VONAGE_SANDBOX_TLS1_URL"))
local CA = assert(os.getenv("VONAGE_SANDBOX_CA"))
local LOG = assert(os.getenv("VONAGE_SANDBOX_DIR")) .. "/logs/connections.log"
local FRAME = 1 / 60
local BUDGET = 0.016

local function log_size()
  local f = io.open(LOG, "rb")
  if not f then return 0 end
  local size = f:seek("end")
  f:close()
  return size
end

-- Distinct connections and the protocols of the starts logged since offset.
local function connections_since(offset)
  local f = assert(io.open(LOG, "rb"))
  f:seek("set", offset)
  local conns, nconns, protos, n = {}, 0, {}, 0
  for line in f:lines() do
    local conn, proto, method, uri = line:match("^(%d+) (%S+) (%S+) (%S+)")
    if method == "POST" and uri == "/v2/verify" then
      n = n + 1
      protos[proto] = true
      if not conns[conn] then conns[conn], nconns = true, nconns + 1 end
    end
  end
  f:close()
  local names = {}
  for p in pairs(protos) do names[#names + 1] = p end
  table.sort(names)
  return nconns, n, table.concat(names, "+")
end

local run_no = 0

-- One run: n logins at once against url; returns a table of figures.
local function run(url, n)
  run_no = run_no + 1
  local c = vonage.client.from_env { transport = "multi", api_host = url, ca_file = CA }
  local offset = log_size()
  local ok, failed = 0, 0
  local first_error
  local t_spawn = gettime()
  for i = 1, n do
    local to = format("4477%02d%06d", run_no, i)
    c:spawn(function()
      local req, msg = c:start_verification { brand = "ACME", code = "1234", workflow = { vonage.sms { to = to } } }
      local status
      if req then status, msg = req:check("1234") end
      if status == "completed" then ok = ok + 1 else failed = failed + 1 first_error = first_error or msg end
    end)
  end
  local spawn_s = gettime() - t_spawn
  local longest, longest_cpu, over, ticks = 0, 0, 0, 0
  local frame_at = t_spawn
  local t0 = gettime()
  while ok + failed < n and ticks < 60 * 60 do
    local p0, c0 = gettime(), cpu()
    c:poll(0)
    local took = gettime() - p0
    longest, longest_cpu = max(longest, took), max(longest_cpu, cpu() - c0)
    if took > BUDGET then over = over + 1 end
    ticks = ticks + 1
    frame_at = frame_at + FRAME
    local left = frame_at - gettime()
    if left > 0 then sleep(left) else frame_at = gettime() end
  end
  local all_s = gettime() - t0
  -- nginx logs a request just after its answer left: give the last lines a moment.
  local conns, logged, protos
  for _ = 1, 100 do
    conns, logged, protos = connections_since(offset)
    if logged >= ok then break end
    sleep(0.01)
  end
  local sockets = c.transport.multi:connections_opened()
  c:close()
  return { n = n, ok = ok, failed = failed, first_error = first_error, spawn_ms = spawn_s * 1000,
           longest_ms = longest * 1000, longest_cpu_ms = longest_cpu * 1000, over = over, ticks = ticks, all_s = all_s,
           conns = conns, protos = protos, sockets = sockets }
end

local function report(label, r)
  print(format("frame stall %4d logins at once, %s: longest poll(0) tick %.1f ms (%.1f ms CPU), "
               .. "%d of %d ticks over 16 ms (goal 0); spawning them %.1f ms of Lua; "
               .. "all answered in %.2f s (%d ok, %d failed%s)",
               r.n, label, r.longest_ms, r.longest_cpu_ms, r.over, r.ticks, r.spawn_ms, r.all_s, r.ok,
               r.failed,
               r.first_error and (": " .. r.first_error) or ""))
end

local h2_100 = run(TLS_URL, 100)
report("TLS, HTTP/2  ", h2_100)
local h2_1000 = run(TLS_URL, 1000)
report("TLS, HTTP/2  ", h2_1000)
local h1_100 = run(TLS1_URL, 100)
report("TLS, HTTP/1.1", h1_100)
print(format("connections %d verifications in flight over %s: %d TCP connections at the sandbox (goal <= 4); "
             .. "%d connections libcurl opened; HTTP/1.1-only TLS port, 100 logins: %d",
             h2_1000.n, h2_1000.protos, h2_1000.conns, h2_1000.sockets, h1_100.conns))
