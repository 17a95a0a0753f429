"""Secrets never rest in plain text: not in any file of the data dir (SQLite
database, WAL/SHM, master key) and not in the server's log.

The module runs its own server (initialized with ``init --json``, so the admin
credentials go to the test, not to the serve log), creates keys, makes
successful and failing calls, then reads every byte the server wrote."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from helpers import create_user, expect_error, http, presigned_url, signed_post


@pytest.fixture(scope="module")
def exercised(module_server_pool):
    """A server that has seen plenty of secrets; returns (server, secrets)."""
    srv = module_server_pool.new("secrets")
    iam = srv.client("iam")
    secrets = [srv.admin["SecretAccessKey"], srv.admin["ConsolePassword"]]
    if srv.admin.get("RootPassword"):
        secrets.append(srv.admin["RootPassword"])

    users = [create_user(srv, "sec") for _ in range(3)]
    for u in users:
        secrets.append(u.key["SecretAccessKey"])
        second = iam.create_access_key(UserName=u.name)["AccessKey"]
        secrets.append(second["SecretAccessKey"])
        assert u.client("sts").get_caller_identity()["Arn"] == u.arn
        assert srv.client("sts", second, region="eu-west-1").get_caller_identity()
        # A failing call with a wrong secret.
        wrong = dict(u.key, SecretAccessKey="W" * 40)
        secrets.append(wrong["SecretAccessKey"])
        expect_error(srv.client("sts", wrong).get_caller_identity,
                     "SignatureDoesNotMatch", 403)
        # A deactivated key, and a call with it.
        iam.update_access_key(UserName=u.name, AccessKeyId=second["AccessKeyId"],
                              Status="Inactive")
        expect_error(srv.client("sts", second).get_caller_identity,
                     "InvalidClientTokenId", 403)
    return srv, secrets


def _data_files(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files, f"no files under {root}"
    return files


def _assert_no_secret_in(blob: bytes, where: str, secrets: list[str]) -> None:
    for s in secrets:
        assert s.encode() not in blob, f"a secret ({s[:4]}...) is stored in {where}"


def test_data_dir_files_never_contain_secrets_while_running(exercised):
    srv, secrets = exercised
    total = 0
    for path in _data_files(srv.data_dir):
        blob = path.read_bytes()
        total += len(blob)
        _assert_no_secret_in(blob, str(path), secrets)
    assert total > 0  # we did read a live database, not an empty directory


def test_master_key_file_is_private(exercised):
    srv, _ = exercised
    key_files = [p for p in _data_files(srv.data_dir)
                 if p.suffix == ".key" or "master" in p.name.lower()]
    assert key_files, ("no master key file (*.key or *master*) under "
                       f"{srv.data_dir}: {[p.name for p in _data_files(srv.data_dir)]}")
    for p in key_files:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        assert mode == 0o600, f"{p} has mode {oct(mode)}"


def test_data_dir_and_log_never_contain_secrets_after_shutdown(exercised):
    srv, secrets = exercised
    # More traffic of other shapes before shutting down: a presigned URL, a
    # hand-signed request, a deleted key and a credential report.
    iam = srv.client("iam")
    alice = create_user(srv, "last")
    secrets.append(alice.key["SecretAccessKey"])
    url = presigned_url(srv, alice.key, "Action=GetCallerIdentity&Version=2011-06-15",
                        expires=60)
    assert http("GET", url).status == 200
    assert signed_post(srv, alice.key, "sts", {
        "Action": "GetCallerIdentity", "Version": "2011-06-15"}).status == 200
    iam.delete_access_key(UserName=alice.name, AccessKeyId=alice.key["AccessKeyId"])
    iam.generate_credential_report()

    srv.stop()
    for path in _data_files(srv.data_dir):
        _assert_no_secret_in(path.read_bytes(), str(path), secrets)
    log = srv.log_path.read_bytes()
    _assert_no_secret_in(log, f"the server log {srv.log_path}", secrets)
