#!/usr/bin/env python3
"""Crash safety: write from several clients, SIGKILL the server at random moments, restart it,
and check that every write whose response was received is there and works.

    .venv/bin/python tests/reliability/crash.py --store sqlite --kills 200
    .venv/bin/python tests/reliability/crash.py --store postgres --kills 50

(SKIP_BUILD=1 or LATCHKEY_BIN=... reuse a binary; the default builds target/release/latchkey.)

Clients (--clients, 4) loop, each with its own boto3 client (one attempt, no retries), through
a cycle of acknowledged writes: CreateUser, CreateAccessKey, PutUserPolicy (an inline policy
allowing iam:GetUser on the user itself), and every third cycle a second CreateAccessKey that
is then deleted. A write counts only when its 200 response was read; a request cut off by a
kill is unknown and ignored. The killer sleeps a random 0.1-0.8 s, sends SIGKILL, and starts
the server again on the same data directory (or database) and port; the server must start
every time (a corrupt store would refuse to load).

Checks, every --check-every kills and at the end, against the restarted server:
  users      every acknowledged user exists (GetUser as the administrator),
  keys       every acknowledged key authenticates as its user (GetCallerIdentity),
  policies   every acknowledged inline policy applies (the user's key may GetUser itself),
  deletes    every acknowledged DeleteAccessKey holds (the deleted key is refused),
and at the end, on SQLite, `PRAGMA integrity_check` of the stopped database. A failed check
is a loss (or a resurrection); the script exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import lkbench as lk  # noqa: E402

ONE_ATTEMPT = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)


def client(url, creds, service):
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", config=ONE_ATTEMPT,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"])


def self_get_policy(user_arn):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": user_arn}]})


class Ledger:
    """What the server acknowledged, filled by the clients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = {}          # name -> arn
        self.keys = {}           # key id -> (secret, user name)
        self.policies = set()    # user names with the self-GetUser policy
        self.deleted = {}        # key id -> secret
        self.unknown = 0         # requests cut off by a kill

    def add(self, kind, *args):
        with self.lock:
            if kind == "user":
                self.users[args[0]] = args[1]
            elif kind == "key":
                self.keys[args[0]] = (args[1], args[2])
            elif kind == "policy":
                self.policies.add(args[0])
            elif kind == "deleting":
                # Until the delete is acknowledged the key may or may not work.
                self.keys.pop(args[0], None)
            elif kind == "deleted":
                self.deleted[args[0]] = args[1]

    def snapshot(self):
        with self.lock:
            return (dict(self.users), dict(self.keys), set(self.policies), dict(self.deleted))


def writer(index, url, admin, ledger, stop):
    iam = client(url, admin, "iam")
    cycle = 0
    while not stop.is_set():
        cycle += 1
        name = f"crash-{index}-{cycle}-{random.randrange(1 << 30):08x}"
        try:
            user = iam.create_user(UserName=name)["User"]
            ledger.add("user", name, user["Arn"])
            key = iam.create_access_key(UserName=name)["AccessKey"]
            ledger.add("key", key["AccessKeyId"], key["SecretAccessKey"], name)
            iam.put_user_policy(UserName=name, PolicyName="self",
                                PolicyDocument=self_get_policy(user["Arn"]))
            ledger.add("policy", name)
            if cycle % 3 == 0:
                extra = iam.create_access_key(UserName=name)["AccessKey"]
                ledger.add("key", extra["AccessKeyId"], extra["SecretAccessKey"], name)
                ledger.add("deleting", extra["AccessKeyId"])
                iam.delete_access_key(UserName=name, AccessKeyId=extra["AccessKeyId"])
                ledger.add("deleted", extra["AccessKeyId"], extra["SecretAccessKey"])
        except Exception:  # noqa: BLE001 - a request cut off by a kill has an unknown outcome
            with ledger.lock:
                ledger.unknown += 1
            time.sleep(0.05)
            iam = client(url, admin, "iam")


