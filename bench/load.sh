#!/usr/bin/env bash
# HTTP load benchmark: latchkey's STS GetCallerIdentity against a minimal axum server
# doing the same SigV4 work (crates/server/examples/sigv4_baseline.rs), then IAM
# CreateUser+CreateAccessKey pairs/s (bench/write_pairs.py).
#
#   bash bench/load.sh
#
# Environment knobs: ROUNDS (3), DURATION (10s), THREADS (2), CONNECTIONS (16),
# PAIRS (300), KEEP=1 keeps the temp dir (data dir, logs, raw wrk output),
# SKIP_BUILD=1 uses the release binaries already in the target directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16}"
PAIRS="${PAIRS:-300}"

log() { printf '==> %s\n' "$*" >&2; }

# --- build -------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    cargo build --release -p latchkey-server --bin latchkey --example sigv4_baseline
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LATCHKEY="$TARGET_DIR/release/latchkey"
BASELINE="$TARGET_DIR/release/examples/sigv4_baseline"

# --- tools -------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
    log "creating .venv"
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q -r "$ROOT/tests/requirements.txt"
fi

# --- servers -----------------------------------------------------------------------
WORK="$(mktemp -d -t latchkey-bench.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LK_PORT="$(free_port)"
BL_PORT="$(free_port)"
while [ "$BL_PORT" = "$LK_PORT" ]; do BL_PORT="$(free_port)"; done
LK_URL="http://127.0.0.1:$LK_PORT"
BL_URL="http://127.0.0.1:$BL_PORT"

"$LATCHKEY" init --data "$WORK/data" --json >"$WORK/init.json" 2>"$WORK/init.log"
AKID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$WORK/init.json")"
SECRET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["SecretAccessKey"])' "$WORK/init.json")"

LATCHKEY_LOG=warn "$LATCHKEY" serve --data "$WORK/data" --listen "127.0.0.1:$LK_PORT" >"$WORK/latchkey.log" 2>&1 &
PIDS+=($!)
"$BASELINE" --listen "127.0.0.1:$BL_PORT" --access-key-id "$AKID" --secret "$SECRET" >"$WORK/baseline.log" 2>&1 &
PIDS+=($!)

wait_ready() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1/healthz" && return 0
        sleep 0.1
    done
    echo "server at $1 did not become ready" >&2
    return 1
}
wait_ready "$LK_URL"
wait_ready "$BL_URL"

# --- one signed request --------------------------------------------------------------
# Signed once for latchkey's host; the baseline gets the very same bytes (neither server
# looks at Host beyond the signature). Valid for the 15-minute skew window.
log "signing one STS GetCallerIdentity request"
AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="$SECRET" "$PY" - "$LK_URL" "$WORK" <<'EOF'
import json, os, sys
import botocore.auth, botocore.awsrequest, botocore.credentials

url, work = sys.argv[1], sys.argv[2]
body = "Action=GetCallerIdentity&Version=2011-06-15"
req = botocore.awsrequest.AWSRequest(
    method="POST", url=url + "/", data=body,
    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
)
creds = botocore.credentials.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
botocore.auth.SigV4Auth(creds, "sts", "us-east-1").add_auth(req)
headers = dict(req.headers.items())
headers.setdefault("Host", url.split("://", 1)[1])

def lua(s):
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal here (ASCII)

with open(os.path.join(work, "gci.lua"), "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write("wrk.path = \"/\"\n")
    f.write(f"wrk.body = {lua(body)}\n")
    for name, value in headers.items():
        f.write(f"wrk.headers[{lua(name)}] = {lua(value)}\n")
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
with open(os.path.join(work, "curl.args"), "w") as f:
    for name, value in headers.items():
        f.write(f"-H\n{name}: {value}\n")
with open(os.path.join(work, "body"), "w") as f:
    f.write(body)
EOF

check() {
    local url="$1" name="$2" code
    code="$(xargs -d '\n' -a "$WORK/curl.args" curl -s -o "$WORK/$name.check" -w '%{http_code}' \
        -X POST --data-binary @"$WORK/body" "$url/")"
    if [ "$code" != 200 ]; then
        echo "$name answered $code to the signed request:" >&2
        cat "$WORK/$name.check" >&2
        exit 1
    fi
    log "$name answers 200"
}
check "$LK_URL" latchkey
check "$BL_URL" baseline

# --- load --------------------------------------------------------------------------
log "load: nproc=$(nproc) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
run_wrk() { # name url tag threads connections
    local out="$WORK/wrk-$1-$3.txt"
    wrk -t"$4" -c"$5" -d"$DURATION" --latency -s "$WORK/gci.lua" "$2/" >"$out"
    log "$1 $3: $(grep 'Requests/sec' "$out" | tr -s ' ') $(grep 'non-200' "$out")"
}
for round in $(seq "$ROUNDS"); do
    run_wrk latchkey "$LK_URL" "c$CONNECTIONS-r$round" "$THREADS" "$CONNECTIONS"
    run_wrk baseline "$BL_URL" "c$CONNECTIONS-r$round" "$THREADS" "$CONNECTIONS"
done
run_wrk latchkey "$LK_URL" "c1-r1" 1 1
run_wrk baseline "$BL_URL" "c1-r1" 1 1

python3 - "$WORK" "$THREADS" "$CONNECTIONS" "$DURATION" <<'EOF'
import glob, os, re, statistics, sys

work, threads, conns, duration = sys.argv[1:]
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

def parse(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        return float(m.group(1)) * UNIT[m.group(2)]
    # The Lua hook counts non-200s; wrk itself reports non-2xx/3xx. Take the larger.
    bad = int(re.search(r"non-200 responses: (\d+)", text).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    bad = max(bad, int(m.group(1)) if m else 0)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "bad": bad,
            "sock": errors.group(1) if errors else ""}

def runs(name, tag):
    return [parse(p) for p in sorted(glob.glob(os.path.join(work, f"wrk-{name}-{tag}*.txt")))]

def table(tag, title):
    lk, bl = runs("latchkey", tag), runs("baseline", tag)
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print(f"\n### {title} (median of {len(lk)} run(s))\n")
    print("| | latchkey | baseline | latchkey/baseline |")
    print("|---|---:|---:|---:|")
    for key, label, fmt in (("rps", "req/s", "{:,.0f}"), ("p50", "p50 (ms)", "{:.3f}"), ("p99", "p99 (ms)", "{:.3f}")):
        a, b = med(lk, key), med(bl, key)
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.2f} |")
    print(f"| non-200 responses (all runs) | {sum(r['bad'] for r in lk)} | {sum(r['bad'] for r in bl)} | |")
    print(f"\nper run req/s: latchkey {[round(r['rps']) for r in lk]}, baseline {[round(r['rps']) for r in bl]}")
    for name, rs in (("latchkey", lk), ("baseline", bl)):
        for r in rs:
            if r["sock"]:
                print(f"socket errors ({name}): {r['sock']}")

table(f"c{conns}-r", f"GetCallerIdentity, wrk -t{threads} -c{conns} -d{duration}")
table("c1-r", f"GetCallerIdentity, single connection, wrk -t1 -c1 -d{duration}")
EOF

# --- writes ------------------------------------------------------------------------
log "write pairs against the same latchkey"
echo
"$PY" "$ROOT/bench/write_pairs.py" --endpoint "$LK_URL" --access-key-id "$AKID" --secret "$SECRET" --pairs "$PAIRS"
