-- JSON through a private lua-cjson instance, so this library's settings never
-- change what the application's own `require "cjson"` does.
local cjson = require("cjson").new()
local errors = require "vonage.errors"

local type, pcall, error, floor, rawget = type, pcall, error, math.floor, rawget
local tointeger = rawget(math, "tointeger") -- nil under Lua 5.1/LuaJIT

local M = { null = cjson.null }

cjson.decode_max_depth(32)
cjson.encode_max_depth(32)
cjson.encode_sparse_array(false)
if cjson.encode_escape_forward_slash then cjson.encode_escape_forward_slash(false) end

M.encode = cjson.encode

-- Decodes a response body; returns the value or nil, reason. A memory error
-- is not bad JSON: it is raised again, for the caller to tell apart.
function M.decode(s)
  if type(s) ~= "string" or s == "" then return nil, "empty body" end
  local ok, v = pcall(cjson.decode, s)
  if not ok then
    if errors.is_memory_error(v) then error(v, 0) end
    return nil, "not JSON"
  end
  return v
end

-- cjson decodes every number as a float under Lua 5.4: give back an integer
-- when the value is one, nil otherwise.
function M.integer(v)
  if type(v) ~= "number" or v ~= v or floor(v) ~= v then return nil end
  if tointeger then return tointeger(v) end
  return v
end

return M
