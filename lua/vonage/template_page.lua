--- vonage.template_page: one page of templates or of a template's fragments
-- (client:template_page, client:template_fragment_page). C
-- (src/vn_template_page.c) holds its fields: `page`, `page_size`,
-- `total_pages`, `total_items`, `kind`, `template_id`, `client`, `#page` and
-- `page[i]` (plain tables). This file lists every method it has; they are
-- documented in vonage.templates (template_page:next, ...).
-- @module vonage.template_page
local core = require "vonage.core"
local templates = require "vonage.templates"

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
--- A new sorted list of the template_page's method names (METHODS above).
-- @treturn {string,...}
-- @function methods
M.methods = core.template_page_class(METHODS)

return M
