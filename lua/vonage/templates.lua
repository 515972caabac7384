--- Custom templates and template fragments (Verify v2): create, read, update,
-- delete; lists come back as vonage.template_page userdata (C), and
-- client:templates() / client:template_fragments(id) walk every page.
-- Plain functions: lua/vonage/client.lua and lua/vonage/template_page.lua
-- list them as methods.
-- @module vonage.templates
local core = require "vonage.core"
local api = require "vonage.api"
local json = require "vonage.json"
local errors = require "vonage.errors"
local validate = require "vonage.validate"

local rules = validate.rules
local type, ipairs, error, format, concat = type, ipairs, error, string.format, table.concat

local M = {}

local TEMPLATES = "/v2/verify/templates"
-- Rows of the one table of limits (src/vn_limits.h).
local LIMITS = core.limits()
local PAGE_LIMIT, PAGE_SIZE, PAGE_COUNT, MAX_PAGES = LIMITS.page, LIMITS.page_size, LIMITS.page_count, LIMITS.max_pages
local MAX_PAGE_SIZE = PAGE_SIZE.max

-- The variables a fragment's text may use, from the reference.
local RESERVED = { code = true, brand = true, ["time-limit"] = true, ["time-limit-unit"] = true }

local function template_text(v)
  if v == "" then return "must not be empty" end
  for name in v:gmatch("%${([^}]*)}") do
    if not RESERVED[name] then
      return "may only use the variables ${code}, ${brand}, ${time-limit} and ${time-limit-unit}"
    end
  end
end

local TEXT = { "string", template_text, required = true }
local PAGE = {
  page = { "integer", rules.range(PAGE_LIMIT.min, PAGE_LIMIT.max) },
  page_size = { "integer", rules.range(PAGE_SIZE.min, PAGE_SIZE.max) },
}
local CREATE_TEMPLATE = { name = { "string", rules.length(1, 64), required = true } }
local UPDATE_TEMPLATE = { name = { "string", rules.length(1, 64) }, is_default = { "boolean" } }
local CREATE_FRAGMENT = {
  channel = { "string", rules.one_of { "sms", "voice" }, required = true },
  locale = { "string", rules.pattern("^%l%l%l?%-[%l%d][%l%d][%l%d]?$", "must be a lowercase locale like en-us"),
             required = true },
  text = TEXT,
}
local UPDATE_FRAGMENT = { text = TEXT }

-- What each kind of page holds: the list's key under _embedded, the item's
-- id field, and the op name errors carry.
local KINDS = {
  templates = { key = "templates", id = "template_id", op = "template_page" },
  fragments = { key = "template_fragments", id = "template_fragment_id", op = "template_fragment_page" },
}

-- Ids go into a URL path: a UUID or a validation error, before any I/O.
local function check_id(op, field, id)
  local ok, msg, err = validate.required(op, field, id)
  if not ok then return nil, msg, err end
  validate.typed(op, field, id, "string")
  if not validate.is_uuid(id) then return errors.invalid(op, field, "must be a UUID") end
  return true
end

local function fragments_path(template_id)
  return TEMPLATES .. "/" .. template_id .. "/template_fragments"
end

-- An item of the API (a template or a fragment), checked for its id.
local function check_item(kind, item)
  return type(item) == "table" and validate.is_uuid(item[KINDS[kind].id])
end

-- One object answer (create, get, update): the decoded item, checked.
local function item_call(client, op, kind, method, path, payload)
  local status, body, err = api.call(client, { op = op, method = method, host = "api_host",
                                                    path = path, payload = payload })
  if not status then return nil, body, err end
  if not check_item(kind, body) then
    return errors.bad_response(op, status, format("HTTP %d without a valid %s", status, KINDS[kind].id))
  end
  return body
end

local function delete_call(client, op, path)
  local status, body, err = api.call(client, { op = op, method = "DELETE", host = "api_host", path = path })
  if not status then return nil, body, err end
  return true
end

-- -------------------------------------------------------------------------
-- Pages
-- -------------------------------------------------------------------------

