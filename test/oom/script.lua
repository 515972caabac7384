-- The phases test/oom/oom_host.c sweeps (see there). Each `run` must end in
-- success or a memory error: any other outcome is a memory error reported as
-- something else. Needs the sandbox environment (scripts/run-oom).
local getenv = os.getenv
local SECRET = "oom-signature-secret-0123456789"
local url = assert(getenv("VONAGE_SANDBOX_URL"), "run through scripts/run-oom")

local vonage, core, jwt, basic, multi

-- A result that is not the expected one: a memory error passed on as such,
-- anything else raised with its message (the host reports it).
local function expect(ok, msg, err)
  if ok then return ok end
  if type(err) == "table" and err.code == "out_of_memory" then error("not enough memory", 0) end
  error(tostring(msg), 0)
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- A token signed like the sandbox signs its callbacks (spec/webhook_spec.lua).
local function forge(request_id)
  local b64 = core.base64url_encode
  local body = '{"type":"event","request_id":"' .. request_id .. '","triggered_at":"2026-01-01T00:00:00.000Z",'
    .. '"channel":"sms","status":"completed"}'
  local claims = string.format('{"iat":%d,"jti":"%s","iss":"Vonage","api_key":"k","payload_hash":"%s"}',
                               os.time(), core.uuid4(), core.hex(core.sha256(body)))
  local input = b64('{"alg":"HS256","typ":"JWT"}') .. "." .. b64(claims)
  return body, "Bearer " .. input .. "." .. b64(core.hmac_sha256(SECRET, input))
end

-- Tokens handed to `run`; left set when `run` did not get their event.
local pending = {}

local function verify_pending()
  for i = 1, #pending do
    local p = pending[i]
    if p then
      local event = expect(p.verify(p.body, p.auth))
      assert(event.request_id == p.request_id, "the event came back wrong")
    end
  end
end

local phases = {
  { name = "open", every = true,
    run = function()
      vonage = require "vonage"
      core = require "vonage.core"
    end },

  { name = "clients", every = true,
    before = function() pending.pem = read(assert(getenv("VONAGE_PRIVATE_KEY_PATH"))) end,
    run = function()
      jwt = vonage.client { application_id = getenv("VONAGE_APPLICATION_ID"), private_key = pending.pem,
                            api_host = url, signature_secret = SECRET, timeout_ms = 5000 }
      basic = vonage.client { api_key = getenv("VONAGE_API_KEY"), api_secret = getenv("VONAGE_API_SECRET"),
                              api_host = url, timeout_ms = 5000 }
      assert(tostring(jwt):find("vonage.client", 1, true))
      assert(tostring(basic):find("vonage.client", 1, true))
    end },

  { name = "webhook", every = true,
    before = function()
      local store = vonage.store.memory { max_entries = 100000 }
      for i, how in ipairs { "module", "client" } do
        local body, auth = forge("r-" .. how)
        pending[i] = { body = body, auth = auth, request_id = "r-" .. how }
        if how == "module" then
          pending[i].verify = function(b, a)
            return vonage.webhook.verify(b, a, { signature_secret = SECRET, replay_store = store })
          end
        else
          pending[i].verify = function(b, a) return jwt:verify_webhook(b, a, { replay_store = store }) end
        end
      end
    end,
    run = function()
      for i = 1, 2 do
        local p = pending[i]
        local event = expect(p.verify(p.body, p.auth))
        pending[i] = false -- delivered: verifying it again would be a replay
        assert(event.type == "event" and event.request_id == p.request_id and event.claims.jti)
      end
    end,
    check = verify_pending },

  { name = "calls",
    run = function()
      -- one number per state, so no run meets another's verification (409)
      local to = string.format("4477%08d", OOM_RUN) -- luacheck: ignore
      local req = expect(jwt:start_verification { brand = "OOM", workflow = { vonage.sms { to = to } } })
      assert(tostring(req):find(req.request_id, 1, true))
      local ok, msg, err = req:check("000000")
      if ok or err.code ~= "invalid_code" then expect(nil, msg, err) end
      local handle = basic:request(req.request_id)
      expect(handle:cancel())
      ok, msg, err = req:cancel()
      if ok or err.code ~= "not_found" then expect(nil, msg, err) end
    end },

  { name = "multi",
    before = function()
      multi = vonage.client { api_key = getenv("VONAGE_API_KEY"), api_secret = getenv("VONAGE_API_SECRET"),
                              api_host = url, transport = "multi", timeout_ms = 5000 }
      pending.finished = 0
    end,
    run = function()
      for i = 1, 2 do
        multi:spawn(function()
          local to = string.format("4478%06d%02d", OOM_RUN, i) -- luacheck: ignore
          local req = expect(multi:start_verification { brand = "OOM", workflow = { vonage.sms { to = to } } })
          local ok, msg, err = req:check("000000")
          if ok or err.code ~= "invalid_code" then expect(nil, msg, err) end
          pending.finished = pending.finished + 1
        end)
      end
      while multi:poll(50) > 0 do end
      assert(pending.finished == 2, "a flow did not finish")
    end,
    -- Healed, the loop keeps polling: whatever was in flight ends, and no
    -- coroutine is left waiting for a transfer that was lost.
    check = function()
      for _ = 1, 20 do
        local ok, left = pcall(multi.poll, multi, 50)
        if ok and left == 0 then return end
      end
      error("transfers still pending after healing: " .. tostring(multi.transport))
    end },

  { name = "pages",
    before = function()
      local page = expect(jwt:template_page { page_size = 10 })
      for i = #page + 1, 3 do expect(jwt:create_template { name = "oom-" .. i }) end
    end,
    run = function()
      local page = expect(jwt:template_page { page_size = 2 })
      assert(#page == 2 and page[1].template_id and tostring(page):find("template_page", 1, true))
      local second = expect(page:next())
      assert(second[1].name)
      local n = 0
      for t in jwt:templates() do n = n + (t.template_id and 1 or 0) end
      assert(n >= 3)
    end },
}

return phases
