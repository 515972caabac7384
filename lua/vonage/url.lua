--- URL pieces for the OAuth flow: RFC 3986 percent-encoding, query and form
-- building, and a strict query parser that refuses duplicated parameters.
-- Kept in Lua (DESIGN.md places URL encoding in C): it is a few gsubs on
-- short strings, handles no secret the C side could wipe, and stays
-- testable without a build. Internal: used by the library, not a stable API.
-- @module vonage.url
local ipairs, tonumber, format, byte, char, concat =
      ipairs, tonumber, string.format, string.byte, string.char, table.concat

local M = {}

local function escape_byte(c)
  return format("%%%02X", byte(c))
end

--- Percent-encodes every byte outside RFC 3986's unreserved set
-- (A-Z a-z 0-9 - . _ ~), so `+`, `&`, `#`, `=` and spaces survive in a query
-- value and in a form body alike.
-- @string s
-- @treturn string
function M.encode(s)
  return (s:gsub("[^%w%-%._~]", escape_byte))
end

--- "k1=v1&k2=v2" from an ordered list of { name, value }; the order is kept,
-- so the same input always builds the same URL.
-- @tparam {{string,string},...} list
-- @treturn string
function M.query(list)
  local parts = {}
  for i, pair in ipairs(list) do
    parts[i] = M.encode(pair[1]) .. "=" .. M.encode(pair[2])
  end
  return concat(parts, "&")
end

--- Form decoding (`+` is a space).
-- @string s
-- @treturn string
-- @return nil when a `%` is not followed by two hex digits
function M.decode(s)
  if s:find("%%%X") or s:find("%%%x%X") or s:find("%%.?$") then return nil end
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- Parses a bare query or a whole URL's query (after `?`, before `#`).
-- A name given twice is refused rather than resolved: which copy a server or
-- framework picks differs, and that difference is what attacks use.
-- @string s
-- @treturn table { name = value }
-- @return nil, reason, name on a duplicated or badly encoded parameter
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

-- RFC 3986 reference resolution, for relative Location headers --------------


--- Splits a URL (RFC 3986 appendix B).
-- @string u
-- @treturn table { scheme, authority, path, query, fragment } (absent parts nil)
function M.split(u)
  local t = {}
  local hash = u:find("#", 1, true)
  if hash then t.fragment, u = u:sub(hash + 1), u:sub(1, hash - 1) end
  local question = u:find("?", 1, true)
  if question then t.query, u = u:sub(question + 1), u:sub(1, question - 1) end
  local scheme = u:match("^(%a[%w+.%-]*):")
  if scheme then t.scheme, u = scheme:lower(), u:sub(#scheme + 2) end
  if u:sub(1, 2) == "//" then
    t.authority = u:match("^//([^/]*)")
    u = u:sub(3 + #t.authority)
  end
  t.path = u
  return t
end

local function remove_dot_segments(path)
  local out, input = {}, path
  while input ~= "" do
    if input:sub(1, 3) == "../" then input = input:sub(4)
    elseif input:sub(1, 2) == "./" then input = input:sub(3)
    elseif input:sub(1, 3) == "/./" then input = input:sub(3)
    elseif input == "/." then input = "/"
    elseif input:sub(1, 4) == "/../" then input = input:sub(4); out[#out] = nil
    elseif input == "/.." then input = "/"; out[#out] = nil
    elseif input == "." or input == ".." then input = ""
    else
      local segment = input:match("^/?[^/]*")
      out[#out + 1] = segment
      input = input:sub(#segment + 1)
    end
  end
  return concat(out)
end

--- Resolves a reference against a base URL (RFC 3986, 5.2.2): relative Location headers.
-- @string base
-- @string ref
-- @treturn table the target's parts (as split gives)
function M.resolve(base, ref)
  local b, r = M.split(base), M.split(ref)
  local t = { fragment = r.fragment }
  if r.scheme then
    t.scheme, t.authority, t.path, t.query = r.scheme, r.authority, remove_dot_segments(r.path), r.query
    return t
  end
  t.scheme = b.scheme
  if r.authority then
    t.authority, t.path, t.query = r.authority, remove_dot_segments(r.path), r.query
    return t
  end
  t.authority = b.authority
  if r.path == "" then
    t.path, t.query = b.path, r.query or b.query
  elseif r.path:sub(1, 1) == "/" then
    t.path, t.query = remove_dot_segments(r.path), r.query
  else
    local dir = (b.authority and b.path == "") and "/" or (b.path:match("^(.*/)") or "")
    t.path, t.query = remove_dot_segments(dir .. r.path), r.query
  end
  return t
end

--- The URL of parts, without its fragment (which is never sent).
-- @tparam table t parts, as split gives
-- @treturn string
function M.join(t)
  return (t.scheme and (t.scheme .. ":") or "") .. (t.authority and ("//" .. t.authority) or "")
      .. t.path .. (t.query and ("?" .. t.query) or "")
end

return M