-- fetch_page(client, kind, template_id | nil, page | nil, page_size | nil)
--   -> vonage.template_page | nil, msg, err
-- Page numbers go out through json.integer: "page=2", never "page=2.0".
local function fetch_page(client, kind, template_id, page, page_size)
  local k = KINDS[kind]
  local op = k.op
  local query = {}
  if page then query[#query + 1] = "page=" .. json.integer(page) end
  if page_size then query[#query + 1] = "page_size=" .. json.integer(page_size) end
  local path = template_id and fragments_path(template_id) or TEMPLATES
  if query[1] then path = path .. "?" .. concat(query, "&") end

  local status, body, err = api.call(client, { op = op, method = "GET", host = "api_host", path = path })
  if not status then return nil, body, err end
  if type(body) ~= "table" then return errors.bad_response(op, status, format("HTTP %d without a body", status)) end
  local fields = { template_id = template_id }
  for _, name in ipairs { "page", "page_size", "total_pages", "total_items" } do
    local n = json.integer(body[name])
    if not n or n < PAGE_COUNT.min or n > PAGE_COUNT.max then
      return errors.bad_response(op, status, format("HTTP %d without a valid %s", status, name))
    end
    fields[name] = n
  end
  local embedded, links = body._embedded, body._links
  if embedded ~= nil and type(embedded) ~= "table" then
    return errors.bad_response(op, status, format("HTTP %d with a bad _embedded", status))
  end
  if links ~= nil and type(links) ~= "table" then
    return errors.bad_response(op, status, format("HTTP %d with bad _links", status))
  end
  local list = embedded and embedded[k.key] or {} -- an empty list may be left out
  if type(list) ~= "table" then
    return errors.bad_response(op, status, format("HTTP %d with a bad %s list", status, k.key))
  end
  local items = {}
  for i, item in ipairs(list) do
    if not check_item(kind, item) then
      return errors.bad_response(op, status, format("HTTP %d with %s[%d] lacking a valid %s", status, k.key, i, k.id))
    end
    items[i] = item
  end
  fields.items, fields._links = items, links
  return core.template_page_new(client, kind, fields)
end

-- The page number the neighbour `which` of page has, or nil when it has none.
-- next/prev exist when the server links them; the number is counted here,
-- never read from the href, so the request always goes to the client's own
-- api_host with its credentials.
local function neighbour(page, which)
  local links, at, last = page._links or {}, page.page, page.total_pages
  if which == "next" then return type(links.next) == "table" and at + 1 or nil end
  if which == "prev" then return type(links.prev) == "table" and at > 1 and at - 1 or nil end
  if last < 1 then return nil end
  return which == "first" and 1 or last
end

--- The next page, fetched.
-- @function template_page:next
-- @treturn template_page
-- @return nil when there is no such page
-- @return nil, msg, err on failure
-- @usage while page do for _, t in page:ipairs() do print(t.name) end page = page:next() end

--- The previous page, fetched.
-- @function template_page:prev
-- @treturn template_page
-- @return nil when there is no such page; nil, msg, err on failure

--- The first page, fetched.
-- @function template_page:first
-- @treturn template_page
-- @return nil when there are no pages; nil, msg, err on failure

--- The last page, fetched.
-- @function template_page:last
-- @treturn template_page
-- @return nil when there are no pages; nil, msg, err on failure
for _, which in ipairs { "next", "prev", "first", "last" } do
  M[which] = function(page)
    local n = neighbour(page, which)
    if not n then return nil end
    local size = page.page_size
    return fetch_page(page.client, page.kind, page.template_id, n, size > 0 and size or nil)
  end
end

--- Iterates over this page's items: `for i, item in page:ipairs() do`
-- (ipairs(page) itself works only under Lua 5.3+, where ipairs respects __index).
-- @function template_page:ipairs
-- @treturn function an iterator giving i, item
function M.ipairs(page)
  local i, n = 0, #page
  return function()
    if i < n then
      i = i + 1
      return i, page[i]
    end
  end
end

--- A new plain list of this page's items (sortable, serialisable).
-- @function template_page:items
-- @treturn table
function M.items(page)
  local out = {}
  for i = 1, #page do out[i] = page[i] end
  return out
end

-- walk(client, op, kind, template_id, opts) -> iterator over every item of
-- every page. A failed fetch, or a `next` link still there after max_pages
-- pages, raises the vonage.error: a for loop has no way to return it.
local function walk(client, op, kind, template_id, opts)
  opts = opts or {}
  validate.typed(op, "options", opts, "table")
  validate.known_fields(op, opts, { page_size = true, max_pages = true })
  validate.typed(op, "page_size", opts.page_size, "integer")
  validate.typed(op, "max_pages", opts.max_pages, "integer")
  local page_size, max_pages = opts.page_size, opts.max_pages or client.max_pages
  if page_size and (page_size < PAGE_SIZE.min or page_size > MAX_PAGE_SIZE) then
    errors.misuse(op, format("page_size must be between %d and %d", PAGE_SIZE.min, MAX_PAGE_SIZE))
  end
  if max_pages < MAX_PAGES.min or max_pages > MAX_PAGES.max then
    errors.misuse(op, format("max_pages must be between %d and %d", MAX_PAGES.min, MAX_PAGES.max))
  end

  local page, fetched, i = nil, 0, 0
  local function fetch(n)
    local result, _, err = fetch_page(client, kind, template_id, n, page_size)
    if not result then error(err, 0) end
    page, fetched, i = result, fetched + 1, 0
  end
  return function()
    if not page then fetch(1) end
    while true do
      i = i + 1
      local item = page[i]
      if item then return item end
      local n = neighbour(page, "next")
      if not n then return nil end
      if fetched >= max_pages then
        local _, _, err = errors.fail("http", "too_many_pages", format("%s: stopped after %d pages: "
          .. "the server still links a next page (max_pages)", op, max_pages))
        error(err, 0)
      end
      fetch(n)
    end
  end
end

-- -------------------------------------------------------------------------
-- Templates
-- -------------------------------------------------------------------------

--- One page of the account's custom templates.
-- @function client:template_page
-- @tparam[opt] table opts `page` (from 1), `page_size` (1..100)
-- @treturn template_page
-- @return nil, msg, err on failure
-- @usage local page = assert(client:template_page { page_size = 10 })
-- print(#page, page[1].name, page.total_items)
function M.template_page(client, opts)
  local op = "template_page"
  opts = opts or {}
  validate.typed(op, "options", opts, "table")
  local ok, msg, err = validate.check(op, opts, PAGE)
  if not ok then return nil, msg, err end
  return fetch_page(client, "templates", nil, opts.page, opts.page_size)
end

--- Iterates over every template of every page. A failed fetch, or a `next`
-- link still there after max_pages pages (`too_many_pages`), raises the err.
-- @function client:templates
-- @tparam[opt] table opts `page_size` (1..100), `max_pages` (the client's, 100)
-- @treturn function an iterator giving each template (a plain table)
-- @usage for t in client:templates() do print(t.template_id, t.name) end
function M.templates(client, opts)
  return walk(client, "templates", "templates", nil, opts)
end

--- Creates a custom template.
-- @function client:create_template
-- @tparam table params `name` (required)
-- @treturn table the template (`template_id`, `name`, `is_default`, ...)
-- @return nil, msg, err on failure (`template_exists`, `max_templates`, ...)
-- @usage local t = assert(client:create_template { name = "login" })
function M.create_template(client, params)
  local op = "create_template"
  validate.typed(op, "argument", params, "table", true)
  local ok, msg, err = validate.check(op, params, CREATE_TEMPLATE)
  if not ok then return nil, msg, err end
  return item_call(client, op, "templates", "POST", TEMPLATES, { name = params.name })
end

--- Reads one template.
-- @function client:get_template
-- @string template_id a UUID
-- @treturn table the template
-- @return nil, msg, err on failure (`template_not_found`, `invalid_params`, ...)
function M.get_template(client, template_id)
  local op = "get_template"
  local ok, msg, err = check_id(op, "template_id", template_id)
  if not ok then return nil, msg, err end
  return item_call(client, op, "templates", "GET", TEMPLATES .. "/" .. template_id)
end

--- Updates a template.
-- @function client:update_template
-- @string template_id a UUID
-- @tparam table params `name`, `is_default`
-- @treturn table the template
-- @return nil, msg, err on failure (`template_not_found`, `invalid_params`, ...)
function M.update_template(client, template_id, params)
  local op = "update_template"
  validate.typed(op, "argument", params, "table", true)
  if params.name == nil and params.is_default == nil then
    errors.misuse(op, "give name, is_default or both")
  end
  local ok, msg, err = check_id(op, "template_id", template_id)
  if not ok then return nil, msg, err end
  ok, msg, err = validate.check(op, params, UPDATE_TEMPLATE)
  if not ok then return nil, msg, err end
  return item_call(client, op, "templates", "PATCH", TEMPLATES .. "/" .. template_id,
                   { name = params.name, is_default = params.is_default })
end

--- Deletes a template.
-- @function client:delete_template
-- @string template_id a UUID
-- @treturn boolean true
-- @return nil, msg, err on failure (`not_empty_template` while it has fragments, ...)
function M.delete_template(client, template_id)
  local op = "delete_template"
  local ok, msg, err = check_id(op, "template_id", template_id)
  if not ok then return nil, msg, err end
  return delete_call(client, op, TEMPLATES .. "/" .. template_id)
end

-- -------------------------------------------------------------------------
-- Template fragments
-- -------------------------------------------------------------------------

--- One page of a template's fragments.
-- @function client:template_fragment_page
-- @string template_id a UUID
-- @tparam[opt] table opts `page`, `page_size` (1..100)
-- @treturn template_page
-- @return nil, msg, err on failure (`template_not_found`, `invalid_params`, ...)
function M.template_fragment_page(client, template_id, opts)
  local op = "template_fragment_page"
  opts = opts or {}
  validate.typed(op, "options", opts, "table")
  local ok, msg, err = check_id(op, "template_id", template_id)
  if not ok then return nil, msg, err end
  ok, msg, err = validate.check(op, opts, PAGE)
  if not ok then return nil, msg, err end
  return fetch_page(client, "fragments", template_id, opts.page, opts.page_size)
end

--- Iterates over every fragment of a template, page after page; raises as
-- client:templates does (and on a template_id that is not a UUID).
-- @function client:template_fragments
-- @string template_id a UUID
-- @tparam[opt] table opts `page_size`, `max_pages`
-- @treturn function an iterator giving each fragment
function M.template_fragments(client, template_id, opts)
  local op = "template_fragments"
  local ok, msg = check_id(op, "template_id", template_id)
  if not ok then errors.misuse(op, (msg:gsub("^[%w_]+: ", ""))) end
  return walk(client, op, "fragments", template_id, opts)
end

--- Adds a fragment (the text for one channel and locale) to a template.
-- @function client:create_template_fragment
-- @string template_id a UUID
-- @tparam table params `channel` ("sms" or "voice"...), `locale` ("en-us"), `text`
-- (may use ${code}, ${brand}, ${time-limit}, ${time-limit-unit})
-- @treturn table the fragment (`template_fragment_id`, ...)
-- @return nil, msg, err on failure (`fragment_exists`, `invalid_params`, ...)
-- @usage assert(client:create_template_fragment(t.template_id,
--   { channel = "sms", locale = "en-us", text = "${brand}: your code is ${code}" }))
function M.create_template_fragment(client, template_id, params)
  local op = "create_template_fragment"
  validate.typed(op, "argument", params, "table", true)
  local ok, msg, err = check_id(op, "template_id", template_id)
  if not ok then return nil, msg, err end
  ok, msg, err = validate.check(op, params, CREATE_FRAGMENT)
  if not ok then return nil, msg, err end
  return item_call(client, op, "fragments", "POST", fragments_path(template_id),
                   { channel = params.channel, locale = params.locale, text = params.text })
end

local function fragment_path(op, template_id, fragment_id)
  local ok, msg, err = check_id(op, "template_id", template_id)
  if not ok then return nil, msg, err end
  ok, msg, err = check_id(op, "template_fragment_id", fragment_id)
  if not ok then return nil, msg, err end
  return fragments_path(template_id) .. "/" .. fragment_id
end

--- Reads one fragment.
-- @function client:get_template_fragment
-- @string template_id a UUID
-- @string fragment_id a UUID
-- @treturn table the fragment
-- @return nil, msg, err on failure (`template_fragment_not_found`, ...)
function M.get_template_fragment(client, template_id, fragment_id)
  local op = "get_template_fragment"
  local path, msg, err = fragment_path(op, template_id, fragment_id)
  if not path then return nil, msg, err end
  return item_call(client, op, "fragments", "GET", path)
end

--- Updates a fragment's text.
-- @function client:update_template_fragment
-- @string template_id a UUID
-- @string fragment_id a UUID
-- @tparam table params `text`
-- @treturn table the fragment
-- @return nil, msg, err on failure
function M.update_template_fragment(client, template_id, fragment_id, params)
  local op = "update_template_fragment"
  validate.typed(op, "argument", params, "table", true)
  local path, msg, err = fragment_path(op, template_id, fragment_id)
  if not path then return nil, msg, err end
  local ok
  ok, msg, err = validate.check(op, params, UPDATE_FRAGMENT)
  if not ok then return nil, msg, err end
  return item_call(client, op, "fragments", "PATCH", path, { text = params.text })
end

--- Deletes a fragment.
-- @function client:delete_template_fragment
-- @string template_id a UUID
-- @string fragment_id a UUID
-- @treturn boolean true
-- @return nil, msg, err on failure
function M.delete_template_fragment(client, template_id, fragment_id)
  local op = "delete_template_fragment"
  local path, msg, err = fragment_path(op, template_id, fragment_id)
  if not path then return nil, msg, err end
  return delete_call(client, op, path)
end

return M
