-- vonage.store: the same cases (spec/support/store_cases.lua) against every
-- backend: memory in this process, shared_dict inside a two-worker nginx,
-- where single use has to hold across processes, and redis (a real
-- redis-server this spec starts) both here (lua-redis, blocking) and inside
-- that nginx (cosockets).
local H = require "spec.helper"
local http = require "socket.http"
local socket = require "socket"
local suite = require "spec.support.store_cases"
local redis_server = require "spec.support.redis_server"
-- Debian's lua-redis installs for Lua 5.1 to 5.3; its file runs on 5.4 too
-- (doc/webhooks.md tells users the same).
if _VERSION == "Lua 5.4" then package.path = package.path .. ";/usr/share/lua/5.3/?.lua" end
local store = require "vonage.store"

local CONF = [[
@MODULES@
@USER@
env VN_REDIS_PORT;
env VN_REDIS_SMALL_PORT;
env VN_REDIS_PASSWORD;
worker_processes 2;
daemon on;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path @PREFIX@/client_body;
  proxy_temp_path @PREFIX@/proxy;
  fastcgi_temp_path @PREFIX@/fastcgi;
  uwsgi_temp_path @PREFIX@/uwsgi;
  scgi_temp_path @PREFIX@/scgi;
  lua_package_path "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;@ROOT@/?.lua;;";
  lua_package_cpath "@CPATH@/?.so;;";
  lua_shared_dict vonage_store 1m;
  lua_shared_dict vonage_small 64k;
  server {
    listen 127.0.0.1:@PORT@;
    location = /case {
      content_by_lua_block {
        local suite = require "spec.support.store_cases"
        local stores = require "spec.support.nginx_stores"
        local run = ngx.now() .. ":" .. ngx.worker.pid() .. ":"
        local backend = ngx.var.arg_backend
        local b = {
          new = function() return stores[backend]() end,
          small = function() return stores[backend .. "_small"]() end,
          advance = ngx.sleep,
          key = function(name) return run .. name end,
        }
        local ok, err = pcall(suite.cases[ngx.req.get_uri_args().name], b)
        ngx.print(ok and "ok" or tostring(err))
      }
    }
    location = /put {
      content_by_lua_block {
        local s = require("spec.support.nginx_stores")[ngx.var.arg_backend]()
        local ok, msg = s:put(ngx.var.arg_key, "the-state", 60)
        ngx.print(ok and "stored" or msg)
      }
    }
    location = /take {
      content_by_lua_block {
        local s = require("spec.support.nginx_stores")[ngx.var.arg_backend]()
        ngx.print(s:take(ngx.var.arg_key) or "none")
      }
    }
    location = /add {
      content_by_lua_block {
        local s = require("spec.support.nginx_stores")[ngx.var.arg_backend]()
        local ok, msg = s:add(ngx.var.arg_key, 60)
        ngx.print(ok and "fresh" or ok == false and "seen" or msg)
      }
    }
    location = /interleave {
      content_by_lua_block {
        local interleave = require "spec.support.store_interleave"
        local runs, failures = interleave(ngx.shared.vonage_store, ngx.var.arg_what)
        ngx.print(runs, " schedules, failed: ", table.concat(failures, " "))
      }
    }
    location = /pid { content_by_lua_block { ngx.print("<", ngx.worker.pid(), ">") } }
  }
}
]]

