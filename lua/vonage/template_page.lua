-- vonage.template_page: one page of templates or of a template's fragments.
-- C (src/vn_template_page.c) holds its fields: page, page_size, total_pages,
-- total_items, kind, template_id, client, #page and page[i]. This file lists
-- every method it has.
local core = require "vonage.core"
local templates = require "vonage.templates"

local pairs, sort = pairs, table.sort

local M = {}

local METHODS = {
  -- page:next(), page:prev(), page:first(), page:last()
  --   -> vonage.template_page | nil (no such page) | nil, msg, err
  next = templates.next,
  prev = templates.prev,
  first = templates.first,
  last = templates.last,
  ipairs = templates.ipairs, -- for i, item in page:ipairs() do
  items = templates.items,   -- page:items() -> a new plain list
}
core.template_page_class(METHODS) -- once: no code loaded later adds or replaces one

-- methods() -> a new sorted list of the method names
function M.methods()
  local names = {}
  for name in pairs(METHODS) do names[#names + 1] = name end
  sort(names)
  return names
end

return M
