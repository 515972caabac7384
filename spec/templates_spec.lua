local vonage = require "vonage"
local H = require "spec.helper"

local UNKNOWN = "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

local function switches(t)
  local status, body = H.control("POST", "/_sandbox/templates", t)
  assert(status == 200, "switches: " .. tostring(status))
  return body
end

local function names(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t.name end
  return out
end

-- n templates named tpl-01 ... tpl-nn, in creation order
local function make_templates(client, n)
  local made = {}
  for i = 1, n do
    made[i] = assert(client:create_template { name = string.format("tpl-%02d", i) })
  end
  return made
end

describe("custom templates and template fragments", function()
  local client
  before_each(function()
    H.reset()
    client = H.client()
  end)

  it("creates, reads, renames, makes default and deletes a template", function()
    local t, msg = client:create_template { name = "login" }
    assert.is_nil(msg)
    assert.truthy(t.template_id:match("^%x+%-%x+%-%x+%-%x+%-%x+$"))
    assert.equal("login", t.name)
    assert.is_false(t.is_default)
    assert.equal(H.url .. "/v2/verify/templates/" .. t.template_id, t._links.self.href)
    assert.equal(H.url .. "/v2/verify/templates/" .. t.template_id .. "/template_fragments",
                 t._links.fragments.href)

    assert.same(t, client:get_template(t.template_id))

    local renamed = assert(client:update_template(t.template_id, { name = "signup", is_default = true }))
    assert.equal("signup", renamed.name)
    assert.is_true(renamed.is_default)
    -- a second default demotes the first
    local other = assert(client:create_template { name = "other" })
    assert.is_true(assert(client:update_template(other.template_id, { is_default = true })).is_default)
    assert.is_false(client:get_template(t.template_id).is_default)

    assert.is_true(client:delete_template(t.template_id))
    local gone, gmsg, err = client:get_template(t.template_id)
    assert.is_nil(gone)
    assert.equal("template_not_found", err.code)
    assert.equal(404, err.status)
    assert.equal("api", err.kind)
    assert.truthy(gmsg:find("^get_template: HTTP 404"))
  end)

  it("creates, reads, updates, lists and deletes fragments, dated by the virtual clock", function()
    local t = assert(client:create_template { name = "login" })
    local f, msg = client:create_template_fragment(t.template_id, {
      channel = "sms", locale = "en-us", text = "Your ${brand} code: ${code}" })
    assert.is_nil(msg)
    assert.equal("sms", f.channel)
    assert.equal("en-us", f.locale)
    assert.equal("Your ${brand} code: ${code}", f.text)
    assert.equal(f.date_created, f.date_updated)
    assert.truthy(f.date_created:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
    assert.equal(H.url .. "/v2/verify/templates/" .. t.template_id .. "/template_fragments/"
                 .. f.template_fragment_id, f._links.self.href)
    assert.equal(H.url .. "/v2/verify/templates/" .. t.template_id, f._links.template.href)
    assert.same(f, client:get_template_fragment(t.template_id, f.template_fragment_id))

    local now = H.advance(86400 * 400)
    local updated = assert(client:update_template_fragment(t.template_id, f.template_fragment_id,
      { text = "${code} is your ${brand} code" }))
    assert.equal("${code} is your ${brand} code", updated.text)
    assert.equal(f.date_created, updated.date_created)
    -- the virtual clock runs on from `now` (real time plus the offset): a slow
    -- run (valgrind) can reach the update a second or two later
    local dated_now
    for s = 0, 5 do
      dated_now = dated_now or os.date("!%Y-%m-%dT%H:%M:%SZ", now + s) == updated.date_updated
    end
    assert.is_true(dated_now, updated.date_updated .. " is not within 5 s after " .. now)

    local page = assert(client:template_fragment_page(t.template_id))
    assert.equal(1, #page)
    assert.equal(updated.template_fragment_id, page[1].template_fragment_id)
    assert.equal("vonage.template_page 1/1 (1 of 1 fragments)", tostring(page))

    assert.is_true(client:delete_template_fragment(t.template_id, f.template_fragment_id))
    local _, _, err = client:get_template_fragment(t.template_id, f.template_fragment_id)
    assert.equal("template_fragment_not_found", err.code)
    assert.equal(404, err.status)
  end)

  it("maps every template problem to a stable code", function()
    local t = assert(client:create_template { name = "dup" })
    local _, msg, err = client:create_template { name = "dup" }
    assert.equal("template_exists", err.code)
    assert.equal(409, err.status)
    assert.truthy(msg:find("already exists", 1, true))
    local other = assert(client:create_template { name = "other" })
    _, _, err = client:update_template(other.template_id, { name = "dup" })
    assert.equal("template_exists", err.code)

    assert.truthy(client:create_template_fragment(t.template_id,
      { channel = "voice", locale = "en-gb", text = "Code ${code}" }))
    _, _, err = client:create_template_fragment(t.template_id,
      { channel = "voice", locale = "en-gb", text = "Again ${code}" })
    assert.equal("fragment_exists", err.code)
    -- the same locale on the other channel is a different fragment
    assert.truthy(client:create_template_fragment(t.template_id,
      { channel = "sms", locale = "en-gb", text = "Code ${code}" }))

    _, _, err = client:delete_template(t.template_id)
    assert.equal("not_empty_template", err.code)
    assert.equal(409, err.status)

    _, _, err = client:update_template(UNKNOWN, { name = "x" })
    assert.equal("template_not_found", err.code)
    _, _, err = client:delete_template(UNKNOWN)
    assert.equal("template_not_found", err.code)
    _, _, err = client:template_fragment_page(UNKNOWN)
    assert.equal("template_not_found", err.code)
    _, _, err = client:create_template_fragment(UNKNOWN, { channel = "sms", locale = "en-us", text = "${code}" })
    assert.equal("template_not_found", err.code)
    _, _, err = client:update_template_fragment(t.template_id, UNKNOWN, { text = "${code}" })
    assert.equal("template_fragment_not_found", err.code)
    _, _, err = client:delete_template_fragment(t.template_id, UNKNOWN)
    assert.equal("template_fragment_not_found", err.code)
  end)

  it("allows at most 10 templates (max_templates)", function()
    make_templates(client, 8)
    assert.truthy(client:create_template { name = "ninth" })
    assert.truthy(client:create_template { name = "tenth" })
    local t, msg, err = client:create_template { name = "eleventh" }
    assert.is_nil(t)
    assert.equal("max_templates", err.code)
    assert.equal(409, err.status)
    assert.truthy(msg:find("maximum of 10", 1, true))
  end)

  it("answers forbidden to writes when the account lacks the feature, and still lists", function()
    local t = assert(client:create_template { name = "kept" })
    assert.same({ forbidden = true, endless_next = false }, switches { forbidden = true })
    local _, msg, err = client:create_template { name = "new" }
    assert.equal("forbidden", err.code)
    assert.equal(403, err.status)
    assert.equal("auth", err.kind)
    assert.truthy(msg:find("not enabled", 1, true))
    _, _, err = client:update_template(t.template_id, { name = "renamed" })
    assert.equal("forbidden", err.code)
    _, _, err = client:delete_template(t.template_id)
    assert.equal("forbidden", err.code)
    _, _, err = client:create_template_fragment(t.template_id, { channel = "sms", locale = "en-us", text = "${code}" })
    assert.equal("forbidden", err.code)
    assert.equal("kept", assert(client:get_template(t.template_id)).name)
    assert.equal(1, #assert(client:template_page()))
  end)

  it("validates ids as UUIDs before they reach a path, and sends nothing", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    local _, msg, err = c:get_template("../../v1/account")
    assert.equal("validation", err.kind)
    assert.equal("invalid_params", err.code)
    assert.equal("template_id", err.field)
    assert.equal("get_template: template_id must be a UUID", msg)
    _, _, err = c:delete_template_fragment(UNKNOWN, "x/../y")
    assert.equal("template_fragment_id", err.field)
    _, _, err = c:update_template("nope", { name = "x" })
    assert.equal("template_id", err.field)
    _, _, err = c:create_template_fragment("nope", { channel = "sms", locale = "en-us", text = "${code}" })
    assert.equal("template_id", err.field)
    assert.has_error(function() c:template_fragments("nope") end,
                     "vonage: template_fragments: template_id must be a UUID")
    assert.has_error(function() c:get_template(42) end)
    assert.equal(0, #t.sent)
  end)

  it("checks names, channels, locales and the reserved variables before sending", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    local _, _, err = c:create_template { name = "" }
    assert.equal("name", err.field)
    _, _, err = c:create_template { name = string.rep("n", 65) }
    assert.equal("name", err.field)
    local fields = { channel = "email", locale = "en-us", text = "${code}" }
    _, _, err = c:create_template_fragment(UNKNOWN, fields)
    assert.equal("channel", err.field)
    fields.channel, fields.locale = "sms", "EN-US"
    _, _, err = c:create_template_fragment(UNKNOWN, fields)
    assert.equal("locale", err.field)
    fields.locale, fields.text = "en-us", "Use ${pin} for ${brand}"
    local _, msg
    _, msg, err = c:create_template_fragment(UNKNOWN, fields)
    assert.equal("text", err.field)
    assert.truthy(msg:find("${time-limit-unit}", 1, true))
    _, _, err = c:update_template_fragment(UNKNOWN, UNKNOWN, { text = "" })
    assert.equal("text", err.field)
    _, _, err = c:template_page { page = 0 }
    assert.equal("page", err.field)
    _, _, err = c:template_page { page_size = 101 }
    assert.equal("page_size", err.field)
    assert.has_error(function() c:create_template { name = "x", is_default = true } end)
    assert.has_error(function() c:update_template(UNKNOWN, {}) end,
                     "vonage: update_template: give name, is_default or both")
    assert.has_error(function() c:templates { page_size = 0 } end)
    assert.equal(0, #t.sent)
  end)

  it("pages forwards and backwards, with the page userdata's fields and metamethods", function()
    make_templates(client, 7)
    local p1, msg = client:template_page { page_size = 3 }
    assert.is_nil(msg)
    assert.equal("vonage.template_page", getmetatable(p1))
    assert.equal(3, #p1)
    assert.equal(1, p1.page)
    assert.equal(3, p1.page_size)
    assert.equal(3, p1.total_pages)
    assert.equal(7, p1.total_items)
    assert.equal("templates", p1.kind)
    assert.equal("tpl-01", p1[1].name)
    assert.is_nil(p1[0])
    assert.is_nil(p1[4])
    assert.is_nil(p1[1.5])
    assert.equal("vonage.template_page 1/3 (3 of 7 templates)", tostring(p1))
    assert.has_error(function() p1.page = 2 end, "vonage.template_page: fields are read-only")
    assert.is_nil(p1:prev())

    local p2 = assert(p1:next())
    assert.equal("vonage.template_page 2/3 (3 of 7 templates)", tostring(p2))
    assert.same({ "tpl-04", "tpl-05", "tpl-06" }, names(p2:items()))
    local p3 = assert(p2:next())
    assert.equal(1, #p3)
    assert.equal("tpl-07", p3[1].name)
    assert.is_nil(p3:next())
    assert.same({ "tpl-04", "tpl-05", "tpl-06" }, names(assert(p3:prev()):items()))
    assert.equal("tpl-01", assert(p3:first())[1].name)
    assert.equal("tpl-07", assert(p1:last())[1].name)

    local seen = {}
    for i, t in p2:ipairs() do seen[i] = t.name end
    assert.same({ "tpl-04", "tpl-05", "tpl-06" }, seen)
  end)

  it("sends page numbers as integers, never as floats", function()
    make_templates(client, 5)
    local t = H.recording_transport()
    local c = H.client { transport = t }
    local page = assert(c:template_page { page = 4 / 2, page_size = 2 })
    assert.equal(H.url .. "/v2/verify/templates?page=2&page_size=2", t.sent[1].url)
    assert.equal(2, page.page)
    assert(page:next())
    assert.equal(H.url .. "/v2/verify/templates?page=3&page_size=2", t.sent[2].url)
    assert(page:last())
    assert.equal(H.url .. "/v2/verify/templates?page=3&page_size=2", t.sent[3].url)
    for _, spec in ipairs(t.sent) do assert.falsy(spec.url:find("page=%d+%.")) end
  end)

  it("an empty list is a page of nothing, with no first or last page to fetch", function()
    local page = assert(client:template_page())
    assert.equal(0, #page)
    assert.equal(0, page.total_items)
    assert.equal("vonage.template_page 1/0 (0 of 0 templates)", tostring(page))
    assert.is_nil(page:next())
    assert.is_nil(page:first())
    assert.is_nil(page:last())
  end)

  it("walks every template and every fragment across many pages", function()
    make_templates(client, 10)
    local seen = {}
    for t in client:templates { page_size = 3 } do seen[#seen + 1] = t.name end
    local want = {}
    for i = 1, 10 do want[i] = string.format("tpl-%02d", i) end
    assert.same(want, seen)
    assert.equal(4, H.logged("GET", "/v2/verify/templates"))

    local id = assert(client:get_template(client:template_page()[1].template_id)).template_id
    local locales = { "en-us", "en-gb", "de-de", "fr-fr", "es-es", "it-it" }
    for _, locale in ipairs(locales) do
      for _, channel in ipairs { "sms", "voice" } do
        assert(client:create_template_fragment(id, { channel = channel, locale = locale,
                                                     text = channel .. " " .. locale .. " ${code}" }))
      end
    end
    local texts = {}
    for f in client:template_fragments(id, { page_size = 5 }) do texts[#texts + 1] = f.text end
    assert.equal(12, #texts)
    assert.equal("sms en-us ${code}", texts[1])
    assert.equal("voice it-it ${code}", texts[12])
    local last = assert(client:template_fragment_page(id, { page = 3, page_size = 5 }))
    assert.equal("vonage.template_page 3/3 (2 of 12 fragments)", tostring(last))
    assert.equal(id, last.template_id)
    assert.equal("fragments", assert(last:prev()).kind)
  end)

  it("stops after max_pages when the server's next link never ends", function()
    make_templates(client, 2)
    switches { endless_next = true }
    local seen = {}
    local ok, err = pcall(function()
      for t in client:templates { page_size = 1, max_pages = 4 } do seen[#seen + 1] = t.name end
    end)
    assert.is_false(ok)
    assert.is_true(vonage.is_error(err))
    assert.equal("too_many_pages", err.code)
    assert.truthy(err.message:find("stopped after 4 pages", 1, true))
    assert.same({ "tpl-01", "tpl-02" }, seen)
    assert.equal(4, H.logged("GET", "/v2/verify/templates"))

    -- the client option sets the default cap
    local capped = H.client { max_pages = 2 }
    assert.equal(2, capped.max_pages)
    assert.equal(100, client.max_pages)
    local ok2, err2 = pcall(function() for _ in capped:templates() do end end)
    assert.is_false(ok2)
    assert.equal("too_many_pages", err2.code)
    assert.truthy(tostring(err2):find("stopped after 2 pages", 1, true))
  end)

  it("raises the vonage.error when a page fetch fails mid-walk", function()
    make_templates(client, 3)
    local walk = client:templates { page_size = 2 }
    assert.equal("tpl-01", walk().name)
    assert.equal("tpl-02", walk().name)
    H.fault { method = "GET", path = "/v2/verify/templates", status = 503, body = "" }
    local ok, err = pcall(walk)
    assert.is_false(ok)
    assert.equal("server_error", err.code)
    assert.equal(503, err.status)
  end)

  it("refuses list answers it cannot trust", function()
    H.fault { method = "GET", path = "/v2/verify/templates",
              body = [[{"page":1,"page_size":10,"total_items":1,"_embedded":{"templates":[]}}]] }
    local page, msg, err = client:template_page()
    assert.is_nil(page)
    assert.equal("bad_response", err.code)
    assert.truthy(msg:find("total_pages", 1, true))
    H.fault { method = "GET", path = "/v2/verify/templates",
              body = [[{"page":1,"page_size":10,"total_pages":1,"total_items":1,
                        "_embedded":{"templates":[{"template_id":"../x","name":"n"}]}}]] }
    page, msg, err = client:template_page()
    assert.is_nil(page)
    assert.equal("bad_response", err.code)
    assert.truthy(msg:find("templates[1]", 1, true))
    H.fault { method = "POST", path = "/v2/verify/templates", body = [[{"name":"x"}]] }
    page, msg, err = client:create_template { name = "x" }
    assert.is_nil(page)
    assert.equal("bad_response", err.code)
    assert.truthy(msg:find("without a valid template_id", 1, true))
    assert.equal("bad_response", err.code)
  end)

  it("has a sandbox that checks what reaches it, page numbers included", function()
    local cjson = require "cjson"
    -- The client's own transport adds its Authorization header (in C) to a raw spec.
    local http = client.transport
    local function raw(method, path, body)
      local status, _, text = assert(http:send { method = method, url = H.url .. path,
        headers = { ["Content-Type"] = "application/json" }, client = client, auth_time = os.time(),
        body = body and cjson.encode(body) })
      return status, cjson.decode(text)
    end
    local status, problem = raw("GET", "/v2/verify/templates?page=2.0")
    assert.equal(422, status)
    assert.equal("page", problem.invalid_parameters[1].name)
    status, problem = raw("POST", "/v2/verify/templates", { name = string.rep("n", 65) })
    assert.equal(422, status)
    assert.equal("name", problem.invalid_parameters[1].name)
    local t = assert(client:create_template { name = "t" })
    status, problem = raw("POST", "/v2/verify/templates/" .. t.template_id .. "/template_fragments",
                          { channel = "sms", locale = "en-us", text = "${pin}" })
    assert.equal(422, status)
    assert.equal("text", problem.invalid_parameters[1].name)
    assert.equal(422, (H.control("POST", "/_sandbox/templates", { sometimes = true })))
  end)

  it("renders the SMS from the template's fragment for the request's locale", function()
    local t = assert(client:create_template { name = "login" })
    assert(client:create_template_fragment(t.template_id, { channel = "sms", locale = "en-us",
      text = "${brand}: ${code} is your code, valid ${time-limit} ${time-limit-unit}." }))
    assert(client:create_template_fragment(t.template_id, { channel = "sms", locale = "de-de",
      text = "${brand}: Ihr Code ist ${code}" }))
    local req = assert(client:start_verification { brand = "ACME", template_id = t.template_id,
      channel_timeout = 300, workflow = { vonage.sms { to = "447700900031" }, vonage.rcs { to = "447700900031" } } })
    local sms = H.outbox("447700900031", "sms")
    assert.equal("ACME: " .. sms[1].code .. " is your code, valid 5 minutes.", sms[1].text)
    assert(req:next_workflow())
    local rcs = H.outbox("447700900031", "rcs")
    assert.equal("ACME: " .. rcs[1].code .. " is your code, valid 5 minutes.", rcs[1].text)

    assert(client:start_verification { brand = "ACME", template_id = t.template_id, locale = "de-de",
      channel_timeout = 90, workflow = { vonage.sms { to = "447700900032" } } })
    local de = H.outbox("447700900032")[1]
    assert.equal("ACME: Ihr Code ist " .. de.code, de.text)

    -- no fragment for the locale: the standard text
    assert(client:start_verification { brand = "ACME", template_id = t.template_id, locale = "fr-fr",
      workflow = { vonage.sms { to = "447700900033" } } })
    local fr = H.outbox("447700900033")[1]
    assert.equal("Your ACME verification code is " .. fr.code, fr.text)
  end)

  it("uses the default template when a request names none", function()
    local t = assert(client:create_template { name = "house-style" })
    assert(client:create_template_fragment(t.template_id, { channel = "sms", locale = "en-us",
      text = "${code} (${brand}, ${time-limit} ${time-limit-unit})" }))
    assert(client:start_verification { brand = "ACME", channel_timeout = 45,
      workflow = { vonage.sms { to = "447700900034" } } })
    local before = H.outbox("447700900034")[1]
    assert.equal("Your ACME verification code is " .. before.code, before.text)
    assert(client:update_template(t.template_id, { is_default = true }))
    assert(client:start_verification { brand = "ACME", channel_timeout = 45,
      workflow = { vonage.sms { to = "447700900035" } } })
    local after = H.outbox("447700900035")[1]
    assert.equal(after.code .. " (ACME, 45 seconds)", after.text)
    -- a voice fragment speaks the code digit by digit
    assert(client:create_template_fragment(t.template_id, { channel = "voice", locale = "en-us",
      text = "Your code is ${code}" }))
    local req = assert(client:start_verification { brand = "ACME", channel_timeout = 60, code = "4321",
      workflow = { vonage.sms { to = "447700900037" }, vonage.voice { to = "447700900037" } } })
    assert(req:next_workflow())
    assert.equal("Your code is 4 3 2 1", H.outbox("447700900037", "voice")[1].text)
  end)

  it("takes template_id only when every channel is sms or rcs, and only a known template", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    local req, msg, err = c:start_verification { brand = "ACME", template_id = UNKNOWN,
      workflow = { vonage.sms { to = "447700900036" },
                   vonage.whatsapp { to = "447700900036", from = "447700900099" } } }
    assert.is_nil(req)
    assert.equal("invalid_params", err.code)
    assert.equal("template_id", err.field)
    assert.equal("start_verification: template_id applies only to sms and rcs channels, "
                 .. "and workflow[2] is whatsapp", msg)
    assert.equal(0, #t.sent)
    local _, _, err2 = c:start_verification { brand = "ACME", template_id = UNKNOWN,
      workflow = { vonage.sms { to = "447700900036" } } }
    assert.equal("template_not_found", err2.code)
    assert.equal(1, #t.sent)
  end)
end)