describe("vonage.store", function()
  local redis, small_redis
  setup(function()
    redis = redis_server.start()
    small_redis = redis_server.start { maxmemory = "3mb", password = redis.password } -- about 1 MB free
  end)
  teardown(function()
    if redis then redis.destroy() end
    if small_redis then small_redis.destroy() end
  end)

  describe("memory", function()
    local t, n = 1000, 0
    local b = {
      new = function() return store.memory { clock = function() return t end } end,
      small = function() return store.memory { max_entries = 4, clock = function() return t end } end,
      advance = function(s) t = t + s end,
      key = function(name) n = n + 1 return name .. n end,
    }
    for _, name in ipairs(suite.order) do
      it(name, function() suite.cases[name](b) end)
    end

    it("lets expired entries make room in a full store", function()
      local s = b.small()
      for i = 1, 4 do assert.is_true(s:add("k" .. i, 10)) end
      local ok, _, err = s:put("late", "v", 60)
      assert.is_nil(ok)
      assert.equal("store_full", err.code)
      assert.equal("vonage.store.memory (4 of 4)", tostring(s))
      t = t + 11
      assert.is_true(s:put("late", "v", 60))
      assert.equal("vonage.store.memory (1 of 4)", tostring(s))
    end)

    -- Each write of a new key may grow a table, so each can raise a memory
    -- error: whichever one does, the key stays unseen and the count right.
    it("leaves a key unseen when any of its table writes fails", function()
      local s = b.new()
      for _, op in ipairs { "add", "put" } do
        for _, name in ipairs { "entries", "values" } do
          local writes = 0
          setmetatable(s[name], { __newindex = function(tbl, k, v)
            writes = writes + 1
            if writes == 1 then error("not enough memory", 0) end
            rawset(tbl, k, v)
          end })
          local key = op .. "-" .. name
          local call = op == "add" and function() return s:add(key, 60) end
                                   or function() return s:put(key, "v", 60) end
          local before = s.count
          local ok, e = pcall(call)
          setmetatable(s[name], nil)
          if writes > 0 then
            assert.is_false(ok)
            assert.equal("not enough memory", e)
            assert.equal(before, s.count)
            assert.is_nil(s:take(key))
            assert.is_true(call())
          else -- an add writes no value
            assert.same({ true, true }, { ok, e })
          end
          assert.equal(before + 1, s.count)
          if op == "add" then assert.is_false(s:add(key, 60)) else assert.equal("v", s:take(key)) end
        end
      end
    end)

    it("raises on bad options", function()
      assert.has_error(function() store.memory { max_entries = 0 } end)
      assert.has_error(function() store.memory { size = 3 } end)
      assert.has_error(function() store.shared_dict({}) end)
    end)
  end)

  describe("redis, blocking (lua-redis)", function()
    local n = 0
    local b = {
      new = function() return store.redis { port = redis.port, password = redis.password } end,
      small = function() return store.redis { port = small_redis.port, password = redis.password } end,
      advance = socket.sleep,
      key = function(name) n = n + 1 return "blocking:" .. name .. n end,
    }
    for _, name in ipairs(suite.order) do
      it(name, function()
        assert.equal("OK", small_redis.command("FLUSHALL"))
        suite.cases[name](b)
      end)
    end

    -- SHA-256 by openssl(1), independent of the module's.
    local function sha256_hex(s)
      local p = assert(io.popen("printf '%s' '" .. s .. "' | env -u LD_PRELOAD openssl dgst -sha256 -r"))
      local hex = p:read("*l"):match("^(%x+)")
      p:close()
      return hex
    end

    it("keeps each entry under prefix .. SHA-256 of its key, in the db it was given", function()
      local s = store.redis { port = redis.port, password = redis.password, db = 3, prefix = "app:" }
      assert.is_true(s:put("the-oauth-state", "the-record", 60))
      assert.is_true(s:add("the-jti", 60))
      local keys = redis.commands({ "SELECT", 3 }, { "KEYS", "*" })
      table.sort(keys)
      local want = { "app:" .. sha256_hex("the-jti"), "app:" .. sha256_hex("the-oauth-state") }
      table.sort(want)
      assert.same(want, keys)
      assert.same({}, redis.commands({ "SELECT", 0 }, { "KEYS", "app:*" }))
      local ttl = redis.commands({ "SELECT", 3 }, { "PTTL", "app:" .. sha256_hex("the-jti") })
      assert.is_true(ttl > 50000 and ttl <= 60000, tostring(ttl))
      assert.equal("the-record", s:take("the-oauth-state"))
      assert.is_true(s:take("the-jti"))
      assert.same({}, redis.commands({ "SELECT", 3 }, { "KEYS", "*" }))
    end)

    it("shows neither its password in tostring nor in its fields, nor in an AUTH error", function()
      local s = store.redis { port = redis.port, password = redis.password }
      assert.equal("vonage.store.redis 127.0.0.1:" .. redis.port .. " db 0 (blocking)", tostring(s))
      for k, v in pairs(s) do
        assert.is_falsy(tostring(v):find(redis.password, 1, true), k)
      end
      local wrong = store.redis { port = redis.port, password = "not-" .. redis.password }
      local ok, msg, err = wrong:put("k", "v", 60)
      assert.is_nil(ok)
      assert.same({ "store", "store_failed" }, { err.kind, err.code }) -- waiting will not mend it
      assert.truthy(msg:find("WRONGPASS", 1, true), msg)
      assert.truthy(msg:find("the password is wrong", 1, true), msg)
      assert.is_falsy(msg:find(redis.password, 1, true))
      local _, _, no_auth = store.redis { port = redis.port }:add("k", 60)
      assert.equal("store_failed", no_auth.code)
      assert.truthy(no_auth.message:find("NOAUTH", 1, true), no_auth.message)
    end)

    it("answers store_unavailable within its timeout when Redis hangs, and works again after", function()
      local s = store.redis { port = redis.port, password = redis.password, timeout_ms = 300 }
      assert.is_true(s:add("before-pause", 60))
      redis.pause()
      local started = socket.gettime()
      local ok, msg, err = s:add("during-pause", 60)
      local took = socket.gettime() - started
      local value, take_msg, take_err = s:take("before-pause")
      redis.resume()
      assert.is_nil(ok)
      assert.equal("store_unavailable", err.code)
      assert.truthy(msg:find("timeout", 1, true), msg)
      assert.is_true(took < 0.9, "took " .. took .. " s") -- 3x timeout_ms
      assert.same({ nil, "store_unavailable" }, { value, take_err.code })
      assert.equal("string", type(take_msg))
      -- Redis ran the timed-out SET once it woke; the store withdrew it (by its nonce)
      assert.is_true(s:add("during-pause", 60))
      assert.is_true(s:take("before-pause"))
    end)

    it("keeps one deadline per call while Redis hangs: the withdrawals queued so far wait inside it", function()
      local s = store.redis { port = redis.port, password = redis.password, timeout_ms = 300 }
      assert.is_true(s:add("warm", 60))
      redis.pause()
      local took = {}
      for i = 1, 4 do
        local started = socket.gettime()
        local ok, _, err = s:add("hung-" .. i, 60) -- each timed-out add queues a withdrawal
        took[i] = socket.gettime() - started
        assert.same({ nil, "store_unavailable" }, { ok, err.code })
      end
      redis.resume()
      for i = 1, 4 do assert.is_true(took[i] < 0.6, "add " .. i .. " took " .. took[i] .. " s") end -- 2x
      for i = 1, 4 do assert.is_true(s:add("hung-" .. i, 60), "hung-" .. i) end -- all withdrawn by then
    end)

    it("answers store_unavailable while Redis is down, and uses a fresh connection once it is back", function()
      local s = store.redis { port = redis.port, password = redis.password }
      assert.is_true(s:put("across-restart", "v", 60))
      redis.stop()
      local ok, msg, err = s:put("while-down", "v", 60)
      local deleted, _, del_err = s:delete("across-restart")
      assert.same({ nil, "store_unavailable", nil, "store_unavailable" }, { ok, err.code, deleted, del_err.code })
      assert.truthy(msg:find("refused", 1, true), msg)
      redis.restart() -- no persistence: what it held is gone
      assert.is_true(s:put("while-down", "v", 60))
      assert.equal("v", s:take("while-down"))
      assert.is_nil(s:take("across-restart"))
    end)

    it("raises on bad options", function()
      for _, bad in ipairs {
        { hots = "127.0.0.1" }, { port = 0 }, { port = 70000 }, { port = "6379" }, { db = -1 },
        { timeout_ms = 0 }, { timeout_ms = 1.5 }, { pool_size = 0 }, { password = "" },
        { password = "a\r\nFLUSHALL" }, { host = "bad host" }, { prefix = ("p"):rep(300) },
      } do
        local ok, e = pcall(store.redis, bad)
        assert.is_false(ok)
        assert.truthy(tostring(e):find("vonage.store.redis", 1, true), tostring(e))
      end
      assert.has_error(function() store.redis "127.0.0.1" end)
    end)
  end)

  describe("shared_dict and redis in a two-worker nginx", function()
    local server
    setup(function()
      server = H.nginx(CONF, ("VN_REDIS_PORT=%d VN_REDIS_SMALL_PORT=%d VN_REDIS_PASSWORD=%s")
        :format(redis.port, small_redis.port, redis.password))
    end)
    teardown(function() if server then server.stop() end end)

    local function get(path) return (http.request(server.url .. path)) end

    for _, backend in ipairs { "shared_dict", "redis" } do
      for _, name in ipairs(suite.order) do
        it(backend .. " " .. name, function()
          if backend == "redis" then assert.equal("OK", small_redis.command("FLUSHALL")) end
          assert.equal("ok", get("/case?backend=" .. backend .. "&name=" .. name:gsub("[^%w]", function(c)
            return ("%%%02X"):format(c:byte()) end)))
        end)
      end
    end

    -- 32 requests at once, spread over both worker processes; one answer a line.
    local function race(path)
      local urls = {}
      for i = 1, 32 do urls[i] = "'" .. server.url .. path .. "'" end
      -- curl is not the code under test: keep the sanitizer runtime out of it
      local p = assert(io.popen("env -u LD_PRELOAD curl -s --max-time 10 --parallel --parallel-immediate "
                                .. "--parallel-max 32 -w '\\n' " .. table.concat(urls, " ") .. " 2>/dev/null"))
      local out = p:read("*a")
      p:close()
      return out
    end

    it("is served by both workers", function()
      -- in parallel and in bounded rounds: sequential connections may all go
      -- to whichever worker is awake
      local pids, count = {}, 0
      for _ = 1, 10 do
        for pid in race("/pid"):gmatch("<(%d+)>") do -- framed: answers may run together
          if not pids[pid] then pids[pid], count = true, count + 1 end
        end
        if count >= 2 then break end
      end
      assert.is_true(count >= 2, count .. " worker(s) answered")
    end)

    for _, backend in ipairs { "shared_dict", "redis" } do
      it("lets exactly one of 32 concurrent takes across both workers win (" .. backend .. ")", function()
        for round = 1, 5 do
          local key = "race" .. round
          assert.equal("stored", get("/put?backend=" .. backend .. "&key=" .. key))
          local out = race("/take?backend=" .. backend .. "&key=" .. key)
          local _, wins = out:gsub("the%-state", "")
          local _, misses = out:gsub("none", "")
          assert.equal(1, wins)
          assert.equal(31, misses)
        end
      end)

      it("lets exactly one of 32 concurrent adds across both workers be fresh (" .. backend .. ")", function()
        for round = 1, 5 do
          local out = race("/add?backend=" .. backend .. "&key=jti" .. round)
          local _, fresh = out:gsub("fresh", "")
          local _, seen = out:gsub("seen", "")
          assert.equal(1, fresh)
          assert.equal(31, seen)
        end
      end)
    end

    it("withdraws an add that timed out once Redis answers again (redis, from a timer)", function()
      redis.pause()
      local during = get("/add?backend=redis_fast&key=paused")
      redis.resume()
      assert.truthy(during:find("store:add: redis 127.0.0.1:" .. redis.port .. " is unavailable: timeout", 1, true),
                    during)
      -- Redis applied the late SET when it woke; without the withdrawal it would
      -- live for its 60 s ttl and every add would say "seen"
      H.eventually(function() return get("/add?backend=redis&key=paused") == "fresh" end,
                   "the timed-out add was not withdrawn")
      assert.equal("seen", get("/add?backend=redis&key=paused"))
    end)

    it("gives a value to exactly one of two takes in every interleaving of their dict operations", function()
      assert.equal("1024 schedules, failed: ", get("/interleave?what=take"))
    end)

    it("makes exactly one of two adds fresh in every interleaving", function()
      assert.equal("1024 schedules, failed: ", get("/interleave?what=add"))
    end)
  end)
end)
