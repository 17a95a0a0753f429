#!/usr/bin/env python3
"""Start-up time, memory and authentication latency with many users and access keys (SQLite).

    .venv/bin/python bench/scale.py                   # SKIP_BUILD=1 / LATCHKEY_BIN=... reuse a binary
    POPULATED=/path/to/data .venv/bin/python bench/scale.py   # reuse a populated data dir

1. Populate: a fresh SQLite data dir, one `latchkey serve`, USERS (100,000) users with two
   access keys each, through the HTTP API (CreateUser, CreateAccessKey, CreateAccessKey):
   WORKERS (4) processes, each with its own keep-alive connection sending raw SigV4 requests
   (botocore SigV4Auth). Every write goes through the real path (validation, seal, SQLite
   commit with fsync, snapshot update). After WARMUP_S (30) s the rate is projected; if the
   whole would take longer than BUDGET_S (1200) s, the target drops to FALLBACK_USERS (20,000)
   and the results are labelled as such. Populating stops at BUDGET_S regardless.
2. Start-up: `latchkey serve` on the populated dir and on a fresh one, STARTS (3) times each,
   alternating: seconds from spawn to the first /healthz 200, VmRSS/VmHWM right then.
3. Warm-up: 2,000 GetCallerIdentity with the admin key plus 1 per sampled user key (every
   100th key created), then VmRSS/VmHWM again.
4. Latency: `wrk -tTHREADS -cCONNECTIONS -dDURATION --latency` with one signed
   GetCallerIdentity (as bench/load.sh), ROUNDS (3) alternating rounds populated/fresh (admin
   key), and one round on the populated dir signed with a populated user's key.

Environment: USERS, FALLBACK_USERS, WORKERS, WARMUP_S, BUDGET_S, STARTS, ROUNDS, DURATION (10s),
THREADS (2), CONNECTIONS (16), POPULATED, KEEP=1 (keep the temp dir, including the populated
data dir with bench-init.json and bench-keys.json for POPULATED=).
"""

import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkbench as lk  # noqa: E402

USERS = int(os.environ.get("USERS", "100000"))
FALLBACK_USERS = int(os.environ.get("FALLBACK_USERS", "20000"))
WORKERS = int(os.environ.get("WORKERS", "4"))
WARMUP_S = float(os.environ.get("WARMUP_S", "30"))
BUDGET_S = float(os.environ.get("BUDGET_S", "1200"))
STARTS = int(os.environ.get("STARTS", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "10s")
THREADS = int(os.environ.get("THREADS", "2"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "16"))
SAMPLE_EVERY = 100


# --- 1. populate -----------------------------------------------------------------------------

def populate_worker(w, host, akid, secret, target, calls, stop_at, out_path):
    conn = lk.Conn(host)
    samples = []

    def call(params, ok_if_exists=False):
        nonlocal conn
        for attempt in range(3):
            try:
                return conn.call(akid, secret, "iam", params)
            except RuntimeError as e:
                if ok_if_exists and "EntityAlreadyExists" in str(e):
                    return ""
                if attempt == 2:
                    raise
            except OSError:
                if attempt == 2:
                    raise
                conn.close()
                conn = lk.Conn(host)
            time.sleep(0.1)

    i = w
    while i < target.value and time.time() < stop_at.value:
        name = f"u{i:06d}"
        call({"Action": "CreateUser", "UserName": name}, ok_if_exists=True)
        for _ in range(2):
            text = call({"Action": "CreateAccessKey", "UserName": name})
            if i % SAMPLE_EVERY == 0:
                samples.append((lk.xml_field(text, "AccessKeyId"), lk.xml_field(text, "SecretAccessKey")))
        with calls.get_lock():
            calls.value += 3
        i += WORKERS
    conn.close()
    with open(out_path, "w") as f:
        json.dump(samples, f)


def populate(binary, work):
    data = os.path.join(work, "big")
    creds = lk.init(binary, data, cwd=work)
    with open(os.path.join(data, "bench-init.json"), "w") as f:
        json.dump(creds, f)
    server = lk.Server(binary, data, cwd=work)
    server.start()
    target = mp.Value("q", USERS)
    calls = mp.Value("q", 0)
    started = time.time()
    stop_at = mp.Value("d", started + BUDGET_S)
    procs = []
    for w in range(WORKERS):
        p = mp.Process(target=populate_worker, args=(
            w, server.host, creds["AccessKeyId"], creds["SecretAccessKey"], target, calls, stop_at,
            os.path.join(work, f"keys-{w}.json")))
        p.start()
        procs.append(p)
    scaled_down = False
    decided = False
    last_report = started
    while any(p.is_alive() for p in procs):
        time.sleep(1)
        elapsed = time.time() - started
        if not decided and elapsed >= WARMUP_S:
            decided = True
            rate = calls.value / elapsed
            projected = USERS * 3 / rate
            lk.log(f"populate: {rate:.0f} calls/s, {USERS * 3:,} calls projected at {projected:.0f}s")
            if projected > BUDGET_S:
                lk.log(f"populate: over the {BUDGET_S:.0f}s budget; scaling down to {FALLBACK_USERS:,} users")
                target.value = FALLBACK_USERS
                scaled_down = True
        if time.time() - last_report >= 60:
            last_report = time.time()
            lk.log(f"populate: {calls.value:,} calls in {elapsed:.0f}s ({calls.value / elapsed:.0f}/s), "
                   f"server VmRSS {server.status()['VmRSS']:.0f} MiB")
    for p in procs:
        p.join()
    elapsed = time.time() - started
    populate_status = server.status()
    server.stop()
    samples = []
    for w in range(WORKERS):
        with open(os.path.join(work, f"keys-{w}.json")) as f:
            samples += json.load(f)
    with open(os.path.join(data, "bench-keys.json"), "w") as f:
        json.dump(samples, f)
    if any(p.exitcode for p in procs):
        raise RuntimeError("a populate worker failed")
    return data, {"calls": calls.value, "seconds": elapsed, "scaled_down": scaled_down,
                  "server_rss_after_populate": populate_status}


def count_rows(data):
    import sqlite3
    db = sqlite3.connect(f"file:{os.path.join(data, 'latchkey.db')}?mode=ro", uri=True)
    users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    keys = db.execute("SELECT count(*) FROM access_keys").fetchone()[0]
    db.close()
    size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("latchkey.db"))
    return users, keys, size


