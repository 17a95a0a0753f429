#!/usr/bin/env python3
"""Several instances on PostgreSQL: write pairs/s on SQLite vs PostgreSQL, and propagation
time between two instances on one database.

    .venv/bin/python bench/multi_instance.py          # SKIP_BUILD=1 / LATCHKEY_BIN=... reuse a binary

1. Write pairs: bench/write_pairs.py (CreateUser + CreateAccessKey, one boto3 client,
   sequential, --pairs 300 in batches of 100) against a fresh SQLite data dir and against a
   fresh PostgreSQL database, one instance each, alternating ROUNDS (2) times.
2. Propagation: instances A and B on one fresh PostgreSQL database (one data dir, so one
   master.key; different ports). N (200) times: CreateAccessKey at A, then poll B with a
   GetCallerIdentity signed with the new key until it answers 200; then UpdateAccessKey
   Status=Inactive at A, then poll B with the same request until it is refused. The time is
   from A's response (fully read) to B's first changed answer (fully read). Requests are raw
   SigV4 (botocore SigV4Auth, signed once, replayed) over http.client keep-alive connections;
   the floor is one poll round trip against B, measured with a key B already knows.
   Each wait gives up after POLL_TIMEOUT (5) s and counts as a timeout.

Environment: ROUNDS, N, PAIRS, POLL_TIMEOUT, PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/test),
KEEP=1 keeps the temp dir. Databases it creates are dropped at the end.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkbench as lk  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "2"))
N = int(os.environ.get("N", "200"))
PAIRS = int(os.environ.get("PAIRS", "300"))
POLL_TIMEOUT = float(os.environ.get("POLL_TIMEOUT", "5"))
PY = sys.executable


def write_pairs(server, creds):
    out = subprocess.run(
        [PY, os.path.join(lk.ROOT, "bench", "write_pairs.py"), "--endpoint", server.url,
         "--access-key-id", creds["AccessKeyId"], "--secret", creds["SecretAccessKey"],
         "--pairs", str(PAIRS)],
        check=True, capture_output=True, text=True).stdout
    batches = [float(x) for x in re.findall(r"= ([\d.]+) pairs/s", out)]
    return lk.median(batches), batches


first_rtt = []  # the round trip of the first poll after each write


def poll_until(conn, body, headers, want_ok, deadline):
    """Replays one signed request until its status is (or is no longer) 200.
    Returns (time of the first changed answer, polls) or (None, polls) at the deadline."""
    polls = 0
    while True:
        sent = time.perf_counter()
        status, _ = conn.send(body, headers)
        polls += 1
        now = time.perf_counter()
        if polls == 1:
            first_rtt.append(now - sent)
        if (status == 200) == want_ok:
            return now, polls
        if now > deadline:
            return None, polls


def propagation(binary, work, creds, url):
    data = os.path.join(work, "prop-data")
    a = lk.Server(binary, data, store=url, cwd=work)
    b = lk.Server(binary, data, store=url, cwd=work)
    servers = [a, b]
    try:
        a.start()
        b.start()
        admin = (creds["AccessKeyId"], creds["SecretAccessKey"])
        ca, cb = lk.Conn(a.host), lk.Conn(b.host)

        # The floor: one poll round trip against B with a key it already knows (and the same
        # with a refused key: the refusal path may cost differently).
        gci = lk.sign(b.host, *admin, "sts", {"Action": "GetCallerIdentity"})
        bad = lk.sign(b.host, "AKIAAAAAAAAAAAAAAAAA", "x" * 40, "sts", {"Action": "GetCallerIdentity"})
        for _ in range(200):
            cb.send(*gci)
        floor_ok, floor_bad = [], []
        for _ in range(2000):
            t = time.perf_counter(); cb.send(*gci); floor_ok.append(time.perf_counter() - t)
            t = time.perf_counter(); cb.send(*bad); floor_bad.append(time.perf_counter() - t)

        new_key, deact, new_polls, deact_polls, write_rtt = [], [], [], [], []
        timeouts = {"new": 0, "deactivated": 0}
        run = os.urandom(3).hex()
        for i in range(N):
            user = f"prop-{run}-{i}"
            ca.call(*admin, "iam", {"Action": "CreateUser", "UserName": user})
            # New key: visible at B?
            t = time.perf_counter()
            text = ca.call(*admin, "iam", {"Action": "CreateAccessKey", "UserName": user})
            t0 = time.perf_counter()
            write_rtt.append(t0 - t)
            akid, secret = lk.xml_field(text, "AccessKeyId"), lk.xml_field(text, "SecretAccessKey")
            # Signing happens after t0 and is counted; it is ~0.1 ms, measured below.
            body, headers = lk.sign(b.host, akid, secret, "sts", {"Action": "GetCallerIdentity"})
            t1, polls = poll_until(cb, body, headers, True, t0 + POLL_TIMEOUT)
            if t1 is None:
                timeouts["new"] += 1
                continue
            new_key.append(t1 - t0)
            new_polls.append(polls)
            # Deactivated key: refused at B?
            t = time.perf_counter()
            ca.call(*admin, "iam", {"Action": "UpdateAccessKey", "UserName": user,
                                    "AccessKeyId": akid, "Status": "Inactive"})
            t0 = time.perf_counter()
            write_rtt.append(t0 - t)
            t1, polls = poll_until(cb, body, headers, False, t0 + POLL_TIMEOUT)
            if t1 is None:
                timeouts["deactivated"] += 1
                continue
            deact.append(t1 - t0)
            deact_polls.append(polls)

        sign_cost = []
        for _ in range(500):
            t = time.perf_counter()
            lk.sign(b.host, *admin, "sts", {"Action": "GetCallerIdentity"})
            sign_cost.append(time.perf_counter() - t)
        ca.close(); cb.close()
        return {
            "floor_ok": floor_ok, "floor_bad": floor_bad, "sign": sign_cost,
            "new": new_key, "deact": deact, "new_polls": new_polls, "deact_polls": deact_polls,
            "write_rtt": write_rtt, "timeouts": timeouts,
        }
    finally:
        for s in servers:
            s.stop()


def ms(x):
    return f"{x * 1e3:.3f}"


def main():
    binary = lk.build_binary()
    work = tempfile.mkdtemp(prefix="latchkey-multi.")
    dbs = []
    try:
        lk.log(lk.machine_note())
        pg = lk.pg_settings()
        lk.log(f"postgres: {pg}")

        # 1. write pairs, SQLite vs PostgreSQL, alternating.
        results = {"sqlite": [], "postgres": []}
        for r in range(ROUNDS):
            for kind in ("sqlite", "postgres"):
                data = os.path.join(work, f"w-{kind}-{r}")
                url = None
                if kind == "postgres":
                    name, url = lk.create_database("lkbench_writes")
                    dbs.append(name)
                creds = lk.init(binary, data, url, cwd=work)
                s = lk.Server(binary, data, store=url, cwd=work)
                try:
                    s.start()
                    med, batches = write_pairs(s, creds)
                finally:
                    s.stop()
                results[kind].append((med, batches))
                lk.log(f"write pairs {kind} round {r + 1}: median {med:.1f}/s, batches {batches}")
                if kind == "postgres":
                    lk.drop_database(name)
                    dbs.remove(name)

        # 2. propagation.
        name, url = lk.create_database("lkbench_prop")
        dbs.append(name)
        creds = lk.init(binary, os.path.join(work, "prop-data"), url, cwd=work)
        lk.log(f"propagation: N={N}, {lk.machine_note()}")
        p = propagation(binary, work, creds, url)

        print(f"\nmachine: {lk.machine_note()}")
        print(f"postgres: {pg}")
        print(f"\n### Write pairs/s (write_pairs.py, {PAIRS} pairs in batches of 100, {ROUNDS} alternating rounds)\n")
        print("| store | median of round medians | per round (median of 3 batches) | batches |")
        print("|---|---:|---|---|")
        meds = {}
        for kind in ("sqlite", "postgres"):
            rounds = results[kind]
            meds[kind] = lk.median([m for m, _ in rounds])
            print(f"| {kind} | {meds[kind]:.1f} | {' / '.join(f'{m:.1f}' for m, _ in rounds)} | "
                  f"{'; '.join(' '.join(f'{b:.0f}' for b in bs) for _, bs in rounds)} |")
        print(f"\npostgres/sqlite: {meds['postgres'] / meds['sqlite']:.2f}")

        print(f"\n### Propagation A -> B (N={N}, ms)\n")
        print("| | median | p90 | p99 | max | median polls | first poll already changed | timeouts |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, key, pk, tk in (("new key visible at B", "new", "new_polls", "new"),
                                   ("deactivated key refused at B", "deact", "deact_polls", "deactivated")):
            v = p[key]
            first = sum(1 for x in p[pk] if x == 1)
            print(f"| {label} | {ms(lk.median(v))} | {ms(lk.pct(v, 90))} | {ms(lk.pct(v, 99))} | {ms(max(v))} | "
                  f"{lk.median(p[pk]):.0f} | {first}/{len(v)} | {p['timeouts'][tk]} |")
        print("\nclient floor (ms): "
              f"poll round trip, accepted key: median {ms(lk.median(p['floor_ok']))}, p99 {ms(lk.pct(p['floor_ok'], 99))}; "
              f"refused key: median {ms(lk.median(p['floor_bad']))}, p99 {ms(lk.pct(p['floor_bad'], 99))}; "
              f"signing one request (botocore SigV4Auth, counted in 'new key'): median {ms(lk.median(p['sign']))}")
        print(f"round trip of the first poll after each write (B and PostgreSQL are catching up meanwhile): "
              f"median {ms(lk.median(first_rtt))}, p99 {ms(lk.pct(first_rtt, 99))}")
        print(f"write round trip at A (CreateAccessKey / UpdateAccessKey on PostgreSQL, raw HTTP): "
              f"median {ms(lk.median(p['write_rtt']))}, p99 {ms(lk.pct(p['write_rtt'], 99))}")
    finally:
        for name in dbs:
            lk.drop_database(name)
        if os.environ.get("KEEP", "0") == "1":
            lk.log(f"kept {work}")
        else:
            lk.rmtree(work)


if __name__ == "__main__":
    main()
