"""Authorization of one's own and other users' access keys, as on AWS: every
IAM call is authorized by the caller's policies, so a user without any policy
may call nothing but sts GetCallerIdentity - not even manage its own access
keys. The AWS-documented self-service policy ("Allows IAM users to manage
their own access keys", Resource ``arn:aws:iam::*:user/${aws:username}``)
gives each user its own keys and nobody else's. The admin made by ``init``
holds AdministratorAccess through an attached policy."""

from __future__ import annotations

import pytest

from helpers import ADMINISTRATOR_ACCESS, expect_denied, expect_error, unique


def test_plain_user_can_get_caller_identity(make_user):
    alice = make_user("alice")
    assert alice.client("sts").get_caller_identity()["Arn"] == alice.arn


def test_user_without_policy_cannot_manage_its_own_keys(iam, make_user):
    alice = make_user("alice")
    me = alice.client("iam")
    own = alice.key["AccessKeyId"]
    expect_denied(me.list_access_keys, alice.arn, "iam:ListAccessKeys", alice.arn)
    expect_denied(me.list_access_keys, alice.arn, "iam:ListAccessKeys", alice.arn,
                  UserName=alice.name)
    expect_denied(me.create_access_key, alice.arn, "iam:CreateAccessKey", alice.arn)
    expect_denied(me.update_access_key, alice.arn, "iam:UpdateAccessKey", alice.arn,
                  AccessKeyId=own, Status="Inactive")
    expect_denied(me.delete_access_key, alice.arn, "iam:DeleteAccessKey", alice.arn,
                  AccessKeyId=own)
    expect_denied(me.get_user, alice.arn, "iam:GetUser", alice.arn)

    keys = iam.list_access_keys(UserName=alice.name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(own, "Active")]


def test_self_service_user_manages_her_own_access_keys(iam, make_user):
    alice = make_user("alice", self_service=True)
    me = alice.client("iam")

    listed = me.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [alice.key["AccessKeyId"]]
    assert me.list_access_keys(UserName=alice.name)["AccessKeyMetadata"] == listed
    assert me.get_user()["User"]["Arn"] == alice.arn

    second = me.create_access_key(UserName=alice.name)["AccessKey"]
    assert second["UserName"] == alice.name

    me.update_access_key(UserName=alice.name, AccessKeyId=second["AccessKeyId"],
                         Status="Inactive")
    # Without UserName the key is taken to be the caller's.
    me.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Active")
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=alice.name)["AccessKeyMetadata"]}
    assert statuses[second["AccessKeyId"]] == "Active"
    assert me.get_access_key_last_used(
        AccessKeyId=second["AccessKeyId"])["UserName"] == alice.name

    me.delete_access_key(AccessKeyId=second["AccessKeyId"])
    remaining = iam.list_access_keys(UserName=alice.name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in remaining] == [alice.key["AccessKeyId"]]


def test_self_service_user_cannot_create_users(iam, make_user, account_id):
    alice = make_user("alice", self_service=True)
    name = unique("nope")
    expect_denied(alice.client("iam").create_user, alice.arn, "iam:CreateUser",
                  f"arn:aws:iam::{account_id}:user/{name}", UserName=name)
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)


def test_plain_user_cannot_list_users(make_user, account_id):
    alice = make_user("alice")
    expect_denied(alice.client("iam").list_users, alice.arn, "iam:ListUsers",
                  f"arn:aws:iam::{account_id}:user/")


@pytest.mark.parametrize("action", [
    "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey", "GetUser",
    "GetAccessKeyLastUsed"])
def test_self_service_user_cannot_manage_another_users_keys(iam, make_user, action):
    alice = make_user("alice", self_service=True)
    bob = make_user("bob")
    me = alice.client("iam")
    bob_key = bob.key["AccessKeyId"]
    calls = {
        "CreateAccessKey": (me.create_access_key, {"UserName": bob.name}),
        "ListAccessKeys": (me.list_access_keys, {"UserName": bob.name}),
        "UpdateAccessKey": (me.update_access_key,
                            {"UserName": bob.name, "AccessKeyId": bob_key,
                             "Status": "Inactive"}),
        "DeleteAccessKey": (me.delete_access_key,
                            {"UserName": bob.name, "AccessKeyId": bob_key}),
        "GetUser": (me.get_user, {"UserName": bob.name}),
        # The resource of GetAccessKeyLastUsed is the key's owner.
        "GetAccessKeyLastUsed": (me.get_access_key_last_used, {"AccessKeyId": bob_key}),
    }
    fn, kwargs = calls[action]
    expect_denied(fn, alice.arn, f"iam:{action}", bob.arn, **kwargs)

    keys = iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(bob_key, "Active")]
    assert bob.client("sts").get_caller_identity()["Arn"] == bob.arn


def test_self_service_user_cannot_touch_another_users_key_by_id_alone(iam, make_user):
    # Without UserName the key must be the caller's own; naming bob's key id
    # must not reach bob's key.
    alice = make_user("alice", self_service=True)
    bob = make_user("bob")
    me = alice.client("iam")
    bob_key = bob.key["AccessKeyId"]
    for fn, kwargs in [
        (me.update_access_key, {"AccessKeyId": bob_key, "Status": "Inactive"}),
        (me.delete_access_key, {"AccessKeyId": bob_key}),
    ]:
        try:
            fn(**kwargs)
        except Exception as e:  # noqa: BLE001 - inspected below
            got = (e.response["Error"]["Code"],
                   e.response["ResponseMetadata"]["HTTPStatusCode"])
            assert got in {("AccessDenied", 403), ("NoSuchEntity", 404)}, got
        else:
            raise AssertionError(f"{fn.__name__} on another user's key succeeded")
    keys = iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(bob_key, "Active")]


def test_admin_holds_administrator_access_through_an_attached_policy(iam):
    attached = iam.list_attached_user_policies(UserName="admin")["AttachedPolicies"]
    assert {"PolicyName": "AdministratorAccess",
            "PolicyArn": ADMINISTRATOR_ACCESS} in attached, attached


def test_admin_may_manage_any_users_keys(iam, make_user):
    bob = make_user("bob")
    extra = iam.create_access_key(UserName=bob.name)["AccessKey"]
    iam.update_access_key(UserName=bob.name, AccessKeyId=extra["AccessKeyId"],
                          Status="Inactive")
    iam.delete_access_key(UserName=bob.name, AccessKeyId=extra["AccessKeyId"])
    assert len(iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"]) == 1
