"""Account-level reads: GetAccountSummary and the credential report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest

from helpers import create_user, expect_error

CREDENTIAL_REPORT_HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,"
    "password_last_changed,password_next_rotation,mfa_active,access_key_1_active,"
    "access_key_1_last_rotated,access_key_1_last_used_date,"
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,"
    "access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)


def test_account_summary_counts_users_and_reports_quotas(iam, make_user):
    make_user("summary")
    summary = iam.get_account_summary()["SummaryMap"]
    users = iam.get_paginator("list_users").paginate().build_full_result()["Users"]
    assert summary["Users"] == len(users)
    assert summary["AccessKeysPerUserQuota"] == 2
    assert summary["UsersQuota"] >= summary["Users"]
    assert summary["AccountAccessKeysPresent"] == 0  # the root has no key
    assert summary["AccountMFAEnabled"] == 0

    make_user("summary2", with_key=False)
    assert iam.get_account_summary()["SummaryMap"]["Users"] == len(users) + 1


def test_plain_user_cannot_read_account_summary(make_user):
    alice = make_user("alice")
    expect_error(alice.client("iam").get_account_summary, "AccessDenied", 403)


# --- credential report: a server of its own, so "before any Generate" holds ---


@pytest.fixture(scope="module")
def report_server(module_server_pool):
    return module_server_pool.new("report")


def test_credential_report_before_generate_is_report_not_present(report_server):
    iam = report_server.client("iam")
    expect_error(iam.get_credential_report, "ReportNotPresent", 410)


def _wait_for_report(iam, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return iam.get_credential_report()
        except Exception as e:  # noqa: BLE001 - inspected below
            code = getattr(e, "response", {}).get("Error", {}).get("Code")
            if code != "ReportInProgress" or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _bool(v: str) -> bool:
    assert v in ("true", "false"), v
    return v == "true"


def test_credential_report_lists_root_admin_and_every_user(report_server):
    srv = report_server
    acct = srv.account_id
    iam = srv.client("iam")
    used = create_user(srv, "used")
    idle = create_user(srv, "idle")
    nokey = create_user(srv, "nokey", with_key=False)
    used.client("sts", region="eu-west-1").get_caller_identity()

    gen = iam.generate_credential_report()
    assert gen["State"] in ("STARTED", "COMPLETE"), gen
    report = _wait_for_report(iam)
    assert report["ReportFormat"] == "text/csv"
    generated = report["GeneratedTime"]
    assert abs((dt.datetime.now(dt.timezone.utc) - generated).total_seconds()) < 300

    content = report["Content"]
    assert isinstance(content, bytes)  # boto3 decoded the base64 blob
    text = content.decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == CREDENTIAL_REPORT_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert all(len(r) == 22 for r in rows)

    root = rows[0]
    assert root["user"] == "<root_account>"
    assert root["arn"] == f"arn:aws:iam::{acct}:root"
    assert root["password_enabled"] == "not_supported"
    assert root["access_key_1_active"] == "false"

    by_user = {r["user"]: r for r in rows[1:]}
    admin = by_user["admin"]
    assert admin["arn"] == f"arn:aws:iam::{acct}:user/admin"
    assert _bool(admin["password_enabled"]) is True
    assert _bool(admin["access_key_1_active"]) is True
    assert _bool(admin["mfa_active"]) is False

    for u in (used, idle, nokey):
        row = by_user[u.name]
        assert row["arn"] == u.arn
        assert _bool(row["password_enabled"]) is False
        created = dt.datetime.fromisoformat(row["user_creation_time"])
        assert created.tzinfo is not None
        assert abs((created - u.user["CreateDate"]).total_seconds()) < 2

    assert _bool(by_user[nokey.name]["access_key_1_active"]) is False
    assert _bool(by_user[nokey.name]["access_key_2_active"]) is False

    idle_row = by_user[idle.name]
    assert _bool(idle_row["access_key_1_active"]) is True
    assert idle_row["access_key_1_last_used_date"] == "N/A"
    assert idle_row["access_key_1_last_used_region"] == "N/A"
    assert idle_row["access_key_1_last_used_service"] == "N/A"
    assert _bool(idle_row["access_key_2_active"]) is False

    used_row = by_user[used.name]
    assert _bool(used_row["access_key_1_active"]) is True
    assert used_row["access_key_1_last_used_region"] == "eu-west-1"
    assert used_row["access_key_1_last_used_service"] == "sts"
    dt.datetime.fromisoformat(used_row["access_key_1_last_used_date"])
