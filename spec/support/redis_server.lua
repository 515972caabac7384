-- A real redis-server for the specs, on a free loopback port with a
-- password and no persistence:
--   local redis = require("spec.support.redis_server").start { maxmemory = "3mb" }
--   redis.port, redis.password, redis.stop(), redis.restart() (same port),
--   redis.pause() / redis.resume() (SIGSTOP: connects complete, nothing answers),
--   redis.command("GET", key) -> the reply, over plain luasocket (not the code under test).
local socket = require "socket"

local M = {}

local function sh(command)
  local ok = os.execute(command)
  return ok == true or ok == 0
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

local function random_hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- One RESP request over a fresh connection (AUTH first) -> the reply of the
-- last command as Lua values (status/bulk string, integer, nil, list) | nil, err
local function encode(args)
  local out = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do
    a = tostring(a)
    out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  return table.concat(out)
end

local function read_reply(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "+" then return rest end
  if kind == "-" then return nil, rest end
  if kind == ":" then return tonumber(rest) end
  if kind == "$" then
    local n = tonumber(rest)
    if n < 0 then return nil end
    local data = c:receive(n + 2)
    return data and data:sub(1, -3)
  end
  if kind == "*" then
    local list = {}
    for i = 1, tonumber(rest) do list[i] = read_reply(c) end
    return list
  end
  return nil, "bad reply " .. line
end

function M.start(opts)
  opts = opts or {}
  local dir = assert(io.popen("mktemp -d /tmp/vonage-redis.XXXXXX")):read("*l")
  local server = { host = "127.0.0.1", password = opts.password or ("redis-" .. random_hex(12)), dir = dir }
  local pid

  local function alive()
    return pid and sh("kill -0 " .. pid .. " 2>/dev/null")
  end

  -- commands({ "SELECT", 3 }, { "KEYS", "*" }) -> the last reply, on one connection
  function server.commands(...)
    local c = socket.tcp()
    c:settimeout(2)
    local ok, err = c:connect(server.host, server.port)
    if not ok then return nil, err end
    local list = { { "AUTH", server.password }, ... }
    local reply
    for _, command in ipairs(list) do
      c:send(encode(command))
      reply, err = read_reply(c)
      if err then break end
    end
    c:close()
    return reply, err
  end

  function server.command(...)
    return server.commands { ... }
  end

  local function launch(port)
    os.remove(dir .. "/pid")
    -- the sanitizer runtime is for the module under test, not for redis
    sh(("env -u LD_PRELOAD redis-server --port %d --bind 127.0.0.1 --requirepass %s --save '' "
        .. "--appendonly no --daemonize no --dir %s %s >>%s/log 2>&1 </dev/null & echo $! >%s/pid")
       :format(port, server.password, dir,
               opts.maxmemory and ("--maxmemory " .. opts.maxmemory .. " --maxmemory-policy noeviction") or "",
               dir, dir))
    pid = read(dir .. "/pid"):match("%d+")
    server.port = port
    for _ = 1, 250 do
      if not alive() then return false end -- e.g. the port was taken
      if server.command("PING") == "PONG" then return true end
      socket.sleep(0.02)
    end
    return false
  end

  local started
  for _ = 1, 10 do
    if launch(20000 + math.random(0, 39999)) then started = true break end
    if alive() then sh("kill " .. pid) end
  end
  assert(started, "redis-server did not start: " .. read(dir .. "/log"))

  function server.stop()
    if alive() then
      sh("kill -CONT " .. pid .. " 2>/dev/null; kill " .. pid)
      for _ = 1, 250 do
        if not alive() then break end
        socket.sleep(0.02)
      end
    end
  end

  function server.restart()
    server.stop()
    assert(launch(server.port), "redis-server did not start again: " .. read(dir .. "/log"))
  end

  function server.up() return alive() and server.command("PING") == "PONG" end

  function server.pause() sh("kill -STOP " .. pid) end
  function server.resume() sh("kill -CONT " .. pid) end

  function server.destroy()
    server.stop()
    sh("rm -rf " .. dir)
  end

  return server
end

return M
