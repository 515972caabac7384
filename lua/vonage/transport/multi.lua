--- The curl multi transport (transport = "multi"): many requests in flight in
-- one Lua thread, for game loops. In a coroutine, send() starts the transfer
-- and yields; client:poll() drives libcurl and resumes each coroutine whose
-- transfer (or retry backoff) is done. In the main thread send() drives the
-- multi itself until its own transfer is done, like the blocking transport;
-- transfers other coroutines wait for that finish meanwhile are kept (in C,
-- see m:next_finished) for the next poll. The policy (URLs, headers, caps,
-- TLS) is the C transport's own.
--
-- A memory error in poll, send or close raises there and loses nothing:
-- every queue is changed only after what it hands over was built.
--
-- Closing (transport:close(), or client:close() on a client using it) drops
-- the transfers in flight; each coroutine waiting for one is resumed by the
-- next polls (multi_resume_per_poll a poll) with nil, msg, err (kind
-- "transport", code "closed"), sleeping coroutines wake then too, and a
-- later send answers "closed" at once. An answer a poll already took is
-- still handed over. Nothing is left waiting forever, as long as the loop
-- keeps polling.
--
-- A coroutine that raises when poll (or spawn) resumes it ends alone: poll
-- goes on with the others, and the error, with the coroutine's traceback,
-- goes to the on_error handler, else to on_log at level "error", else to
-- stderr. Never raised out of poll, never dropped.
-- @module vonage.transport.multi
local core = require "vonage.core"
local errors = require "vonage.errors"
local validate = require "vonage.validate"

local running, yield, resume, create, co_status, isyieldable =
      coroutine.running, coroutine.yield, coroutine.resume, coroutine.create, coroutine.status,
      rawget(coroutine, "isyieldable") -- Lua 5.3+ and LuaJIT 2.1; not in Lua 5.1's std
local setmetatable, pairs, ipairs, error, tostring, pcall =
      setmetatable, pairs, ipairs, error, tostring, pcall
local io = io -- io.stderr is read when used: a host may have replaced it
local insert, remove, sort, min, max, traceback =
      table.insert, table.remove, table.sort, math.min, math.max, debug.traceback
local format = string.format
local now_ms = core.monotonic_ms

local M = {}

local Transport = { __name = "vonage.transport.multi" }
Transport.__index = Transport
-- getmetatable answers this name, so no user code can swap a method of the class.
Transport.__metatable = "vonage.transport.multi"

-- The main thread's send waits this long per round, then looks again;
-- libcurl's own timeouts (timeout_ms) are what end a transfer.
local MAIN_SLICE_MS = 1000
local LIMITS = core.limits()
local POLL = LIMITS.poll_timeout_ms -- src/vn_limits.h, as vn_multi.c reads it
local RESUMES = LIMITS.multi_resume_per_poll

-- Passed by poll on every resume, so a waiting send can tell that it was
-- resumed by poll and not by some other scheduler.
local WAKE = {}

-- The running coroutine, or nil in the main thread (Lua 5.1/LuaJIT answer
-- nil there, Lua 5.2+ answer the main coroutine and true). Also nil where the
-- coroutine cannot yield (a call from a C function such as a gsub callback):
-- there send blocks as in the main thread, since a failed yield would leave
-- its transfer registered to wake the coroutine later, at an unrelated wait.
local function current_coroutine()
  local co, is_main = running()
  if is_main or (isyieldable and not isyieldable()) then return nil end
  return co
end

--- Makes a multi transport (a client with transport = "multi" makes its own).
-- Client options may be passed whole: only these are read (the credentials
-- are not kept).
-- @tparam[opt] table opts `ca_file`, `proxy`, `user_agent`, `on_log`, `on_error`
-- (function(trace, co, err): a coroutine poll resumed raised; trace is the
-- message with its traceback, err the raw value), `multi_resume_per_poll`
-- (32: the most coroutines one poll resumes; the rest wait, in order, for the next)
-- @treturn transport
-- @usage local t = require("vonage.transport.multi").new { on_error = report }
-- local a = vonage.client { api_key = K, api_secret = S, transport = t }
function M.new(opts)
  opts = opts or {}
  local op = "vonage.transport.multi"
  validate.typed(op, "options", opts, "table")
  validate.typed(op, "on_error", opts.on_error, "function")
  validate.typed(op, "on_log", opts.on_log, "function")
  local resume_per_poll = opts.multi_resume_per_poll
  validate.typed(op, "multi_resume_per_poll", resume_per_poll, "integer")
  validate.in_range(op, "multi_resume_per_poll", resume_per_poll, RESUMES.min, RESUMES.max)
  local t = setmetatable({
    on_error = opts.on_error,
    on_log = opts.on_log,
    multi = core.multi_new { ca_file = opts.ca_file, proxy = opts.proxy, user_agent = opts.user_agent },
    waiting = {},   -- transfer id -> the coroutine waiting for it
    n_waiting = 0,
    timers = {},    -- { at = monotonic ms, co = coroutine } for coroutines in sleep()
    due = {},       -- { co =, a =, b =, c = }: coroutines to resume with a, b, c
    closed = false,
    polling = false,
    taking = false, -- see take_finished
    resume_per_poll = resume_per_poll or RESUMES.default,
  }, Transport)
  return t
