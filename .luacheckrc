std = "min"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["sandbox/lua/vonage_sandbox"] = { std = "+ngx_lua" }
-- The control client runs in plain Lua (specs, REPL), never inside nginx.
files["sandbox/lua/vonage_sandbox/client.lua"] = { std = "min" }
files["examples/openresty"] = { std = "+ngx_lua" }
