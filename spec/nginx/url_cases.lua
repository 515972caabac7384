-- The URL table of spec/url_policy_spec.lua, also read inside nginx by
-- spec/nginx/resty_app.lua, so both sides judge the same list.
-- Each case: { url, accepted } where accepted names the purposes that take
-- it: "a" api (a request the client sends), "r" redirect (a URL a device
-- follows), "h" host (a client host option). "" is refused by all three.
-- No accepted case names a non-loopback IP address: the resty transport
-- connects to what it accepts, and nothing may leave the machine.
local long_ok = "https://api.example/" .. ("a"):rep(4096 - #"https://api.example/")
local too_long = long_ok .. "a"

return {
  -- https anywhere; schemes and host names are case-insensitive
  { "https://api.nexmo.com", "arh" },
  { "HTTPS://API.Nexmo.COM", "arh" },
  { "https://api.nexmo.com:443", "arh" },
  { "https://api-eu.vonage.com:8443", "arh" },
  { "https://x_y.example", "arh" },
  { "https://api.nexmo.com/", "ar" },
  { "https://api.nexmo.com/v2/verify?x=1&y=%20", "ar" },
  { "https://api.nexmo.com?x=1", "ar" },
  { "https://app.example/sa#request_id=1&code=2", "r" },
  { "https://[::ffff:127.0.0.1]", "arh" },
  { "https://0.0.0.0", "arh" },
  { "https://[::1]:443", "arh" },
  { long_ok, "ar" },
  -- plain http to loopback
  { "http://localhost", "arh" },
  { "http://LOCALHOST:8080", "arh" },
  { "http://127.0.0.1", "arh" },
  { "http://127.0.0.1:8080/x", "ar" },
  { "HTTP://127.0.0.1:8080/x", "ar" },
  { "http://127.1.2.3:1", "arh" },
  { "http://127.255.255.255:65535", "arh" },
  { "http://[::1]", "arh" },
  { "http://[::1]:8080", "arh" },
  { "http://[0:0:0:0:0:0:0:1]:8080", "arh" },
  { "http://[0000:0000:0000:0000:0000:0000:0000:0001]", "arh" },
  { "http://127.0.0.1/cb#frag", "r" },
  -- plain http elsewhere, or to what only looks like loopback
  { "http://api.example.com", "" },
  { "http://0.0.0.0", "" },
  { "http://[::]", "" },
  { "http://[::2]/", "" },
  { "http://[::ffff:127.0.0.1]/", "" },
  { "http://[::ffff:8.8.8.8]/", "" },
  { "http://[::127.0.0.1]/", "" },
  { "http://sub.localhost/", "" },
  { "http://localhost./", "" },
  { "http://localhost.example/", "" },
  { "http://127.0.0.1.example/", "" },
  -- IPv4 in forms inet_aton or libcurl read differently
  { "http://127.1/", "" },
  { "http://0x7f.0.0.1/", "" },
  { "http://0x7f000001/", "" },
  { "http://2130706433/", "" },
  { "http://0177.0.0.1/", "" },
  { "http://127.0.0.01/", "" },
  { "http://127.0.0.256/", "" },
  { "http://1.2.3.4.5/", "" },
  { "https://1.2.3/", "" },
  -- host names
  { "https://api.nexmo.com.", "" },
  { "https://api..example/", "" },
  { "https://.api.example/", "" },
  { "https://ap\195\169.example/", "" },
  { "http://[::1]x/", "" },
  { "http://[::1/", "" },
  { "http://[::1%25lo]/", "" },
  { "http://[fe80::1%eth0]/", "" },
  -- userinfo, for every purpose
  { "http://user@127.0.0.1/", "" },
  { "https://u:p@api.nexmo.com/", "" },
  { "https://api.nexmo.com@evil.example/", "" },
  { "https://@api.nexmo.com/", "" },
  -- percent-encoded hosts
  { "http://%31%32%37.0.0.1/", "" },
  { "https://api%2enexmo.com/", "" },
  -- ports
  { "http://127.0.0.1:0/", "" },
  { "http://127.0.0.1:65536/", "" },
  { "http://127.0.0.1:99999/", "" },
  { "http://127.0.0.1:/", "" },
  { "http://127.0.0.1:8x/", "" },
  { "http://127.0.0.1:-1/", "" },
  -- other schemes
  { "ftp://127.0.0.1/", "" },
  { "file:///etc/passwd", "" },
  { "ws://127.0.0.1/", "" },
  { "wss://api.nexmo.com/", "" },
  { "javascript:alert(1)", "" },
  { "data:text/html,x", "" },
  { "gopher://127.0.0.1:70/", "" },
  { "httpx://api.nexmo.com", "" },
  -- not absolute, or no host
  { "https:/api.nexmo.com", "" },
  { "https:api.nexmo.com", "" },
  { "//api.nexmo.com/x", "" },
  { "/v2/verify", "" },
  { "", "" },
  { "https://", "" },
  { "https:///x", "" },
  { "http://:8080/", "" },
  -- whitespace, control bytes, NUL
  { "https://api.nexmo.com /x", "" },
  { " https://api.nexmo.com", "" },
  { "https://api.nexmo.com/x\r\nHost: evil", "" },
  { "https://api.nexmo.com/\nx", "" },
  { "https://api.nexmo.com/\tx", "" },
  { "https://api.nexmo.com\0.evil.example/", "" },
  { "https://api.nexmo.com/\127", "" },
  -- length
  { too_long, "" },
}
