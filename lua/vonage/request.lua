-- vonage.request: a handle on one verification. Its state is all in the C
-- userdata (src/vn_request.c), readable as fields: request_id, brand,
-- workflow (a list of channel names), channel (the one in use), status,
-- check_url, client. This file lists every method it has.
local core = require "vonage.core"
local verify = require "vonage.verify"

local pairs, sort = pairs, table.sort

local M = {}

local METHODS = {
  check = verify.check,               -- req:check(code) -> status | nil, msg, err
  cancel = verify.cancel,             -- req:cancel() -> true | nil, msg, err
  next_workflow = verify.next_workflow, -- req:next_workflow() -> true | nil, msg, err
}
core.request_class(METHODS) -- once: no code loaded later adds or replaces one

-- methods() -> a new sorted list of the method names
function M.methods()
  local names = {}
  for name in pairs(METHODS) do names[#names + 1] = name end
  sort(names)
  return names
end

return M
