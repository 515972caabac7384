-- Two nginx instances ("two hosts") with two workers each, sharing one real
-- redis-server through vonage.store.redis: signed webhooks are handled
-- exactly once whichever host and worker each delivery reaches, and a Number
-- Verification login started on one host completes on the other.
local H = require "spec.helper"
local core = require "vonage.core"
local cjson = require "cjson"
local http = require "socket.http"
local ltn12 = require "ltn12"
local redis_server = require "spec.support.redis_server"

local SECRET = "multi-host-signature-secret-0123456789"
local CONF = H.read(H.ROOT .. "/spec/nginx/multi_host.conf")

local redis, hosts, events_log = nil, {}, nil

local function start_host(name)
  return H.nginx(CONF, table.concat({
    "VONAGE_APPLICATION_ID=" .. H.APP_ID, "VONAGE_PRIVATE_KEY_PATH=" .. H.key_path,
    "VONAGE_API_HOST=" .. H.url, "VONAGE_NETWORK_HOST=" .. H.url, "VONAGE_OIDC_HOST=" .. H.url,
    "VN_SIGNATURE_SECRET=" .. SECRET, "VN_REDIS_PORT=" .. redis.port, "VN_REDIS_PASSWORD=" .. redis.password,
    "VN_EVENTS_LOG=" .. events_log, "VN_HOST_NAME=" .. name,
  }, " "))
end

