"""The audit trail (issue #7, docs/design/audit-trail.md): every call is a CloudTrail
record, looked up with CloudTrail's LookupEvents (boto3, AWS CLI v1 and v2) and streamed to
a JSON-lines file; secrets never reach either."""

from __future__ import annotations

import json
import sqlite3
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lz4.block
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from helpers import (REPO_ROOT, allow, cli_ok, create_policy, create_user, denial,
                     policy_document, run_aws_cli, unique)

AWS_CLI_V2 = Path(os.environ.get("AWS_CLI_V2", REPO_ROOT / ".tools/awscli-v2/aws"))
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


@pytest.fixture(scope="module")
def trail(module_server_pool, tmp_path_factory):
    """A server of this module's own, streaming its events to a JSON-lines file."""
    log = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    srv = module_server_pool.new("audit", config=f'audit_log = "{log}"\n')
    srv.audit_log = log
    return srv


def lookup(client, **kwargs) -> list[dict]:
    """Every event LookupEvents finds, through boto3's paginator."""
    pages = client.get_paginator("lookup_events").paginate(**kwargs)
    return [event for page in pages for event in page["Events"]]


def by_resource(client, name: str) -> list[dict]:
    return lookup(client, LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": name}])


def record(event: dict) -> dict:
    return json.loads(event["CloudTrailEvent"])


def test_writes_are_events_with_who_from_where_and_no_secret(trail):
    iam, cloudtrail = trail.client("iam"), trail.client("cloudtrail")
    name = unique("audited")
    created = iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    # Wrong codes: a failed write is an event too, its codes hidden.
    with pytest.raises(ClientError) as refused:
        iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                              AuthenticationCode1="908172", AuthenticationCode2="364519")
    assert refused.value.response["Error"]["Code"] == "InvalidAuthenticationCode"

    events = by_resource(cloudtrail, name)
    names = [e["EventName"] for e in events]
    # Newest first.
    assert names == ["EnableMFADevice", "CreateVirtualMFADevice", "CreateAccessKey",
                     "CreateUser"], names
    create_user = record(events[3])
    assert create_user["eventSource"] == "iam.amazonaws.com"
    assert create_user["readOnly"] is False
    assert create_user["requestParameters"] == {"userName": name}
    assert create_user["requestID"] == created["ResponseMetadata"]["RequestId"]
    assert create_user["eventID"] == events[3]["EventId"]
    assert create_user["sourceIPAddress"] == "127.0.0.1"
    assert "Boto3" in create_user["userAgent"] or "botocore" in create_user["userAgent"]
    assert create_user["awsRegion"] == "us-east-1"
    assert "errorCode" not in create_user
    assert create_user["userIdentity"] == {
        "type": "IAMUser",
        "principalId": create_user["userIdentity"]["principalId"],
        "arn": f"arn:aws:iam::{trail.account_id}:user/admin",
        "accountId": trail.account_id,
        "accessKeyId": trail.admin["AccessKeyId"],
        "userName": "admin",
    }
    assert events[3]["Username"] == "admin"
    assert events[3]["AccessKeyId"] == trail.admin["AccessKeyId"]
    assert events[3]["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": name} in events[3]["Resources"]

    # What a call created is its responseElements, as CloudTrail has it; never a secret.
    assert create_user["responseElements"]["user"] == {
        "path": "/", "userName": name, "userId": created["User"]["UserId"],
        "arn": created["User"]["Arn"],
        "createDate": create_user["responseElements"]["user"]["createDate"]}
    access_key = record(events[2])["responseElements"]["accessKey"]
    assert access_key == {"accessKeyId": key["AccessKeyId"], "status": "Active",
                          "userName": name, "createDate": access_key["createDate"]}
    assert record(events[1])["responseElements"] == {
        "virtualMFADevice": {"serialNumber": device["SerialNumber"]}}

    enable = record(events[0])
    # A failure, and a read, have none.
    assert enable["responseElements"] is None
    assert enable["errorCode"] == "InvalidAuthenticationCode"
    assert enable["requestParameters"]["authenticationCode1"] == HIDDEN
    assert enable["requestParameters"]["authenticationCode2"] == HIDDEN
    assert enable["requestParameters"]["serialNumber"] == device["SerialNumber"]

    # Neither the key's secret nor the MFA seed is anywhere in the database or the file.
    trail_client_flush(cloudtrail)
    secrets = [key["SecretAccessKey"].encode(), device["Base32StringSeed"]]
    files = [p for p in trail.data_dir.iterdir() if p.name.startswith("latchkey.db")]
    files.append(trail.audit_log)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"a secret is in {path.name}"
    # The segments are compressed: read them as LookupEvents does, too.
    stored = stored_trail(trail.data_dir)
    assert name.encode() in stored and b"EnableMFADevice" in stored
    for secret in secrets:
        assert secret not in stored, "a secret is in an audit segment"
    lines = trail.audit_log.read_text()
    assert '"authenticationCode1":"HIDDEN_DUE_TO_SECURITY_REASONS"' in lines


