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
