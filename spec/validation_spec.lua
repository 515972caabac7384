local vonage = require "vonage"
local H = require "spec.helper"

-- Every rule is checked before any I/O: the sandbox must see no request.
local function refused(client, params, field)
  local before = #H.log()
  local req, msg, err = client:start_verification(params)
  assert.is_nil(req)
  assert.equal("validation", err.kind)
  assert.equal("invalid_params", err.code)
  assert.equal(field, err.field)
  assert.equal(field, err.invalid_parameters[1].name)
  assert.truthy(msg:find("start_verification: " .. field, 1, true), msg)
  assert.equal(before, #H.log())
  return msg
end

local function with(fields)
  local p = { brand = "ACME", workflow = { vonage.sms { to = "447700900000" } } }
  for k, v in pairs(fields) do p[k] = v end
  return p
end

describe("validation before any request is sent", function()
  local client
  before_each(function()
    H.reset()
    client = H.client()
  end)

  it("refuses a 'to' that is not E.164 digits", function()
    for _, to in ipairs { "00447700900000", "447700", "12345", "4477abc00000", "++447700900000",
                          "+0447700900000", "4477009000001234", "+4477009000001234", "" } do
      refused(client, with { workflow = { vonage.sms { to = to } } }, "workflow[0].to")
    end
    refused(client, with { workflow = { vonage.sms { to = "447700900000" }, vonage.voice { to = "+1" } } },
            "workflow[1].to")
  end)

  it("takes a number with or without its '+' and sends Verify v2 the digits", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    local req, msg = c:start_verification(with { workflow = {
      vonage.sms { to = "+447700900031" }, vonage.whatsapp { to = "447700900031", from = "+447700900099" } } })
    assert.is_nil(msg)
    assert.truthy(req)
    local sent = require("cjson").decode(t.sent[1].body)
    assert.equal("447700900031", sent.workflow[1].to)
    assert.equal("447700900031", sent.workflow[2].to)
    assert.equal("447700900099", sent.workflow[2].from)
    assert.equal(1, #H.outbox("447700900031"))
  end)

  it("applies the brand's length and character rule", function()
    refused(client, with { brand = "" }, "brand")
    refused(client, with { brand = string.rep("a", 19) }, "brand")
    for _, bad in ipairs { "AC/ME", "{ACME}", "AC:ME", "AC$ME", "A\nB" } do
      refused(client, with { brand = bad }, "brand")
    end
    -- 18 characters of UTF-8 are 18, not their byte count
    local req = client:start_verification(with { brand = string.rep("é", 18) })
    assert.truthy(req)
  end)

  it("needs 1 to 3 workflow entries with silent_auth only first", function()
    refused(client, with { workflow = {} }, "workflow")
    local four = {}
    for i = 1, 4 do four[i] = vonage.sms { to = "44770090000" .. i } end
    refused(client, with { workflow = four }, "workflow")
    refused(client, with { workflow = { vonage.sms { to = "447700900000" },
                                        vonage.silent_auth { to = "447700900000" } } },
            "workflow[1].channel")
    refused(client, with { workflow = { { channel = "pigeon", to = "447700900000" } } },
            "workflow[0].channel")
  end)

  it("checks the numeric ranges", function()
    refused(client, with { code_length = 3 }, "code_length")
    refused(client, with { code_length = 11 }, "code_length")
    refused(client, with { channel_timeout = 14 }, "channel_timeout")
    refused(client, with { channel_timeout = 901 }, "channel_timeout")
  end)

  it("checks code, client_ref, locale and template_id", function()
    refused(client, with { code = "12a" }, "code")
    refused(client, with { code = "12345678901" }, "code")
    refused(client, with { code = "12 34" }, "code")
    refused(client, with { client_ref = "" }, "client_ref")
    refused(client, with { client_ref = string.rep("r", 41) }, "client_ref")
    refused(client, with { locale = "english" }, "locale")
    refused(client, with { template_id = "../../v1/account" }, "template_id")
    refused(client, with { template_id = "4ed3027d-8762-44a0-aa3f-c393717413a4",
                           workflow = { vonage.voice { to = "447700900000" } } }, "template_id")
  end)

  it("checks the channel fields", function()
    refused(client, with { workflow = { vonage.email { to = "not-an-address" } } }, "workflow[0].to")
    refused(client, with { workflow = { vonage.whatsapp { to = "447700900000", from = "ACME" } } },
            "workflow[0].from")
    refused(client, with { workflow = { vonage.whatsapp { to = "447700900000", from = "447700900001",
                                                          mode = "telepathy" } } }, "workflow[0].mode")
    refused(client, with { workflow = { vonage.sms { to = "447700900000", app_hash = "short" } } },
            "workflow[0].app_hash")
    refused(client, with { workflow = { vonage.sms { to = "447700900000", entity_id = "12ab" } } },
            "workflow[0].entity_id")
    refused(client, with { workflow = { vonage.silent_auth { to = "447700900000",
                                                             redirect_url = "http://evil.example/cb" } } },
            "workflow[0].redirect_url")
  end)

  it("accepts every channel and field of the reference", function()
    local t = H.recording_transport()
    local c = H.client { transport = t }
    local req, msg = c:start_verification {
      brand = "ACME", locale = "es-es", channel_timeout = 300, client_ref = "ref-1",
      code_length = 6, code = "e4dR1Q", fraud_check = false,
      workflow = {
        vonage.sms { to = "447700900020", from = "ACME", entity_id = "1101407360000017170",
                     content_id = "1107900001243060020", app_hash = "FA+9qCX9VSu" },
        vonage.whatsapp { to = "447700900020", from = "447700900099", mode = "otp_code" },
        vonage.rcs { to = "447700900020", from = "ACME" },
      },
    }
    assert.is_nil(msg)
    assert.truthy(req)
    local sent = require("cjson").decode(t.sent[1].body)
    assert.equal(false, sent.fraud_check)
    assert.equal("FA+9qCX9VSu", sent.workflow[1].app_hash)
    assert.equal("otp_code", sent.workflow[2].mode)
    for _, step in ipairs {
      vonage.whatsapp_interactive { to = "447700900021" },
      vonage.email { to = "user@example.com", from = "noreply@example.com" },
      vonage.silent_auth { to = "447700900022", redirect_url = "https://app.example/sa",
                           sandbox = true, coverage_check = false },
    } do
      assert.truthy(client:start_verification { brand = "ACME", workflow = { step } })
    end
  end)

  it("raises for misuse: wrong types, unknown or missing fields", function()
    assert.has_error(function() client:start_verification() end,
      "vonage: start_verification: argument is required")
    assert.has_error(function() client:start_verification(with { brnad = "x" }) end,
      "vonage: start_verification: unknown field 'brnad'")
    assert.has_error(function() client:start_verification { brand = "ACME" } end,
      "vonage: start_verification: workflow is required") -- no end user types a table
    assert.has_error(function() client:start_verification(with { code_length = "6" }) end,
      "vonage: start_verification: code_length must be an integer (got string)")
    assert.has_error(function() client:start_verification(with { code_length = 6.5 }) end,
      "vonage: start_verification: code_length must be an integer (got number)")
    assert.has_error(function() vonage.sms { to = "447700900000", form = "ACME" } end,
      "vonage: vonage.sms: unknown field 'form'")
    assert.has_error(function() vonage.voice { to = 447700900000 } end,
      "vonage: vonage.voice: to must be a string (got number)")
  end)

  -- validate.check passes a sound table in one pass and walks the fields in
  -- name order only for a broken one: the verdict must be the walk's.
  it("names the first problem in field order, however the table was built", function()
    -- brand < channel_timeout < client_ref < code < code_length < locale
    refused(client, with { locale = "english", code = "x", client_ref = "" }, "client_ref")
    refused(client, with { code = "x", locale = "english" }, "code")
    refused(client, with { brand = "A/B", code_length = "6" }, "brand") -- before the wrong type
    assert.has_error(function() client:start_verification(with { code = "x", channel_timeout = "60" }) end,
      "vonage: start_verification: channel_timeout must be an integer (got string)")
    assert.has_error(function() client:start_verification(with { code = "x", brnad = "ACME" }) end,
      "vonage: start_verification: unknown field 'brnad'") -- a broken value does not hide it
    assert.has_error(function()
      client:start_verification(with { workflow = { { channel = "sms", to = "1", x = 1 } } })
    end, "vonage: start_verification: unknown field 'x' in workflow[0]")
    refused(client, { workflow = { vonage.sms { to = "447700900000" } }, code = "1234" }, "brand")
    refused(client, with { workflow = { vonage.whatsapp { to = "447700900000" } } }, "workflow[0].from")
    -- A value reached through __index is checked as the walk reads it.
    refused(client, setmetatable(with {}, { __index = { code_length = 2 } }), "code_length")
    refused(client, setmetatable({ workflow = with({}).workflow }, { __index = { brand = "A/B" } }), "brand")
    refused(client, setmetatable(with {}, { __index = { code_length = 2 }, __metatable = false }), "code_length")
    -- __pairs (Lua 5.2+) hiding a raw field: the walk reads it all the same
    refused(client, setmetatable(with { code_length = 2 }, { __pairs = function(t)
      return next, { brand = t.brand, workflow = t.workflow }
    end }), "code_length")
  end)

  it("returns a missing end-user value as a validation error naming it, and sends nothing", function()
    local before = #H.log()
    -- what ngx.var.arg_to is when the query has no ?to=
    refused(client, with { workflow = { vonage.sms { to = nil } } }, "workflow[0].to")
    refused(client, with { workflow = { vonage.silent_auth {}, vonage.voice {} } }, "workflow[0].to")
    refused(client, with { workflow = { vonage.sms { to = "447700900000" }, vonage.email {} } }, "workflow[1].to")
    refused(client, with { workflow = { vonage.whatsapp { to = "447700900000" } } }, "workflow[0].from")
    refused(client, { workflow = { vonage.sms { to = "447700900000" } } }, "brand")

    local function missing(op, field, ok, msg, err)
      assert.is_nil(ok)
      assert.same({ "validation", "invalid_params", field, field },
                  { err.kind, err.code, err.field, err.invalid_parameters[1].name })
      assert.equal(op .. ": " .. field .. " is required", msg)
    end
    missing("check", "code", client:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"):check(nil))
    missing("hash_phone_number", "phone_number", vonage.hash_phone_number(nil))
    missing("check_silent_auth", "check_url", vonage.check_silent_auth(nil))
    missing("get_template", "template_id", client:get_template(nil))
    missing("create_template", "name", client:create_template {})
    local flow = client:number_verification { redirect_uri = "https://app.example/cb" }
    missing("authorize_url", "phone_number", flow:authorize_url { session = "sid-1" })
    missing("authorize_url", "session", flow:authorize_url { phone_number = "+447700900000" })
    missing("callback", "session", flow:callback("state=x&code=y", nil))
    missing("verify", "phone_number", flow:verify {})
    assert.equal(before, #H.log())
    -- a wrong Lua type is still a bug in the caller
    assert.has_error(function() client:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"):check(1234) end,
      "vonage: check: code must be a string (got number)")
    assert.has_error(function() flow:verify { phone_number = "+447700900000", hashed_phone_number = "ab" } end,
      "vonage: verify: give phone_number or hashed_phone_number, not both")
  end)

  it("blames the caller's line when it raises", function()
    local ok, err = pcall(function() client:start_verification(with { brnad = "x" }) end)
    assert.is_false(ok)
    assert.truthy(err:match("^[^:]*validation_spec%.lua:%d+: vonage:"), err)
  end)

  it("refuses ids that are not UUIDs, so nothing can reach another path", function()
    for _, id in ipairs { "../../v1/account", "x", "0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f/next_workflow" } do
      assert.has_error(function() client:request(id) end, "vonage: request: request_id must be a UUID")
    end
  end)

  it("checks the code given to check before sending it", function()
    local req = client:request("0b9f5d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f")
    local before = #H.log()
    for _, code in ipairs { "12", "12345678901", "12 4", "１２３４" } do
      local ok, msg, err = req:check(code)
      assert.is_nil(ok)
      assert.equal("validation", err.kind)
      assert.equal("code", err.field)
      assert.truthy(msg:find("^check: code "))
    end
    assert.equal(before, #H.log())
    assert.has_error(function() req:check(1234) end, "vonage: check: code must be a string (got number)")
  end)
end)
