# Sourced by the scripts: module paths for the interpreter in $LUA.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LUA=${LUA:-lua5.4}
BUILD_DIR="$ROOT/build/$LUA${SANITIZE:+-san}"
LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
LUA_CPATH="$BUILD_DIR/?.so;;"
export LUA_PATH LUA_CPATH
# Lua 5.4 reads LUA_PATH_5_4 first; keep both in step.
LUA_PATH_5_4=$LUA_PATH
LUA_CPATH_5_4=$LUA_CPATH
export LUA_PATH_5_4 LUA_CPATH_5_4

# Starts the sandbox in a fresh temporary prefix; sets SANDBOX_DIR and
# exports what it wrote to its env file. The caller traps sandbox_stop.
sandbox_start() {
    SANDBOX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vonage-sandbox.XXXXXX")
    "$ROOT/sandbox/vonage-sandbox" start --dir "$SANDBOX_DIR" >/dev/null
    set -a
    . "$SANDBOX_DIR/env"
    set +a
    # A key pair for the application the specs and examples use.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$SANDBOX_DIR/app.key" 2>/dev/null
    openssl pkey -in "$SANDBOX_DIR/app.key" -pubout -out "$SANDBOX_DIR/app.pub"
    export VONAGE_TEST_PRIVATE_KEY_PATH="$SANDBOX_DIR/app.key"
    export VONAGE_TEST_PUBLIC_KEY_PATH="$SANDBOX_DIR/app.pub"
}

sandbox_stop() {
    if [ -n "${SANDBOX_DIR:-}" ]; then
        "$ROOT/sandbox/vonage-sandbox" stop --dir "$SANDBOX_DIR" >/dev/null 2>&1 || true
        rm -rf "$SANDBOX_DIR"
        SANDBOX_DIR=
    fi
}
