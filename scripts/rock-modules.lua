-- rock-modules.lua ROCKSPEC: the Lua modules the rockspec lists, one line each,
-- "source installed-path" (lua/vonage/api.lua vonage/api.lua). `make install`
-- and the Debian build install exactly these, so the rockspec is the one list.
-- Runs under Lua 5.1 (LuaJIT) to 5.4: whichever interpreter is being installed for.
local file = assert(arg[1], "usage: rock-modules.lua ROCKSPEC")
local spec = {}
local chunk = assert(loadfile(file))
local setfenv = rawget(_G, "setfenv") -- Lua 5.1 and LuaJIT only
if setfenv then setfenv(chunk, spec) else chunk = assert(loadfile(file, "t", spec)) end
chunk()
local lines = {}
for name, source in pairs(spec.build.modules) do
  if type(source) == "string" then
    local path = name:gsub("%.", "/") .. (source:match("/init%.lua$") and "/init.lua" or ".lua")
    lines[#lines + 1] = source .. " " .. path
  end
end
table.sort(lines)
io.write(table.concat(lines, "\n"), "\n")
