"""`latchkey rotate-master-key` while clients keep calling with an access key and with an
STS session token handed out before the rotation: no call fails; afterwards nothing stored
is sealed under the old key, the old key alone no longer opens the data, and a restart with
the new key file works. Two instances on PostgreSQL rotate in steps the same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import Server, create_user, free_port, latchkey_bin, run_latchkey
from test_postgres_multi_instance import (
    ADMIN_URL,
    PgServer,
    pg_cluster,
    pg_ready,
    psql,
    wait_for,
    with_database,
)


def key_id(base64_key: str) -> bytes:
    """The id a sealed value names its master key by (crates/core/src/seal.rs)."""
    return hashlib.sha256(b"latchkey/master-key-id/v1" + base64.b64decode(base64_key)).digest()[:8]


def keys_in(data_dir) -> list[str]:
    """The key file's keys, primary first (without the rotation notes)."""
    lines = (data_dir / "master.key").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


class Caller:
    """Calls GetCallerIdentity with each credential, over and over, counting failures."""

    def __init__(self, srv: Server, credentials: dict[str, dict]):
        self.clients = {name: srv.client("sts", creds) for name, creds in credentials.items()}
        self.calls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        while not self._stop.is_set():
            for name, sts in self.clients.items():
                try:
                    sts.get_caller_identity()
                    self.calls += 1
                except Exception as error:  # every failure is the test's finding
                    self.failures.append(f"{name}: {error}")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def session_credentials(user) -> dict:
    creds = user.client("sts").get_session_token(DurationSeconds=3600)["Credentials"]
    return {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
            "SessionToken": creds["SessionToken"]}


