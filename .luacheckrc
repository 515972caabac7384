std = "min"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["lua/vonage/sandbox"] = { std = "+ngx_lua" }
files["examples/webhook_openresty"] = { std = "+ngx_lua" }
