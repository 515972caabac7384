-- The ngx.shared.DICT state store inside a real nginx with two workers: the
-- single-use guarantee has to hold across processes, not just in one Lua state.
local H = require "spec.helper"
local http = require "socket.http"

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
  lua_package_path "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;;";
  lua_package_cpath "@CPATH@/?.so;;";
  lua_shared_dict vonage_states 1m;
  server {
    listen 127.0.0.1:@PORT@;
    location = /put {
      content_by_lua_block {
        local store = require("vonage.state_store").shared_dict(ngx.shared.vonage_states)
        local args = ngx.req.get_uri_args()
        local ok, msg = store:put(args.key, args.value, tonumber(args.ttl))
        ngx.print(ok and "stored" or msg)
      }
    }
    location = /take {
      content_by_lua_block {
        local store = require("vonage.state_store").shared_dict(ngx.shared.vonage_states)
        ngx.print(store:take(ngx.var.arg_key) or "none")
      }
    }
    location = /pid { content_by_lua_block { ngx.print(ngx.worker.pid()) } }
  }
}
]]

describe("the ngx.shared.DICT state store", function()
  local server
  setup(function() server = H.nginx(CONF) end)
  teardown(function() if server then server.stop() end end)

  local function get(path) return (http.request(server.url .. path)) end

  it("gives a state back once", function()
    assert.equal("stored", get("/put?key=s1&value=bound-to-alice&ttl=60"))
    assert.equal("bound-to-alice", get("/take?key=s1"))
    assert.equal("none", get("/take?key=s1"))
    assert.equal("none", get("/take?key=never-stored"))
  end)

  it("never overwrites a pending state", function()
    assert.equal("stored", get("/put?key=s2&value=first&ttl=60"))
    assert.are_not.equal("stored", get("/put?key=s2&value=second&ttl=60"))
    assert.equal("first", get("/take?key=s2"))
  end)

  it("lets exactly one of many concurrent takes across both workers win", function()
    -- both workers answer (the race is between processes, not coroutines)
    -- (in parallel and in bounded rounds: sequential connections may all go
    -- to whichever worker is awake)
    local pids, n = {}, 0
    for _ = 1, 10 do
      local p = assert(io.popen("env -u LD_PRELOAD curl -s --max-time 10 --parallel --parallel-max 16 "
                                .. string.rep("'" .. server.url .. "/pid' -w '\\n' ", 16) .. " 2>/dev/null"))
      for pid in p:read("*a"):gmatch("%d+") do
        if not pids[pid] then pids[pid], n = true, n + 1 end
      end
      p:close()
      if n >= 2 then break end
    end
    assert.equal(2, n)
    for round = 1, 5 do
      local key = "race" .. round
      assert.equal("stored", get("/put?key=" .. key .. "&value=the-state&ttl=60"))
      local urls = {}
      for i = 1, 32 do urls[i] = "'" .. server.url .. "/take?key=" .. key .. "'" end
      -- curl is not the code under test: keep the sanitizer runtime out of it
      local p = assert(io.popen("env -u LD_PRELOAD curl -s --max-time 10 --parallel --parallel-immediate "
                                .. "--parallel-max 32 " .. table.concat(urls, " ") .. " 2>/dev/null"))
      local out = p:read("*a")
      p:close()
      local _, wins = out:gsub("the%-state", "")
      local _, misses = out:gsub("none", "")
      assert.equal(1, wins)
      assert.equal(31, misses)
    end
  end)
end)
