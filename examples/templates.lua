-- Custom templates and fragments against the local sandbox:
--   sh scripts/with-sandbox lua5.4 examples/templates.lua
-- Against the real API your account needs custom templates enabled (else
-- every write fails with err.code == "forbidden"), and the SMS reaches a phone.
local vonage = require "vonage"
local sandbox = require("vonage_sandbox.client").new() -- reads VONAGE_SANDBOX_URL

local client = vonage.client.from_env()

local function step(title) print(("\n== %s"):format(title)) end

step("1. A template with an SMS fragment in two locales")
local template = assert(client:create_template { name = "example-login" })
print(("template: %s %s (default: %s)"):format(template.template_id, template.name,
                                               tostring(template.is_default)))
for _, fragment in ipairs {
  { locale = "en-us", text = "${brand}: your code is ${code}. It expires in ${time-limit} ${time-limit-unit}." },
  { locale = "de-de", text = "${brand}: Ihr Code lautet ${code}." },
} do
  local f = assert(client:create_template_fragment(template.template_id,
    { channel = "sms", locale = fragment.locale, text = fragment.text }))
  print(("fragment: %s %s/%s, created %s"):format(f.template_fragment_id, f.channel, f.locale, f.date_created))
end

step("2. An SMS rendered from the template")
local phone = "447700900070"
local req = assert(client:start_verification {
  brand = "ACME", template_id = template.template_id, channel_timeout = 300,
  workflow = { vonage.sms { to = phone } },
})
local outbox = assert(sandbox:outbox(phone))
print("outbox:   " .. outbox[#outbox].text)
print("check:    " .. assert(req:check(outbox[#outbox].code)))

step("3. Pages: the page userdata, and walking every page")
local page = assert(client:template_fragment_page(template.template_id, { page_size = 1 }))
repeat
  print(tostring(page))
  for i, f in page:ipairs() do print(("  [%d] %s: %s"):format(i, f.locale, f.text)) end
  page = page:next()
until not page
for t in client:templates { page_size = 5 } do
  print(("every template: %s %s"):format(t.template_id, t.name))
end

step("4. Errors have stable codes")
local _, msg, err = client:create_template { name = "example-login" }
print(("again:    %s (err.code = %s)"):format(msg, err.code))
_, msg, err = client:delete_template(template.template_id)
print(("delete:   %s (err.code = %s)"):format(msg, err.code))

step("5. Clean up: fragments first, then the template")
-- Collect the ids before deleting: deleting while walking shifts later pages.
local ids = {}
for f in client:template_fragments(template.template_id) do ids[#ids + 1] = f.template_fragment_id end
for _, id in ipairs(ids) do assert(client:delete_template_fragment(template.template_id, id)) end
print("deleted:  " .. tostring(assert(client:delete_template(template.template_id))))
