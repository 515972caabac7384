-- url.resolve against every example of RFC 3986 section 5.4 (a strict
-- parser: "http:g" keeps its scheme), joined back with the fragment.
local url = require "vonage.url"

local BASE = "http://a/b/c/d;p?q"

local function resolved(ref)
  local t = url.resolve(BASE, ref)
  return url.join(t) .. (t.fragment and ("#" .. t.fragment) or "")
end

local NORMAL = {
  { "g:h", "g:h" }, { "g", "http://a/b/c/g" }, { "./g", "http://a/b/c/g" },
  { "g/", "http://a/b/c/g/" }, { "/g", "http://a/g" }, { "//g", "http://g" },
  { "?y", "http://a/b/c/d;p?y" }, { "g?y", "http://a/b/c/g?y" },
  { "#s", "http://a/b/c/d;p?q#s" }, { "g#s", "http://a/b/c/g#s" },
  { "g?y#s", "http://a/b/c/g?y#s" }, { ";x", "http://a/b/c/;x" },
  { "g;x", "http://a/b/c/g;x" }, { "g;x?y#s", "http://a/b/c/g;x?y#s" },
  { "", "http://a/b/c/d;p?q" }, { ".", "http://a/b/c/" }, { "./", "http://a/b/c/" },
  { "..", "http://a/b/" }, { "../", "http://a/b/" }, { "../g", "http://a/b/g" },
  { "../..", "http://a/" }, { "../../", "http://a/" }, { "../../g", "http://a/g" },
}

local ABNORMAL = {
  { "../../../g", "http://a/g" }, { "../../../../g", "http://a/g" },
  { "/./g", "http://a/g" }, { "/../g", "http://a/g" },
  { "g.", "http://a/b/c/g." }, { ".g", "http://a/b/c/.g" },
  { "g..", "http://a/b/c/g.." }, { "..g", "http://a/b/c/..g" },
  { "./../g", "http://a/b/g" }, { "./g/.", "http://a/b/c/g/" },
  { "g/./h", "http://a/b/c/g/h" }, { "g/../h", "http://a/b/c/h" },
  { "g;x=1/./y", "http://a/b/c/g;x=1/y" }, { "g;x=1/../y", "http://a/b/c/y" },
  { "g?y/./x", "http://a/b/c/g?y/./x" }, { "g?y/../x", "http://a/b/c/g?y/../x" },
  { "g#s/./x", "http://a/b/c/g#s/./x" }, { "g#s/../x", "http://a/b/c/g#s/../x" },
  { "http:g", "http:g" },
}

describe("url.resolve (RFC 3986 5.4, base " .. BASE .. ")", function()
  for _, group in ipairs { { "normal", NORMAL }, { "abnormal", ABNORMAL } } do
    it("resolves every " .. group[1] .. " example", function()
      for _, case in ipairs(group[2]) do
        assert.equal(case[2], resolved(case[1]), case[1])
      end
      assert.equal(group[1] == "normal" and 23 or 19, #group[2])
    end)
  end
end)