end

local function closed_error(message)
  return errors.fail("transport", "closed", message)
end

local function stray_resume()
  errors.misuse("vonage.transport.multi",
    "a coroutine waiting for the transport was resumed by something other than client:poll()")
end

-- What send() returns once poll resumes it. Resumed by anything else, it
-- gives up its transfer and raises. Poll passes the due entry after WAKE:
-- marking it taken (a field it already has: no allocation) tells poll that
-- the coroutine ran.
local function woken(self, id, token, entry, ...)
  if token ~= WAKE then
    if self.waiting[id] then
      self.waiting[id] = nil
      self.n_waiting = self.n_waiting - 1
      if not self.closed then self.multi:cancel(id) end
    end
    stray_resume()
  end
  entry.taken = true
  return ...
end

--- A transport: the one interface every operation goes through (the curl
-- transport, the multi transport, the resty transport, or your own object
-- with send(spec)).
-- @type transport

--- Sends one request. In a coroutine (multi) it yields until client:poll()
-- has its answer; in the main thread, or with the curl transport, it blocks.
-- @tparam table spec `method`, `url`, `headers` (name -> value), `body`,
-- `timeout_ms`, `connect_timeout_ms`, `max_response_bytes`
-- @treturn int status
-- @treturn table headers (lower-case names)
-- @treturn string body
-- @return nil, msg, err on failure (kind `transport`: `timeout`, `closed`, ...)
-- @function transport:send
function Transport:send(spec)
  if self.closed then return closed_error("the transport is closed") end
  local multi = self.multi
  local id, msg, err = multi:start(spec)
  if not id then return nil, msg, err end
  local co = current_coroutine()
  if co then
    self.waiting[id] = co
    self.n_waiting = self.n_waiting + 1
    return woken(self, id, yield())
  end
  -- Other transfers that finish meanwhile stay queued in C for poll.
  repeat multi:perform(MAIN_SLICE_MS) until multi:is_finished(id)
  return multi:result(id)
end

