"""`latchkey backup` while the server serves and writes keep coming, then `latchkey restore`
into a fresh data directory (SQLite) and into a fresh PostgreSQL database, each served with
the same master key: keys authenticate, policies apply, the identity store and SSO Admin
state are there.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from helpers import (
    Server,
    allow,
    create_policy,
    create_role,
    create_user,
    expect_error,
    latchkey_bin,
    policy_document,
    run_latchkey,
    trust_policy,
    unique,
)
from test_postgres_multi_instance import (
    ADMIN_URL,
    PgServer,
    pg_cluster,
    pg_ready,
    psql,
    wait_for,
    with_database,
)


@pytest.fixture
def pg_database():
    if not pg_ready():
        pg_cluster("start")
        wait_for(pg_ready, 30, 0.5)
    name = f"latchkey_backup_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def populate(srv: Server) -> dict:
    """IAM users, keys, a policy, a role, an identity store user, a permission set and an
    account assignment, all through boto3."""
    reader = create_policy(srv, policy_document(allow(["iam:ListUsers", "iam:GetUser"])),
                           prefix="reader")["Arn"]
    alice = create_user(srv, "alice", policies=[reader], tags=[{"Key": "team", "Value": "red"}])
    role = create_role(srv, trust_policy(f"arn:aws:iam::{srv.account_id}:root"),
                       prefix="deploy")["RoleName"]
    sso = srv.client("sso-admin")
    instance = sso.list_instances()["Instances"][0]
    ids = srv.client("identitystore")
    person = unique("person")
    person_id = ids.create_user(IdentityStoreId=instance["IdentityStoreId"], UserName=person,
                                DisplayName=person,
                                Name={"GivenName": "P", "FamilyName": "Q"})["UserId"]
    ps_arn = sso.create_permission_set(InstanceArn=instance["InstanceArn"],
                                       Name=unique("Ops")[:32])["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(
        InstanceArn=instance["InstanceArn"], PermissionSetArn=ps_arn,
        ManagedPolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    sso.create_account_assignment(InstanceArn=instance["InstanceArn"], PermissionSetArn=ps_arn,
                                  TargetId=srv.account_id, TargetType="AWS_ACCOUNT",
                                  PrincipalType="USER", PrincipalId=person_id)
    org = srv.client("organizations")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="Engineering")["OrganizationalUnit"]
    web = org.create_organizational_unit(ParentId=ou["Id"], Name="Web")["OrganizationalUnit"]
    member = org.create_account(Email=f"{unique('member')}@example.com",
                                AccountName="Member")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=web["Id"])
    return {"alice": alice, "role": role, "person": person, "person_id": person_id,
            "ps_arn": ps_arn, "instance": instance, "ou": ou, "web": web, "member": member}


def check_restored(restored: Server, original: Server, made: dict, names_before: set,
                   names_after: set) -> None:
    """What the backup held, served by `restored` with the original credentials."""
    alice = made["alice"]
    # The administrator's and alice's keys authenticate; alice's policy applies.
    admin_iam = restored.client("iam", original.admin)
    alice_iam = restored.client("iam", alice.key)
    assert restored.client("sts", alice.key).get_caller_identity()["Arn"] == alice.arn
    assert alice_iam.get_user(UserName=alice.name)["User"]["Tags"] == \
        [{"Key": "team", "Value": "red"}]
    expect_error(lambda: alice_iam.create_user(UserName=unique("nope")), "AccessDenied", 403)
    # Every user the server had before the backup began is there; none it made after the
    # backup finished is (a consistent moment in between).
    names = {u["UserName"] for p in admin_iam.get_paginator("list_users").paginate()
             for u in p["Users"]}
    assert names_before <= names <= names_after, (names_before - names, names - names_after)
    assert admin_iam.get_role(RoleName=made["role"])["Role"]["RoleName"] == made["role"]
    ids = restored.client("identitystore", original.admin)
    store_id = made["instance"]["IdentityStoreId"]
    assert ids.describe_user(IdentityStoreId=store_id,
                             UserId=made["person_id"])["UserName"] == made["person"]
    sso = restored.client("sso-admin", original.admin)
    assignments = sso.list_account_assignments(
        InstanceArn=made["instance"]["InstanceArn"], AccountId=original.account_id,
        PermissionSetArn=made["ps_arn"])["AccountAssignments"]
    assert [a["PrincipalId"] for a in assignments] == [made["person_id"]]
    managed = sso.list_managed_policies_in_permission_set(
        InstanceArn=made["instance"]["InstanceArn"], PermissionSetArn=made["ps_arn"])
    assert [p["Name"] for p in managed["AttachedManagedPolicies"]] == ["ReadOnlyAccess"]
    # The organization's tree: the OUs, nested, and the account in the inner one.
    org = restored.client("organizations", original.admin)
    assert org.describe_organizational_unit(
        OrganizationalUnitId=made["web"]["Id"])["OrganizationalUnit"] == made["web"]
    assert org.list_parents(ChildId=made["web"]["Id"])["Parents"] == [
        {"Id": made["ou"]["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert org.list_parents(ChildId=made["member"])["Parents"] == [
        {"Id": made["web"]["Id"], "Type": "ORGANIZATIONAL_UNIT"}]


def test_backup_while_serving_restores_into_sqlite_and_postgres(fresh_server, tmp_path,
                                                                pg_database):
    srv = fresh_server("backup")
    made = populate(srv)
    iam = srv.client("iam")

    # Writes keep coming while the backup is taken.
    written: list[str] = []
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            name = unique("busy")
            iam.create_user(UserName=name)
            written.append(name)

    thread = threading.Thread(target=writer)
    names_before = {u["UserName"] for p in iam.get_paginator("list_users").paginate()
                    for u in p["Users"]}
    thread.start()
    try:
        wait_for(lambda: len(written) >= 3, 10)
        backup = tmp_path / "latchkey.backup"
        res = run_latchkey("backup", "--data", str(srv.data_dir), "--out", str(backup))
        assert res.returncode == 0, res.stderr
        wait_for(lambda: len(written) >= 6, 10)
    finally:
        stop.set()
        thread.join()
    assert written, "the writer made no users"
    names_after = names_before | set(written)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    text = backup.read_text()
    assert json.loads(text)["format"] == "latchkey-backup"
    # Secrets stay sealed, and the master key is not in it.
    assert made["alice"].key["SecretAccessKey"] not in text
    assert srv.admin["SecretAccessKey"] not in text
    master_key = (srv.data_dir / "master.key").read_text().strip()
    assert master_key not in text

    # Into a fresh data directory (SQLite), with the master key file copied over.
    sqlite_dir = tmp_path / "restored"
    sqlite_dir.mkdir(mode=0o700)
    (sqlite_dir / "master.key").write_text(master_key)
    os.chmod(sqlite_dir / "master.key", 0o600)
    res = run_latchkey("restore", "--data", str(sqlite_dir), "--from", str(backup))
    assert res.returncode == 0, res.stderr
    restored = Server(data_dir=sqlite_dir, log_path=tmp_path / "restored.log", admin=srv.admin)
    restored.start()
    try:
        check_restored(restored, srv, made, names_before, names_after)
    finally:
        restored.stop()
    # A second restore into it is refused and changes nothing.
    res = run_latchkey("restore", "--data", str(sqlite_dir), "--from", str(backup))
    assert res.returncode != 0
    assert "already initialized" in res.stderr, res.stderr

    # Into PostgreSQL, the master key from LATCHKEY_MASTER_KEY.
    pg_dir = tmp_path / "pg"
    env = {**os.environ, "LATCHKEY_MASTER_KEY": master_key}
    res = subprocess.run([str(latchkey_bin()), "restore", "--data", str(pg_dir), "--store",
                          pg_database, "--from", str(backup)], capture_output=True, text=True,
                         env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    on_postgres = PgServer(data_dir=pg_dir, log_path=tmp_path / "pg.log", admin=srv.admin,
                           store=pg_database, env={"LATCHKEY_MASTER_KEY": master_key})
    on_postgres.start()
    try:
        check_restored(on_postgres, srv, made, names_before, names_after)
    finally:
        on_postgres.stop()


def test_restore_refuses_another_master_key_and_changes_nothing(fresh_server, tmp_path):
    srv = fresh_server("backup-key")
    backup = tmp_path / "b.json"
    res = run_latchkey("backup", "--data", str(srv.data_dir), "--out", str(backup))
    assert res.returncode == 0, res.stderr
    target = tmp_path / "other"
    target.mkdir()
    other_key = Path(tmp_path / "k")
    res = run_latchkey("init", "--data", str(other_key), "--json")  # makes a different key
    assert res.returncode == 0, res.stderr
    (target / "master.key").write_text((other_key / "master.key").read_text())
    res = run_latchkey("restore", "--data", str(target), "--from", str(backup))
    assert res.returncode != 0
    assert "master key does not open" in res.stderr, res.stderr
    assert not (target / "latchkey.db").exists()
    # Without any master key it says what it needs.
    bare = tmp_path / "bare"
    res = run_latchkey("restore", "--data", str(bare), "--from", str(backup))
    assert res.returncode != 0
    assert "master key the backup was made with" in res.stderr, res.stderr
    # Not a backup at all.
    junk = tmp_path / "junk"
    junk.write_text("{}")
    res = run_latchkey("restore", "--data", str(target), "--from", str(junk))
    assert res.returncode != 0
    assert "not a latchkey backup" in res.stderr, res.stderr
