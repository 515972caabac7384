-- Prometheus metrics for lua-vonage inside OpenResty, from the events the
-- client's on_log hands over (doc/client.md, "Logs and metrics"). Counts and
-- a latency histogram per operation and err.code live in an ngx.shared dict,
-- so every worker adds to the same numbers and any worker can serve /metrics.
-- No dependency beyond ngx_lua.
--
--   lua_shared_dict vonage_metrics 1m;
--   local metrics = require("metrics").new("vonage_metrics")
--   local client = vonage.client { ..., on_log = metrics.on_log }
--   location = /metrics { content_by_lua_block { require("metrics").new("vonage_metrics"):serve() } }
--
-- Series (code is "ok" on success):
--   vonage_requests_total{op,code}                 calls, by outcome
--   vonage_request_duration_seconds{op,code}       histogram of the whole call (retries included)
--   vonage_retries_total{op,code}                  retries, by what was retried
-- luacheck: globals ngx
local ngx = ngx

local type, pairs, ipairs, tostring, tonumber, format, concat, sort =
      type, pairs, ipairs, tostring, tonumber, string.format, table.concat, table.sort

local M = {}

-- Upper bounds in seconds: a loopback sandbox answers in a few ms, the live
-- API in tens to hundreds, a timeout at the client's 10 s.
M.BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local SEP = "\1" -- between the parts of a dict key; never in a label value

-- A label value as the library makes them (op and err.code names); anything
-- else is reduced to that alphabet, so a key cannot be split wrongly.
local function label(v)
  if type(v) ~= "string" or v == "" then return nil end
  return (v:sub(1, 64):gsub("[^%w_]", "_"))
end

local Metrics = {}
Metrics.__index = Metrics

-- new(dict) -> metrics; dict: an ngx.shared dict or its name. opts.buckets
-- overrides M.BUCKETS (ascending seconds).
function M.new(dict, opts)
  if type(dict) == "string" then dict = ngx.shared[dict] end
  assert(dict, "metrics: no such lua_shared_dict")
  local self = setmetatable({ dict = dict, buckets = (opts and opts.buckets) or M.BUCKETS }, Metrics)
  -- A plain function for the client's on_log option.
  self.on_log = function(level, line, event) return self:record(level, line, event) end
  return self
end

local function add(dict, key, by)
  local _, err = dict:incr(key, by, 0)
  if err then ngx.log(ngx.WARN, "vonage metrics: ", err) end
end

-- record(level, line, event): counts one on_log event. Lines without an
-- event (the multi transport's own errors) are not counted.
function Metrics:record(_, _, event)
  if type(event) ~= "table" then return end
  local op = label(event.op)
  if not op then return end
  local code = label(event.code) or "ok"
  local dict = self.dict
  if event.retry_in_ms then
    add(dict, concat({ "retries", op, code }, SEP), 1)
    return
  end
  add(dict, concat({ "requests", op, code }, SEP), 1)
  local seconds = tonumber(event.duration_ms)
  if not seconds then return end
  seconds = seconds / 1000
  local base = concat({ "duration", op, code }, SEP)
  for i, le in ipairs(self.buckets) do
    if seconds <= le then add(dict, base .. SEP .. i, 1) end
  end
  add(dict, base .. SEP .. "sum", seconds)
end

local function labels(op, code, le)
  local s = format('op="%s",code="%s"', op, code)
  if le then s = s .. format(',le="%s"', le) end
  return "{" .. s .. "}"
end

local function number(v)
  if v == math.floor(v) and v < 2^53 then return format("%d", v) end
  return format("%.6f", v)
end

-- render() -> the Prometheus text exposition (format 0.0.4) of every series.
function Metrics:render()
  local dict = self.dict
  local series = { requests = {}, retries = {}, duration = {} }
  for _, key in ipairs(dict:get_keys(0)) do
    local kind, op, code, part = key:match("^(%a+)\1([%w_]+)\1([%w_]+)\1?(.*)$")
    local value = kind and dict:get(key)
    if value and series[kind] then
      local id = op .. SEP .. code
      if kind == "duration" then
        local h = series.duration[id] or { op = op, code = code, buckets = {} }
        series.duration[id] = h
        if part == "sum" then h.sum = value else h.buckets[tonumber(part)] = value end
      else
        series[kind][id] = { op = op, code = code, value = value }
      end
    end
  end

  local out = {}
  local function ids(t)
    local list = {}
    for id in pairs(t) do list[#list + 1] = id end
    sort(list)
    return list
  end
  local function counter(name, help, t)
    out[#out + 1] = "# HELP " .. name .. " " .. help
    out[#out + 1] = "# TYPE " .. name .. " counter"
    for _, id in ipairs(ids(t)) do
      local s = t[id]
      out[#out + 1] = name .. labels(s.op, s.code) .. " " .. number(s.value)
    end
  end
  counter("vonage_requests_total", "Vonage API calls by operation and err.code (ok on success).",
          series.requests)
  counter("vonage_retries_total", "Vonage API attempts retried, by operation and what was retried.",
          series.retries)

  local name = "vonage_request_duration_seconds"
  out[#out + 1] = "# HELP " .. name .. " Duration of Vonage API calls, retries included."
  out[#out + 1] = "# TYPE " .. name .. " histogram"
  for _, id in ipairs(ids(series.duration)) do
    local h = series.duration[id]
    local count = series.requests[id] and series.requests[id].value or 0
    for i, le in ipairs(self.buckets) do
      out[#out + 1] = name .. "_bucket" .. labels(h.op, h.code, tostring(le)) .. " " .. number(h.buckets[i] or 0)
    end
    out[#out + 1] = name .. "_bucket" .. labels(h.op, h.code, "+Inf") .. " " .. number(count)
    out[#out + 1] = name .. "_sum" .. labels(h.op, h.code) .. " " .. number(h.sum or 0)
    out[#out + 1] = name .. "_count" .. labels(h.op, h.code) .. " " .. number(count)
  end
  return concat(out, "\n") .. "\n"
end

-- serve(): answers the current request with render() (content phase).
function Metrics:serve()
  ngx.header["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
  ngx.print(self:render())
end

return M
