-- vonage.http1, the resty transport's HTTP/1.1 framing, on strings: no
-- nginx, no socket. A reader is fed the answer in pieces of a chosen size,
-- so every boundary a network can cut at is crossed.
local http1 = require "vonage.http1"

-- A reader over s handing out at most `piece` bytes a call, then "closed".
local function reader(s, piece)
  local at, calls = 1, 0
  local r = http1.reader(function(n)
    calls = calls + 1
    if at > #s then return nil, "closed" end
    local take = math.min(n, piece or #s)
    local out = s:sub(at, at + take - 1)
    at = at + take
    return out
  end)
  return r, function() return calls end
end

-- What is left: the reader's buffer, then every byte not yet received.
local function drain(r)
  local parts = { r.buf }
  for piece in r.receive, 64 do parts[#parts + 1] = piece end
  return table.concat(parts)
end

local function body_of(wire, headers, max_body, piece)
  local r = reader(wire, piece)
  return http1.read_body(r, 200, headers, max_body or 1024)
end

describe("http1.parse_head", function()
  it("takes HTTP/1.0 and 1.1 status lines, with or without a reason", function()
    local cases = {
      { "HTTP/1.1 200 OK", 200, true }, { "HTTP/1.0 204", 204, false },
      { "HTTP/1.1 404 ", 404, true }, { "HTTP/1.1 503 Service Unavailable", 503, true },
      { "HTTP/1.1 100 Continue", 100, true },
    }
    for _, c in ipairs(cases) do
      local status, headers, http11 = http1.parse_head(c[1])
      assert.same({ c[2], {}, c[3] }, { status, headers, http11 }, c[1])
    end
  end)

  it("refuses what is not an HTTP/1.x status line", function()
    for _, line in ipairs { "HTTP/2 200 OK", "HTTP/1.2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK",
                            "HTTP/1.1 200OK", "http/1.1 200 OK", "ICY 200 OK", " HTTP/1.1 200 OK",
                            "HTTP/1.1  200 OK", "", "HTTP/1.1" } do
      assert.is_nil(http1.parse_head(line), line)
    end
  end)

  it("lower-cases names, trims values, joins duplicates, unfolds obs-fold", function()
    local _, h = http1.parse_head(table.concat({
      "HTTP/1.1 200 OK",
      "Content-Type:  application/json \t",
      "Set-Cookie: a=1", "set-cookie: b=2", "SET-COOKIE:c=3",
      "X-Folded: first", "  second  ", "\tthird",
      "X-Empty:", "X-Empty-Folded:", " later",
      "no colon here", "  a fold after a non-field is dropped",
      "X-Last: z",
    }, "\r\n"))
    assert.same({
      ["content-type"] = "application/json",
      ["set-cookie"] = "a=1, b=2, c=3",
      ["x-folded"] = "first second third",
      ["x-empty"] = "",
      ["x-empty-folded"] = "later",
      ["x-last"] = "z",
    }, h)
  end)
end)

describe("http1.read_header_block", function()
  it("reads up to the blank line across any cut and leaves the rest buffered", function()
    local wire = "HTTP/1.1 200 OK\r\nA: 1\r\n\r\nbody"
    for piece = 1, #wire do
      local r = reader(wire, piece)
      assert.equal("HTTP/1.1 200 OK\r\nA: 1", http1.read_header_block(r))
      assert.equal("body", drain(r))
    end
  end)

  it("stops at the cap, and reports how much it saw when the peer closes", function()
    local r = reader("HTTP/1.1 200 OK\r\nX: " .. ("a"):rep(http1.MAX_HEADER_BYTES) .. "\r\n\r\n", 4096)
    assert.same({ nil, "headers_too_large", http1.MAX_HEADER_BYTES }, { http1.read_header_block(r) })
    assert.same({ nil, "closed", 0 }, { http1.read_header_block(reader("")) })
    assert.same({ nil, "closed", 17 }, { http1.read_header_block(reader("HTTP/1.1 200 OK\r\n")) })
  end)
end)

describe("http1.read_chunked", function()
  it("decodes chunks of any hex case, skips extensions and drops trailers", function()
    local wire = "5\r\nhello\r\nA;name=value;x\r\n, world!!!\r\n"
              .. "1 ; ext=\"q\"\r\n.\r\n0\r\nTrailer: t\r\nOther: u\r\n\r\nNEXT"
    for _, piece in ipairs { 1, 2, 3, 7, 64 } do
      local r = reader(wire, piece)
      assert.equal("hello, world!!!.", http1.read_chunked(r, 1024))
      assert.equal("NEXT", drain(r)) -- nothing after the answer is eaten
    end
    assert.equal("abcdefghijklmnop", http1.read_chunked(reader("10\r\nabcdefghijklmnop\r\n0\r\n\r\n"), 16))
    assert.equal("", http1.read_chunked(reader("0\r\n\r\n"), 0))
  end)

  it("refuses bad sizes, a missing CRLF, an early close and oversized parts", function()
    local cases = {
      { "g\r\nx\r\n0\r\n\r\n", "malformed" }, { "\r\n", "malformed" },
      { "-1\r\n", "malformed" }, { "123456789\r\n", "malformed" },
      { "0x5\r\nhello\r\n0\r\n\r\n", "malformed" },
      { "5\r\nhelloXX0\r\n\r\n", "malformed" },
      { "5\r\nhel", "closed" }, { "5\r\nhello\r\n", "closed" },
      { ("1"):rep(2000) .. "\r\n", "malformed" }, -- a size line over 1 KiB
    }
    for _, c in ipairs(cases) do
      local body, code = http1.read_chunked(reader(c[1], 3), 1024)
      assert.same({ nil, c[2] }, { body, code }, c[1])
    end
    -- the cap is checked on the size line, before the chunk is read
    local r, calls = reader("400\r\n" .. ("x"):rep(1024) .. "\r\n0\r\n\r\n", 8)
    local body, code, msg = http1.read_chunked(r, 1023)
    assert.same({ nil, "body_too_large", "response body exceeds the 1023 byte limit" }, { body, code, msg })
    assert.equal(1, calls())
    local trailers = "0\r\n" .. ("T: " .. ("v"):rep(1000) .. "\r\n"):rep(70) .. "\r\n"
    assert.same({ nil, "headers_too_large" }, { http1.read_chunked(reader(trailers, 4096), 1024) })
  end)
end)

describe("http1.read_body", function()
  it("frames by Content-Length, chunked, 204/304 or the close, and says what can be pooled", function()
    local r = reader("abcEXTRA", 2)
    assert.same({ "abc", true }, { http1.read_body(r, 200, { ["content-length"] = "3" }, 1024) })
    assert.equal("EXTRA", drain(r)) -- never read past the length
    assert.same({ "", true }, { body_of("", { ["content-length"] = "0" }) })
    assert.same({ "all of it", false }, { body_of("all of it", {}, 1024, 2) })
    assert.same({ "ab", true }, { body_of("2\r\nab\r\n0\r\n\r\n", { ["transfer-encoding"] = "chunked" }) })
    -- chunked wins over a Content-Length, but such an answer is not pooled
    assert.same({ "ab", false }, { body_of("2\r\nab\r\n0\r\n\r\n",
      { ["transfer-encoding"] = "gzip, Chunked", ["content-length"] = "99" }) })
    r = reader("ignored")
    assert.same({ "", true }, { http1.read_body(r, 204, { ["content-length"] = "7" }, 1024) })
    assert.same({ "", true }, { http1.read_body(r, 304, {}, 1024) })
  end)

  it("refuses a bad Content-Length, a short body and a body over the cap", function()
    for _, len in ipairs { "-1", "1.5", "0x10", "", "3, 3", "1234567890123456" } do
      assert.same({ nil, "malformed" }, { body_of("abc", { ["content-length"] = len }) }, len)
    end
    assert.same({ nil, "closed" }, { body_of("ab", { ["content-length"] = "3" }) })
    local msg = "response body exceeds the 4 byte limit"
    assert.same({ nil, "body_too_large", msg }, { body_of("abcde", { ["content-length"] = "5" }, 4) })
    assert.same({ nil, "body_too_large", msg }, { body_of("abcde", {}, 4, 1) })
    -- a transfer coding other than chunked is read to the close, never by its length
    assert.same({ "abcdef", false }, { body_of("abcdef", { ["transfer-encoding"] = "gzip",
                                                             ["content-length"] = "2" }) })
  end)
end)

describe("http1.has_token", function()
  it("finds a token in a comma list, in any case, ignoring spaces", function()
    assert.is_true(http1.has_token("keep-alive, Close", "close"))
    assert.is_true(http1.has_token(" chunked ", "chunked"))
    assert.is_false(http1.has_token("closed, xclose", "close"))
    assert.is_false(http1.has_token(nil, "close"))
  end)
end)
