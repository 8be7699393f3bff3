#!/usr/bin/env bash
# End-to-end benchmark (issue 6): the host in its own process on a fresh data
# directory, the load generator in another, and the same load generator against a
# stock moov-io/iso8583-connection echo server (cmd/echohost, same dialect), for three
# configurations: 1 conn x 1, 4 x 64 and 16 x 256 requests in flight, closed loop,
# payments only on the PC link. Prints one table with payments/s, echo/s, their ratio,
# p50/p99 and errors; a CPU profile of the host during the 4x64 run is written to
# $BENCH_OUT/cpu-4x64.pprof (go tool pprof -top bin/bench/billswitch FILE).
#
# Environment: BENCH_SECS (measured seconds per run, default 5), BENCH_WARMUP (default
# 1s), BENCH_OUT (results directory, default bin/bench-out), BENCH_ACCOUNTS (accounts paid
# in turn, default: the host's load accounts when `serve --demo-load-accounts` exists,
# else 1000000001), BENCH_AMOUNT (minor units per payment, default 1), GO (default go).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
SECS=${BENCH_SECS:-5}
WARMUP=${BENCH_WARMUP:-1s}
OUT=${BENCH_OUT:-bin/bench-out}
AMOUNT=${BENCH_AMOUNT:-1}
BIN=bin/bench
mkdir -p "$OUT" "$BIN"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-e2e.XXXXXX")

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== building"
$GO build -o "$BIN/" ./cmd/billswitch ./cmd/loadgen ./cmd/echohost

# wait_for FILE PATTERN PID SECONDS: until PATTERN appears in FILE.
wait_for() {
  local file=$1 pat=$2 pid=$3 n=$(( $4 * 10 ))
  while ! grep -q "$pat" "$file" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "process $pid exited:"; tail -20 "$file"; exit 1; fi
    n=$((n - 1)); if [ "$n" -le 0 ]; then echo "timed out waiting for '$pat' in $file"; tail -20 "$file"; exit 1; fi
    sleep 0.1
  done
}

# json_addr FILE KEY: the address logged under KEY in the "listeners ready" line.
json_addr() {
  grep 'listeners ready' "$1" | head -1 | grep -oE "\"$2\":\"[^\"]*\"" | cut -d'"' -f4
}

echo "== starting the echo server"
"$BIN/echohost" --link pc --addr 127.0.0.1:0 >"$WORK/echo.log" 2>&1 &
pids+=($!); echo_pid=$!
wait_for "$WORK/echo.log" "listening on" "$echo_pid" 10
ECHO_ADDR=$(grep -oE 'listening on [^ ]+' "$WORK/echo.log" | cut -d' ' -f3)

load_flag=()
accounts=${BENCH_ACCOUNTS:-}
if "$BIN/billswitch" serve --help 2>&1 | grep -q -- '-demo-load-accounts'; then
  load_flag=(--demo-load-accounts 1000)
  accounts=${accounts:-9000000001-9000001000}
fi
accounts=${accounts:-1000000001}

echo "== starting the host on a fresh data directory"
"$BIN/billswitch" serve --demo "${load_flag[@]}" --data "$WORK/data" \
  --pc-addr 127.0.0.1:0 --term-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
  >"$WORK/host.log" 2>&1 &
pids+=($!); host_pid=$!
wait_for "$WORK/host.log" "listeners ready" "$host_pid" 60
PC_ADDR=$(json_addr "$WORK/host.log" pc_addr)
ADMIN_ADDR=$(json_addr "$WORK/host.log" admin_addr)
echo "host PC link $PC_ADDR, admin $ADMIN_ADDR; echo server $ECHO_ADDR; accounts $accounts"

run_load() { # LABEL TARGET ADDR CONNS INFLIGHT
  "$BIN/loadgen" --link pc --addr "$3" --conns "$4" --inflight "$5" \
    --duration "${SECS}s" --warmup "$WARMUP" --timeout 10s --mix payment=100 \
    --accounts "$accounts" --amount "$AMOUNT" --json >"$OUT/$1-$2.json" 2>"$OUT/$1-$2.err" \
    || { echo "loadgen $1 $2 failed:"; cat "$OUT/$1-$2.err"; }
}

rows=()
for cfg in "1x1 1 1" "4x64 4 64" "16x256 16 256"; do
  set -- $cfg
  label=$1
  echo "== $label: echo server"
  run_load "$label" echo "$ECHO_ADDR" "$2" "$3"
  echo "== $label: host (payments)"
  prof_pid=
  if [ "$label" = 4x64 ] && [ -n "$ADMIN_ADDR" ] && command -v curl >/dev/null; then
    secs=${SECS%%.*}; [ "$secs" -ge 1 ] || secs=1
    ( sleep "${WARMUP%s}"; curl -fsS -o "$OUT/cpu-4x64.pprof" \
        "http://$ADMIN_ADDR/debug/pprof/profile?seconds=$secs" 2>/dev/null \
        || echo "(no CPU profile: admin port has no /debug/pprof)" ) &
    prof_pid=$!
  fi
  run_load "$label" host "$PC_ADDR" "$2" "$3"
  [ -n "$prof_pid" ] && wait "$prof_pid" || true
  rows+=("$label" "$OUT/$label-host.json" "$OUT/$label-echo.json")
done

cp "$WORK/host.log" "$OUT/host.log"
echo
echo "== end-to-end benchmark: durable payments on the host vs a stock moov-io echo server ($(nproc) CPUs, ${SECS}s per run)"
"$BIN/loadgen" compare --check 4x64 --min-ratio 0.7 --max-p99 20 "${rows[@]}" | tee "$OUT/table.txt"
[ -s "$OUT/cpu-4x64.pprof" ] && echo "CPU profile of the host under 4x64: $OUT/cpu-4x64.pprof (go tool pprof -top $BIN/billswitch $OUT/cpu-4x64.pprof)"
exit 0