def stored_trail(data_dir) -> bytes:
    """Every audit segment in the database, decompressed (encodings 1 and 2 are an LZ4
    block with its size first, encoding 0 plain JSON lines)."""
    db = sqlite3.connect(data_dir / "latchkey.db")
    try:
        rows = db.execute("SELECT encoding, data FROM audit_segments").fetchall()
    finally:
        db.close()
    return b"".join(lz4.block.decompress(data) if encoding in (1, 2) else data
                    for encoding, data in rows)


def trail_client_flush(cloudtrail) -> None:
    """LookupEvents saves this instance's buffered events first: the file has them then."""
    cloudtrail.lookup_events(MaxResults=1)


def test_a_denied_call_records_access_denied_with_the_reason(trail):
    user = create_user(trail, "denied")
    iam = user.client("iam")
    with pytest.raises(ClientError) as denied:
        iam.list_users()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    events = lookup(trail.client("cloudtrail"), LookupAttributes=[
        {"AttributeKey": "Username", "AttributeValue": user.name}])
    [event] = [e for e in events if e["EventName"] == "ListUsers"]
    rec = record(event)
    assert rec["errorCode"] == "AccessDenied"
    resource = f"arn:aws:iam::{trail.account_id}:user/"
    assert rec["errorMessage"] == denial(user.arn, "iam:ListUsers", resource)
    assert rec["readOnly"] is True
    assert rec["userIdentity"]["arn"] == user.arn
    assert rec["userIdentity"]["accessKeyId"] == user.key["AccessKeyId"]


def test_a_bad_signature_is_an_event(trail):
    user = create_user(trail, "forger")
    forged = {"AccessKeyId": user.key["AccessKeyId"], "SecretAccessKey": "x" * 40}
    with pytest.raises(ClientError) as refused:
        trail.client("sts", forged).get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    events = lookup(trail.client("cloudtrail"), LookupAttributes=[
        {"AttributeKey": "AccessKeyId", "AttributeValue": user.key["AccessKeyId"]}])
    [event] = [e for e in events if record(e).get("errorCode") == "SignatureDoesNotMatch"]
    rec = record(event)
    assert rec["eventName"] == "GetCallerIdentity"
    assert rec["eventSource"] == "sts.amazonaws.com"
    assert rec["userIdentity"]["type"] == "Unknown"
    assert rec["userIdentity"]["accountId"] == trail.account_id
    assert rec["userIdentity"]["userName"] == user.name
    assert "x" * 40 not in event["CloudTrailEvent"]


def test_filters_time_window_and_paging(trail):
    user = create_user(trail, "pager", inline={"read": policy_document(allow("iam:GetUser"))})
    iam = user.client("iam")
    for _ in range(5):
        iam.get_user(UserName=user.name)
    cloudtrail = trail.client("cloudtrail")
    mine = [{"AttributeKey": "Username", "AttributeValue": user.name}]

    pages = list(cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=mine, PaginationConfig={"PageSize": 2}))
    assert [len(p["Events"]) for p in pages] == [2, 2, 1]
    assert "NextToken" not in pages[-1]
    events = [e for p in pages for e in p["Events"]]
    assert [e["EventName"] for e in events] == ["GetUser"] * 5
    assert len({e["EventId"] for e in events}) == 5
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True)

    # The other attributes and the window, each on the same calls.
    reads = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "ReadOnly", "AttributeValue": "true"}])
    assert {e["EventId"] for e in events} <= {e["EventId"] for e in reads}
    writes = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "ReadOnly", "AttributeValue": "false"}])
    assert not {e["EventId"] for e in events} & {e["EventId"] for e in writes}
    by_source = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "iam.amazonaws.com"}])
    assert {e["EventId"] for e in events} <= {e["EventId"] for e in by_source}
    by_name = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GetUser"}])
    assert {e["EventId"] for e in events} <= {e["EventId"] for e in by_name}
    one = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "EventId", "AttributeValue": events[0]["EventId"]}])
    assert [e["EventId"] for e in one] == [events[0]["EventId"]]
    window = lookup(cloudtrail, LookupAttributes=mine, StartTime=events[3]["EventTime"],
                    EndTime=events[1]["EventTime"])
    assert [e["EventId"] for e in window] == [e["EventId"] for e in events[1:4]]
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert lookup(cloudtrail, LookupAttributes=mine, StartTime=future) == []

    for bad, code in [
        ({"LookupAttributes": mine * 2}, "InvalidLookupAttributesException"),
        ({"StartTime": future, "EndTime": future - timedelta(days=2)},
         "InvalidTimeRangeException"),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
    ]:
        with pytest.raises(ClientError) as refused:
            cloudtrail.lookup_events(**bad)
        assert refused.value.response["Error"]["Code"] == code


