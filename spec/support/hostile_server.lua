-- A small hostile HTTP/1.1 server for the specs: it answers each request it
-- reads with the next action of a script (stall, trickle, hang up, reset,
-- raw bytes, delays) and logs every request it received, so a spec can count
-- what reached the wire. Started by spec/helper.lua's H.hostile; always run
-- with lua5.4 and LuaSocket, whatever interpreter the specs run under.
--
--   lua5.4 hostile_server.lua SCRIPT LOG
-- SCRIPT is a Lua file returning { action, action, ..., default = action,
-- lifetime = seconds }; actions are used in the order requests arrive (on
-- any connection). An action is a table:
--   { status = 200, body = "{}", headers = {...}, reason = "OK" }   answer (kept alive)
--   close = true          close the connection after the answer
--   delay_ms = N          wait N ms before doing anything
--   trickle_ms = N        send the answer one byte every N ms
--   trickle_from = N      ...starting at byte N (1: the status line too; default 1)
--   kind = "stall"        never answer; hold the connection until the peer closes
--   kind = "hangup"       close the connection without answering
--   kind = "reset"        reset the connection (RST) without answering
--   raw = "bytes"         send these bytes verbatim instead of an answer, then close
-- Each request is logged as one line: conn, method, target, has Authorization
-- (0/1), body length, tab-separated.
local socket = require "socket"

local script = dofile(arg[1])
local log = assert(io.open(arg[2], "a"))
log:setvbuf("line")

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()

local deadline = socket.gettime() + (script.lifetime or 60)
local next_action = 1
local tasks = {}
local conn_seq = 0
local yield = coroutine.yield

-- Inside a connection's coroutine: wait until the socket is ready, or a time.
local function wait(task, want, wake)
  task.want, task.wake = want, wake
  yield()
end

local function receive(task, pattern)
  while true do
    local data, err, partial = task.sock:receive(pattern, task.pending)
    task.pending = nil
    if data then return data end
    if err ~= "timeout" then return nil end
    task.pending = partial
    wait(task, "read")
  end
end

local function send(task, data)
  local from = 1
  while from <= #data do
    local last, err, partial = task.sock:send(data, from)
    if last then
      from = last + 1
    elseif err == "timeout" then
      from = partial + 1
      wait(task, "write")
    else
      return false
    end
  end
  return true
end

local function sleep(task, ms)
  wait(task, "sleep", socket.gettime() + ms / 1000)
end

local function response(a)
  local body = a.body or ""
  local lines = { ("HTTP/1.1 %d %s"):format(a.status or 200, a.reason or "OK") }
  local headers = a.headers or {}
  if not headers["Content-Type"] then lines[#lines + 1] = "Content-Type: application/json" end
  if not headers["Content-Length"] then lines[#lines + 1] = "Content-Length: " .. #body end
  if a.close then lines[#lines + 1] = "Connection: close" end
  for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
end

-- Reads one request; returns method, target, headers, body or nil on close.
local function read_request(task)
  local line
  repeat
    line = receive(task, "*l")
    if not line then return nil end
  until line ~= ""
  local method, target = line:match("^(%S+) (%S+)")
  local headers = {}
  while true do
    local h = receive(task, "*l")
    if not h then return nil end
    if h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local body = ""
  if (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    local parts = {}
    while true do
      local size = receive(task, "*l")
      size = size and tonumber(size:match("^%x+"), 16)
      if not size then return nil end
      if size == 0 then receive(task, "*l") break end
      parts[#parts + 1] = receive(task, size)
      receive(task, "*l")
    end
    body = table.concat(parts)
  elseif tonumber(headers["content-length"] or 0) > 0 then
    body = receive(task, tonumber(headers["content-length"]))
    if not body then return nil end
  end
  return method, target, headers, body
end

local function serve(task)
  while true do
    local method, target, headers, body = read_request(task)
    if not method then return end
    local action = script[next_action] or script.default or {}
    next_action = next_action + 1
    log:write(table.concat({ task.id, method, target, headers.authorization and 1 or 0, #body }, "\t"), "\n")
    if action.delay_ms then sleep(task, action.delay_ms) end
    if action.kind == "stall" then
      while receive(task, 1) do end -- until the peer gives up
      return
    elseif action.kind == "hangup" then
      return
    elseif action.kind == "reset" then
      task.sock:setoption("linger", { on = true, timeout = 0 })
      return
    end
    local out = action.raw or response(action)
    if action.trickle_ms then
      local from = action.trickle_from or 1
      if from > 1 and not send(task, out:sub(1, from - 1)) then return end
      for i = from, #out do
        if not send(task, out:sub(i, i)) then return end
        sleep(task, action.trickle_ms)
      end
    elseif not send(task, out) then
      return
    end
    if action.raw or action.close then return end
  end
end

local function start(sock)
  conn_seq = conn_seq + 1
  sock:settimeout(0)
  local task = { sock = sock, id = conn_seq }
  task.co = coroutine.create(function() serve(task) end)
  tasks[#tasks + 1] = task
  coroutine.resume(task.co, task)
end

while socket.gettime() < deadline do
  local readers, writers, timeout = { server }, {}, 0.05
  local now = socket.gettime()
  for _, t in ipairs(tasks) do
    if t.want == "read" then readers[#readers + 1] = t.sock
    elseif t.want == "write" then writers[#writers + 1] = t.sock
    elseif t.want == "sleep" then timeout = math.max(0, math.min(timeout, t.wake - now)) end
  end
  local readable, writable = socket.select(readers, writers, timeout)
  now = socket.gettime()
  if readable[server] then
    local sock = server:accept()
    if sock then start(sock) end
  end
  for i = #tasks, 1, -1 do
    local t = tasks[i]
    if (t.want == "read" and readable[t.sock]) or (t.want == "write" and writable[t.sock])
       or (t.want == "sleep" and now >= t.wake) then
      t.want = nil
      local ok, err = coroutine.resume(t.co)
      if not ok then io.stderr:write("hostile_server: ", tostring(err), "\n") end
    end
    if coroutine.status(t.co) == "dead" then
      t.sock:close()
      table.remove(tasks, i)
    end
  end
end
