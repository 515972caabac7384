-- A loopback port where a connect never completes: its listener's accept
-- queue is full (backlog 0, one connection held) and nobody accepts, so the
-- kernel drops every further SYN and the connecting side waits in SYN_SENT
-- until its own timeout. Nothing leaves the machine.
--   local port, release = require("spec.support.black_hole")()
local socket = require "socket"

return function()
  local listener = assert(socket.tcp())
  assert(listener:bind("127.0.0.1", 0))
  assert(listener:listen(0))
  local _, port = listener:getsockname()
  local held = {}
  for _ = 1, 3 do
    local c = socket.tcp()
    c:settimeout(0.2)
    c:connect("127.0.0.1", port) -- the first fills the queue; the rest wait in SYN_SENT
    held[#held + 1] = c
  end
  return tonumber(port), function()
    for _, c in ipairs(held) do c:close() end
    listener:close()
  end
end