def test_lookup_events_needs_the_permission_and_sees_only_its_account(trail):
    user = create_user(trail, "noaudit")
    with pytest.raises(ClientError) as denied:
        user.client("cloudtrail").lookup_events()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in denied.value.response["Error"]["Message"]

    policy = create_policy(trail, policy_document(allow("cloudtrail:LookupEvents")), "ct")
    auditor = create_user(trail, "auditor", policies=[policy["Arn"]])
    events = lookup(auditor.client("cloudtrail"), LookupAttributes=[
        {"AttributeKey": "Username", "AttributeValue": user.name}])
    # The denied LookupEvents itself is an event of the account.
    assert "LookupEvents" in [e["EventName"] for e in events]
    assert {record(e)["recipientAccountId"] for e in events} == {trail.account_id}

    # An account of the organization sees its own events, not the management account's.
    orgs = trail.client("organizations")
    status = orgs.create_account(Email=f"{unique('m')}@example.com",
                                 AccountName=unique("member"))["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"
    member = status["AccountId"]
    role = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    creds = trail.client("sts").assume_role(RoleArn=role, RoleSessionName="audit")[
        "Credentials"]
    member_trail = trail.client("cloudtrail", creds)
    member_events = lookup(member_trail)
    assert member_events == [] or {
        record(e)["recipientAccountId"] for e in member_events} == {member}
    member_trail.lookup_events()
    seen = lookup(member_trail)
    assert [e["EventName"] for e in seen] == ["LookupEvents", "LookupEvents"][:len(seen)]
    rec = record(seen[0])
    assert rec["userIdentity"]["type"] == "AssumedRole"
    assert rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == role
    assert rec["userIdentity"]["accessKeyId"] == creds["AccessKeyId"]


def test_the_cli_v1_and_v2_look_events_up(trail, tmp_path):
    iam = trail.client("iam")
    name = unique("cli")
    iam.create_user(UserName=name)
    attribute = f"AttributeKey=ResourceName,AttributeValue={name}"
    v1 = cli_ok(run_aws_cli(trail, tmp_path, "cloudtrail", "lookup-events",
                            "--lookup-attributes", attribute))
    assert [e["EventName"] for e in v1["Events"]] == ["CreateUser"]
    assert record(v1["Events"][0])["requestParameters"] == {"userName": name}

    if not AWS_CLI_V2.exists():
        pytest.fail(f"AWS CLI v2 not found at {AWS_CLI_V2}; scripts/test installs it")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ENDPOINT_URL": trail.url,
           "AWS_ACCESS_KEY_ID": trail.admin["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": trail.admin["SecretAccessKey"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
           "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    res = subprocess.run([str(AWS_CLI_V2), "cloudtrail", "lookup-events", "--lookup-attributes",
                          attribute, "--max-items", "5", "--output", "json"], env=env,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    v2 = json.loads(res.stdout)
    assert [e["EventName"] for e in v2["Events"]] == ["CreateUser"]
    assert v2["Events"][0]["EventId"] == v1["Events"][0]["EventId"]


def test_the_json_lines_file_has_one_record_per_line(trail):
    iam, cloudtrail = trail.client("iam"), trail.client("cloudtrail")
    name = unique("lines")
    iam.create_user(UserName=name)
    iam.get_user(UserName=name)
    trail_client_flush(cloudtrail)
    records = [json.loads(line) for line in trail.audit_log.read_text().splitlines()]
    mine = [r for r in records if (r.get("requestParameters") or {}).get("userName") == name]
    assert [(r["eventName"], r["readOnly"]) for r in mine] == [
        ("CreateUser", False), ("GetUser", True)]
    stored = {e["EventId"] for e in by_resource(cloudtrail, name)}
    assert {r["eventID"] for r in mine} == stored
    assert len({r["eventID"] for r in records}) == len(records), "each event once"


def test_events_older_than_the_retention_are_deleted(fresh_server):
    srv = fresh_server("retention")
    name = unique("old")
    srv.client("iam").create_user(UserName=name)
    assert len(by_resource(srv.client("cloudtrail"), name)) == 1
    srv.stop()
    # A retention of one second, two seconds later: at start-up the event is past it.
    time.sleep(2)
    srv.env["LATCHKEY_AUDIT_RETENTION"] = "1"
    srv.start()
    assert by_resource(srv.client("cloudtrail"), name) == []
    srv.stop()
    # Kept with the default (90 days): a new event survives a restart.
    del srv.env["LATCHKEY_AUDIT_RETENTION"]
    srv.start()
    kept = unique("kept")
    srv.client("iam").create_user(UserName=kept)
    srv.stop()
    srv.start()
    assert [e["EventName"] for e in by_resource(srv.client("cloudtrail"), kept)] == [
        "CreateUser"]


def test_sso_oidc_and_portal_calls_are_events_without_their_secrets(trail):
    oidc = trail.client("sso-oidc", signature_version=UNSIGNED)
    client_name = unique("auditcli")
    registered = oidc.register_client(clientName=client_name, clientType="public")
    started = oidc.start_device_authorization(
        clientId=registered["clientId"], clientSecret=registered["clientSecret"],
        startUrl=f"{trail.url}/start")
    portal = trail.client("sso", signature_version=UNSIGNED)
    with pytest.raises(ClientError) as refused:
        portal.list_accounts(accessToken="not-a-token")
    assert refused.value.response["Error"]["Code"] == "UnauthorizedException"

    cloudtrail = trail.client("cloudtrail")
    oauth = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "sso-oauth.amazonaws.com"}])
    mine = [record(e) for e in oauth
            if (record(e)["requestParameters"] or {}).get("clientName") == client_name
            or (record(e)["requestParameters"] or {}).get("clientId") == registered["clientId"]]
    assert [r["eventName"] for r in mine] == ["StartDeviceAuthorization", "RegisterClient"]
    assert mine[0]["requestParameters"]["clientSecret"] == HIDDEN
    assert mine[0]["sourceIPAddress"] == "127.0.0.1"
    assert registered["clientSecret"] not in json.dumps(oauth, default=str)

    denied = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "sso.amazonaws.com"}])
    listed = [record(e) for e in denied if e["EventName"] == "ListAccounts"]
    assert listed and listed[0]["errorCode"] == "UnauthorizedException"
    assert "not-a-token" not in json.dumps(denied, default=str)
    trail_client_flush(cloudtrail)
    data = trail.audit_log.read_bytes()
    stored = stored_trail(trail.data_dir)
    assert client_name.encode() in stored
    for secret in (registered["clientSecret"], started["deviceCode"]):
        assert secret.encode() not in data
        assert secret.encode() not in stored


def test_organizational_unit_calls_are_events_found_by_the_ou(trail):
    org, cloudtrail = trail.client("organizations"), trail.client("cloudtrail")
    root = org.list_roots()["Roots"][0]["Id"]
    name = unique("Audited")
    ou = org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
    org.update_organizational_unit(OrganizationalUnitId=ou, Name=unique("Renamed"))
    org.delete_organizational_unit(OrganizationalUnitId=ou)
    events = by_resource(cloudtrail, ou)
    assert [e["EventName"] for e in events] == ["DeleteOrganizationalUnit",
                                                "UpdateOrganizationalUnit"]
    for event in events:
        assert event["EventSource"] == "organizations.amazonaws.com"
        assert event["ReadOnly"] == "false"
        assert {"ResourceType": "AWS::Organizations::OrganizationalUnit",
                "ResourceName": ou} in event["Resources"]
    created = lookup(cloudtrail, LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "CreateOrganizationalUnit"}])
    assert {"ParentId": root, "Name": name} in [
        record(e)["requestParameters"] for e in created]