-- The on_event runs so far: { "A 1234 <request_id> event completed", ... }
local function runs(request_id)
  local list = {}
  local f = io.open(events_log)
  for line in (f and f:lines() or function() end) do
    if not request_id or line:find(" " .. request_id .. " ", 1, true) then list[#list + 1] = line end
  end
  if f then f:close() end
  return list
end

local n = 0
-- A signed delivery of one event: body and Authorization, a fresh jti each call.
local function signed(fields)
  n = n + 1
  local event = { type = "event", request_id = "c11236f4-0000-4000-8000-" .. ("%012d"):format(n),
                  triggered_at = "2026-12-01T23:00:00.000Z", channel = "sms", status = "completed" }
  for k, v in pairs(fields or {}) do event[k] = v end
  local body = cjson.encode(event)
  return event.request_id, body
end

local function token_for(body)
  local claims = { iat = os.time(), jti = core.uuid4(), iss = "Vonage", application_id = H.APP_ID,
                   payload_hash = core.hex(core.sha256(body)) }
  local input = core.base64url_encode('{"alg":"HS256","typ":"JWT"}') .. "."
                .. core.base64url_encode(cjson.encode(claims))
  return "Bearer " .. input .. "." .. core.base64url_encode(core.hmac_sha256(SECRET, input))
end

local function post(host, path, body, auth)
  local _, status = http.request {
    url = host.url .. path, method = "POST", source = ltn12.source.string(body),
    headers = { ["Content-Type"] = "application/json", ["Content-Length"] = #body, Authorization = auth },
    sink = ltn12.sink.null(),
  }
  return status
end

-- The same delivery `count` times at once, alternating the hosts: the statuses, sorted.
local function deliver_parallel(where, body, auth, count)
  local path = redis.dir .. "/body"
  local f = assert(io.open(path, "wb"))
  f:write(body)
  f:close()
  local args = {}
  for i = 1, count do
    local host = hosts[i % 2 + 1]
    args[#args + 1] = ("-o /dev/null -w '%%{http_code}\\n' -X POST -H 'Authorization: %s' "
      .. "-H 'Content-Type: application/json' --data-binary @%s '%s%s'")
      :format(auth, path, host.url, where)
  end
  local p = assert(io.popen("env -u LD_PRELOAD curl -s --max-time 10 --parallel --parallel-immediate "
    .. "--parallel-max 32 " .. table.concat(args, " --next ") .. " 2>/dev/null"))
  local statuses = {}
  for line in p:lines() do statuses[#statuses + 1] = tonumber(line) end
  p:close()
  os.remove(path)
  table.sort(statuses)
  return statuses
end

local function count(list, value)
  local c = 0
  for _, v in ipairs(list) do if v == value then c = c + 1 end end
  return c
end

describe("two hosts sharing one Redis", function()
  setup(function()
    H.reset()
    redis = redis_server.start()
    events_log = redis.dir .. "/events.log"
    hosts[1] = start_host("A")
    hosts[2] = start_host("B")
  end)
  teardown(function()
    for _, host in ipairs(hosts) do host.stop() end
    if redis then redis.destroy() end
  end)

  it("refuse a per-worker store in a two-worker nginx, naming lua_shared_dict and vonage.store.redis", function()
    local body = http.request(hosts[1].url .. "/unsafe")
    local lines = {}
    for line in body:gmatch("[^\n]+") do
      local name, what = line:match("^(.-): (.*)$")
      lines[name or line] = what or true
    end
    assert.is_true(lines["workers 2"])
    for _, name in ipairs { "ngx_handler", "ngx_handler memory", "verify", "number_verification" } do
      local msg = lines[name]
      assert.truthy(msg:find("nginx runs 2 workers", 1, true), name .. ": " .. msg)
      assert.truthy(msg:find("lua_shared_dict", 1, true), name)
      assert.truthy(msg:find("vonage.store.redis", 1, true), name)
    end
    assert.truthy(lines.dedupe:find('dedupe must be "token" (the default) or "event"', 1, true), lines.dedupe)
    assert.equal("accepted", lines["number_verification shared_dict"])
    assert.equal("accepted", lines["ngx_handler redis"])
  end)

  it("are served by two workers each", function()
    for _, host in ipairs(hosts) do
      -- parallel, in bounded rounds: sequential connections may all go to one awake worker
      local pids, seen = {}, 0
      for _ = 1, 10 do
        local urls = {}
        for i = 1, 32 do urls[i] = "'" .. host.url .. "/pid'" end
        local p = assert(io.popen("env -u LD_PRELOAD curl -s --max-time 10 --parallel --parallel-immediate "
          .. "--parallel-max 32 " .. table.concat(urls, " ") .. " 2>/dev/null"))
        for pid in p:read("*a"):gmatch("<(%d+)>") do
          if not pids[pid] then pids[pid], seen = true, seen + 1 end
        end
        p:close()
        if seen >= 2 then break end
      end
      assert.equal(2, seen)
    end
  end)

  it("runs on_event once for the same signed webhook delivered 20 times at once across both hosts", function()
    local id, body = signed()
    local auth = token_for(body)
    local statuses = deliver_parallel("/webhooks/token", body, auth, 20)
    assert.same({ 1, 19 }, { count(statuses, 204), count(statuses, 200) })
    local list = runs(id)
    assert.equal(1, #list)
    -- and once more one by one, on each host
    for i = 1, 4 do assert.equal(200, post(hosts[i % 2 + 1], "/webhooks/token", body, auth)) end
    assert.equal(1, #runs(id))
  end)

  it("with dedupe = \"event\", runs a redelivery of the same event under new tokens once", function()
    local id, body = signed()
    local statuses = {}
    for i = 1, 6 do statuses[i] = post(hosts[i % 2 + 1], "/webhooks/event", body, token_for(body)) end
    assert.same({ 204, 200, 200, 200, 200, 200 }, statuses)
    assert.equal(1, #runs(id))
    -- another status of the same request is another event
    local _, completed_body = signed { request_id = id, status = "user_rejected" }
    assert.equal(204, post(hosts[2], "/webhooks/event", completed_body, token_for(completed_body)))
    assert.equal(2, #runs(id))
    -- without dedupe = "event" a new token is a new delivery: it runs again
    assert.equal(204, post(hosts[1], "/webhooks/token", body, token_for(body)))
    assert.equal(3, #runs(id))
  end)

  it("runs a handler that failed the first time again on the retry, then never again", function()
    local id, body = signed { client_ref = "fail-first" }
    local auth = token_for(body)
    assert.equal(500, post(hosts[1], "/webhooks/token", body, auth))
    assert.equal(0, #runs(id))
    assert.equal(204, post(hosts[2], "/webhooks/token", body, auth))
    assert.equal(1, #runs(id))
    local statuses = deliver_parallel("/webhooks/token", body, auth, 10)
    assert.equal(10, count(statuses, 200))
    assert.equal(1, #runs(id))
    -- the same with dedupe = "event": both claims were released
    local id2, body2 = signed { client_ref = "fail-first" }
    assert.equal(500, post(hosts[2], "/webhooks/event", body2, token_for(body2)))
    assert.equal(204, post(hosts[1], "/webhooks/event", body2, token_for(body2)))
    assert.equal(200, post(hosts[2], "/webhooks/event", body2, token_for(body2)))
    assert.equal(1, #runs(id2))
  end)

  it("answers 503 while Redis is down, and processes the next delivery once after it is back", function()
    local id, body = signed()
    local auth = token_for(body)
    redis.stop()
    finally(function() if not redis.up() then redis.restart() end end)
    local down = {}
    for i = 1, 4 do down[i] = post(hosts[i % 2 + 1], "/webhooks/token", body, auth) end
    local down_event = post(hosts[1], "/webhooks/event", body, auth)
    assert.same({ 503, 503, 503, 503, 503 }, { down[1], down[2], down[3], down[4], down_event })
    assert.equal(0, #runs(id))
    redis.restart()
    assert.equal(204, post(hosts[2], "/webhooks/token", body, auth))
    assert.equal(1, #runs(id))
    local statuses = deliver_parallel("/webhooks/token", body, auth, 8)
    assert.equal(8, count(statuses, 200))
    assert.equal(1, #runs(id))
  end)

  describe("Number Verification", function()
    local PHONE = "+447700900000"

    local function register(uri)
      local status = H.control("POST", "/_sandbox/redirect_uris", { application_id = H.APP_ID, redirect_uri = uri })
      assert.equal(200, status)
    end

    local function start_on(host, session, redirect_uri)
      local out = {}
      local _, status = http.request {
        url = ("%s/nv/start?phone=%s&session=%s&redirect_uri=%s"):format(host.url, "%2B" .. PHONE:sub(2), session,
          require("vonage.url").encode(redirect_uri)),
        method = "POST", sink = ltn12.sink.table(out) }
      assert.equal(200, status)
      local auth_url = table.concat(out)
      assert.truthy(auth_url:match("^http"), auth_url)
      -- the device opens it and stops at the redirect
      local _, device_status, headers = http.request { url = auth_url, redirect = false }
      assert.equal(302, device_status)
      return headers.location
    end

    local function start_raw(host, session, redirect_uri)
      local out = {}
      local _, status = http.request {
        url = ("%s/nv/start?phone=%s&session=%s&redirect_uri=%s"):format(host.url, "%2B" .. PHONE:sub(2), session,
          require("vonage.url").encode(redirect_uri)),
        method = "POST", sink = ltn12.sink.table(out) }
      return status, table.concat(out)
    end

    local function callback(host, location, session)
      local out = {}
      local _, status = http.request { url = host.url .. "/nv/callback?" .. location:match("%?(.*)$"),
                                       headers = { Cookie = "sid=" .. session }, sink = ltn12.sink.table(out) }
      return status, table.concat(out)
    end

    it("completes a login started on host A whose callback lands on host B", function()
      local redirect_uri = hosts[2].url .. "/nv/callback"
      register(redirect_uri)
      local before = H.logged("POST", "/oauth2/token")
      local location = start_on(hosts[1], "session-ab", redirect_uri)
      assert.equal(redirect_uri, location:match("^[^?]+"))
      local status, answer = callback(hosts[2], location, "session-ab")
      assert.same({ 200, "B exchanged " .. PHONE }, { status, answer })
      assert.equal(before + 1, H.logged("POST", "/oauth2/token"))
      -- the state was spent: the same callback again, on either host, is refused
      local _, again = callback(hosts[1], location, "session-ab")
      assert.equal("A unknown_state", again)
    end)

    it("answers store_unavailable, not unknown_state, while Redis is down", function()
      local redirect_uri = hosts[2].url .. "/nv/callback"
      register(redirect_uri)
      local location = start_on(hosts[1], "session-down", redirect_uri)
      redis.stop()
      finally(function() if not redis.up() then redis.restart() end end)
      local status, started = start_raw(hosts[2], "session-other", redirect_uri)
      local _, during = callback(hosts[2], location, "session-down")
      assert.same({ 200, "store_unavailable", "B store_unavailable" }, { status, started, during })
      redis.restart() -- without persistence: the pending state went with it
      local _, after = callback(hosts[1], location, "session-down")
      assert.equal("A unknown_state", after)
    end)

    it("gives exactly one token exchange for 32 racing callbacks with one state across both hosts", function()
      local redirect_uri = hosts[1].url .. "/nv/callback"
      register(redirect_uri)
      local before = H.logged("POST", "/oauth2/token")
      local location = start_on(hosts[2], "session-race", redirect_uri)
      local query = location:match("%?(.*)$")
      local urls = {}
      for i = 1, 32 do urls[i] = "'" .. hosts[i % 2 + 1].url .. "/nv/callback?" .. query .. "'" end
      local p = assert(io.popen("env -u LD_PRELOAD curl -s --max-time 10 --parallel --parallel-immediate "
        .. "--parallel-max 32 -H 'Cookie: sid=session-race' -w '\\n' " .. table.concat(urls, " ") .. " 2>/dev/null"))
      local out = p:read("*a")
      p:close()
      local _, exchanged = out:gsub("exchanged %+447700900000", "")
      local _, unknown = out:gsub("unknown_state", "")
      assert.same({ 1, 31 }, { exchanged, unknown })
      assert.equal(before + 1, H.logged("POST", "/oauth2/token"))
    end)
  end)
end)
