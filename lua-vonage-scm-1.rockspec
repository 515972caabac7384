rockspec_format = "3.0"
package = "lua-vonage"
version = "scm-1"
source = {
   url = "git+https://github.com/lua-vonage/lua-vonage.git",
   branch = "main",
}
description = {
   summary = "Vonage Verify v2 and Number Verification for Lua, in C and Lua",
   detailed = [[
      A Lua binding (C core on libcurl and OpenSSL, Lua layer on
      lua-cjson) for the Vonage Verify API v2 and the Number Verification API.
      Runs under Lua 5.1 to 5.4 and LuaJIT (OpenResty).
   ]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1",
   "lua-cjson",
}
-- No header checks for curl: Debian keeps curl/curl.h in the multiarch include
-- directory, where luarocks 3.8 does not look but the compiler does; the library
-- check finds the prefix (lib/<multiarch> included) all the same.
external_dependencies = {
   CURL = { library = "curl" },
   OPENSSL = { header = "openssl/evp.h", library = "crypto" },
}
build = {
   type = "builtin",
   -- Every module of the library, by name (scripts/check-rock holds this list
   -- to lua/vonage/ and to the installed tree; `make install` and the Debian
   -- build install this list, through scripts/rock-modules.lua). The emulator and its control
   -- client live in sandbox/ and are never installed.
   modules = {
      ["vonage"] = "lua/vonage/init.lua",
      ["vonage.api"] = "lua/vonage/api.lua",
      ["vonage.channels"] = "lua/vonage/channels.lua",
      ["vonage.clock"] = "lua/vonage/clock.lua",
      ["vonage.client"] = "lua/vonage/client.lua",
      ["vonage.errors"] = "lua/vonage/errors.lua",
      ["vonage.http1"] = "lua/vonage/http1.lua",
      ["vonage.json"] = "lua/vonage/json.lua",
      ["vonage.number_verification"] = "lua/vonage/number_verification.lua",
      ["vonage.request"] = "lua/vonage/request.lua",
      ["vonage.silent_auth"] = "lua/vonage/silent_auth.lua",
      ["vonage.store"] = "lua/vonage/store.lua",
      ["vonage.template_page"] = "lua/vonage/template_page.lua",
      ["vonage.templates"] = "lua/vonage/templates.lua",
      ["vonage.transport.multi"] = "lua/vonage/transport/multi.lua",
      ["vonage.transport.resty"] = "lua/vonage/transport/resty.lua",
      ["vonage.url"] = "lua/vonage/url.lua",
      ["vonage.validate"] = "lua/vonage/validate.lua",
      ["vonage.verify"] = "lua/vonage/verify.lua",
      ["vonage.webhook"] = "lua/vonage/webhook.lua",
      ["vonage.webhook_receiver"] = "lua/vonage/webhook_receiver.lua",
      ["vonage.core"] = {
         sources = {
            "src/vn_core.c", "src/vn_client.c", "src/vn_crypto.c", "src/vn_error.c", "src/vn_http.c",
            "src/vn_json.c", "src/vn_jwt.c", "src/vn_limits.c", "src/vn_multi.c", "src/vn_request.c", "src/vn_template_page.c", "src/vn_url.c", "src/vn_util.c",
            "src/vn_webhook.c",
         },
         defines = { "VN_VERSION=\"0.2.0\"", "_POSIX_C_SOURCE=200809L" },
         libraries = { "curl", "crypto", "pthread" },
         incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      },
   },
}
