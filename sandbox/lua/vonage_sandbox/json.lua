-- JSON for the sandbox: cjson decodes; a small encoder writes.
--
-- Debian's lua-cjson cannot tell an empty array from an empty object (it has
-- no cjson.empty_array), and the API answers with both ("messages": [] and
-- next_workflow's {}). So tables meant as arrays are marked with json.array()
-- and everything else encodes as an object; cjson still encodes the scalars.
local cjson = require "cjson.safe"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local getmetatable, setmetatable = getmetatable, setmetatable
local concat, sort = table.concat, table.sort

local M = {}

M.null = cjson.null

local array_mt = { __name = "vonage_sandbox.json_array" }

-- array(t) -> t, marked so that it encodes as a JSON array even when empty
function M.array(t)
    return setmetatable(t or {}, array_mt)
end

-- A non-empty sequence with no other keys is an array even unmarked, so
-- decoded JSON re-encodes the way it came in.
local function is_array(t)
    if getmetatable(t) == array_mt then
        return true
    end
    local n = #t
    if n == 0 then
        return false
    end
    local count = 0
    for _ in pairs(t) do
        count = count + 1
    end
    return count == n
end

local encode_value

local function by_name(a, b)
    return a[1] < b[1]
end

local function encode_table(t, out)
    if is_array(t) then
        out[#out + 1] = "["
        for i, v in ipairs(t) do
            if i > 1 then
                out[#out + 1] = ","
            end
            encode_value(v, out)
        end
        out[#out + 1] = "]"
        return
    end
    -- Sorted keys keep answers byte-for-byte stable, which makes logs and
    -- failing specs easier to read.
    local fields = {}
    for k, v in pairs(t) do
        fields[#fields + 1] = { tostring(k), v }
    end
    sort(fields, by_name)
    out[#out + 1] = "{"
    for i, field in ipairs(fields) do
        if i > 1 then
            out[#out + 1] = ","
        end
        encode_value(field[1], out)
        out[#out + 1] = ":"
        encode_value(field[2], out)
    end
    out[#out + 1] = "}"
end

function encode_value(v, out)
    if type(v) == "table" then
        encode_table(v, out)
    elseif v == nil then
        out[#out + 1] = "null"
    elseif type(v) == "string" then
        -- This cjson escapes every "/"; it never emits a raw one, so each
        -- backslash-slash pair is such an escape and URLs can read plainly.
        out[#out + 1] = (cjson.encode(v):gsub("\\/", "/"))
    else
        out[#out + 1] = assert(cjson.encode(v))
    end
end

-- encode(value) -> JSON text
function M.encode(value)
    local out = {}
    encode_value(value, out)
    return concat(out)
end

-- decode(text) -> value | nil, message
function M.decode(text)
    return cjson.decode(text)
end

return M