# --- 4. wrk ------------------------------------------------------------------------------------

def wrk_script(path, body, headers):
    def lua(s):
        return json.dumps(s)
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\nwrk.path = "/"\n')
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


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def run_wrk(url, script):
    out = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", "-s", script, url + "/"],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def p(q):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * UNIT[m.group(2)]
    bad = int(re.search(r"non-200 responses: (\d+)", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p(50), "p99": p(99), "bad": max(bad, int(m.group(1)) if m else 0)}


# --- main --------------------------------------------------------------------------------------

def main():
    binary = lk.build_binary()
    work = tempfile.mkdtemp(prefix="latchkey-scale.")
    servers = []
    try:
        lk.log(lk.machine_note())
        if os.environ.get("POPULATED"):
            big = os.environ["POPULATED"]
            pop = None
        else:
            lk.log(f"populating {USERS:,} users x 2 keys with {WORKERS} workers (budget {BUDGET_S:.0f}s)")
            big, pop = populate(binary, work)
            lk.log(f"populated: {pop}")
        users, keys, size = count_rows(big)
        lk.log(f"populated dir: {users:,} users, {keys:,} access keys, {size / 2**20:.0f} MiB of SQLite")
        with open(os.path.join(big, "bench-init.json")) as f:
            big_creds = json.load(f)
        with open(os.path.join(big, "bench-keys.json")) as f:
            sampled = json.load(f)

        fresh = os.path.join(work, "fresh")
        fresh_creds = lk.init(binary, fresh, cwd=work)

        # 2. start-up, alternating.
        startup = {"big": [], "fresh": []}
        for r in range(STARTS):
            for kind, data in (("big", big), ("fresh", fresh)):
                s = lk.Server(binary, data, cwd=work, log_path=os.path.join(work, f"serve-{kind}.log"))
                t = s.start()
                st = s.status()
                s.stop()
                startup[kind].append((t, st["VmRSS"], st["VmHWM"]))
                lk.log(f"start-up {kind} #{r + 1}: {t:.3f}s, VmRSS {st['VmRSS']:.1f} MiB, VmHWM {st['VmHWM']:.1f} MiB")

        # 3. warm-up, with both servers kept running for wrk.
        sb = lk.Server(binary, big, cwd=work, log_path=os.path.join(work, "serve-big.log"))
        sf = lk.Server(binary, fresh, cwd=work, log_path=os.path.join(work, "serve-fresh.log"))
        servers += [sb, sf]
        sb.start()
        sf.start()
        warm = {}
        for kind, s, creds, extra in (("big", sb, big_creds, sampled), ("fresh", sf, fresh_creds, [])):
            before = s.status()
            c = lk.Conn(s.host)
            req = lk.sign(s.host, creds["AccessKeyId"], creds["SecretAccessKey"], "sts", {"Action": "GetCallerIdentity"})
            for _ in range(2000):
                status, _ = c.send(*req)
                assert status == 200, status
            refused = 0
            for akid, secret in extra:
                status, _ = c.send(*lk.sign(s.host, akid, secret, "sts", {"Action": "GetCallerIdentity"}))
                refused += status != 200
            c.close()
            after = s.status()
            warm[kind] = (before, after, len(extra), refused)
            lk.log(f"warm-up {kind}: {before} -> {after}, {len(extra)} user keys ({refused} refused)")

        # 4. wrk, alternating.
        scripts = {}
        for kind, s, (akid, secret) in (("big", sb, (big_creds["AccessKeyId"], big_creds["SecretAccessKey"])),
                                        ("fresh", sf, (fresh_creds["AccessKeyId"], fresh_creds["SecretAccessKey"])),
                                        ("big-userkey", sb, tuple(sampled[len(sampled) // 2]))):
            path = os.path.join(work, f"gci-{kind}.lua")
            wrk_script(path, *lk.sign(s.host, akid, secret, "sts", {"Action": "GetCallerIdentity"}))
            scripts[kind] = (s.url, path)
        lat = {"big": [], "fresh": [], "big-userkey": []}
        lk.log(f"wrk: {lk.machine_note()}")
        for r in range(ROUNDS):
            for kind in ("big", "fresh"):
                lat[kind].append(run_wrk(*scripts[kind]))
                lk.log(f"wrk {kind} #{r + 1}: {lat[kind][-1]}")
        lat["big-userkey"].append(run_wrk(*scripts["big-userkey"]))
        lk.log(f"wrk big-userkey: {lat['big-userkey'][-1]}")
        final = {"big": sb.status(), "fresh": sf.status()}

        # --- report ---
        med = lk.median
        print(f"\nmachine: {lk.machine_note()}")
        if pop:
            print(f"\npopulate: {pop['calls']:,} calls in {pop['seconds']:.0f}s = {pop['calls'] / pop['seconds']:.0f} calls/s "
                  f"with {WORKERS} workers{' (SCALED DOWN)' if pop['scaled_down'] else ''}; "
                  f"populating server at the end: {pop['server_rss_after_populate']}")
        print(f"populated data dir: {users:,} users, {keys:,} access keys, SQLite {size / 2**20:.0f} MiB")
        print(f"\n### Start-up ({STARTS} starts each, alternating; spawn to first /healthz 200)\n")
        print("| data dir | start-up median (s) | all (s) | VmRSS after start (MiB) | VmHWM (MiB) |")
        print("|---|---:|---|---:|---:|")
        for kind in ("big", "fresh"):
            v = startup[kind]
            print(f"| {kind} | {med([x[0] for x in v]):.3f} | {' / '.join(f'{x[0]:.3f}' for x in v)} | "
                  f"{med([x[1] for x in v]):.1f} | {med([x[2] for x in v]):.1f} |")
        print("\n### Memory around the warm-up\n")
        print("| data dir | VmRSS after start | after warm-up | after wrk | VmHWM after wrk | user keys used in warm-up |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in ("big", "fresh"):
            before, after, n, refused = warm[kind]
            print(f"| {kind} | {before['VmRSS']:.1f} | {after['VmRSS']:.1f} | {final[kind]['VmRSS']:.1f} | "
                  f"{final[kind]['VmHWM']:.1f} | {n} ({refused} refused) |")
        print(f"\n### GetCallerIdentity, wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} --latency\n")
        print("| | populated (admin key) | fresh (admin key) | populated/fresh | populated, a user's key (1 round) |")
        print("|---|---:|---:|---:|---:|")
        for key, label, fmt in (("rps", "req/s", "{:,.0f}"), ("p50", "p50 (ms)", "{:.3f}"), ("p99", "p99 (ms)", "{:.3f}")):
            b, f = med([x[key] for x in lat["big"]]), med([x[key] for x in lat["fresh"]])
            u = lat["big-userkey"][0][key]
            print(f"| {label} | {fmt.format(b)} | {fmt.format(f)} | {b / f:.2f} | {fmt.format(u)} |")
        print(f"| non-200 (all runs) | {sum(x['bad'] for x in lat['big'])} | {sum(x['bad'] for x in lat['fresh'])} | | "
              f"{lat['big-userkey'][0]['bad']} |")
        print(f"\nper round req/s: populated {[round(x['rps']) for x in lat['big']]}, fresh {[round(x['rps']) for x in lat['fresh']]}")
    finally:
        for s in servers:
            s.stop()
        if os.environ.get("KEEP", "0") == "1":
            lk.log(f"kept {work}")
        else:
            lk.rmtree(work)


if __name__ == "__main__":
    main()
