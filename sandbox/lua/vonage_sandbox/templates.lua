-- Custom templates and template fragments, with the rules the reference
-- gives: at most 10 templates, names unique, one default, one fragment per
-- channel and locale, only empty templates can be deleted; HAL _links back
-- at the sandbox; page/page_size pagination. A verification's SMS (or voice
-- call) is rendered from the matching fragment by render().
--
-- Two control switches (POST /_sandbox/templates): `forbidden` makes every
-- write answer 403 #forbidden, as for an account without the feature (reads
-- still work, as the reference says); `endless_next` puts a `next` link on
-- every list page, even past the last, so clients' page caps can be tested.
local http = require "vonage_sandbox.http"
local json = require "vonage_sandbox.json"
local problem = require "vonage_sandbox.problem"
local state = require "vonage_sandbox.state"

local ngx = ngx
local type, pairs, ipairs, tonumber, tostring = type, pairs, ipairs, tonumber, tostring
local ceil, max, min = math.ceil, math.max, math.min
local format, os_date = string.format, os.date
local remove = table.remove

local M = {}

local MAX_TEMPLATES = 10
local DEFAULT_PAGE_SIZE = 10
local MAX_PAGE_SIZE = 100
local RESERVED = { code = true, brand = true, ["time-limit"] = true, ["time-limit-unit"] = true }
local BASE_PATH = "/v2/verify/templates"

---------------------------------------------------------------------------
-- Lookups and views
---------------------------------------------------------------------------

local function find_template(id)
    for i, template in ipairs(state.templates) do
        if template.template_id == id then
            return template, i
        end
    end
end
M.find = find_template

local function find_fragment(template, id)
    for i, fragment in ipairs(template.fragments) do
        if fragment.template_fragment_id == id then
            return fragment, i
        end
    end
end

local function iso8601(t)
    return os_date("!%Y-%m-%dT%H:%M:%SZ", t)
end

local function link(path)
    return { href = http.base_url() .. path }
end

local function template_path(template)
    return BASE_PATH .. "/" .. template.template_id
end

local function fragment_path(template, fragment)
    return template_path(template) .. "/template_fragments/" .. fragment.template_fragment_id
end

local function template_view(template)
    return {
        template_id = template.template_id,
        name = template.name,
        is_default = template.is_default,
        _links = {
            self = link(template_path(template)),
            fragments = link(template_path(template) .. "/template_fragments"),
        },
    }
end

local function fragment_view(template, fragment)
    return {
        template_fragment_id = fragment.template_fragment_id,
        channel = fragment.channel,
        locale = fragment.locale,
        text = fragment.text,
        date_created = iso8601(fragment.created_at),
        date_updated = iso8601(fragment.updated_at),
        _links = {
            self = link(fragment_path(template, fragment)),
            template = link(template_path(template)),
        },
    }
end

---------------------------------------------------------------------------
-- Input checks: each returns the reason a value is refused, or nil
---------------------------------------------------------------------------

local invalid = problem.invalid

local function check_name(name)
    if type(name) ~= "string" or #name < 1 or #name > 64 then
        return "must be a string of 1 to 64 characters"
    end
end

local function check_text(text)
    if type(text) ~= "string" or text == "" then
        return "must be a non-empty string"
    end
    for variable in text:gmatch("%${([^}]*)}") do
        if not RESERVED[variable] then
            return "may only use ${code}, ${brand}, ${time-limit} and ${time-limit-unit}"
        end
    end
end

-- page_arg(args, name, default, limit) -> n | nil, reason: a positive
-- integer query argument, written in digits only ("2", never "2.0")
local function page_arg(args, name, default, limit)
    local value = args[name]
    if value == nil then
        return default
    end
    if type(value) ~= "string" or not value:find("^%d+$") then
        return nil, "must be a positive integer"
    end
    local n = tonumber(value)
    if n < 1 or n > limit then
        return nil, format("must be between 1 and %d", limit)
    end
    return n
end

---------------------------------------------------------------------------
-- Route wrappers: each checks one thing, in the order they are nested, and
-- hands the handler what it resolved
---------------------------------------------------------------------------

local with_body = http.with_body

-- Writes need the feature; reads work without it, as the reference says.
-- write(handler) -> the handler, answering 403 while the switch is on.
local function write(handler)
    return function(...)
        if state.template_switches.forbidden then
            return problem.verify("forbidden")
        end
        return handler(...)
    end
end

-- with_template(handler): (ctx, template_id, ...) becomes
-- handler(ctx, template, index, ...), or a 404
local function with_template(handler)
    return function(ctx, id, ...)
        local template, index = find_template(id)
        if not template then
            return problem.verify("template-not-found")
        end
        return handler(ctx, template, index, ...)
    end
