#!/usr/bin/env bash
# The audit trail's cost on the request path: STS GetCallerIdentity under wrk against the
# same data directory, served with the audit trail on (the default) and off
# (`audit = false` in the configuration file), in alternating rounds.
#
#   bash bench/audit_overhead.sh
#
# Environment knobs: ROUNDS (5), DURATION (10s), THREADS (2), CONNECTIONS (16),
# SKIP_BUILD=1 uses the release binary already built, KEEP=1 keeps the temp dir.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16}"

log() { printf '==> %s\n' "$*" >&2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building the release binary"
    cargo build --release -p latchkey-server --bin latchkey
fi
LATCHKEY="${CARGO_TARGET_DIR:-$ROOT/target}/release/latchkey"
PY="$ROOT/.venv/bin/python"
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

WORK="$(mktemp -d -t latchkey-audit-bench.XXXXXX)"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
"$LATCHKEY" init --data "$WORK/data" --json >"$WORK/init.json" 2>"$WORK/init.log"
printf 'audit = true\n' >"$WORK/on.toml"
printf 'audit = false\n' >"$WORK/off.toml"

start() { # on|off
    LATCHKEY_LOG=warn "$LATCHKEY" serve --config "$WORK/$1.toml" --data "$WORK/data" \
        --listen "127.0.0.1:$PORT" >>"$WORK/latchkey-$1.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$URL/healthz" && return 0
        sleep 0.1
    done
    echo "latchkey did not become ready" >&2
    return 1
}
stop() { kill "$PID"; wait "$PID" || true; PID=""; }
# The server's user + system CPU time so far, in clock ticks: CPU per request is steadier
# than throughput on a machine whose cores wrk and other work share.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

# One GetCallerIdentity request, signed once and replayed (valid for 15 minutes; a run of
# the defaults takes under 3).
"$PY" - "$URL" "$WORK" <<'PYEOF'
import json, os, sys
import botocore.auth, botocore.awsrequest, botocore.credentials
url, work = sys.argv[1], sys.argv[2]
admin = json.load(open(os.path.join(work, "init.json")))
body = "Action=GetCallerIdentity&Version=2011-06-15"
req = botocore.awsrequest.AWSRequest(method="POST", url=url + "/", data=body,
    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
creds = botocore.credentials.Credentials(admin["AccessKeyId"], admin["SecretAccessKey"])
botocore.auth.SigV4Auth(creds, "sts", "us-east-1").add_auth(req)
with open(os.path.join(work, "gci.lua"), "w") as f:
    f.write('wrk.method = "POST"\nwrk.path = "/"\n')
    f.write(f"wrk.body = {json.dumps(body)}\n")
    for name, value in req.headers.items():
        f.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
    f.write("""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non200 = 0 end
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("non200") end
  io.write(string.format("non-200 responses: %d\\n", n))
end
""")
PYEOF

log "load: nproc=$(nproc) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    for mode in on off; do
        start "$mode"
        out="$WORK/wrk-$mode-$round.txt"
        before="$(cpu_ticks)"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/gci.lua" "$URL/" >"$out"
        echo "server cpu ticks: $(( $(cpu_ticks) - before ))" >>"$out"
        stop
        log "audit $mode round $round: $(grep 'Requests/sec' "$out" | tr -s ' ') $(grep 'non-200' "$out") $(grep 'server cpu' "$out")"
    done
done
EVENTS="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select coalesce(sum(event_count), 0) from audit_segments").fetchone()[0])' "$WORK/data/latchkey.db")"

python3 - "$WORK" "$EVENTS" <<'PYEOF'
import glob, os, re, statistics, sys
work, events = sys.argv[1], int(sys.argv[2])
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
def runs(mode):
    rates, cpu = [], []
    for path in sorted(glob.glob(os.path.join(work, f"wrk-{mode}-*.txt"))):
        text = open(path).read()
        assert re.search(r"non-200 responses: 0\b", text), f"{path} had non-200 responses"
        rates.append(float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)))
        served = int(re.search(r"(\d+) requests in", text).group(1))
        ticks = int(re.search(r"server cpu ticks: (\d+)", text).group(1))
        cpu.append(ticks * TICK_US / served)
    return rates, cpu
(on, on_cpu), (off, off_cpu) = runs("on"), runs("off")
median = statistics.median
print("| | audit on | audit off | on/off |")
print("|---|---:|---:|---:|")
print(f"| GetCallerIdentity req/s (median of {len(on)}) | {median(on):,.0f} | "
      f"{median(off):,.0f} | {median(on) / median(off):.2f} |")
print(f"| server CPU µs per request (median) | {median(on_cpu):.1f} | {median(off_cpu):.1f} | "
      f"{median(on_cpu) / median(off_cpu):.2f} |")
print(f"\nper run req/s: on {[round(r) for r in on]}, off {[round(r) for r in off]}")
print(f"per run server CPU µs/request: on {[round(c, 1) for c in on_cpu]}, "
      f"off {[round(c, 1) for c in off_cpu]}")
print(f"events stored by the audit-on rounds: {events:,}")
PYEOF
