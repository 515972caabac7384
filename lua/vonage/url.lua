-- URL pieces for the OAuth flow: RFC 3986 percent-encoding, query and form
-- building, and a strict query parser that refuses duplicated parameters.
-- Kept in Lua (DESIGN.md places URL encoding in C): it is a few gsubs on
-- short strings, handles no secret the C side could wipe, and stays
-- testable without a build.
local ipairs, tonumber, format, byte, char, concat =
      ipairs, tonumber, string.format, string.byte, string.char, table.concat

local M = {}

local function escape_byte(c)
  return format("%%%02X", byte(c))
end

-- encode(s) -> s with every byte outside RFC 3986's unreserved set
-- (A-Z a-z 0-9 - . _ ~) written as %XX, so `+`, `&`, `#`, `=` and spaces
-- survive in a query value and in a form body alike.
function M.encode(s)
  return (s:gsub("[^%w%-%._~]", escape_byte))
end

-- query(list) -> "k1=v1&k2=v2" from an ordered list of { name, value }; the
-- order is kept so that the same input always builds the same URL.
function M.query(list)
  local parts = {}
  for i, pair in ipairs(list) do
    parts[i] = M.encode(pair[1]) .. "=" .. M.encode(pair[2])
  end
  return concat(parts, "&")
end

-- decode(s) -> string | nil: form decoding (`+` is a space); nil when a `%`
-- is not followed by two hex digits.
function M.decode(s)
  if s:find("%%%X") or s:find("%%%x%X") or s:find("%%.?$") then return nil end
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

-- parse_query(s) -> { name = value } | nil, reason, name
-- Accepts a bare query or a whole URL (the part after `?`, before `#`).
-- A name given twice is refused rather than resolved: which copy a server
-- or framework picks differs, and that difference is what attacks use.
function M.parse_query(s)
  local query = s:match("%?([^#]*)")
  if not query then query = s:find("^%a[%w+.-]*://") and "" or s:match("^[^#]*") end
  local out = {}
  for piece in query:gmatch("[^&]+") do
    local raw_name, raw_value = piece:match("^([^=]*)=?(.*)$")
    local name, value = M.decode(raw_name), M.decode(raw_value)
    if not name or not value then return nil, "a parameter is not validly percent-encoded" end
    if out[name] ~= nil then return nil, "parameter '" .. name .. "' is repeated", name end
    out[name] = value
  end
  return out
end

return M
