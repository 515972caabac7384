-- Module loading: require "vonage" and a first verification load only what
-- they use; every other public name loads on first access and is then the
-- same value require "vonage.x" gives.
local H = require "spec.helper"

local fresh = H.fresh_lua

-- The prelude of each fresh script: loaded() prints the vonage modules in
-- package.loaded, sorted, after a label.
local PRELUDE = [[
local function loaded(label)
  local names = {}
  for name in pairs(package.loaded) do
    if name == "vonage" or name:match("^vonage%.") then names[#names + 1] = name end
  end
  table.sort(names)
  print(label, #names, table.concat(names, " "))
end
local vonage = require "vonage"
local function client()
  return vonage.client.from_env { application_id = "]] .. H.APP_ID .. [[",
    private_key_path = "]] .. H.key_path .. [[", api_key = "]] .. H.API_KEY .. [[",
    api_secret = "]] .. H.API_SECRET .. [[", api_host = "]] .. H.url .. [[" }
end
]]

local FIRST = { "vonage", "vonage.api", "vonage.channels", "vonage.client", "vonage.clock", "vonage.core",
                "vonage.errors", "vonage.json", "vonage.request", "vonage.url", "vonage.validate", "vonage.verify" }

-- The lines of out that start with label, split: { count, { names } }.
local function lists(out, label)
  for _, line in ipairs(out) do
    local count, names = line:match("^" .. label .. "\t(%d+)\t(.*)$")
    if count then
      local got = {}
      for name in names:gmatch("%S+") do got[#got + 1] = name end
      return tonumber(count), got
    end
  end
end

describe("require 'vonage'", function()
  before_each(H.reset)

  it("loads 12 modules, and a first start_verification + check loads none more", function()
    local out = fresh(PRELUDE .. [[
      loaded("required")
      local c = client()
      local req = assert(c:start_verification { brand = "ACME", code = "1234",
                                                 workflow = { vonage.sms { to = "447700900101" } } })
      print("status", assert(req:check("1234")))
      loaded("flow")
    ]])
    assert.equal("exit=0", out[#out], table.concat(out, "\n"))
    local n, names = lists(out, "required")
    assert.equal(12, n)
    assert.same(FIRST, names)
    assert.truthy(table.concat(out, "\n"):find("status\tcompleted", 1, true))
    n, names = lists(out, "flow")
    assert.equal(12, n)
    assert.same(FIRST, names)
  end)

  it("maps libcurl and OpenSSL only (no libjwt, jansson or libb64) through a JWT flow, and links core.so "
     .. "nodelete, so lua_close leaves its libraries mapped for the exit", function()
    local out = fresh(PRELUDE .. [[
      local c = client()
      local req = assert(c:start_verification { brand = "ACME", code = "1234",
                                                 workflow = { vonage.sms { to = "447700900102" } } })
      print("status", assert(req:check("1234")))
      local maps = assert(io.open("/proc/self/maps")):read("*a")
      for _, lib in ipairs { "libcurl", "libcrypto", "libjwt", "libjansson", "libb64" } do
        print("mapped", lib, maps:find("/" .. lib, 1, true) ~= nil)
      end
      print("so", package.searchpath("vonage.core", package.cpath))
    ]])
    assert.equal("exit=0", out[#out], table.concat(out, "\n"))
    local text = table.concat(out, "\n")
    assert.truthy(text:find("status\tcompleted", 1, true), text)
    for lib, want in pairs { libcurl = true, libcrypto = true, libjwt = false, libjansson = false, libb64 = false } do
      assert.truthy(text:find("mapped\t" .. lib .. "\t" .. tostring(want), 1, true), lib .. "\n" .. text)
    end
    local so = text:match("so\t(%S+)")
    local p = assert(io.popen("readelf -d " .. so))
    local dynamic = p:read("*a")
    p:close()
    assert.truthy(dynamic:find("NODELETE", 1, true), dynamic)
  end)

  it("resolves every documented field, each the value its module gives, and lists it once read", function()
    local out = fresh(PRELUDE .. [[
      local raw = {}
      for _, k in ipairs { "webhook", "store", "state_store", "check_silent_auth", "hash_phone_number" } do
        raw[#raw + 1] = k .. "=" .. tostring(rawget(vonage, k) ~= nil)
      end
      print("raw", table.concat(raw, " "))
      print("same", vonage.webhook == require "vonage.webhook", vonage.store == require "vonage.store",
            vonage.state_store == vonage.store,
            vonage.check_silent_auth == require("vonage.silent_auth").check_silent_auth,
            vonage.hash_phone_number == require("vonage.number_verification").hash_phone_number,
            vonage.client == require "vonage.client", vonage.sms == require("vonage.channels").sms)
      print("types", type(vonage._VERSION), type(vonage.is_error), type(vonage.webhook.verify),
            type(vonage.store.memory), type(vonage.check_silent_auth), type(vonage.silent_auth))
      local listed = {}
      for k in pairs(vonage) do listed[k] = true end
      print("listed", listed.webhook, listed.store, listed.state_store, listed.check_silent_auth,
            listed.hash_phone_number, vonage.no_such_field)
    ]])
    assert.equal("exit=0", out[#out], table.concat(out, "\n"))
    local text = table.concat(out, "\n")
    assert.truthy(text:find("raw\twebhook=false store=false state_store=false check_silent_auth=false "
      .. "hash_phone_number=false", 1, true), text)
    assert.truthy(text:find("same" .. ("\ttrue"):rep(7) .. "\n", 1, true), text)
    assert.truthy(text:find("types\tstring\tfunction\tfunction\tfunction\tfunction\tfunction", 1, true), text)
    assert.truthy(text:find("listed" .. ("\ttrue"):rep(5) .. "\tnil", 1, true), text)
  end)

  it("gives a module loaded at its first call the same behaviour: templates with their page class, "
     .. "hash_phone_number, webhooks, Number Verification", function()
    local p = assert(io.popen("printf %s +447700900000 | openssl dgst -sha256 -r"))
    local want_hash = p:read("*l"):match("^(%x+)")
    p:close()
    local out = fresh(PRELUDE .. [[
      local c = client()
      loaded("before")
      local t = assert(c:create_template { name = "lazy-one" })
      assert(c:create_template { name = "lazy-two" })
      loaded("templates")
      local page = assert(c:template_page { page_size = 1 })
      local second = assert(page:next())
      print("pages", #page, page.total_items, page.total_pages, second.page, second[1].name,
            page[1].template_id == t.template_id)
      print("hash", vonage.hash_phone_number("+447700900000"))
      local _, msg, err = c:verify_webhook("{}", "Bearer x.y.z")
      print("webhook", err.kind, err.code, msg ~= nil)
      local flow = c:number_verification { redirect_uri = "https://app.example/cb" }
      print("flow", type(flow), type(flow.authorize_url))
      loaded("after")
    ]])
    assert.equal("exit=0", out[#out], table.concat(out, "\n"))
    local text = table.concat(out, "\n")
    assert.equal(12, (lists(out, "before")))
    local n, names = lists(out, "templates") -- the first template call loads its module and the page class
    assert.equal(14, n)
    local extra = {}
    for _, name in ipairs(names) do
      local first = false
      for _, f in ipairs(FIRST) do first = first or f == name end
      if not first then extra[#extra + 1] = name end
    end
    assert.same({ "vonage.template_page", "vonage.templates" }, extra)
    assert.truthy(text:find("pages\t1\t2\t2\t2\tlazy-two\ttrue", 1, true), text)
    assert.truthy(text:find("hash\t" .. want_hash, 1, true), text)
    -- the client has no signature secret: the same answer as when vonage.webhook was loaded up front
    assert.truthy(text:find("webhook\twebhook\tno_secret\ttrue", 1, true), text)
    assert.truthy(text:find("flow\ttable\tfunction", 1, true), text)
    n, names = lists(out, "after")
    assert.equal(17, n)
    for _, name in ipairs { "vonage.number_verification", "vonage.store", "vonage.webhook" } do
      assert.truthy(table.concat(names, " "):find(name, 1, true), name)
    end
  end)
end)
