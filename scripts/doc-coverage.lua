-- doc-coverage.lua DIR: the reference ldoc wrote to DIR has an entry for every
-- public name, found at run time: each field of require "vonage" and of its
-- module tables, each method of the objects they return (the C classes'
-- method tables, the Lua classes' metatables), and each err.code the sources
-- can produce (found by the shapes that make one). Prints what is missing.
local dir = assert(arg[1], "usage: doc-coverage.lua DIR")
local vonage = require "vonage"
-- The fields require "vonage" loads on first access (its metatable's `lazy`)
-- are public names too: read each, so pairs below sees it.
for k in pairs(getmetatable(vonage).lazy) do local _ = vonage[k] end

local pages, anywhere, texts = {}, {}, {}
local list = assert(io.popen("find " .. dir .. " -name '*.html'"))
for path in list:lines() do
  local page = path:match("([^/]+)%.html$")
  local f = assert(io.open(path))
  local html = f:read("*a")
  f:close()
  pages[page] = pages[page] or {}
  for name in html:gmatch('<a name = "([^"]+)"></a>') do
    pages[page][name] = true
    anywhere[name] = true
  end
  texts[page] = html
end
list:close()

local missing, checked = {}, 0
local function need(found, what)
  checked = checked + 1
  if not found then missing[#missing + 1] = what end
end

local function public(k)
  return type(k) == "string" and (not k:match("^_") or k == "_VERSION")
end

-- A module table: each key has an entry on the module's page, or "module.key" anywhere.
local function module_table(name, t)
  for k in pairs(t) do
    -- an API module's function that the client class lists is documented as client:k
    if public(k) then
      need((pages[name] or {})[k] or anywhere[name .. "." .. k] or anywhere["client:" .. k], name .. "." .. k)
    end
  end
end

-- A class: each method has an entry "class:method". methods is a method
-- table, or a list of names (a class file's methods()).
local function class(name, methods)
  assert(type(methods) == "table", name)
  for k, v in pairs(methods) do
    if type(k) == "number" then k, v = v, function() end end
    if public(k) and type(v) == "function" then need(anywhere[name .. ":" .. k], name .. ":" .. k) end
  end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

module_table("vonage", vonage)
module_table("vonage.client", vonage.client)
module_table("vonage.webhook", vonage.webhook)
module_table("vonage.store", vonage.store)
module_table("vonage.transport.multi", require "vonage.transport.multi")
local resty = require "vonage.transport.resty"
module_table("vonage.transport.resty", resty)

module_table("vonage.request", require "vonage.request")
module_table("vonage.template_page", require "vonage.template_page")

-- The class files list their methods (lua/vonage/client.lua, request.lua, template_page.lua).
local reg = debug.getregistry()
local client = vonage.client { api_key = "abcd1234", api_secret = "doc-coverage-secret" }
class("client", vonage.client.methods())
class("request", require("vonage.request").methods())
class("template_page", require("vonage.template_page").methods())
class("transport", reg["vonage.http"].__index) -- the curl transport
class("transport", debug.getmetatable((require "vonage.transport.multi").new()))
class("store", getmetatable(vonage.store.memory()))
local dict = {}
for _, m in ipairs { "get", "safe_add", "safe_set", "incr", "delete" } do dict[m] = function() end end
class("store", getmetatable(vonage.store.shared_dict(dict)))
-- a Number Verification flow needs an application (any key: nothing is sent)
local app = vonage.client { application_id = "0d5c1b3a-2f4e-4a6b-8c7d-9e0f1a2b3c4d",
  private_key_path = assert(os.getenv("DOC_KEY_PATH"), "check-doc sets DOC_KEY_PATH") }
class("number_verification_flow", getmetatable(app:number_verification { redirect_uri = "https://app.example/cb" }))
class("silent_auth_flow", getmetatable(assert(client:resume_silent_auth {
  state = "code_pending", request_id = "0d5c1b3a-2f4e-4a6b-8c7d-9e0f1a2b3c4d",
  channels = { "silent_auth", "sms" }, channel_index = 2 })))

-- Every err.code a source file can produce, and every kind, on the errors page.
local KINDS = { validation = true, transport = true, http = true, api = true, auth = true,
                webhook = true, oauth = true, store = true }
local codes = {}
local function scan(path)
  local f = assert(io.open(path))
  local src = f:read("*a")
  f:close()
  for _, shape in ipairs { 'fail%(%s*"(%l+)"%s*,%s*"([%l_]+)"', 'vn_error_push%([^,]+,%s*"(%l+)"%s*,%s*"([%l_]+)"',
                           'vn_failure_set%([^,]+,%s*"(%l+)"%s*,%s*"([%l_]+)"' } do
    for kind, code in src:gmatch(shape) do
      KINDS[kind], codes[code] = true, true
    end
  end
  for code in src:gmatch('fail%(out,%s*"([%l_]+)"') do codes[code] = true end -- the C webhook checks
  for code in src:gmatch('fail%(%s*"([%l_]+)"') do codes[code] = true end -- fail(code, ...); kinds dropped below
  for code in src:gmatch('%] = "([%l_]+)"') do if path:match("errors%.lua$") then codes[code] = true end end
  for code in src:gmatch('return "([%l_]+)"') do if path:match("errors%.lua$") then codes[code] = true end end
end
local files = assert(io.popen("ls lua/vonage/*.lua lua/vonage/transport/*.lua src/*.c"))
for path in files:lines() do scan(path) end
files:close()
for kind in pairs(KINDS) do codes[kind] = nil end
local errors_page = texts["vonage.errors"] or ""
-- written `code` in the doc comment; ldoc may have turned it into <code>code</code>
local function documented(name)
  return errors_page:find("`" .. name .. "`", 1, true) or errors_page:find("<code>" .. name .. "</code>", 1, true)
end
for _, code in ipairs(sorted_keys(codes)) do
  need(documented(code), "err.code " .. code)
end
for _, kind in ipairs(sorted_keys(KINDS)) do
  need(documented(kind), "err.kind " .. kind)
end

table.sort(missing)
for _, what in ipairs(missing) do print("no entry: " .. what) end
print(("doc-coverage: %d names checked, %d without an entry"):format(checked, #missing))
os.exit(#missing == 0 and 0 or 1)
