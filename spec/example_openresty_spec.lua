-- examples/openresty/ as `make example-openresty` runs it: scripts/example-
-- openresty starts a sandbox of its own and the app's nginx (lua-vonage
-- installed into the nginx prefix, nginx.conf used as written) and prints
-- curl lines; the spec sends each line as the HTTP request it is, filling in
-- the request_id and code the earlier answers gave, then stops it all.
local H = require "spec.helper"
local cjson = require "cjson"
local http = require "socket.http"

local function sh_out(command)
  local p = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  return out, out:match("exit=(%d+)%s*$") == "0"
end

-- The curl lines of the script's output -> { { method =, url = }, ... }
local function curl_lines(out)
  local list = {}
  for line in out:gmatch("[^\n]+") do
    local method, url = line:match("^  curl %-X (%u+) '([^']+)'$")
    if not method then url = line:match("^  curl '([^']+)'$") end
    if url then list[#list + 1] = { method = method or "GET", url = url } end
  end
  return list
end

local function request(line)
  local chunks = {}
  local _, status = http.request {
    url = line.url, method = line.method, sink = require("ltn12").sink.table(chunks),
    headers = { ["Content-Length"] = line.method == "POST" and "0" or nil },
  }
  return status, cjson.decode(table.concat(chunks))
end

local function metrics_text(url)
  local chunks = {}
  local _, status = http.request { url = url, sink = require("ltn12").sink.table(chunks) }
  assert.equal(200, status)
  return table.concat(chunks)
end

local function pid_alive(pid)
  local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  return ok == true or ok == 0
end

describe("examples/openresty run as make example-openresty does", function()
  local dir = assert(io.popen("mktemp -d /tmp/vonage-example.XXXXXX")):read("*l")
  local script = ("sh %s/scripts/example-openresty"):format(H.ROOT)

  it("answers each curl line it prints: start, outbox, check, the signed callbacks, the metrics", function()
    local out, ok = sh_out(("%s start %s"):format(script, dir))
    assert.is_true(ok, out)
    local env = H.read(dir .. "/env")
    local app_url, sandbox_url = env:match("APP_URL=(%S+)"), env:match("VONAGE_SANDBOX_URL=(%S+)")
    local pid = env:match("NGINX_PID=(%d+)")
    -- its own sandbox, not the suite's; its nginx from the example's file
    assert.are_not.equal(H.url, sandbox_url)
    assert.equal(H.ROOT .. "/examples/openresty/nginx.conf",
      assert(io.popen("readlink " .. dir .. "/conf/nginx.conf")):read("*l"))
    local f = io.open(dir .. "/lib/lua/5.1/vonage/core.so")
    assert.truthy(f, "lua-vonage is installed into the prefix")
    f:close()

    local lines = curl_lines(out)
    assert.same({ "POST " .. app_url .. "/verify/start?to=447700900000",
                  "GET " .. sandbox_url .. "/_sandbox/outbox?to=447700900000",
                  "POST " .. app_url .. "/verify/check?id=REQUEST_ID&code=CODE",
                  "GET " .. app_url .. "/received", "GET " .. app_url .. "/metrics" },
      { lines[1].method .. " " .. lines[1].url, lines[2].method .. " " .. lines[2].url,
        lines[3].method .. " " .. lines[3].url, lines[4].method .. " " .. lines[4].url,
        lines[5].method .. " " .. lines[5].url })

    local status, started = request(lines[1])
    assert.equal(200, status)
    assert.truthy(started.request_id:match("^%x+%-%x+%-%x+%-%x+%-%x+$"), started.request_id)
    local outbox
    status, outbox = request(lines[2])
    assert.equal(200, status)
    local sent = outbox.messages[#outbox.messages]
    assert.same({ started.request_id, "sms" }, { sent.request_id, sent.channel })
    lines[3].url = lines[3].url:gsub("REQUEST_ID", started.request_id):gsub("CODE", sent.code)
    local checked
    status, checked = request(lines[3])
    assert.same({ 200, "completed" }, { status, checked.status })
    local events = H.eventually(function()
      local _, received = request(lines[4])
      return #received.events >= 2 and received.events
    end, "the app did not receive the two callbacks")
    assert.same({ "event", "completed", started.request_id },
      { events[1].type, events[1].status, events[1].request_id })
    assert.same({ "summary", "completed" }, { events[2].type, events[2].status })

    -- The app's clients counted their calls in the shared dict: one start and
    -- one check, both answered (whichever worker made them).
    local text = metrics_text(lines[5].url)
    assert.equal("1", text:match('vonage_requests_total{op="start_verification",code="ok"} (%d+)'), text)
    assert.equal("1", text:match('vonage_requests_total{op="check",code="ok"} (%d+)'), text)

    out, ok = sh_out(("%s stop %s"):format(script, dir))
    assert.is_true(ok, out)
    assert.is_false(pid_alive(pid))
    assert.is_nil(io.open(dir .. "/env"))
  end)
end)