def serve_fails_with(data_dir, master_key: str) -> str:
    """Starts `latchkey serve` with only this master key; returns its error output."""
    res = subprocess.run(
        [str(latchkey_bin()), "serve", "--data", str(data_dir), "--listen",
         f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        env={**os.environ, "LATCHKEY_MASTER_KEY": master_key})
    assert res.returncode != 0, "the server started with the old key alone"
    return res.stderr


def test_rotation_while_serving_has_no_failing_call(fresh_server, tmp_path):
    srv = fresh_server("rotate")
    alice = create_user(srv, "alice")
    old_key = keys_in(srv.data_dir)[0]
    before = session_credentials(alice)

    with Caller(srv, {"access key": alice.key, "session token": before}) as caller:
        wait_for(lambda: caller.calls >= 10, 10)
        res = run_latchkey("rotate-master-key", "--data", str(srv.data_dir))
        assert res.returncode == 0, res.stderr
        calls_at_rotation = caller.calls
        # A session token sealed under the new key works too, alongside the old one.
        after = session_credentials(alice)
        assert srv.client("sts", after).get_caller_identity()["Arn"] == alice.arn
        wait_for(lambda: caller.calls >= calls_at_rotation + 20, 10)
    assert caller.failures == [], caller.failures[:5]
    assert caller.calls > calls_at_rotation

    keys = keys_in(srv.data_dir)
    new_key = keys[0]
    assert keys == [new_key, old_key], "the old key stays, retiring, for what it sealed"
    assert "retiring-since" in (srv.data_dir / "master.key").read_text()
    # Every sealed value stored names the new key; none the old one.
    db = sqlite3.connect(f"file:{srv.data_dir / 'latchkey.db'}?mode=ro", uri=True)
    sealed = [row[0] for row in db.execute("SELECT sealed_secret FROM access_keys")]
    sealed += [row[0] for row in db.execute("SELECT sealed_seed FROM mfa_devices")]
    sealed += [row[0] for row in db.execute(
        "SELECT value FROM meta WHERE key = 'master_key_check'")]
    db.close()
    assert len(sealed) >= 3
    assert all(value[0] == 2 and value[1:9] == key_id(new_key) for value in sealed)
    assert not any(key_id(old_key) in value for value in sealed)

    # Retiring refuses while what was handed out under the old key may still be in use.
    res = run_latchkey("rotate-master-key", "--data", str(srv.data_dir), "--step", "retire")
    assert res.returncode != 0 and "nothing was changed" in res.stderr, res.stderr
    assert keys_in(srv.data_dir) == [new_key, old_key]

    # A restart with the new key file works; the old key alone opens nothing.
    assert srv.stop() == 0
    assert "master key" in serve_fails_with(srv.data_dir, old_key)
    srv.start()
    assert srv.client("sts", alice.key).get_caller_identity()["Arn"] == alice.arn
    assert srv.client("sts", before).get_caller_identity()["Arn"] == alice.arn

    # Retired early (--force): the running server loads the file, keys keep working, the
    # session token sealed under the old key ends, and a restart needs the new key only.
    res = run_latchkey("rotate-master-key", "--data", str(srv.data_dir), "--step", "retire",
                       "--force")
    assert res.returncode == 0, res.stderr
    assert keys_in(srv.data_dir) == [new_key]

    def old_token_refused():
        try:
            srv.client("sts", before).get_caller_identity()
            return False
        except ClientError:
            return True

    assert wait_for(old_token_refused, 5)[0]
    assert srv.client("sts", alice.key).get_caller_identity()["Arn"] == alice.arn
    assert srv.client("sts", after).get_caller_identity()["Arn"] == alice.arn
    assert srv.stop() == 0
    srv.start()
    assert srv.client("sts", alice.key).get_caller_identity()["Arn"] == alice.arn


@pytest.fixture
def pg_url():
    if not pg_ready():
        pg_cluster("start")
        wait_for(pg_ready, 30, 0.5)
    name = f"latchkey_rotate_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_two_instances_on_postgres_rotate_in_steps(tmp_path, pg_url):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    res = run_latchkey("init", "--store", pg_url, "--data", str(d1), "--json")
    assert res.returncode == 0, res.stderr
    admin = json.loads(res.stdout)
    d2.mkdir(mode=0o700)
    shutil.copy(d1 / "master.key", d2 / "master.key")
    a = PgServer(data_dir=d1, log_path=tmp_path / "a.log", admin=admin, store=pg_url).start()
    b = PgServer(data_dir=d2, log_path=tmp_path / "b.log", admin=admin, store=pg_url).start()
    try:
        alice = create_user(a, "alice")
        before = session_credentials(alice)
        old_key = keys_in(d1)[0]

        def copy_key_file():
            shutil.copy(d1 / "master.key", d2 / "master.key")
            time.sleep(2.5)  # both instances poll their key file every second

        # The one-step form is for SQLite: other instances must hold a key before it seals.
        res = run_latchkey("rotate-master-key", "--data", str(d1), "--store", pg_url)
        assert res.returncode != 0 and "in steps" in res.stderr, res.stderr
        assert keys_in(d1) == [old_key]

        with Caller(a, {"A key": alice.key, "A token": before}) as on_a, \
                Caller(b, {"B key": alice.key, "B token": before}) as on_b:
            wait_for(lambda: on_a.calls >= 10 and on_b.calls >= 10, 10)
            for step in ("stage", "promote"):
                res = run_latchkey("rotate-master-key", "--data", str(d1), "--store", pg_url,
                                   "--step", step)
                assert res.returncode == 0, res.stderr
                copy_key_file()
                # Tokens each instance seals now open at the other.
                from_a = session_credentials(alice)
                assert b.client("sts", from_a).get_caller_identity()["Arn"] == alice.arn
                made_at_b = b.client("sts", alice.key).get_session_token()["Credentials"]
                from_b = {k: made_at_b[k] for k in
                          ("AccessKeyId", "SecretAccessKey", "SessionToken")}
                assert a.client("sts", from_b).get_caller_identity()["Arn"] == alice.arn
            calls = (on_a.calls, on_b.calls)
            wait_for(lambda: on_a.calls > calls[0] + 10 and on_b.calls > calls[1] + 10, 10)
        assert on_a.failures == [] and on_b.failures == [], (on_a.failures + on_b.failures)[:5]

        new_key = keys_in(d1)[0]
        assert new_key != old_key and keys_in(d2) == keys_in(d1)
        stored = psql("SELECT encode(sealed_secret, 'hex') FROM access_keys", pg_url).split()
        assert stored and all(bytes.fromhex(v)[1:9] == key_id(new_key) for v in stored)
        # Either instance restarts on the new key file.
        assert b.stop() == 0
        b.start()
        assert b.client("sts", before).get_caller_identity()["Arn"] == alice.arn
    finally:
        for srv in (a, b):
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()


def test_rotation_with_the_key_in_the_environment(tmp_path):
    """LATCHKEY_MASTER_KEY: each step prints the value to deploy; the server is restarted
    with it between steps."""
    data = tmp_path / "data"
    first = base64.b64encode(os.urandom(32)).decode()
    env = {"LATCHKEY_MASTER_KEY": first}
    res = subprocess.run([str(latchkey_bin()), "init", "--data", str(data), "--json"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    admin = json.loads(res.stdout)
    assert not (data / "master.key").exists()
    srv = Server(data_dir=data, log_path=tmp_path / "serve.log", admin=admin, env=env).start()

    def step(name: str, *extra: str) -> str:
        res = subprocess.run(
            [str(latchkey_bin()), "rotate-master-key", "--data", str(data), "--step", name,
             *extra],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            env={**os.environ, **srv.env})
        assert res.returncode == 0, res.stderr
        assert not (data / "master.key").exists(), "nothing is written to disk"
        return res.stdout.strip().splitlines()[-1]

    try:
        alice = create_user(srv, "alice")
        before = session_credentials(alice)
        res = run_latchkey("rotate-master-key", "--data", str(data))
        assert res.returncode != 0  # without the variable there is no key to rotate
        for name in ("stage", "promote"):
            value = step(name)
            srv.stop()
            srv.env = {"LATCHKEY_MASTER_KEY": value}
            srv.start()
            assert srv.client("sts", alice.key).get_caller_identity()["Arn"] == alice.arn
            assert srv.client("sts", before).get_caller_identity()["Arn"] == alice.arn
        new_key = value.split(",")[0].split()[0]
        assert new_key != first
        db = sqlite3.connect(f"file:{data / 'latchkey.db'}?mode=ro", uri=True)
        sealed = [row[0] for row in db.execute("SELECT sealed_secret FROM access_keys")]
        db.close()
        assert sealed and all(v[1:9] == key_id(new_key) for v in sealed)
        value = step("retire", "--force")
        assert value == new_key
        srv.stop()
        assert "master key" in serve_fails_with(data, first)
        srv.env = {"LATCHKEY_MASTER_KEY": value}
        srv.start()
        assert srv.client("sts", alice.key).get_caller_identity()["Arn"] == alice.arn
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
