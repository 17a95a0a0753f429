"""Several latchkey instances on one PostgreSQL database.

A fresh database per module (``latchkey_e2e_<random>``, dropped at the end) is
initialized once with ``latchkey init --store URL --data D1 --json``; instance A
serves from D1 and instance B from D2, which holds a copy of D1's master key.

PostgreSQL runs on 127.0.0.1:5432 (``LATCHKEY_TEST_POSTGRES`` names a database
to connect to for creating others). The restart test stops the machine's
PostgreSQL for a few seconds and always starts it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from helpers import Server, client_error, http, run_latchkey, unique

ADMIN_URL = os.environ.get(
    "LATCHKEY_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test"
)
# How soon a change made through one instance must take effect at the other.
FRESHNESS_S = 1.0


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def psql(sql: str, url: str = ADMIN_URL) -> str:
    res = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, f"psql {sql!r} failed:\n{res.stderr}"
    return res.stdout


def pg_ready() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1"], stdin=subprocess.DEVNULL
        ).returncode
        == 0
    )


def pg_cluster(action: str) -> None:
    """pg_ctlcluster ACTION for every installed cluster version (normally one)."""
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


def wait_for(predicate, timeout: float, interval: float = 0.02):
    """Polls predicate until it returns a true value; returns (value, seconds)."""
    start = time.monotonic()
    while True:
        value = predicate()
        elapsed = time.monotonic() - start
        if value or elapsed > timeout:
            return value, elapsed
        time.sleep(interval)


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@dataclass
class PgServer(Server):
    """``latchkey serve --store URL`` (through LATCHKEY_STORE, which serve reads)."""

    store: str = ""

    def start(self) -> "PgServer":
        previous = os.environ.get("LATCHKEY_STORE")
        os.environ["LATCHKEY_STORE"] = self.store
        try:
            super().start()
        finally:
            if previous is None:
                del os.environ["LATCHKEY_STORE"]
            else:
                os.environ["LATCHKEY_STORE"] = previous
        return self


@dataclass
class Cluster:
    url: str
    admin: dict
    a: PgServer
    b: PgServer

    def both(self):
        return (self.a, self.b)


@pytest.fixture(scope="module")
def pg_url():
    if not pg_ready():
        pg_cluster("start")
        wait_for(pg_ready, 30, 0.5)
    name = f"latchkey_e2e_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        if not pg_ready():
            pg_cluster("start")
            wait_for(pg_ready, 30, 0.5)
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def cluster(pg_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("pg")
    d1, d2 = base / "d1", base / "d2"
    d1.mkdir()
    res = run_latchkey("init", "--store", pg_url, "--data", str(d1), "--json")
    assert res.returncode == 0, f"init failed:\n{res.stdout}\n{res.stderr}"
    admin = json.loads(res.stdout)
    d2.mkdir(mode=0o700)
    shutil.copy2(d1 / "master.key", d2 / "master.key")
    servers = []
    try:
        for name, data in (("a", d1), ("b", d2)):
            srv = PgServer(
                data_dir=data, log_path=base / f"{name}.log", admin=admin, store=pg_url
            )
            servers.append(srv)
            srv.start()
        yield Cluster(url=pg_url, admin=admin, a=servers[0], b=servers[1])
    finally:
        problems = []
        for srv in servers:
            if srv.proc is not None and srv.proc.poll() is not None and not srv.stopped:
                problems.append(
                    f"{srv.log_path.name} exited with {srv.proc.returncode}:\n"
                    f"{srv.log()[-4000:]}"
                )
            try:
                srv.stop()
            except AssertionError as e:
                problems.append(str(e))
        if problems:
            raise AssertionError("\n\n".join(problems))


def new_user_with_key(srv: Server) -> tuple[str, dict]:
    iam = srv.client("iam")
    name = unique("pg")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def identity_works(srv: Server, key: dict) -> bool:
    try:
        srv.client("sts", key).get_caller_identity()
        return True
    except ClientError:
        return False


# --------------------------------------------------------------------------
# init, migrate, the master key
# --------------------------------------------------------------------------


def test_migrate_reports_the_schema_version(cluster):
    res = run_latchkey("migrate", "--store", cluster.url)
    assert res.returncode == 0, res.stderr
    assert "schema version" in res.stdout, res.stdout
    version = int(res.stdout.strip().rsplit(" ", 1)[-1])
    applied = psql("SELECT max(version) FROM schema_migrations", cluster.url).strip()
    assert version == int(applied) >= 3
    # Again: nothing to do, same version.
    again = run_latchkey("migrate", "--store", cluster.url)
    assert again.returncode == 0 and again.stdout == res.stdout


def test_init_on_an_initialized_database_refuses_and_changes_nothing(cluster, tmp_path):
    before = psql(
        "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM users),"
        " (SELECT max(seq) FROM change_log)",
        cluster.url,
    )
    data = tmp_path / "other"
    res = run_latchkey("init", "--store", cluster.url, "--data", str(data), "--json")
    assert res.returncode != 0, res.stdout
    assert "AccessKeyId" not in res.stdout
    assert "already initialized" in res.stderr, res.stderr
    assert not (data / "master.key").exists(), "init wrote a master key anyway"
    after = psql(
        "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM users),"
        " (SELECT max(seq) FROM change_log)",
        cluster.url,
    )
    assert after == before


def test_serve_refuses_a_different_master_key(cluster, tmp_path):
    data = tmp_path / "wrong"
    data.mkdir(mode=0o700)
    # A key of the right shape that is not the database's.
    other = tmp_path / "keysource"
    other.mkdir()
    res = run_latchkey("init", "--data", str(other), "--json")
    assert res.returncode == 0, res.stderr
    shutil.copy2(other / "master.key", data / "master.key")
    res = run_latchkey(
        "serve", "--store", cluster.url, "--data", str(data), "--listen", "127.0.0.1:0",
        timeout=30,
    )
    assert res.returncode != 0
    assert "master key" in res.stderr, res.stderr


# --------------------------------------------------------------------------
# Freshness across instances
# --------------------------------------------------------------------------


def test_a_key_created_at_a_works_at_b_at_once(cluster):
    _, key = new_user_with_key(cluster.a)
    works, elapsed = wait_for(lambda: identity_works(cluster.b, key), FRESHNESS_S)
    assert works, f"the key did not work at B within {FRESHNESS_S}s"
    assert elapsed <= FRESHNESS_S


def test_a_key_deactivated_at_b_is_refused_at_a_within_a_second(cluster):
    name, key = new_user_with_key(cluster.a)
    assert wait_for(lambda: identity_works(cluster.b, key), FRESHNESS_S)[0]
    assert identity_works(cluster.a, key)
    cluster.b.client("iam").update_access_key(
        UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive"
    )
    refused, elapsed = wait_for(lambda: not identity_works(cluster.a, key), FRESHNESS_S)
    assert refused, f"A still accepted the deactivated key after {elapsed:.2f}s"
    print(f"deactivation took effect at the other instance in {elapsed * 1000:.0f} ms")
    with pytest.raises(ClientError) as e:
        cluster.a.client("sts", key).get_caller_identity()
    code, status, _ = client_error(e)
    assert (code, status) == ("InvalidClientTokenId", 403)


def test_a_key_and_user_deleted_at_a_are_gone_at_b_within_a_second(cluster):
    name, key = new_user_with_key(cluster.b)
    assert wait_for(lambda: identity_works(cluster.a, key), FRESHNESS_S)[0]
    iam_a = cluster.a.client("iam")
    iam_a.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    refused, elapsed = wait_for(lambda: not identity_works(cluster.b, key), FRESHNESS_S)
    assert refused, f"B still accepted the deleted key after {elapsed:.2f}s"
    iam_a.delete_user(UserName=name)

    def gone_at_b():
        try:
            cluster.b.client("iam").get_user(UserName=name)
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "NoSuchEntity"

    assert wait_for(gone_at_b, FRESHNESS_S)[0], "the user is still there at B"


# --------------------------------------------------------------------------
# Invariants under concurrent writers on different instances
# --------------------------------------------------------------------------


def test_concurrent_third_key_across_instances_exactly_one_wins(cluster):
    for _ in range(3):
        name, _key = new_user_with_key(cluster.a)
        # B knows the user (and its one key) before the race.
        assert wait_for(
            lambda: _user_visible(cluster.b, name), FRESHNESS_S
        )[0]
        clients = [srv.client("iam") for srv in cluster.both()]
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def create(i):
            barrier.wait()
            try:
                clients[i].create_access_key(UserName=name)
                results[i] = "ok"
            except ClientError as e:
                results[i] = (
                    e.response["Error"]["Code"],
                    e.response["ResponseMetadata"]["HTTPStatusCode"],
                )

        threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(map(str, results)) == sorted(
            ["ok", str(("LimitExceeded", 409))]
        ), results
        for srv in cluster.both():
            def two_keys(srv=srv):
                keys = srv.client("iam").list_access_keys(UserName=name)
                return len(keys["AccessKeyMetadata"]) == 2

            assert wait_for(two_keys, FRESHNESS_S)[0]


def test_moving_an_account_into_an_ou_races_deleting_it_across_instances(cluster):
    """A at one instance moves an account into an OU while B at the other deletes the OU:
    one of them wins, and an account is never left in an OU that is gone."""
    org_a = cluster.a.client("organizations")
    org_b = cluster.b.client("organizations")
    root = org_a.list_roots()["Roots"][0]["Id"]
    for round_ in range(3):
        account = org_a.create_account(
            Email=f"{unique('race')}@example.com",
            AccountName=f"Race {round_}")["CreateAccountStatus"]["AccountId"]
        ou = org_a.create_organizational_unit(ParentId=root, Name=unique("Race"))[
            "OrganizationalUnit"]["Id"]

        def b_knows_both():
            try:
                org_b.describe_organizational_unit(OrganizationalUnitId=ou)
                org_b.describe_account(AccountId=account)
                return True
            except ClientError:
                return False

        assert wait_for(b_knows_both, FRESHNESS_S)[0]
        barrier = threading.Barrier(2)
        results: dict = {}

        def run(name, call):
            barrier.wait()
            try:
                call()
                results[name] = "ok"
            except ClientError as e:
                results[name] = e.response["Error"]["Code"]

        calls = {
            "move": lambda: org_a.move_account(AccountId=account, SourceParentId=root,
                                               DestinationParentId=ou),
            "delete": lambda: org_b.delete_organizational_unit(OrganizationalUnitId=ou),
        }
        threads = [threading.Thread(target=run, args=item) for item in calls.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results in (
            {"move": "ok", "delete": "OrganizationalUnitNotEmptyException"},
            {"move": "ConcurrentModificationException", "delete": "ok"},
            # A had already seen the delete when it planned the move.
            {"move": "DestinationParentNotFoundException", "delete": "ok"},
        ), results
        parent = org_a.list_parents(ChildId=account)["Parents"][0]["Id"]
        assert parent == (ou if results["move"] == "ok" else root)
        for org in (org_a, org_b):
            assert wait_for(
                lambda org=org: org.list_parents(ChildId=account)["Parents"][0]["Id"] == parent,
                FRESHNESS_S)[0]


def _user_visible(srv: Server, name: str) -> bool:
    try:
        srv.client("iam").get_user(UserName=name)
        return True
    except ClientError:
        return False


# --------------------------------------------------------------------------
# Database loss
# --------------------------------------------------------------------------


def test_postgres_restart_under_load(cluster):
    a, b = cluster.both()
    created: list[str] = []  # users whose CreateUser got a 200
    failures: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load():
        clients = [srv.client("iam") for srv in (a, b)]
        i = 0
        while not stop.is_set() and i < 2000:
            name = unique("load")
            try:
                clients[i % 2].create_user(UserName=name)
                with lock:
                    created.append(name)
            except ClientError as e:
                with lock:
                    failures.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
            except Exception:  # connection trouble is not expected, but keep loading
                with lock:
                    failures.append(0)
            i += 1
            time.sleep(0.02)

    writer = threading.Thread(target=load, daemon=True)
    writer.start()
    try:
        time.sleep(0.5)
        pg_cluster("stop")
        try:
            assert not pg_ready(), "PostgreSQL did not stop"
            # Reads and authentication come from the snapshot.
            for srv in (a, b):
                ident = srv.client("sts").get_caller_identity()
                assert ident["Account"] == cluster.admin["AccountId"]
                srv.client("iam").get_user(UserName="admin")
                srv.client("iam").list_users(MaxItems=5)
            # Writes fail with a server fault (retryable), not a client error.
            for srv in (a, b):
                with pytest.raises(ClientError) as e:
                    srv.client("iam").create_user(UserName=unique("down"))
                code, status, _ = client_error(e)
                assert status >= 500, (code, status)
            time.sleep(1.0)
        finally:
            pg_cluster("start")
            ready, _ = wait_for(pg_ready, 30, 0.2)
            assert ready, "PostgreSQL did not come back"

        # Both instances accept writes again within a few seconds.
        for srv in (a, b):
            def writes(srv=srv):
                try:
                    srv.client("iam").create_user(UserName=unique("back"))
                    return True
                except ClientError:
                    return False

            ok, elapsed = wait_for(writes, 10, 0.1)
            assert ok, f"{srv.log_path.name} still refuses writes after {elapsed:.1f}s"
        time.sleep(0.5)
    finally:
        stop.set()
        writer.join(timeout=30)

    assert created, "the load made no successful write"
    assert failures, "no write failed while PostgreSQL was down"
    # Every acknowledged write is in the database and at both instances.
    in_db = set(psql("SELECT user_name FROM users", cluster.url).split())
    missing = [name for name in created if name not in in_db]
    assert not missing, f"acknowledged but not stored: {missing[:5]}"
    for srv in (a, b):
        def has_all(srv=srv):
            names = set()
            paginator = srv.client("iam").get_paginator("list_users")
            for page in paginator.paginate():
                names.update(u["UserName"] for u in page["Users"])
            return all(name in names for name in created)

        assert wait_for(has_all, 5, 0.2)[0], f"{srv.log_path.name} misses users"


def readyz(srv: Server) -> int:
    return http("GET", f"{srv.url}/readyz").status


def test_readyz_follows_the_database(cluster):
    """/readyz: 200 while the store answers and the follower keeps up; 503 while the
    database refuses connections; 200 again once it takes them."""
    from test_observability import scrape

    for srv in cluster.both():
        assert readyz(srv) == 200
        metrics = scrape(srv)
        # A follower catches up at least every 2 s.
        assert metrics[("latchkey_snapshot_age_seconds", ())] < 5
        assert metrics[("latchkey_snapshot_sequence", ())] >= 1
    name = cluster.url.rsplit("/", 1)[1]
    psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    try:
        psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        for srv in cluster.both():
            refused, elapsed = wait_for(lambda srv=srv: readyz(srv) == 503, 15, 0.2)
            assert refused, f"{srv.log_path.name} still ready after {elapsed:.1f}s"
        # Not ready is not dead: the liveness probe still answers.
        assert http("GET", f"{cluster.a.url}/healthz").status == 200
    finally:
        psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    for srv in cluster.both():
        ready, elapsed = wait_for(lambda srv=srv: readyz(srv) == 200, 15, 0.2)
        assert ready, f"{srv.log_path.name} not ready again after {elapsed:.1f}s"
        assert identity_works(srv, cluster.admin)
