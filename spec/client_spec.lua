local vonage = require "vonage"
local H = require "spec.helper"

describe("vonage.client", function()
  before_each(H.reset)

  it("prints readably and never shows a secret", function()
    local key = H.read(H.key_path)
    local c = vonage.client { application_id = H.APP_ID, private_key = key,
                              api_key = H.API_KEY, api_secret = H.API_SECRET, api_host = H.url }
    local s = tostring(c)
    assert.equal("vonage.client (jwt: application " .. H.APP_ID .. ", basic: api_key "
                 .. H.API_KEY .. ", " .. H.url .. ")", s)
    assert.falsy(s:find(H.API_SECRET, 1, true))
    assert.equal("jwt+basic", c.auth)
    assert.equal(H.url, c.api_host)
    assert.equal("https://api-eu.vonage.com", c.network_host)
    assert.equal(10000, c.timeout_ms)
  end)

  it("never hands a credential back to Lua", function()
    local c = H.client { api_key = H.API_KEY, api_secret = H.API_SECRET }
    for _, k in ipairs { "private_key", "private_key_path", "api_secret", "application_id_secret",
                         "jwt", "basic" } do
      assert.is_nil(c[k])
    end
    assert.has_error(function() c.api_host = "https://evil.example" end)
    assert.equal(H.url, c.api_host)
  end)

  it("uses the real Vonage hosts by default", function()
    local c = vonage.client { api_key = "k", api_secret = "s" }
    assert.equal("https://api.nexmo.com", c.api_host)
    assert.equal("https://oidc.idp.vonage.com", c.oidc_host)
  end)

  it("reads its settings from the environment", function()
    -- run in a child interpreter, with a controlled environment
    local lua = arg and arg[-1] or "lua5.4"
    local cmd = string.format([[env VONAGE_APPLICATION_ID=%s VONAGE_PRIVATE_KEY_PATH=%s ]]
      .. [[VONAGE_API_KEY=envkey VONAGE_API_SECRET=envsecret VONAGE_API_HOST=%s ]]
      .. [[%s -e 'local c = require("vonage").client.from_env(); print(tostring(c)); print(c.auth)']],
      H.APP_ID, H.key_path, H.url, lua)
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    assert.equal("vonage.client (jwt: application " .. H.APP_ID .. ", basic: api_key envkey, "
                 .. H.url .. ")\njwt+basic\n", out)
  end)

  it("raises on misuse when it is built", function()
    assert.has_error(function() vonage.client { api_hots = "x" } end,
      "vonage: vonage.client: unknown field 'api_hots'")
    assert.has_error(function() vonage.client { api_key = "k" } end)
    assert.has_error(function() vonage.client { application_id = H.APP_ID } end)
    assert.has_error(function() vonage.client { api_key = "k", api_secret = "s", timeout_ms = 0 } end,
      "vonage: vonage.client: timeout_ms must be between 1 and 600000")
    assert.has_error(function() vonage.client { api_key = "k", api_secret = "s",
                                                api_host = "https://api.nexmo.com/v2" } end)
    assert.has_error(function() vonage.client { api_key = "k", api_secret = "s",
                                                user_agent = "x\r\nX-Evil: 1" } end,
      "vonage: vonage.client: user_agent must not hold CR, LF or NUL")
    assert.has_error(function() vonage.client { api_key = "k", api_secret = "s", transport = "smoke" } end)
  end)

  it("refuses a private key that is not an RSA PEM, without echoing it", function()
    local ok, err = pcall(vonage.client, { application_id = H.APP_ID,
                                           private_key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n" })
    assert.is_false(ok)
    assert.truthy(err:find("is not a PEM private key", 1, true))
    assert.falsy(err:find("c2VjcmV0", 1, true))
    local ok2, err2 = pcall(vonage.client, { application_id = H.APP_ID,
                                             private_key_path = "/nonexistent/key.pem" })
    assert.is_false(ok2)
    assert.truthy(err2:find("cannot open '/nonexistent/key.pem'", 1, true))
  end)

  it("mints an RS256 JWT with the application's claims", function()
    local t = H.recording_transport()
    local c = H.client { transport = t, jwt_ttl = 600, jwt_sub = "alice",
                         jwt_acl = { paths = { ["/*/users/**"] = {} } }, jwt_nbf = true,
                         clock = function() return 1700000000 end }
    c:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"):cancel()
    local token = t.sent[1].headers.Authorization:match("^Bearer (.+)$")
    local claims = H.jwt_claims(token)
    assert.equal(H.APP_ID, claims.application_id)
    assert.equal(1700000000, claims.iat)
    assert.equal(1700000600, claims.exp)
    assert.equal(1700000000, claims.nbf)
    assert.equal("alice", claims.sub)
    assert.same({ paths = { ["/*/users/**"] = {} } }, claims.acl)
    assert.truthy(claims.jti:match("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$"))
  end)

  it("signs once for two calls, and again after 80% of the JWT's life", function()
    local now = os.time()
    local c = H.client { clock = function() return now end }
    local req = c:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f")
    -- The JWTs minted: the distinct jti values the sandbox saw.
    local function mints()
      local seen, n = {}, 0
      for _, entry in ipairs(H.log()) do
        if entry.jti and not seen[entry.jti] then seen[entry.jti], n = true, n + 1 end
      end
      return n
    end
    req:cancel()
    req:cancel()
    assert.equal(1, mints())
    local log = H.log()
    assert.equal(log[#log - 1].jti, log[#log].jti)
    now = now + 719 -- 80% of 900 s is 720 s
    req:cancel()
    assert.equal(1, mints())
    now = now + 1
    req:cancel()
    assert.equal(2, mints())
    log = H.log()
    assert.are_not.equal(log[#log - 1].jti, log[#log].jti)
    assert.equal("jwt", log[#log].auth)
  end)

  it("gives each minted JWT a fresh jti", function()
    local seen = {}
    for _ = 1, 5 do
      local c = H.client()
      c:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"):cancel()
    end
    for _, entry in ipairs(H.log()) do
      assert.is_nil(seen[entry.jti])
      seen[entry.jti] = true
    end
  end)

  it("logs each call without credentials or bodies", function()
    local lines = {}
    local c = H.client { on_log = function(level, line) lines[#lines + 1] = level .. " " .. line end }
    local req = assert(c:start_verification { brand = "ACME",
                                              workflow = { vonage.sms { to = "447700900030" } } })
    req:check(H.last_code("447700900030"))
    assert.equal("debug POST /v2/verify -> 202", lines[1])
    assert.equal("debug POST /v2/verify/" .. req.request_id .. " -> 200", lines[2])
    local all = table.concat(lines, "\n")
    assert.falsy(all:find("Bearer", 1, true))
    assert.falsy(all:find(H.last_code("447700900030"), 1, true))
  end)

  it("closes, after which its credentials are gone and every call says closed", function()
    local c = H.client()
    c:close()
    local _, msg, err = c:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"):cancel()
    assert.equal("closed", err.code)
    assert.equal("transport", err.kind)
    assert.equal("cancel: the client is closed", msg)
    assert.equal("vonage.client (closed, " .. H.url .. ")", tostring(c))
  end)
end)
