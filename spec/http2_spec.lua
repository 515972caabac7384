-- The game-loop promise under load: poll(ms) never spins, HTTP/2 carries many
-- verifications on one connection, and one poll starts a bounded number of
-- TLS handshakes. Proved by counts and order (loop iterations, the sandbox's
-- per-request log of connection and protocol), never by elapsed time.
local vonage = require "vonage"
local socket = require "socket"
local H = require "spec.helper"

local function mclient(overrides)
  local opts = { transport = "multi" }
  for k, v in pairs(overrides or {}) do opts[k] = v end
  return H.client(opts)
end

describe("the multi transport's poll", function()
  it("sleeps out poll(ms) with nothing in flight instead of returning at once", function()
    local c = mclient()
    local n, t0 = 0, socket.gettime()
    while socket.gettime() < t0 + 0.5 do
      assert.equal(0, c:poll(50))
      n = n + 1
    end
    -- About 10 rounds of 50 ms; a spinning poll would count thousands.
    assert.is_true(n >= 1 and n <= 30, "poll rounds in 0.5 s: " .. n)
    c:close()
  end)
end)
