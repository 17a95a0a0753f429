#!/usr/bin/env bash
# Authorization cost under load: IAM GetUser by a user whose access comes from a group's
# AWS managed policy plus an inline policy (every request goes through the policy engine),
# against STS GetCallerIdentity (never authorized), alternating in one run.
#
#   bash bench/enforcement.sh        # ROUNDS (3), DURATION (10s), SKIP_BUILD=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
log() { printf '==> %s\n' "$*" >&2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building the release binary"
    cargo build --release -p latchkey-server --bin latchkey
fi
LATCHKEY="${CARGO_TARGET_DIR:-$ROOT/target}/release/latchkey"
PY="$ROOT/.venv/bin/python"
command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null

WORK="$(mktemp -d -t latchkey-enforce.XXXXXX)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
"$LATCHKEY" init --data "$WORK/data" --json >"$WORK/init.json"
LATCHKEY_LOG=warn "$LATCHKEY" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$URL/healthz" && break; sleep 0.1; done

log "creating a user with group and inline policies, and signing both requests"
"$PY" - "$URL" "$WORK" <<'PYEOF'
import json, os, sys
import boto3, botocore.auth, botocore.awsrequest, botocore.credentials
url, work = sys.argv[1], sys.argv[2]
admin = json.load(open(os.path.join(work, "init.json")))
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id=admin["AccessKeyId"], aws_secret_access_key=admin["SecretAccessKey"])
iam.create_user(UserName="bench")
iam.create_group(GroupName="readers")
iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
iam.add_user_to_group(GroupName="readers", UserName="bench")
iam.put_user_policy(UserName="bench", PolicyName="no-deletes", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"},
                  {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::*:user/${aws:username}",
                   "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]}))
key = iam.create_access_key(UserName="bench")["AccessKey"]
creds = botocore.credentials.Credentials(key["AccessKeyId"], key["SecretAccessKey"])

def script(name, service, body):
    req = botocore.awsrequest.AWSRequest(method="POST", url=url + "/", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    headers.setdefault("Host", url.split("://", 1)[1])
    with open(os.path.join(work, name + ".lua"), "w") as f:
        f.write('wrk.method = "POST"\nwrk.path = "/"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")
        for k, v in headers.items():
            f.write(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n")
        f.write("""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non200 = 0 end
function response(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("non200") end
  io.write(string.format("non-200 responses: %d\\n", n))
end
""")
script("gci", "sts", "Action=GetCallerIdentity&Version=2011-06-15")
script("getuser", "iam", "Action=GetUser&Version=2010-05-08")
PYEOF

for round in $(seq "$ROUNDS"); do
    for name in gci getuser; do
        wrk -t2 -c16 -d"$DURATION" --latency -s "$WORK/$name.lua" "$URL/" >"$WORK/$name-$round.out"
        log "$name round $round: $(grep 'Requests/sec' "$WORK/$name-$round.out" | tr -s ' ') $(grep 'non-200' "$WORK/$name-$round.out")"
    done
done

"$PY" - "$WORK" "$ROUNDS" <<'PYEOF'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def parse(name, r):
    text = open(f"{work}/{name}-{r}.out").read()
    non200 = int(re.search(r"non-200 responses: (\d+)", text).group(1))
    assert non200 == 0, f"{name} round {r}: {non200} non-200 responses"
    def ms(q):
        value, unit = re.search(rf"\s{q}%\s+([\d.]+)(\w+)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), ms("50"), ms("99")
rows = {n: [parse(n, r) for r in range(1, rounds + 1)] for n in ("gci", "getuser")}
med = {n: [statistics.median(x[i] for x in rows[n]) for i in range(3)] for n in rows}
print("| | GetCallerIdentity (no authorization) | GetUser (policy engine) | ratio |")
print("|---|---:|---:|---:|")
print(f"| req/s | {med['gci'][0]:,.0f} | {med['getuser'][0]:,.0f} | {med['getuser'][0]/med['gci'][0]:.2f} |")
print(f"| p50 (ms) | {med['gci'][1]:.3f} | {med['getuser'][1]:.3f} | {med['getuser'][1]/med['gci'][1]:.2f} |")
print(f"| p99 (ms) | {med['gci'][2]:.2f} | {med['getuser'][2]:.2f} | {med['getuser'][2]/med['gci'][2]:.2f} |")
print(f"\nper round req/s: GetCallerIdentity {[round(x[0]) for x in rows['gci']]}, GetUser {[round(x[0]) for x in rows['getuser']]}")
PYEOF
