-- vonage.store: the same cases (spec/support/store_cases.lua) against every
-- backend: memory in this process, shared_dict inside a two-worker nginx,
-- where single use has to hold across processes.
local H = require "spec.helper"
local http = require "socket.http"
local store = require "vonage.store"
local suite = require "spec.support.store_cases"

local CONF = [[
@MODULES@
@USER@
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
        local store = require "vonage.store"
        local suite = require "spec.support.store_cases"
        local run = ngx.now() .. ":" .. ngx.worker.pid() .. ":"
        local b = {
          new = function() return store.shared_dict(ngx.shared.vonage_store) end,
          small = function() return store.shared_dict(ngx.shared.vonage_small) end,
          advance = ngx.sleep,
          key = function(name) return run .. name end,
        }
        local ok, err = pcall(suite.cases[ngx.req.get_uri_args().name], b)
        ngx.print(ok and "ok" or tostring(err))
      }
    }
    location = /put {
      content_by_lua_block {
        local s = require("vonage.store").shared_dict(ngx.shared.vonage_store)
        local ok, msg = s:put(ngx.var.arg_key, "the-state", 60)
        ngx.print(ok and "stored" or msg)
      }
    }
    location = /take {
      content_by_lua_block {
        local s = require("vonage.store").shared_dict(ngx.shared.vonage_store)
        ngx.print(s:take(ngx.var.arg_key) or "none")
      }
    }
    location = /add {
      content_by_lua_block {
        local s = require("vonage.store").shared_dict(ngx.shared.vonage_store)
        ngx.print(s:add(ngx.var.arg_key, 60) and "fresh" or "seen")
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

  describe("shared_dict in a two-worker nginx", function()
    local server
    setup(function() server = H.nginx(CONF) end)
    teardown(function() if server then server.stop() end end)

    local function get(path) return (http.request(server.url .. path)) end

    for _, name in ipairs(suite.order) do
      it(name, function()
        assert.equal("ok", get("/case?name=" .. name:gsub("[^%w]", function(c)
          return ("%%%02X"):format(c:byte()) end)))
      end)
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

    it("lets exactly one of 32 concurrent takes across both workers win", function()
      for round = 1, 5 do
        local key = "race" .. round
        assert.equal("stored", get("/put?key=" .. key))
        local out = race("/take?key=" .. key)
        local _, wins = out:gsub("the%-state", "")
        local _, misses = out:gsub("none", "")
        assert.equal(1, wins)
        assert.equal(31, misses)
      end
    end)

    it("gives a value to exactly one of two takes in every interleaving of their dict operations", function()
      assert.equal("1024 schedules, failed: ", get("/interleave?what=take"))
    end)

    it("makes exactly one of two adds fresh in every interleaving", function()
      assert.equal("1024 schedules, failed: ", get("/interleave?what=add"))
    end)

    it("lets exactly one of 32 concurrent adds across both workers be fresh", function()
      for round = 1, 5 do
        local out = race("/add?key=jti" .. round)
        local _, fresh = out:gsub("fresh", "")
        local _, seen = out:gsub("seen", "")
        assert.equal(1, fresh)
        assert.equal(31, seen)
      end
    end)
  end)
end)
