# Sourced by the scripts: module paths for the interpreter in $LUA.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LUA=${LUA:-lua5.4}
# VN_BUILD_ROOT lets parallel work trees of one checkout build apart.
BUILD_DIR="${VN_BUILD_ROOT:-$ROOT/build}/$LUA${SANITIZE:+-san}"
# The library, and the sandbox's control client (vonage_sandbox.client) for
# the specs, the examples and the REPL.
SANDBOX_LUA_PATH="$ROOT/sandbox/lua/?.lua;$ROOT/sandbox/lua/?/init.lua"
LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;$SANDBOX_LUA_PATH;;"
LUA_CPATH="$BUILD_DIR/?.so;;"
export LUA_PATH LUA_CPATH
# Lua 5.4 reads LUA_PATH_5_4 first; keep both in step.
LUA_PATH_5_4=$LUA_PATH
LUA_CPATH_5_4=$LUA_CPATH
export LUA_PATH_5_4 LUA_CPATH_5_4

# The sanitizer build needs its runtimes preloaded into the interpreter.
if [ -n "${SANITIZE:-}" ]; then
    SAN_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
fi

# Starts the sandbox in a fresh temporary prefix; sets SANDBOX_DIR and
# exports what it wrote to its env file. The caller traps sandbox_stop.
# sandbox_start [DIR [keep]]
sandbox_start() {
    SANDBOX_DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/vonage-sandbox.XXXXXX")}
    "$ROOT/sandbox/vonage-sandbox" start --dir "$SANDBOX_DIR" >/dev/null
    set -a
    . "$SANDBOX_DIR/env"
    set +a
    # A key pair for the application the specs and examples use.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$SANDBOX_DIR/app.key" 2>/dev/null
    openssl pkey -in "$SANDBOX_DIR/app.key" -pubout -out "$SANDBOX_DIR/app.pub"
    export VONAGE_TEST_PRIVATE_KEY_PATH="$SANDBOX_DIR/app.key"
    export VONAGE_TEST_PUBLIC_KEY_PATH="$SANDBOX_DIR/app.pub"
    sandbox_register_dev_app "${2:-}"
}

# Registers a development application and account with the running sandbox
# and exports the VONAGE_* variables vonage.client.from_env() reads. With
# "keep" (the REPL's sandbox) every host is the sandbox, a control reset
# keeps the credentials, and callbacks go, signed with VONAGE_SIGNATURE_SECRET,
# to the sandbox's own sink until set_callbacks says otherwise.
sandbox_register_dev_app() {
    export VONAGE_APPLICATION_ID="0d5c1b3a-2f4e-4a6b-8c7d-9e0f1a2b3c4d"
    export VONAGE_PRIVATE_KEY_PATH="$SANDBOX_DIR/app.key"
    export VONAGE_API_KEY="devkey01"
    export VONAGE_API_SECRET="dev-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    VN_KEEP=false
    if [ "${1:-}" = keep ]; then
        # Only the REPL's: specs and examples choose their hosts themselves.
        VN_KEEP=true
        export VONAGE_SIGNATURE_SECRET="dev-signature-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
        export VONAGE_NETWORK_HOST="$VONAGE_SANDBOX_URL" VONAGE_OIDC_HOST="$VONAGE_SANDBOX_URL"
    fi
    # Only the sandbox's tree on the path: the control client needs nothing of the library.
    env LD_PRELOAD="${SAN_PRELOAD:-}" LUA_PATH="$SANDBOX_LUA_PATH;;" LUA_PATH_5_4="$SANDBOX_LUA_PATH;;" \
        LUA_CPATH=";;" LUA_CPATH_5_4=";;" VN_KEEP="$VN_KEEP" "$LUA" -e '
      local getenv = os.getenv
      local keep = getenv("VN_KEEP") == "true"
      local sb = require("vonage_sandbox.client").new()
      local f = assert(io.open(getenv("VONAGE_TEST_PUBLIC_KEY_PATH")))
      assert(sb:register_application(getenv("VONAGE_APPLICATION_ID"), f:read("*a"), keep))
      assert(sb:register_account(getenv("VONAGE_API_KEY"), getenv("VONAGE_API_SECRET"), keep))
      if keep then
        assert(sb:set_callbacks { url = getenv("VONAGE_SANDBOX_URL") .. "/_sink/repl",
                                  signature_secret = getenv("VONAGE_SIGNATURE_SECRET"), keep = true })
      end'
}

sandbox_stop() {
    if [ -n "${SANDBOX_DIR:-}" ]; then
        "$ROOT/sandbox/vonage-sandbox" stop --dir "$SANDBOX_DIR" >/dev/null 2>&1 || true
        rm -rf "$SANDBOX_DIR"
        SANDBOX_DIR=
    fi
}
