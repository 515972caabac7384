set -e
. /work/wt/lead12/scripts/env.sh
trap sandbox_stop EXIT INT TERM
sandbox_start
${PERF:-} lua5.4 $ROOT/bench/stall.lua
