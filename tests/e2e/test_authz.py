"""Authorization, interim rule until the policy engine lands: a plain user may
call sts GetCallerIdentity and manage her own access keys, and nothing else;
the admin may do everything."""

from __future__ import annotations

import pytest

from helpers import expect_error, unique


def _denied(fn, caller_arn: str, action: str, **kwargs):
    e = expect_error(fn, "AccessDenied", 403, **kwargs)
    msg = e.response["Error"]["Message"]
    # AWS: "User: <arn> is not authorized to perform: iam:<Action> on resource: ..."
    assert caller_arn in msg, msg
    assert f"iam:{action}" in msg, msg


def test_plain_user_can_get_caller_identity(make_user):
    alice = make_user("alice")
    assert alice.client("sts").get_caller_identity()["Arn"] == alice.arn


def test_plain_user_manages_her_own_access_keys(iam, make_user):
    alice = make_user("alice")
    me = alice.client("iam")

    listed = me.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [alice.key["AccessKeyId"]]
    assert me.list_access_keys(UserName=alice.name)["AccessKeyMetadata"] == listed

    second = me.create_access_key(UserName=alice.name)["AccessKey"]
    assert second["UserName"] == alice.name

    me.update_access_key(UserName=alice.name, AccessKeyId=second["AccessKeyId"],
                         Status="Inactive")
    # Without UserName the key is taken to be the caller's.
    me.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Active")
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=alice.name)["AccessKeyMetadata"]}
    assert statuses[second["AccessKeyId"]] == "Active"

    me.delete_access_key(AccessKeyId=second["AccessKeyId"])
    remaining = iam.list_access_keys(UserName=alice.name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in remaining] == [alice.key["AccessKeyId"]]


def test_plain_user_cannot_create_users(iam, make_user):
    alice = make_user("alice")
    name = unique("nope")
    _denied(alice.client("iam").create_user, alice.arn, "CreateUser", UserName=name)
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)


def test_plain_user_cannot_list_users(make_user):
    alice = make_user("alice")
    _denied(alice.client("iam").list_users, alice.arn, "ListUsers")


@pytest.mark.parametrize("action", [
    "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey"])
def test_plain_user_cannot_manage_another_users_keys(iam, make_user, action):
    alice = make_user("alice")
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
    }
    fn, kwargs = calls[action]
    _denied(fn, alice.arn, action, **kwargs)

    keys = iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(bob_key, "Active")]
    assert bob.client("sts").get_caller_identity()["Arn"] == bob.arn


def test_plain_user_cannot_touch_another_users_key_by_id_alone(iam, make_user):
    # Without UserName the key must be the caller's own; naming bob's key id
    # must not reach bob's key.
    alice = make_user("alice")
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


def test_admin_may_manage_any_users_keys(iam, make_user):
    bob = make_user("bob")
    extra = iam.create_access_key(UserName=bob.name)["AccessKey"]
    iam.update_access_key(UserName=bob.name, AccessKeyId=extra["AccessKeyId"],
                          Status="Inactive")
    iam.delete_access_key(UserName=bob.name, AccessKeyId=extra["AccessKeyId"])
    assert len(iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"]) == 1
