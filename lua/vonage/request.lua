--- vonage.request: a handle on one verification (client:start_verification,
-- client:request). Its state is all in the C userdata (src/vn_request.c),
-- readable as fields: `request_id`, `brand`, `workflow` (a list of channel
-- names), `channel` (the one in use), `status` ("pending", "completed", ...;
-- "unknown" for client:request), `check_url` (silent auth), `client`.
-- `tostring(req)` is "vonage.request <id> (<channel>, <status>)". This file lists
-- every method it has; they are documented in vonage.verify (request:check,
-- request:cancel, request:next_workflow).
-- @module vonage.request
local core = require "vonage.core"
local verify = require "vonage.verify"

local M = {}

local METHODS = {
  check = verify.check,               -- req:check(code) -> status | nil, msg, err
  cancel = verify.cancel,             -- req:cancel() -> true | nil, msg, err
  next_workflow = verify.next_workflow, -- req:next_workflow() -> true | nil, msg, err
}
--- A new sorted list of the request's method names (METHODS above).
-- @treturn {string,...}
-- @function methods
M.methods = core.request_class(METHODS)

return M
