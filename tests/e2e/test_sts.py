"""STS: GetCallerIdentity and GetAccessKeyInfo, with keys signed for any region."""

from __future__ import annotations

import pytest

from helpers import ACCOUNT_ID_RE, USER_ID_RE, expect_error


def test_new_user_key_identifies_as_that_user(iam, make_user, account_id):
    alice = make_user("alice")
    ident = alice.client("sts").get_caller_identity()
    assert ident["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert ident["Arn"] == f"arn:aws:iam::{account_id}:user/{alice.name}"
    assert ident["Account"] == account_id
    assert ident["UserId"] == alice.user["UserId"]


def test_admin_identifies_as_admin(server, sts, iam):
    ident = sts.get_caller_identity()
    acct = server.admin["AccountId"]
    assert ACCOUNT_ID_RE.match(acct), acct
    assert ident["Arn"] == f"arn:aws:iam::{acct}:user/admin"
    assert ident["Account"] == acct
    assert USER_ID_RE.match(ident["UserId"]), ident["UserId"]
    assert ident["UserId"] == iam.get_user(UserName="admin")["User"]["UserId"]


def test_get_access_key_info_returns_the_account(server, sts, make_user, account_id):
    alice = make_user("alice")
    resp = sts.get_access_key_info(AccessKeyId=alice.key["AccessKeyId"])
    assert resp["Account"] == account_id
    # The admin's own key too.
    admin_key = server.admin["AccessKeyId"]
    assert sts.get_access_key_info(AccessKeyId=admin_key)["Account"] == account_id


def test_get_access_key_info_with_malformed_id_is_validation_error(server):
    sts = server.client("sts", parameter_validation=False)
    expect_error(sts.get_access_key_info, "ValidationError", 400, AccessKeyId="nope")


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2", "us-east-1"])
def test_requests_signed_for_any_region_work(make_user, region):
    alice = make_user("region", self_service=True)
    scopes = []

    def record(request, **_):
        scopes.append(request.headers["Authorization"].decode()
                      if isinstance(request.headers["Authorization"], bytes)
                      else request.headers["Authorization"])

    sts = alice.client("sts", region=region)
    sts.meta.events.register("before-send", record)
    assert sts.get_caller_identity()["Arn"] == alice.arn

    iam = alice.client("iam", region=region)
    iam.meta.events.register("before-send", record)
    keys = iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [alice.key["AccessKeyId"]]

    # Make sure the requests really carried that region in their scope.
    assert f"/{region}/sts/aws4_request" in scopes[0], scopes[0]
    assert f"/{region}/iam/aws4_request" in scopes[1], scopes[1]
