#!/usr/bin/env bash
# End-to-end benchmark (issue 6). The same load generator drives, in turn:
#   1. a stock moov-io/iso8583-connection echo server (cmd/echohost: a trivial 0210,
#      same pc87a dialect), then
#   2. the host (`billswitch serve --demo`) in its own process on a fresh data directory,
# each for three configurations — 1 conn x 1, 4 x 64, 16 x 256 requests in flight,
# closed loop, payments only on the PC link — one target at a time, so neither runs
# beside the other. Prints one table: payments/s, echo/s, their ratio, p50/p99, errors,
# and whether 4x64 meets the targets. A CPU profile of the host during its 4x64 run is
# written to $BENCH_OUT/cpu-4x64.pprof.
#
# 4x64, the configuration with targets, then runs BENCH_ROUNDS rounds in all (default 3):
# each further round is an echo run followed by a host run (restarted on the same data
# directory), and the verdict takes the median round's ratio, with p99 and errors
# required in every round (loadgen compare, simulators.VerdictRounds).
#
# Environment: BENCH_SECS (measured seconds per run, default 5), BENCH_WARMUP (whole
# seconds of warm-up per run, default 1), BENCH_OUT (results, default bin/bench-out),
# BENCH_ACCOUNTS (accounts paid in turn; default 1000 load accounts 9000000001-9000001000
# from `serve --demo-load-accounts` if the host has it, else from a providersim debt list
# applied with `billswitch import`, else 1000000001 alone), BENCH_AMOUNT (minor units per
# payment, default 1), BENCH_HOST_FLAGS (extra `billswitch serve` flags, e.g.
# "--log-level warn"; default none: the host as deployed), GO (default go).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
SECS=${BENCH_SECS:-5}
WARMUP=${BENCH_WARMUP:-1}
OUT=${BENCH_OUT:-bin/bench-out}
AMOUNT=${BENCH_AMOUNT:-1}
HOST_FLAGS=${BENCH_HOST_FLAGS:-}
BIN=bin/bench
ROUNDS=${BENCH_ROUNDS:-3}
CONFIGS=("1x1 1 1" "4x64 4 64" "16x256 16 256")
mkdir -p "$OUT" "$BIN"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/*.json "$OUT"/*.err "$OUT/cpu-4x64.pprof"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a whole number ≥ 1, not '$ROUNDS'"; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-e2e.XXXXXX")

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# tcp_up PORT: something accepts connections on 127.0.0.1:PORT.
tcp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID LOG: until PORT accepts (fails when PID exits or after 60 s).
wait_port() {
  local n=600
  until tcp_up "$1"; do
    if ! kill -0 "$2" 2>/dev/null; then echo "process $2 exited:"; tail -20 "$3"; exit 1; fi
    n=$((n - 1)); if [ "$n" -le 0 ]; then echo "nothing listens on port $1 after 60 s"; tail -20 "$3"; exit 1; fi
    sleep 0.1
  done
}

run_load() { # LABEL TARGET ADDR CONNS INFLIGHT ACCOUNTS
  "$BIN/loadgen" --link pc --addr "$3" --conns "$4" --inflight "$5" \
    --duration "${SECS}s" --warmup "${WARMUP}s" --timeout 10s --mix payment=100 \
    --accounts "$6" --amount "$AMOUNT" --json >"$OUT/$1-$2.json" 2>"$OUT/$1-$2.err" \
    || { echo "loadgen $1 $2 failed:"; cat "$OUT/$1-$2.err"; }
}

# start_echo: the echo server on ECHO_PORT (sets echo_pid).
start_echo() {
  "$BIN/echohost" --link pc --addr "127.0.0.1:$ECHO_PORT" >"$WORK/echo.log" 2>&1 &
  echo_pid=$!; pids+=("$echo_pid")
  wait_port "$ECHO_PORT" "$echo_pid" "$WORK/echo.log"
}

# start_host DATA LOG: the host on data directory DATA, logging to LOG (sets host_pid).
start_host() {
  # shellcheck disable=SC2086 # HOST_FLAGS is a list of flags
  "$BIN/billswitch" serve --demo "${load_flag[@]}" --data "$1" \
    --pc-addr "127.0.0.1:$PC_PORT" --term-addr "127.0.0.1:$TERM_PORT" \
    --http-addr "127.0.0.1:$HTTP_PORT" --admin-addr "127.0.0.1:$ADMIN_PORT" \
    $HOST_FLAGS >"$2" 2>&1 &
  host_pid=$!; pids+=("$host_pid")
  wait_port "$PC_PORT" "$host_pid" "$2"
  wait_port "$ADMIN_PORT" "$host_pid" "$2"
}

echo "== building"
$GO build -o "$BIN/" ./cmd/billswitch ./cmd/loadgen ./cmd/echohost ./cmd/providersim

# Payments on one account serialize on its lock in the host; spread them over load
# accounts: the host's own --demo-load-accounts when it has one, else a debt list of
# 1000 accounts (providersim) applied with `billswitch import` after the demo is seeded.
load_flag=()
accounts=${BENCH_ACCOUNTS:-}
import_load=
if [ -z "$accounts" ]; then
  if "$BIN/billswitch" serve --help 2>&1 | grep -q -- '-demo-load-accounts'; then
    load_flag=(--demo-load-accounts 1000)
    accounts=9000000001-9000001000
  else
    import_load=1
  fi
fi
read -r ECHO_PORT PC_PORT TERM_PORT HTTP_PORT ADMIN_PORT <<<"$("$BIN/loadgen" ports 5 | tr '\n' ' ')"

echo "== echo server (stock moov-io/iso8583-connection, pc87a) on 127.0.0.1:$ECHO_PORT"
start_echo
for cfg in "${CONFIGS[@]}"; do
  read -r label conns inflight <<<"$cfg"
  echo "   $label"
  # the echo server does not care; the same 10-digit numbers keep the frames the same size
  run_load "$label" echo "127.0.0.1:$ECHO_PORT" "$conns" "$inflight" "${accounts:-9000000001-9000001000}"
done
stop "$echo_pid"

if [ -n "$import_load" ]; then
  # serve once to seed the demo, then import the load accounts into the same directory
  "$BIN/billswitch" serve --demo --data "$WORK/data" --pc-addr "127.0.0.1:$PC_PORT" --term-addr "" \
    --http-addr "" --admin-addr "" >"$WORK/seed.log" 2>&1 &
  seed_pid=$!; pids+=("$seed_pid")
  wait_port "$PC_PORT" "$seed_pid" "$WORK/seed.log"
  stop "$seed_pid"
  "$BIN/providersim" debts --provider AZERISIQ --accounts 1000 --amount 100000.00 --out "$WORK/load.xml"
  if "$BIN/billswitch" import --data "$WORK/data" --demo "$WORK/load.xml" >"$WORK/import.log" 2>&1; then
    accounts=9000000001-9000001000
    cp -r "$WORK/data" "$WORK/seeded"
    echo "   load accounts imported: $(tail -1 "$WORK/import.log")"
  else
    echo "   (no load accounts: billswitch import failed: $(tail -1 "$WORK/import.log"); paying 1000000001 only)"
  fi
fi
accounts=${accounts:-1000000001}

echo "== host on a fresh data directory, PC link 127.0.0.1:$PC_PORT, admin 127.0.0.1:$ADMIN_PORT, accounts $accounts ${HOST_FLAGS:+(flags: $HOST_FLAGS)}"
start_host "$WORK/data" "$WORK/host.log"
for cfg in "${CONFIGS[@]}"; do
  read -r label conns inflight <<<"$cfg"
  echo "   $label"
  prof_pid=
  if [ "$label" = 4x64 ] && command -v curl >/dev/null; then
    ( sleep "$WARMUP"; curl -fsS -o "$OUT/cpu-4x64.pprof" \
        "http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$SECS" 2>/dev/null \
        || echo "   (no CPU profile: the admin port has no /debug/pprof)" ) &
    prof_pid=$!
  fi
  run_load "$label" host "127.0.0.1:$PC_PORT" "$conns" "$inflight" "$accounts"
  if [ -n "$prof_pid" ]; then wait "$prof_pid" || true; fi
done
stop "$host_pid"
cp "$WORK/host.log" "$OUT/host.log"

# More rounds of 4x64, each an echo run then a host run (a new host process on a fresh
# data directory, as in the first round), so that the verdict rests on the median round
# and not on one run that caught the machine busy or idle.
for ((round = 2; round <= ROUNDS; round++)); do
  echo "== 4x64 round $round of $ROUNDS"
  start_echo
  run_load "4x64-r$round" echo "127.0.0.1:$ECHO_PORT" 4 64 "${accounts}"
  stop "$echo_pid"
  data="$WORK/data-r$round"
  if [ -n "$import_load" ]; then cp -r "$WORK/seeded" "$data"; fi
  start_host "$data" "$WORK/host-r$round.log"
  run_load "4x64-r$round" host "127.0.0.1:$PC_PORT" 4 64 "$accounts"
  stop "$host_pid"
  rm -rf "$data"
done

rows=()
for cfg in "${CONFIGS[@]}"; do
  read -r label _ _ <<<"$cfg"
  rows+=("$label" "$OUT/$label-host.json" "$OUT/$label-echo.json")
  if [ "$label" = 4x64 ]; then
    for ((round = 2; round <= ROUNDS; round++)); do
      rows+=("$label" "$OUT/4x64-r$round-host.json" "$OUT/4x64-r$round-echo.json")
    done
  fi
done
echo
echo "== end-to-end benchmark: durable payments on the host vs a stock moov-io echo server ($(nproc) CPUs, ${SECS}s per run after ${WARMUP}s warm-up)"
"$BIN/loadgen" compare --check 4x64 --min-ratio 0.7 --max-p99 20 "${rows[@]}" | tee "$OUT/table.txt"
if [ -s "$OUT/cpu-4x64.pprof" ]; then
  echo
  echo "== the host's CPU under 4x64 (top 20 by cumulative time; whole profile: go tool pprof -http=: $BIN/billswitch $OUT/cpu-4x64.pprof)"
  $GO tool pprof -top -cum -nodecount=20 "$BIN/billswitch" "$OUT/cpu-4x64.pprof" 2>/dev/null \
    | sed -n '/flat%/,$p' | tee "$OUT/cpu-4x64.top" || true
fi
echo "results: $OUT"
