--- The channel builders of a Verify workflow: `vonage.sms { to = "447700900000" }`.
-- Each returns a channel table (`channel` and the fields given) for the
-- `workflow` list of client:start_verification. Builders check the shape only
-- and raise on a wrong type or an unknown field (a bug); the values' rules are
-- checked by start_verification, which returns a `validation` error naming
-- the entry, 0-based as the API does (`workflow[0].to`). `to` is an E.164 number, with or
-- without its `+`.
-- @module vonage.channels
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

local channel_mt = validate.plain_metatable {
  __name = "vonage.channel",
  __tostring = function(c)
    return format("vonage.%s to %s", c.channel, type(c.to) == "string" and c.to or "?")
  end,
}

--- An SMS with the code.
-- @function vonage.sms
-- @tparam table fields `to` (required), `from` (a sender id, 1..15 letters, digits,
-- spaces), `entity_id`, `content_id` (digits, 1..20), `app_hash` (11 characters)
-- @treturn table a channel
-- @usage workflow = { vonage.sms { to = "447700900000" } }

--- A voice call reading the code.
-- @function vonage.voice
-- @tparam table fields `to` (required)
-- @treturn table a channel

--- A WhatsApp message.
-- @function vonage.whatsapp
-- @tparam table fields `to` and `from` (your WhatsApp number, both required),
-- `mode` ("otp_code" or "zero_tap")
-- @treturn table a channel

--- A WhatsApp interactive message (yes/no).
-- @function vonage.whatsapp_interactive
-- @tparam table fields `to` (required)
-- @treturn table a channel

--- An email with the code.
-- @function vonage.email
-- @tparam table fields `to` (required, an address), `from`
-- @treturn table a channel

--- An RCS message.
-- @function vonage.rcs
-- @tparam table fields `to` (required), `from` (1..100)
-- @treturn table a channel

--- Silent authentication over the mobile network; must come first in the workflow.
-- @function vonage.silent_auth
-- @tparam table fields `to` (required), `redirect_url`, `sandbox`, `coverage_check` (booleans)
-- @treturn table a channel
-- @usage workflow = { vonage.silent_auth { to = phone }, vonage.sms { to = phone } }

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
