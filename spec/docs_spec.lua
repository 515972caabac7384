-- The README stays short and every link in it and in doc/ leads somewhere:
-- a file that exists and, after a #, a heading of that file.
local H = require "spec.helper"

local function lines_of(path)
  local list = {}
  for line in io.lines(H.ROOT .. "/" .. path) do list[#list + 1] = line end
  return list
end

-- GitHub's anchor for a heading: lower case, punctuation dropped, spaces as '-'.
local function anchor(heading)
  return (heading:lower():gsub("[^%w%s_%-]", ""):gsub("%s", "-"))
end

local function anchors_of(path)
  local set, fenced = {}, false
  for _, line in ipairs(lines_of(path)) do
    if line:match("^```") then fenced = not fenced end
    local heading = not fenced and line:match("^#+%s+(.+)$")
    if heading then set[anchor(heading)] = true end
  end
  return set
end

local function docs()
  local list = { "README.md" }
  local p = assert(io.popen("cd " .. H.ROOT .. " && ls doc/*.md"))
  for path in p:lines() do list[#list + 1] = path end
  p:close()
  return list
end

describe("the documentation", function()
  it("keeps the README under 300 lines, with the two commands, the guarantees and a link to each guide", function()
    local readme = lines_of("README.md")
    assert.is_true(#readme <= 300, #readme .. " lines")
    local text = table.concat(readme, "\n")
    assert.truthy(text:find("\nmake demo ", 1, true))
    assert.truthy(text:find("\nmake test ", 1, true))
    assert.truthy(text:find("\n## Guarantees\n", 1, true))
    local all = docs()
    assert.is_true(#all >= 11, #all .. " files")
    for i = 2, #all do
      assert.truthy(text:find("](" .. all[i] .. ")", 1, true), all[i] .. " is not linked from the README")
    end
  end)

  it("links only to files and headings that exist", function()
    local broken, checked = {}, 0
    for _, path in ipairs(docs()) do
      local dir = path:match("^(.*/)") or ""
      for _, line in ipairs(lines_of(path)) do
        for target in line:gmatch("%]%(([^)%s]+)%)") do
          if not target:match("^%a+:") then
            checked = checked + 1
            local file, fragment = target:match("^([^#]*)#?(.*)$")
            local resolved = file == "" and path or dir .. file
            local f = io.open(H.ROOT .. "/" .. resolved)
            if not f then
              broken[#broken + 1] = path .. ": " .. target
            else
              f:close()
              if fragment ~= "" and not anchors_of(resolved)[fragment] then
                broken[#broken + 1] = path .. ": " .. target .. " (no such heading)"
              end
            end
          end
        end
      end
    end
    assert.is_true(checked >= 30, checked .. " links")
    assert.same({}, broken)
  end)
end)

-- The README's ```lua blocks, run against the sandbox. A block runs as it is,
-- with the globals `vonage` and `client` (vonage.client.from_env()) the
-- quickstart leaves behind; a `print(...) --> text` line must print that text
-- ("..." stands for anything, and request ids and ports may differ). A block of
-- "> " lines is a REPL session: each line's value must print as the lines after
-- it. A block after `<!-- fragment: why; free names: a, b -->` cannot run
-- whole: its globals must be exactly those names (and the standard library), and
-- it runs with them nil.
local STANDARD = {}
for name in pairs(_G) do STANDARD[name] = true end

local function lua_blocks(path)
  local blocks, current, lines = {}, nil, lines_of(path)
  for i, line in ipairs(lines) do
    if current then
      if line:match("^```") then
        blocks[#blocks + 1] = current
        current = nil
      else
        current.lines[#current.lines + 1] = line
      end
    elseif line:match("^```lua%s*$") then
      local why, names = (lines[i - 1] or ""):match("^<!%-%- fragment: (.-); free names: (.-) %-%->$")
      current = { path = path, line = i, lines = {}, fragment = why, names = names }
    end
  end
  return blocks
end

local function expected_pattern(text)
  local p = text:gsub("%s+$", ""):gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  p = p:gsub("%%%.%%%.%%%.", ".-"):gsub("%s+", "%%s+")
  p = p:gsub("%x%x%x%x%x%x%x%x%%%-%x%x%x%x%%%-%x%x%x%x%%%-%x%x%x%x%%%-%x+", "%%x+%%-%%x+%%-%%x+%%-%%x+%%-%%x+")
  return "^" .. p:gsub(":%d%d%d%d+", ":%%d+") .. "$"
end

local function load_in(code, name, env)
  local setfenv = rawget(_G, "setfenv") -- Lua 5.1 and LuaJIT
  if setfenv then
    local f, err = loadstring(code, name) -- luacheck: ignore
    if f then setfenv(f, env) end
    return f, err
  end
  return load(code, name, "t", env)
end

local function values(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = tostring((select(i, ...))) end
  return table.concat(out, "\t")
end

-- A fresh environment: the standard globals, vonage, client, and a print that records.
-- The environment `make sandbox-start` exports: the suite's sandbox, with
-- VONAGE_NETWORK_HOST and VONAGE_OIDC_HOST at it too (run-specs exports only
-- VONAGE_API_HOST, so other specs see the real defaults).
local function repl_vonage()
  local vonage = require "vonage"
  local from_env = vonage.client.from_env
  local client_mod = setmetatable({ from_env = function(overrides)
    local opts = { network_host = os.getenv("VONAGE_API_HOST"), oidc_host = os.getenv("VONAGE_API_HOST") }
    for k, v in pairs(overrides or {}) do opts[k] = v end
    return from_env(opts)
  end }, { __index = vonage.client, __call = getmetatable(vonage.client).__call })
  return setmetatable({ client = client_mod }, { __index = vonage })
end

local function context(printed)
  local vonage = repl_vonage()
  local env = setmetatable({ vonage = vonage, client = vonage.client.from_env(),
    print = function(...) printed[#printed + 1] = values(...) end }, { __index = _G })
  return env
end

-- The globals a chunk reads or writes, as luac5.4 lists them.
local function free_names(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen("luac5.4 -p -l " .. path .. " 2>&1"))
  local names = {}
  for name in p:read("*a"):gmatch("TABUP%s[^\n]-; _ENV \"([%w_]+)\"") do names[name] = true end
  p:close()
  os.remove(path)
  return names
end

local function run_repl(block)
  local printed = {}
  local env = context(printed)
  local i, lines = 1, block.lines
  while i <= #lines do
    local stmt = assert(lines[i]:match("^> (.*)$"), block.path .. ":" .. (block.line + i) .. ": not a > line")
    local name = "=" .. block.path .. ":" .. (block.line + i)
    local f = load_in("return " .. stmt, name, env) or assert(load_in(stmt, name, env))
    local out = values(f())
    i = i + 1
    local shown = {}
    while i <= #lines and not lines[i]:match("^> ") do
      shown[#shown + 1] = lines[i]
      i = i + 1
    end
    if #shown > 0 then
      assert.truthy(out:match(expected_pattern(table.concat(shown, "\n"))), name .. ": printed " .. out)
    end
  end
end

local function run_program(block)
  local printed = {}
  local code = table.concat(block.lines, "\n")
  local name = "=" .. block.path .. ":" .. block.line
  local f = assert(load_in(code, name, context(printed)))
  f()
  local at = 1
  for n, line in ipairs(block.lines) do
    local expected = line:match("^%s*print%(.*%)%s*%-%->%s*(.-)%s*$")
    if expected then
      local pattern = expected_pattern(expected)
      while at <= #printed and not printed[at]:match(pattern) do at = at + 1 end
      assert.is_true(at <= #printed, ("%s:%d: nothing printed %q; printed: %s")
        :format(block.path, block.line + n, expected, table.concat(printed, " | ")))
      at = at + 1
    end
  end
end

describe("the README's Lua snippets", function()
  before_each(function()
    -- the development application and account from_env() reads (scripts/env.sh)
    H.reset()
    assert(H.control("POST", "/_sandbox/applications", {
      application_id = os.getenv("VONAGE_APPLICATION_ID"), public_key = H.read(H.pub_path) }) == 200)
    assert(H.control("POST", "/_sandbox/accounts", {
      api_key = os.getenv("VONAGE_API_KEY"), api_secret = os.getenv("VONAGE_API_SECRET") }) == 200)
  end)

  local blocks = lua_blocks("README.md")

  it("has a REPL session, a program with printed results and a marked fragment", function()
    local kinds = {}
    for _, block in ipairs(blocks) do
      kinds[#kinds + 1] = block.fragment and "fragment" or block.lines[1]:match("^> ") and "repl" or "program"
    end
    assert.same({ "repl", "fragment", "program" }, kinds)
  end)

  for _, block in ipairs(blocks) do
    if block.fragment then
      it(("README.md:%d is a fragment (%s) whose globals are the ones it names"):format(block.line, block.fragment),
        function()
          local code = table.concat(block.lines, "\n")
          local declared, used = {}, {}
          for name in block.names:gmatch("[%w_]+") do declared[#declared + 1] = name end
          for name in pairs(free_names(code)) do
            if not STANDARD[name] then used[#used + 1] = name end
          end
          table.sort(declared)
          table.sort(used)
          assert.same(declared, used)
          local f = assert(load_in(code, "=README.md:" .. block.line, setmetatable({}, { __index = _G })))
          f() -- defines its functions, makes its client; the game's loop does not run
        end)
    elseif block.lines[1]:match("^> ") then
      it(("README.md:%d runs in the REPL and prints what it shows"):format(block.line), function()
        run_repl(block)
      end)
    else
      it(("README.md:%d runs against the sandbox and prints what its --> comments say"):format(block.line), function()
        run_program(block)
      end)
    end
  end
end)
