-- The channels of a Verify workflow, their fields and rules, and the builders
-- users write in a workflow: vonage.sms{ to = "447700900000" }.
local validate = require "vonage.validate"

local rules = validate.rules
local setmetatable, type, format, pairs = setmetatable, type, string.format, pairs

local M = {}

local phone = { "string", rules.phone, required = true }

-- Field rules per channel, from the Verify v2 reference.
M.schemas = {
  silent_auth = {
    to = phone,
    redirect_url = { "string", rules.redirect_url },
    sandbox = { "boolean" },
    coverage_check = { "boolean" },
  },
  sms = {
    to = phone,
    from = { "string", rules.pattern("^[%w ]+$", "must be a sender id: letters, digits and spaces"),
             rules.length(1, 15) },
    entity_id = { "string", rules.pattern("^%d+$", "must be digits"), rules.length(1, 20) },
    content_id = { "string", rules.pattern("^%d+$", "must be digits"), rules.length(1, 20) },
    app_hash = { "string", rules.pattern("^[%w+/=]+$", "must be an Android app hash"),
                 rules.length(11, 11) },
  },
  whatsapp = {
    to = phone,
    from = { "string", rules.phone, required = true },
    mode = { "string", rules.one_of { "otp_code", "zero_tap" } },
  },
  whatsapp_interactive = { to = phone },
  voice = { to = phone },
  email = {
    to = { "string", rules.email, required = true },
    from = { "string", rules.email },
  },
  rcs = {
    to = phone,
    from = { "string", rules.length(1, 100) },
  },
}

-- Each channel's fields that hold a phone number, read off the schemas.
M.phone_fields = {}
for name, schema in pairs(M.schemas) do
  local fields = {}
  for field, spec in pairs(schema) do
    for i = 2, #spec do
      if spec[i] == rules.phone then fields[field] = true end
    end
  end
  M.phone_fields[name] = fields
end

-- A plain copy of a checked step as Verify v2 wants it: phone numbers as
-- digits only, whichever form the user gave; no builder metatable.
function M.to_api(step)
  local phones = M.phone_fields[step.channel] or {}
  local s = {}
  for k, v in pairs(step) do
    s[k] = phones[k] and validate.phone_digits(v) or v
  end
  return s
end

-- Channels whose messages a custom template applies to (reference: template_id).
M.takes_template = { sms = true, rcs = true }

local channel_mt = {
  __name = "vonage.channel",
  __tostring = function(c)
    return format("vonage.%s to %s", c.channel, type(c.to) == "string" and c.to or "?")
  end,
}

-- Builders only check the shape (types, unknown fields: a bug, so they raise);
-- the rules are checked by start_verification, which names the workflow entry.
for name, schema in pairs(M.schemas) do
  M[name] = function(fields)
    local op = "vonage." .. name
    validate.typed(op, "argument", fields, "table", true)
    validate.known_fields(op, fields, schema)
    local c = { channel = name }
    for k, v in pairs(fields) do
      validate.typed(op, k, v, schema[k][1])
      c[k] = v
    end
    return setmetatable(c, channel_mt)
  end
end

return M