end

-- with_fragment(handler): (ctx, template_id, fragment_id) becomes
-- handler(ctx, template, fragment, index), or a 404 (the template's first)
local function with_fragment(handler)
    return with_template(function(ctx, template, _, fragment_id)
        local fragment, index = find_fragment(template, fragment_id)
        if not fragment then
            return problem.verify("template-fragment-not-found")
        end
        return handler(ctx, template, fragment, index)
    end)
end

---------------------------------------------------------------------------
-- Pagination
---------------------------------------------------------------------------

-- list(all, key, path, view) -> 200, a HAL page of `all` under _embedded[key]
local function list(all, key, path, view)
    local args = ngx.req.get_uri_args()
    local page, why = page_arg(args, "page", 1, 1000000)
    if not page then
        return invalid("page", why)
    end
    local page_size
    page_size, why = page_arg(args, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_size then
        return invalid("page_size", why)
    end
    local total_items = #all
    local total_pages = ceil(total_items / page_size)
    local items = json.array()
    for i = (page - 1) * page_size + 1, min(page * page_size, total_items) do
        items[#items + 1] = view(all[i])
    end
    local function page_link(n)
        return link(format("%s?page=%d&page_size=%d", path, n, page_size))
    end
    local links = {
        self = page_link(page),
        first = page_link(1),
        last = page_link(max(total_pages, 1)),
    }
    if page > 1 then
        links.prev = page_link(page - 1)
    end
    if page < total_pages or state.template_switches.endless_next then
        links.next = page_link(page + 1)
    end
    return 200, {
        page = page,
        page_size = page_size,
        total_pages = total_pages,
        total_items = total_items,
        _embedded = { [key] = items },
        _links = links,
    }
end

---------------------------------------------------------------------------
-- Templates
---------------------------------------------------------------------------

local function name_taken(name, except)
    for _, template in ipairs(state.templates) do
        if template.name == name and template ~= except then
            return true
        end
    end
end

-- GET /v2/verify/templates
local function list_templates()
    return list(state.templates, "templates", BASE_PATH, template_view)
end

-- POST /v2/verify/templates { name }
local function create_template(_, body)
    local why = check_name(body.name)
    if why then
        return invalid("name", why)
    end
    if name_taken(body.name) then
        return problem.verify("template-exists")
    end
    if #state.templates >= MAX_TEMPLATES then
        return problem.verify("max-templates")
    end
    local template = {
        template_id = problem.uuid(),
        name = body.name,
        is_default = false,
        fragments = {},
    }
    state.templates[#state.templates + 1] = template
    return 200, template_view(template)
end

-- GET /v2/verify/templates/:id
local function get_template(_, template)
    return 200, template_view(template)
end

-- PATCH /v2/verify/templates/:id { name?, is_default? }
local function update_template(_, body, template)
    if body.name ~= nil then
        local why = check_name(body.name)
        if why then
            return invalid("name", why)
        end
        if name_taken(body.name, template) then
            return problem.verify("template-exists")
        end
    end
    if body.is_default ~= nil and type(body.is_default) ~= "boolean" then
        return invalid("is_default", "must be a boolean")
    end
    template.name = body.name or template.name
    if body.is_default then
        -- One default per account: promoting this one demotes the other.
        for _, other in ipairs(state.templates) do
            other.is_default = false
        end
    end
    if body.is_default ~= nil then
        template.is_default = body.is_default
    end
    return 200, template_view(template)
end

-- DELETE /v2/verify/templates/:id
local function delete_template(_, template, index)
    if #template.fragments > 0 then
        return problem.verify("not-empty-template")
    end
    remove(state.templates, index)
    return 204
end

---------------------------------------------------------------------------
-- Fragments
---------------------------------------------------------------------------

-- GET /v2/verify/templates/:id/template_fragments
local function list_fragments(_, template)
    return list(template.fragments, "template_fragments", template_path(template) .. "/template_fragments",
        function(fragment)
            return fragment_view(template, fragment)
        end)
end

-- POST /v2/verify/templates/:id/template_fragments { channel, locale, text }
local function create_fragment(ctx, body, template)
    if body.channel ~= "sms" and body.channel ~= "voice" then
        return invalid("channel", "must be one of: sms, voice")
    end
    if type(body.locale) ~= "string" or not body.locale:find("^%l%l%l?%-[%l%d][%l%d][%l%d]?$") then
        return invalid("locale", "must be a lowercase locale like en-us")
    end
    local why = check_text(body.text)
    if why then
        return invalid("text", why)
    end
    for _, fragment in ipairs(template.fragments) do
        if fragment.channel == body.channel and fragment.locale == body.locale then
            return problem.verify("fragment-exists")
        end
    end
    local fragment = {
        template_fragment_id = problem.uuid(),
        channel = body.channel,
        locale = body.locale,
        text = body.text,
        created_at = ctx.now,
        updated_at = ctx.now,
    }
    template.fragments[#template.fragments + 1] = fragment
    return 200, fragment_view(template, fragment)
end

-- GET /v2/verify/templates/:id/template_fragments/:fragment_id
local function get_fragment(_, template, fragment)
    return 200, fragment_view(template, fragment)
end

-- PATCH /v2/verify/templates/:id/template_fragments/:fragment_id { text }
local function update_fragment(ctx, body, template, fragment)
    local why = check_text(body.text)
    if why then
        return invalid("text", why)
    end
    fragment.text = body.text
    fragment.updated_at = ctx.now
    return 200, fragment_view(template, fragment)
end

-- DELETE /v2/verify/templates/:id/template_fragments/:fragment_id
local function delete_fragment(_, template, _, index)
    remove(template.fragments, index)
    return 204
end

---------------------------------------------------------------------------
-- Rendering a verification's message
---------------------------------------------------------------------------

-- "${time-limit} ${time-limit-unit}" for a step that lasts `seconds`
local function time_limit(seconds)
    if seconds % 60 == 0 then
        local minutes = seconds / 60
        return tostring(minutes), minutes == 1 and "minute" or "minutes"
    end
    return tostring(seconds), "seconds"
end

-- render(req, channel, code) -> text | nil: the message from the request's
-- template (or the account's default template when it names none), using
-- the fragment for the channel and the request's locale. rcs sends the sms
-- fragment. nil when no fragment matches: the standard text goes out.
function M.render(req, channel, code)
    local template
    if req.template_id then
        template = find_template(req.template_id)
    else
        for _, candidate in ipairs(state.templates) do
            if candidate.is_default then
                template = candidate
            end
        end
    end
    if not template then
        return nil
    end
    local wanted = channel == "rcs" and "sms" or channel
    local locale = req.locale:lower()
    for _, fragment in ipairs(template.fragments) do
        if fragment.channel == wanted and fragment.locale == locale then
            local limit, unit = time_limit(req.channel_timeout)
            local values = { code = code, brand = req.brand, ["time-limit"] = limit, ["time-limit-unit"] = unit }
            return (fragment.text:gsub("%${([^}]*)}", values))
        end
    end
end

---------------------------------------------------------------------------
-- Control: GET/POST /_sandbox/templates { forbidden?, endless_next? }
---------------------------------------------------------------------------

local function switches()
    return 200, state.template_switches
end

local function set_switches(_, body)
    for name, value in pairs(body) do
        if state.template_switches[name] == nil then
            return invalid(name, "is not a switch (forbidden, endless_next)")
        end
        if type(value) ~= "boolean" then
            return invalid(name, "must be a boolean")
        end
    end
    for name, value in pairs(body) do
        state.template_switches[name] = value
    end
    return switches()
end

-- Before verify.lua's /v2/verify/:id patterns, which would take these paths.
M.routes = {
    { "GET", "^/_sandbox/templates$", switches },
    { "POST", "^/_sandbox/templates$", with_body(set_switches) },
    { "GET", "^/v2/verify/templates$", list_templates, auth = true },
    { "POST", "^/v2/verify/templates$", write(with_body(create_template)), auth = true },
    { "GET", "^/v2/verify/templates/([^/]+)$", with_template(get_template), auth = true },
    { "PATCH", "^/v2/verify/templates/([^/]+)$", write(with_template(with_body(update_template))), auth = true },
    { "DELETE", "^/v2/verify/templates/([^/]+)$", write(with_template(delete_template)), auth = true },
    { "GET", "^/v2/verify/templates/([^/]+)/template_fragments$", with_template(list_fragments), auth = true },
    { "POST", "^/v2/verify/templates/([^/]+)/template_fragments$",
        write(with_template(with_body(create_fragment))), auth = true },
    { "GET", "^/v2/verify/templates/([^/]+)/template_fragments/([^/]+)$", with_fragment(get_fragment), auth = true },
    { "PATCH", "^/v2/verify/templates/([^/]+)/template_fragments/([^/]+)$",
        write(with_fragment(with_body(update_fragment))), auth = true },
    { "DELETE", "^/v2/verify/templates/([^/]+)/template_fragments/([^/]+)$",
        write(with_fragment(delete_fragment)), auth = true },
}

return M
