-- Many verifications in flight from one Lua thread, the way a game server
-- runs them: each player's flow is a coroutine, the client's "multi"
-- transport yields it while its request is on the wire, and the loop calls
-- client:poll() once per tick. Against the local sandbox:
--   sh scripts/with-sandbox lua5.4 examples/game_loop.lua
-- Against the real API, drop the sandbox lines: the code comes from the
-- player's phone, typed into the game.
local vonage = require "vonage"
local sandbox = require("vonage_sandbox.client").new() -- reads VONAGE_SANDBOX_URL

local client = vonage.client.from_env { transport = "multi" }
print("client:    " .. tostring(client))
print("transport: " .. tostring(client.transport))

-- One player's login: send a code, wait for the player to type it, check it.
-- Each call yields this coroutine; the game loop below keeps running.
local function login(player)
  local req, msg = client:start_verification {
    brand = "ACME", client_ref = player.name, workflow = { vonage.sms { to = player.phone } },
  }
  if not req then
    player.outcome = "could not send a code: " .. msg
    return
  end
  player.state = "code sent"
  -- In a game the code arrives with the player's next input; here the
  -- sandbox's outbox plays the player (one player types it wrong).
  local code = assert(sandbox:last_code(player.phone))
  if player.typo then code = code:sub(1, -2) .. ((code:sub(-1) + 1) % 10) end
  local status, check_msg, err = req:check(code)
  player.outcome = status or ("refused: " .. check_msg .. " (err.code = " .. err.code .. ")")
end

local players = {}
for i = 1, 8 do
  players[i] = { name = "player-" .. i, phone = ("4477009001%02d"):format(i), state = "new",
                 typo = (i == 5) }
  client:spawn(login, players[i])
end

-- The game loop: a tick does the game's work, then drives the network for at
-- most 5 ms. poll() answers how many requests and timers are still pending.
local ticks, max_in_flight = 0, 0
while true do
  ticks = ticks + 1
  local pending = client:poll(5)
  if pending > max_in_flight then max_in_flight = pending end
  if pending == 0 then break end
end

print(("\n%d logins, at most %d requests in flight at once, %d ticks of the loop")
  :format(#players, max_in_flight, ticks))
for _, player in ipairs(players) do
  print(("%-9s  %s"):format(player.name, player.outcome))
end