def check(server, admin, ledger):
    """Returns the list of failures (each a loss or a resurrection). Raw signed requests on one
    keep-alive connection: a boto3 client per key would make the check slower than the run."""
    users, keys, policies, deleted = ledger.snapshot()
    failures = []
    conn = lk.Conn(server.host)

    def call(key_id, secret, service, params):
        body, headers = lk.sign(server.host, key_id, secret, service, params)
        status, data = conn.send(body, headers)
        return status, data.decode()

    admin_id, admin_secret = admin["AccessKeyId"], admin["SecretAccessKey"]
    for name in users:
        status, body = call(admin_id, admin_secret, "iam", {"Action": "GetUser", "UserName": name})
        if status != 200:
            failures.append(f"user {name} lost: {status} {body[:200]}")
    for key_id, (secret, name) in keys.items():
        status, body = call(key_id, secret, "sts", {"Action": "GetCallerIdentity"})
        if status != 200:
            failures.append(f"key {key_id} of {name}: {status} {body[:200]}")
            continue
        arn = lk.xml_field(body, "Arn")
        if name in users and arn != users[name]:
            failures.append(f"key {key_id} authenticates as {arn}, not {users[name]}")
        if name in policies:
            status, body = call(key_id, secret, "iam", {"Action": "GetUser", "UserName": name})
            if status != 200:
                failures.append(f"policy of {name} lost: {status} {body[:200]}")
    for key_id, secret in deleted.items():
        status, body = call(key_id, secret, "sts", {"Action": "GetCallerIdentity"})
        if status == 200:
            failures.append(f"deleted key {key_id} works again")
        elif "InvalidClientTokenId" not in body:
            failures.append(f"deleted key {key_id}: {status} {body[:200]}")
    conn.close()
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--check-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    random.seed(seed)

    binary = lk.build_binary()
    work = tempfile.mkdtemp(prefix="latchkey-crash-")
    data = os.path.join(work, "data")
    database = None
    store = None
    if args.store == "postgres":
        database, store = lk.create_database("latchkey_crash")
    admin = lk.init(binary, data, store=store)
    # The check authenticates every deleted key from this one address: far more refusals than
    # the failed-authentication throttle lets a source have (docs/design/throttling.md), which
    # would answer Throttling instead of InvalidClientTokenId. This run is about durability;
    # the throttle has tests of its own.
    config = os.path.join(work, "latchkey.toml")
    with open(config, "w") as f:
        f.write("[throttle.source_address]\nburst = 1000000\nper_minute = 1000000\n")
    server = lk.Server(binary, data, store=store, config=config)
    lk.log(f"{args.store}: {args.kills} kills, {args.clients} clients, seed {seed}; {lk.machine_note()}")

    ledger = Ledger()
    failures = []
    restarts = []
    started = time.monotonic()
    try:
        server.start()
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(i, server.url, admin, ledger, stop),
                                    daemon=True) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for kill in range(1, args.kills + 1):
            time.sleep(random.uniform(0.1, 0.8))
            server.proc.kill()
            server.proc.wait()
            server.stop()
            restarts.append(server.start())
            if kill % args.check_every == 0 or kill == args.kills:
                if kill == args.kills:
                    stop.set()
                    for thread in threads:
                        thread.join()
                found = check(server, admin, ledger)
                failures += found
                users, keys, policies, deleted = ledger.snapshot()
                lk.log(f"kill {kill}: {len(users)} users, {len(keys)} keys, {len(policies)} "
                       f"policies, {len(deleted)} deletes acknowledged; {ledger.unknown} cut off; "
                       f"{len(found)} failures")
    finally:
        server.stop()

    corrupt = 0
    if args.store == "sqlite":
        connection = sqlite3.connect(f"file:{os.path.join(data, 'latchkey.db')}?mode=ro", uri=True)
        result = connection.execute("PRAGMA integrity_check").fetchall()
        connection.close()
        if result != [("ok",)]:
            corrupt = 1
            failures.append(f"integrity_check: {result}")
    if database:
        lk.drop_database(database)
    if os.environ.get("KEEP") != "1":
        lk.rmtree(work)

    users, keys, policies, deleted = ledger.snapshot()
    writes = len(users) + len(keys) + len(policies) + 2 * len(deleted)
    restarts.sort()
    print(json.dumps({
        "store": args.store, "kills": args.kills, "clients": args.clients, "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
        "acknowledged_writes": writes, "users": len(users), "keys": len(keys),
        "policies": len(policies), "deleted_keys": len(deleted),
        "cut_off_requests": ledger.unknown,
        "restart_seconds_median": round(restarts[len(restarts) // 2], 3),
        "restart_seconds_max": round(restarts[-1], 3),
        "losses": len(failures) - corrupt, "corruptions": corrupt,
    }, indent=2))
    for failure in failures[:50]:
        print("FAIL", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
