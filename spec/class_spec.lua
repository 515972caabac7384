-- The classes: each lists its methods in one file, gives them all from a
-- plain require, and lets no code add or replace one afterwards.
local H = require "spec.helper"
local vonage = require "vonage"
local core = require "vonage.core"

local ID = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

local fresh = H.fresh_lua

local function read_docs()
  local p = assert(io.popen("cat " .. H.ROOT .. "/doc/*.md " .. H.ROOT .. "/README.md"))
  local text = p:read("*a")
  p:close()
  return text
end

-- The names the doc text shows as `<object>:<name>` (a call or a mention).
local function documented(text, object, name)
  return text:find(object .. ":" .. name .. "[^%w_]") ~= nil
end

describe("vonage.client, the class", function()
  before_each(H.reset)

  it("is whole after require 'vonage.client' alone, in a fresh interpreter, loading no unused transport", function()
    local out = fresh([[
      local vc = require "vonage.client"
      local core = require "vonage.core"
      local c = vc { api_key = "key01", api_secret = "secret" }
      for _, name in ipairs(vc.methods()) do print("client", name, type(c[name])) end
      local req = c:request("]] .. ID .. [[")
      for _, name in ipairs(require("vonage.request").methods()) do print("request", name, type(req[name])) end
      local page = core.template_page_new(c, "templates", { items = {}, page = 1, page_size = 10,
                                                           total_pages = 0, total_items = 0 })
      for _, name in ipairs(require("vonage.template_page").methods()) do print("page", name, type(page[name])) end
      print("vonage", package.loaded["vonage"] ~= nil)
      print("multi", package.loaded["vonage.transport.multi"] ~= nil)
    ]])
    local got, loaded = { client = {}, request = {}, page = {} }, {}
    for _, line in ipairs(out) do
      local object, name, kind = line:match("^(%a+)\t([%w_]+)\t(%a+)$")
      if object then
        assert.equal("function", kind, object .. ":" .. name)
        got[object][#got[object] + 1] = name
      end
      local module, yes = line:match("^(%a+)\t(%a+)$")
      if module then loaded[module] = yes end
    end
    assert.equal("exit=0", out[#out], table.concat(out, "\n"))
    -- The lists the class files give, and every method of the API here among them.
    assert.same(vonage.client.methods(), got.client)
    assert.same({ "cancel", "check", "next_workflow" }, got.request)
    assert.same({ "first", "ipairs", "items", "last", "next", "prev" }, got.page)
    for _, name in ipairs { "start_verification", "request", "start_silent_auth", "resume_silent_auth",
                            "templates", "template_page", "create_template", "delete_template_fragment",
                            "number_verification", "verify_webhook", "poll", "spawn", "close" } do
      assert.truthy(got.client[1] and table.concat(got.client, " "):find("%f[%w_]" .. name .. "%f[^%w_]"), name)
    end
    assert.same({ vonage = "false", multi = "false" }, loaded)
  end)

  it("has every method it lists documented in doc/ or the README", function()
    local text = read_docs()
    local missing = {}
    for _, name in ipairs(vonage.client.methods()) do
      if not documented(text, "client", name) then missing[#missing + 1] = "client:" .. name end
    end
    for _, name in ipairs(require("vonage.request").methods()) do
      if not documented(text, "req", name) then missing[#missing + 1] = "req:" .. name end
    end
    for _, name in ipairs(require("vonage.template_page").methods()) do
      if not documented(text, "page", name) then missing[#missing + 1] = "page:" .. name end
    end
    assert.same({}, missing)
  end)

  it("has no method table any code can write: core exports none, getmetatable answers the name, "
     .. "a second class call raises", function()
    local c = H.client()
    local req = c:request(ID)
    local page = core.template_page_new(c, "templates", { items = { { template_id = ID } }, page = 1,
                                                         page_size = 10, total_pages = 1, total_items = 1 })
    local objects = {
      { c, "vonage.client", "client_class", "start_verification" },
      { req, "vonage.request", "request_class", "cancel" },
      { page, "vonage.template_page", "template_page_class", "next" },
    }
    for _, o in ipairs { "client_methods", "request_methods", "template_page_methods" } do
      assert.is_nil(core[o])
    end
    local function evil() return "replaced" end
    for _, o in ipairs(objects) do
      local obj, name, class_fn, method = o[1], o[2], o[3], o[4]
      local before = obj[method]
      assert.equal("function", type(before))
      assert.equal(name, getmetatable(obj))
      assert.has_error(function() getmetatable(obj).__index.x = evil end)
      assert.has_error(function() obj[method] = evil end)
      assert.has_error(function() core[class_fn] { [method] = evil } end, name .. ": the class is already complete")
      assert.equal(before, obj[method])
      assert.is_nil(obj.x)
    end
  end)
end)

describe("vonage.request, its state", function()
  before_each(H.reset)

  it("reads brand, workflow, channel and status from the one userdata; the channel moves with next_workflow", function()
    local c = H.client()
    local req = assert(c:start_verification { brand = "ACME Bank", workflow = {
      vonage.sms { to = "447700900040" }, vonage.voice { to = "447700900040" } } })
    assert.equal("ACME Bank", req.brand)
    assert.same({ "sms", "voice" }, req.workflow)
    assert.equal("sms", req.channel)
    assert.equal("pending", req.status)
    local list = req.workflow
    list[1] = "email" -- a copy: the request's own stays
    assert.same({ "sms", "voice" }, req.workflow)
    assert.equal(1, req.channel_index)
    assert.is_true(req:next_workflow())
    assert.equal("voice", req.channel)
    assert.equal(2, req.channel_index)
    assert.equal("pending", req.status)
    -- No channel past the last: the API says so, and the channel stays.
    local ok, _, err = req:next_workflow()
    assert.is_nil(ok)
    assert.equal("no_more_workflows", err.code)
    assert.equal("voice", req.channel)
    -- The sandbox, like the API, refuses a cancel after the second event; the status stays.
    local cancelled, _, cerr = req:cancel()
    assert.is_nil(cancelled)
    assert.equal(409, cerr.status)
    assert.equal("pending", req.status)
  end)

  it("has no setter and read-only fields", function()
    local c = H.client()
    local req = assert(c:start_verification { brand = "ACME", workflow = { vonage.sms { to = "447700900041" } } })
    assert.is_nil(req._set)
    for _, field in ipairs { "status", "channel", "brand", "workflow", "request_id", "_set" } do
      assert.has_error(function() req[field] = "completed" end, "vonage.request: fields are read-only")
    end
    assert.equal("pending", req.status)
    assert.equal("ACME", req.brand)
    assert.has_error(function() core.take_request_setter() end, "vonage.core: the request setter was already taken")
  end)

  it("is where a silent-auth flow's channel is: after the API fell back at start, and when resumed", function()
    local c = H.client()
    local to = "447700990001" -- the sandbox's unsupported network: the coverage check falls back
    local flow = assert(c:start_silent_auth { brand = "ACME", workflow = {
      vonage.silent_auth { to = to }, vonage.sms { to = to } } })
    assert.equal("code_pending", flow.state)
    assert.equal("sms", flow.req.channel)
    assert.equal(2, flow.req.channel_index)
    assert.equal(flow.channel, flow.req.channel)
    assert.equal(2, flow.channel_index)
    local saved = flow:to_table()
    local resumed = assert(c:resume_silent_auth(saved))
    assert.same({ "silent_auth", "sms" }, resumed.req.workflow)
    assert.equal("sms", resumed.req.channel)
    assert.equal(saved.request_id, resumed.req.request_id)
    assert.equal("completed", resumed:check(H.last_code(to)))
    assert.equal("completed", resumed.req.status)
  end)

  it("knows no brand or workflow for a handle on a stored id", function()
    local req = H.client():request(ID)
    assert.is_nil(req.brand)
    assert.is_nil(req.workflow)
    assert.is_nil(req.channel_index)
    assert.equal("unknown", req.channel)
    assert.equal("unknown", req.status)
  end)
end)

describe("vonage.client, its transport", function()
  before_each(H.reset)

  it("hands poll and spawn to the transport's own, and closes only a transport it owns", function()
    local calls = {}
    local t = H.recording_transport()
    function t.poll(self, ms) calls[#calls + 1] = { "poll", self == t, ms }; return 7 end
    function t.spawn(self, fn, a) calls[#calls + 1] = { "spawn", self == t, fn(a) }; return "co" end
    function t.close(self) calls[#calls + 1] = { "close", self == t } end
    local c = H.client { transport = t }
    assert.equal(7, c:poll(25))
    assert.equal("co", c:spawn(function(a) return a * 2 end, 21))
    c:close()
    assert.same({ { "poll", true, 25 }, { "spawn", true, 42 } }, calls)

    -- A transport with poll but no spawn: fn runs at once in a coroutine of its own.
    local own = H.recording_transport()
    function own.poll() return 0 end
    local oc = H.client { transport = own }
    local ran
    local co1 = oc:spawn(function(a) ran = { a, coroutine.running() } end, "x")
    assert.equal("x", ran[1])
    assert.equal(co1, ran[2])
    assert.equal("dead", coroutine.status(co1))
    local curl = H.client()
    local bad, why = pcall(curl.poll, curl, 0) -- the curl transport has no poll
    assert.is_false(bad)
    assert.truthy(tostring(why):find("cannot poll", 1, true), tostring(why))

    local m = H.client { transport = "multi" }
    local mt = m.transport
    local got
    local co = m:spawn(function() got = { m:request(ID):cancel() } end)
    assert.equal("thread", type(co))
    assert.is_nil(got) -- waiting for its answer, which poll brings
    while m:poll(100) > 0 do end
    assert.equal("not_found", got[3].code)
    m:close()
    assert.equal("vonage.transport.multi (closed)", tostring(mt))
  end)
end)
