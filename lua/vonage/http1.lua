-- HTTP/1.1 answer framing (RFC 9112), pure: no socket, no ngx. A reader
-- wraps a receive(n) function that returns the next bytes that arrive (at
-- most n) or nil, err; everything else here works on strings. The resty
-- transport gives it a receiveany armed with the deadline; the specs give it
-- a string cut in pieces.
local tonumber, concat, format, min, max =
      tonumber, table.concat, string.format, math.min, math.max

local M = {}

M.MAX_HEADER_BYTES = require("vonage.core").limits().header_bytes.max -- src/vn_limits.h
local MAX_HEADER_BYTES = M.MAX_HEADER_BYTES
local READ_PIECE = 64 * 1024

-- reader(receive) -> r; r.buf keeps what arrived beyond the part asked for.
function M.reader(receive)
  return { receive = receive, buf = "" }
end

local function receive(r, n)
  return r.receive(n)
end

-- The bytes before the next `delim` (consumed, not returned), at most `limit` of
-- them: bytes | nil, "too_large" | nil, err, bytes_seen.
local function read_until(r, delim, limit)
  local from = 1
  while true do
    local buf = r.buf
    local i = buf:find(delim, from, true)
    if i then
      if i - 1 > limit then return nil, "too_large" end
      r.buf = buf:sub(i + #delim)
      return buf:sub(1, i - 1)
    end
    if #buf > limit then return nil, "too_large" end
    from = max(1, #buf - #delim + 2)
    local piece, err = receive(r, READ_PIECE)
    if not piece then return nil, err, #buf end
    r.buf = buf .. piece
  end
end

-- Exactly n bytes; never reads past them.
local function read_exact(r, n)
  local first = r.buf:sub(1, n)
  r.buf = r.buf:sub(n + 1)
  local parts, size = { first }, #first
  while size < n do
    local piece, err = receive(r, min(READ_PIECE, n - size))
    if not piece then return nil, err end
    parts[#parts + 1] = piece
    size = size + #piece
  end
  return concat(parts)
end

-- Reads one header block, capped; the blank line ending it is consumed, not
-- returned. Returns block | nil, err, bytes_seen.
function M.read_header_block(r)
  local block, err, seen = read_until(r, "\r\n\r\n", MAX_HEADER_BYTES)
  if err == "too_large" then return nil, "headers_too_large", MAX_HEADER_BYTES end
  return block, err, seen
end

-- parse_head(block) -> status, headers, is_http11 | nil for a bad status line.
-- Names are lower case; a repeated header's values are joined with ", " as
-- the curl transport does; an obs-fold line (leading SP or HTAB) continues
-- the field before it, joined with one SP (RFC 9112 5.2); a line that is no
-- field is ignored.
function M.parse_head(block)
  local version, status, reason, rest = block:match("^HTTP/1%.([01]) (%d%d%d)([^\r\n]*)(.*)$")
  if not version or not (reason == "" or reason:sub(1, 1) == " ") then return nil end
  local headers, last = {}, nil
  for line in rest:gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:%s]+):[ \t]*(.-)[ \t]*$")
    if name then
      name = name:lower()
      headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
      last = name
    elseif last and line:match("^[ \t]") then
      local more = line:match("^[ \t]*(.-)[ \t]*$")
      if more ~= "" then headers[last] = headers[last] == "" and more or (headers[last] .. " " .. more) end
    else
      last = nil
    end
  end
  return tonumber(status), headers, version == "1"
end

-- has_token("keep-alive, Close", "close") -> true: a token of a comma list.
function M.has_token(value, token)
  for item in (value or ""):gmatch("[^,]+") do
    if item:match("^%s*(.-)%s*$"):lower() == token then return true end
  end
  return false
end

local function too_large(max_body)
  return nil, "body_too_large", format("response body exceeds the %d byte limit", max_body)
end

-- One CRLF-terminated line of at most `limit` bytes (chunk sizes, trailers).
local function read_line(r, limit)
  local line, err = read_until(r, "\r\n", limit)
  if err == "too_large" then return nil, "malformed" end
  return line, err
end

-- read_chunked(r, max_body) -> body | nil, code[, msg]: chunk extensions
-- are skipped, trailer fields read and dropped; the size is checked before
-- a chunk is read.
function M.read_chunked(r, max_body)
  local parts, size = {}, 0
  while true do
    local line, err = read_line(r, 1024)
    if not line then return nil, err end
    local hex = line:match("^(%x+)[ \t]*;") or line:match("^(%x+)[ \t]*$")
    if not hex or #hex > 8 then return nil, "malformed" end
    local n = tonumber(hex, 16)
    if n == 0 then break end
    -- Checked before reading: a chunked answer cannot get around the cap.
    if size + n > max_body then return too_large(max_body) end
    local data, derr = read_exact(r, n)
    if not data then return nil, derr end
    local crlf, cerr = read_exact(r, 2)
    if crlf ~= "\r\n" then return nil, cerr or "malformed" end
    size = size + n
    parts[#parts + 1] = data
  end
  local trailers = 0
  while true do -- trailer fields, then the empty line
    local line, err = read_line(r, MAX_HEADER_BYTES)
    if not line then return nil, err end
    if line == "" then return concat(parts) end
    trailers = trailers + #line
    if trailers > MAX_HEADER_BYTES then return nil, "headers_too_large" end
  end
end

local function read_until_close(r, max_body)
  local parts, size = { r.buf }, #r.buf
  r.buf = ""
  if size > max_body then return too_large(max_body) end
  while true do
    local piece, err = receive(r, READ_PIECE)
    if not piece then
      if err == "closed" then return concat(parts) end
      return nil, err
    end
    size = size + #piece
    if size > max_body then return too_large(max_body) end
    parts[#parts + 1] = piece
  end
end

-- Reads the body the head announces: body, reusable | nil, code[, msg].
function M.read_body(r, status, headers, max_body)
  if status == 204 or status == 304 then return "", true end
  local coding = headers["transfer-encoding"]
  local body, err, msg
  if coding and M.has_token(coding, "chunked") then
    body, err, msg = M.read_chunked(r, max_body)
    if not body then return nil, err, msg end
    -- Chunked wins over a Content-Length (RFC 9112 6.3), but an answer with
    -- both may be framed otherwise by a proxy on the way: do not pool it.
    return body, headers["content-length"] == nil
  end
  local length = not coding and headers["content-length"]
  if length then
    if not length:match("^%d+$") or #length > 15 then return nil, "malformed" end
    length = tonumber(length)
    if length > max_body then return too_large(max_body) end
    body, err = read_exact(r, length)
    if not body then return nil, err end
    return body, true
  end
  body, err, msg = read_until_close(r, max_body)
  if not body then return nil, err, msg end
  return body, false
end

return M