--- Waits ms milliseconds: the retry backoff. A coroutine waits on a timer that
-- poll fires (multi), or ngx.sleep (resty); the main thread blocks, still
-- driving (and keeping) other transfers.
-- @int ms
-- @function transport:sleep
function Transport:sleep(ms)
  local co = current_coroutine()
  if co then
    local timer = { at = now_ms() + ms, co = co }
    self.timers[#self.timers + 1] = timer
    local token, entry = yield()
    if token ~= WAKE then
      timer.co = nil -- expire_timers drops it
      stray_resume()
    end
    entry.taken = true
    return
  end
  local deadline = now_ms() + ms
  while not self.closed do
    local left = deadline - now_ms()
    if left <= 0 then return end
    self.multi:perform(left)
  end
end

-- A coroutine raised err: tells the handler, else on_log, else stderr (see
-- the top of this file). A handler or logger that raises itself is reported
-- to the next one down, never to the loop.
local function report(self, co, err)
  local ok, text = pcall(tostring, err)
  local trace = traceback(co, ok and text or "(an error value whose __tostring raised)")
  local handler = self.on_error
  if handler then
    local handled, herr = pcall(handler, trace, co, err)
    if handled then return end
    trace = trace .. "\n(on_error raised: " .. tostring(herr) .. ")"
  end
  local on_log = self.on_log
  if on_log and pcall(on_log, "error", "a coroutine raised: " .. trace) then return end
  io.stderr:write("vonage: a coroutine raised: ", trace, "\n")
end

-- Starts co (spawn); an error inside it ends only co, and is reported.
local function wake(self, co, ...)
  local ok, err = resume(co, ...)
  if not ok then report(self, co, err) end
end

-- A due entry: the coroutine co, resumed with WAKE, the entry, a, b, c.
-- Every field exists from the start, so filling it in allocates nothing.
local function due_entry(co, a, b, c)
  return { co = co, a = a, b = b, c = c, taken = false, ready = true }
end

-- Resumes the first due entry's coroutine, and removes the entry once the
-- coroutine took it or ended; an error inside it ends only co, and is
-- reported. Returns true, and whether a coroutine ran (a stale entry is
-- only dropped). A resume that failed before co ran (no memory to move the
-- values onto its stack: co is still suspended and did not take the entry)
-- keeps the entry first, now with an out_of_memory result, and returns
-- false: the next poll hands that over. A memory error raised by resume
-- itself keeps the entry as it was.
local function wake_first(self, due)
  local entry = due[1]
  local co = entry.co
  if not entry.ready or co_status(co) ~= "suspended" then -- stale, closed or resumed elsewhere
    remove(due, 1)
    return true, false
  end
  local ok, err = resume(co, WAKE, entry, entry.a, entry.b, entry.c)
  if entry.taken or co_status(co) ~= "suspended" then
    remove(due, 1)
    if not ok then report(self, co, err) end
    return true, true
  end
  local _, msg, oom = errors.fail("transport", "out_of_memory",
                                  "out of memory: the answer could not be handed over")
  entry.a, entry.b, entry.c = nil, msg, oom
  return false
end

-- Moves expired timers (every timer once closed) to the due queue, in
-- deadline order; returns the earliest deadline left, or nil. A memory error
-- drops none: a timer leaves the list (loses its co) only once its entry is
-- in the due queue, and the list is swapped only at the end.
local function expire_timers(self)
  local timers, due = self.timers, self.due
  if timers[1] == nil then return nil end -- the common poll: no garbage
  local t = now_ms()
  local expired, kept, next_at = {}, {}, nil
  for i = 1, #timers do
    local timer = timers[i] -- one without co was abandoned by a stray resume: dropped
    if timer.co and (self.closed or timer.at <= t) then
      expired[#expired + 1] = timer
    elseif timer.co then
      kept[#kept + 1] = timer
      next_at = next_at and min(next_at, timer.at) or timer.at
    end
  end
  sort(expired, function(a, b) return a.at < b.at end)
  for i = 1, #expired do
    local entry = due_entry(expired[i].co)
    due[#due + 1] = entry
    expired[i].co = nil
  end
  self.timers = kept
  return next_at
end

--- How many transfers and timers are pending (multi).
-- @treturn int
-- @function transport:pending
function Transport:pending()
  return self.n_waiting + #self.timers + #self.due
end

-- Once closed: moves every waiting coroutine to the due queue with
-- "closed", in the order their transfers started. A waiter leaves waiting
-- only once its entry is queued, so a memory error here leaves the rest for
-- the next close or poll.
local function settle_closed(self)
  if self.n_waiting == 0 then return end
  local ids = {}
  for id in pairs(self.waiting) do ids[#ids + 1] = id end
  sort(ids)
  local due = self.due
  for _, id in ipairs(ids) do
    if id ~= self.taking then -- else its answer is being taken: it gets that
      local _, msg, err = closed_error("the transport was closed before the answer came")
      local entry = due_entry(self.waiting[id], nil, msg, err)
      due[#due + 1] = entry
      self.waiting[id] = nil
      self.n_waiting = self.n_waiting - 1
    end
  end
end

-- Moves every finished transfer into the due queue at `at`, then after it,
-- in the order they finished, so none of them waits in C where a close
-- would drop an answer that came. A finished id stays first in C's queue
-- until result or cancel takes it: should result raise (memory), the entry
-- queued for it is left stale (wake_first drops it) and the next poll hands
-- the id over. A finalizer may close the transport at any allocation here:
-- self.taking (true, or the id whose result is being read) keeps that
-- close from taking again and from answering this one coroutine "closed".
local function take_finished(self, at)
  if self.taking then return end -- a close inside a take: the take goes on
  local due, multi = self.due, self.multi
  self.taking = true
  while not self.closed do
    local id = multi:next_finished()
    if not id then break end
    local co = self.waiting[id]
    if co then
      local entry = due_entry(co)
      entry.ready = false
      insert(due, at, entry)
      at = at + 1
      if self.closed then break end -- closed meanwhile: co is answered "closed", entry stays stale
      self.taking = id
      entry.a, entry.b, entry.c = multi:result(id)
      entry.ready = true
      self.waiting[id] = nil
      self.n_waiting = self.n_waiting - 1
      self.taking = true
    else
      multi:cancel(id) -- its coroutine gave up on it
    end
  end
  self.taking = false
end

-- One round: wait for at most timeout_ms (less when a timer is due sooner,
-- not at all when something is ready), drive the transfers, queue what is
-- done, then resume the due coroutines, oldest first: what an earlier round
-- left due, then the answers that came in, then the timers that fired. At
-- most resume_per_poll of them: each resume runs Lua (the answer's decoding,
-- the next call's encoding), so the cap bounds the round by count however
-- many answers came in at once. The rest stay due, in order, and the next
-- round starts with them, without waiting: whatever keeps coming in queues
-- behind them, so nothing due is starved. A coroutine's error is reported
-- and the round goes on; should anything else raise, what was not resumed
-- yet stays queued for the next poll.
local function drive(self, timeout_ms)
  local due, multi = self.due, self.multi -- close() appends to due, never replaces it
  self.taking = false -- left set only by a take that raised (memory)
  if self.closed then settle_closed(self) end
  local carried = #due -- left by an earlier round: the new answers queue behind these
  -- Once closed there is nothing to drive, and every timer fires at once.
  local next_at = expire_timers(self)
  if not self.closed then
    -- Idle too, perform waits out timeout_ms (curl_multi_poll sleeps with
    -- nothing in flight): a loop waiting out its frame in poll never spins.
    local wait = timeout_ms
    if due[1] or multi:next_finished() then wait = 0 end
    if next_at then wait = min(wait, max(0, next_at - now_ms())) end
    multi:perform(wait)
    if next_at then expire_timers(self) end
    take_finished(self, carried + 1)
  end
  local budget = self.resume_per_poll
  while budget > 0 and due[1] do
    local ok, ran = wake_first(self, due)
    if not ok then return end -- memory: the rest next poll
    if ran then budget = budget - 1 end
  end
end

--- Drives the transfers and resumes each coroutine whose answer is in, at
-- most multi_resume_per_poll of them, oldest first (multi; client:poll calls
-- it). The rest stay due for the next poll, which then does not wait. With
-- nothing ready it waits timeout_ms (or until activity), idle or not. Raises
-- when called from a coroutine it resumed.
-- @int[opt=0] timeout_ms how long to wait for activity, 0..MAX
-- @treturn int the transfers and timers still pending (0: idle)
-- @usage while t:poll(16) > 0 do end
-- @function transport:poll
function Transport:poll(timeout_ms)
  local op = "poll"
  validate.typed(op, "timeout_ms", timeout_ms, "integer")
  timeout_ms = timeout_ms or POLL.default
  if timeout_ms < POLL.min or timeout_ms > POLL.max then
    errors.misuse(op, format("timeout_ms must be between %d and %d", POLL.min, POLL.max))
  end
  if self.polling then
    errors.misuse(op, "poll is already running: call it from the main loop, not from a coroutine it resumed")
  end
  self.polling = true
  local ok, err = pcall(drive, self, timeout_ms)
  self.polling = false
  if not ok then error(err, 0) end
  return self:pending()
end

--- Drops the transfers in flight; their coroutines get `closed` at the next
-- poll, and a later send answers `closed`. Safe twice; also `__close` and `__gc`.
-- @function transport:close
function Transport:close()
  if not self.closed then
    -- Answers that came but no poll took yet (a main-thread call drove the
    -- multi) are taken first: the next polls hand them over, not "closed".
    take_finished(self, #self.due + 1)
    self.closed = true
    self.multi:close()
  end
  settle_closed(self)
end

-- `local t <close> = ...` (Lua 5.4) and a collected transport (5.2+) end
-- the same way as close().
Transport.__close = Transport.close
Transport.__gc = Transport.close

function Transport:__tostring()
  if self.closed then return "vonage.transport.multi (closed)" end
  return "vonage.transport.multi (" .. self.n_waiting .. " in flight, " .. #self.timers .. " sleeping)"
end

--- Runs fn(...) in a new coroutine right away, until its first wait; poll
-- resumes it from there (client:spawn comes here). fn's return values are
-- dropped; an error in it, before or after its first wait, goes to on_error
-- (else on_log, else stderr), never out of poll.
-- @function transport:spawn
-- @tparam function fn
-- @param ... its arguments
-- @treturn thread the coroutine
function Transport:spawn(fn, ...)
  validate.typed("spawn", "fn", fn, "function", true)
  local co = create(fn)
  wake(self, co, ...)
  return co
end

return M
