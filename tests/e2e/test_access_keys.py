"""IAM access keys: create, list, update, delete, quota, last used, and how
the key's state decides whether a request authenticates."""

from __future__ import annotations

import datetime as dt
import secrets

from helpers import (ACCESS_KEY_ID_RE, IAM_VERSION, expect_denied, expect_error, signed_post,
                     unique)


def _random_key_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def test_create_access_key_returns_id_secret_and_active_status(iam, make_user):
    u = make_user("ak", with_key=False)
    resp = iam.create_access_key(UserName=u.name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    key = resp["AccessKey"]
    assert key["UserName"] == u.name
    assert ACCESS_KEY_ID_RE.match(key["AccessKeyId"]), key["AccessKeyId"]
    assert len(key["SecretAccessKey"]) == 40, key["SecretAccessKey"]
    assert key["Status"] == "Active"
    age = dt.datetime.now(dt.timezone.utc) - key["CreateDate"]
    assert abs(age.total_seconds()) < 300


def test_third_access_key_is_limit_exceeded(iam, make_user):
    u = make_user("quota")  # has one key already
    iam.create_access_key(UserName=u.name)
    expect_error(iam.create_access_key, "LimitExceeded", 409,
                 "Cannot exceed quota for AccessKeysPerUser: 2", UserName=u.name)
    assert len(iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"]) == 2


def test_deleting_a_key_frees_quota(iam, make_user):
    u = make_user("quota2")
    second = iam.create_access_key(UserName=u.name)["AccessKey"]
    iam.delete_access_key(UserName=u.name, AccessKeyId=second["AccessKeyId"])
    third = iam.create_access_key(UserName=u.name)["AccessKey"]
    assert third["AccessKeyId"] not in (u.key["AccessKeyId"], second["AccessKeyId"])


def test_list_access_keys_shows_status_and_never_secrets(server, iam, make_user):
    u = make_user("list")
    second = iam.create_access_key(UserName=u.name)["AccessKey"]
    iam.update_access_key(UserName=u.name, AccessKeyId=second["AccessKeyId"],
                          Status="Inactive")

    resp = iam.list_access_keys(UserName=u.name)
    assert resp["IsTruncated"] is False
    by_id = {k["AccessKeyId"]: k for k in resp["AccessKeyMetadata"]}
    assert set(by_id) == {u.key["AccessKeyId"], second["AccessKeyId"]}
    assert by_id[u.key["AccessKeyId"]]["Status"] == "Active"
    assert by_id[second["AccessKeyId"]]["Status"] == "Inactive"
    for k in by_id.values():
        assert k["UserName"] == u.name
        assert "CreateDate" in k
        assert "SecretAccessKey" not in k

    # boto3 drops fields it does not know, so look at the wire too.
    raw = signed_post(server, server.admin, "iam", {
        "Action": "ListAccessKeys", "Version": IAM_VERSION, "UserName": u.name})
    assert raw.status == 200, raw.body
    assert b"SecretAccessKey" not in raw.body
    assert u.key["SecretAccessKey"].encode() not in raw.body
    assert second["SecretAccessKey"].encode() not in raw.body


def test_list_access_keys_of_unknown_user_is_no_such_entity(iam):
    expect_error(iam.list_access_keys, "NoSuchEntity", 404, UserName=unique("ghost"))


def test_create_access_key_without_user_name_is_for_the_caller(iam, make_user):
    u = make_user("self", self_service=True)
    own = u.client("iam").create_access_key()["AccessKey"]
    assert own["UserName"] == u.name
    assert own["Status"] == "Active"
    ident = u.client("sts", key=own).get_caller_identity()
    assert ident["Arn"] == u.arn
    listed = iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {u.key["AccessKeyId"], own["AccessKeyId"]}


def test_user_without_a_policy_cannot_create_its_own_access_key(iam, make_user):
    # Every IAM call is authorized, managing one's own keys included.
    u = make_user("nopolicy")
    expect_denied(u.client("iam").create_access_key, u.arn, "iam:CreateAccessKey", u.arn)
    listed = iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [u.key["AccessKeyId"]]


def test_inactive_key_is_rejected_immediately_and_reactivation_restores_it(iam, make_user):
    u = make_user("toggle")
    sts = u.client("sts")
    assert sts.get_caller_identity()["Arn"] == u.arn

    iam.update_access_key(UserName=u.name, AccessKeyId=u.key["AccessKeyId"],
                          Status="Inactive")
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403)

    iam.update_access_key(UserName=u.name, AccessKeyId=u.key["AccessKeyId"],
                          Status="Active")
    assert sts.get_caller_identity()["Arn"] == u.arn


def test_update_access_key_with_bad_status_is_validation_error(server, make_user):
    u = make_user("badstatus")
    iam = server.client("iam", parameter_validation=False)
    expect_error(iam.update_access_key, "ValidationError", 400,
                 UserName=u.name, AccessKeyId=u.key["AccessKeyId"], Status="Paused")


def test_deleted_key_is_invalid_client_token_id(iam, make_user):
    u = make_user("gone")
    sts = u.client("sts")
    assert sts.get_caller_identity()["Arn"] == u.arn
    iam.delete_access_key(UserName=u.name, AccessKeyId=u.key["AccessKeyId"])
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403)
    assert iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"] == []


def test_delete_unknown_access_key_is_no_such_entity(iam, make_user):
    u = make_user("nokey", with_key=False)
    expect_error(iam.delete_access_key, "NoSuchEntity", 404,
                 UserName=u.name, AccessKeyId=_random_key_id())


def test_unknown_access_key_id_is_invalid_client_token_id(server):
    bogus = {"AccessKeyId": _random_key_id(), "SecretAccessKey": "x" * 40}
    expect_error(server.client("sts", bogus).get_caller_identity,
                 "InvalidClientTokenId", 403)
    expect_error(server.client("iam", bogus).list_users, "InvalidClientTokenId", 403)


def test_wrong_secret_is_signature_does_not_match(server, make_user):
    u = make_user("wrongsecret")
    wrong = dict(u.key)
    wrong["SecretAccessKey"] = ("Z" if wrong["SecretAccessKey"][0] != "Z" else "Y") + \
        wrong["SecretAccessKey"][1:]
    expect_error(server.client("sts", wrong).get_caller_identity,
                 "SignatureDoesNotMatch", 403)
    # The right secret still works afterwards.
    assert u.client("sts").get_caller_identity()["Arn"] == u.arn


def test_access_key_last_used_is_na_before_first_use(iam, make_user):
    u = make_user("unused")
    resp = iam.get_access_key_last_used(AccessKeyId=u.key["AccessKeyId"])
    assert resp["UserName"] == u.name
    last = resp["AccessKeyLastUsed"]
    assert last["ServiceName"] == "N/A"
    assert last["Region"] == "N/A"
    assert "LastUsedDate" not in last


def test_access_key_last_used_records_service_and_region(iam, make_user):
    u = make_user("used")
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    u.client("sts", region="eu-west-1").get_caller_identity()
    resp = iam.get_access_key_last_used(AccessKeyId=u.key["AccessKeyId"])
    assert resp["UserName"] == u.name
    last = resp["AccessKeyLastUsed"]
    assert last["ServiceName"] == "sts"
    assert last["Region"] == "eu-west-1"
    assert "LastUsedDate" in last
    after = dt.datetime.now(dt.timezone.utc)
    # AWS reports last use with minute granularity at best; allow for that.
    assert before - dt.timedelta(minutes=1) <= last["LastUsedDate"] <= after, last

