"""The IAM policy engine as a client sees it: every IAM call is allowed or
denied by the caller's identity-based policies (its own, its groups'), an
explicit Deny wins, a permissions boundary caps what they allow, conditions
see the request, and every change applies to the very next request.

AccessDenied messages are AWS's:
  User: <arn> is not authorized to perform: iam:X on resource: <arn>
      because no identity-based policy allows the iam:X action
      | with an explicit deny in an identity-based policy
      | because no permissions boundary allows the iam:X action
"""

from __future__ import annotations

from helpers import (ADMINISTRATOR_ACCESS, IAM_READ_ONLY_ACCESS, IAM_VERSION,
                     SELF_SERVICE_KEYS_DOCUMENT, allow, cli_ok, denial, deny,
                     expect_denied, expect_error, policy_document, signed_post, unique)


def _user_arn(account_id: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account_id}:user{path}{name}"


# --- no policy ---------------------------------------------------------------


def test_user_without_policy_is_denied_list_users_with_aws_message(make_user, account_id):
    alice = make_user("nopol")
    expect_denied(alice.client("iam").list_users, alice.arn, "iam:ListUsers",
                  f"arn:aws:iam::{account_id}:user/")


def test_user_without_policy_is_denied_on_the_wire(server, make_user, account_id):
    # The raw ErrorResponse: Sender fault, HTTP 403, AWS's wording.
    alice = make_user("nopolraw")
    res = signed_post(server, alice.key, "iam",
                      {"Action": "ListGroups", "Version": IAM_VERSION})
    assert res.status == 403, res.body
    err = res.error()
    assert err["Type"] == "Sender"
    assert err["Code"] == "AccessDenied"
    assert err["Message"] == denial(alice.arn, "iam:ListGroups",
                                    f"arn:aws:iam::{account_id}:group/")


def test_user_without_policy_may_still_get_caller_identity(make_user, account_id):
    alice = make_user("nopolsts")
    ident = alice.client("sts").get_caller_identity()
    assert ident["Arn"] == alice.arn
    assert ident["Account"] == account_id
    assert ident["UserId"] == alice.user["UserId"]


# --- groups --------------------------------------------------------------------


def test_group_with_iam_read_only_access_lets_members_read_but_not_write(
        iam, make_user, make_group, account_id):
    group = make_group("readers", policies=[IAM_READ_ONLY_ACCESS])
    other = make_user("other", with_key=False)
    reader = make_user("reader", groups=[group["GroupName"]])
    me = reader.client("iam")

    names = [u["UserName"] for u in me.get_paginator("list_users").paginate()
             .build_full_result()["Users"]]
    assert reader.name in names and other.name in names
    assert me.get_user(UserName=other.name)["User"]["Arn"] == other.arn
    assert me.get_user()["User"]["UserName"] == reader.name
    groups = me.get_paginator("list_groups").paginate().build_full_result()["Groups"]
    assert group["GroupName"] in [g["GroupName"] for g in groups]
    assert [g["GroupName"] for g in me.list_groups_for_user(
        UserName=reader.name)["Groups"]] == [group["GroupName"]]

    name = unique("nope")
    expect_denied(me.create_user, reader.arn, "iam:CreateUser",
                  _user_arn(account_id, name), UserName=name)
    expect_denied(me.create_access_key, reader.arn, "iam:CreateAccessKey", other.arn,
                  UserName=other.name)
    expect_denied(me.delete_group, reader.arn, "iam:DeleteGroup", group["Arn"],
                  GroupName=group["GroupName"])
    iam.get_group(GroupName=group["GroupName"])  # still there


def test_removing_the_user_from_the_group_revokes_at_once(iam, make_user, make_group,
                                                          account_id):
    group = make_group("revoke", policies=[IAM_READ_ONLY_ACCESS])
    reader = make_user("revoked", groups=[group["GroupName"]])
    me = reader.client("iam")
    me.list_users(MaxItems=1)

    iam.remove_user_from_group(GroupName=group["GroupName"], UserName=reader.name)
    expect_denied(me.list_users, reader.arn, "iam:ListUsers",
                  f"arn:aws:iam::{account_id}:user/")

    iam.add_user_to_group(GroupName=group["GroupName"], UserName=reader.name)
    me.list_users(MaxItems=1)


def test_self_service_policy_on_a_group_gives_each_member_only_its_own_keys(
        iam, make_user, make_group, make_policy, account_id):
    policy = make_policy(SELF_SERVICE_KEYS_DOCUMENT, "OwnKeys",
                         Description="Allows IAM users to manage their own access keys")
    group = make_group("selfservice", policies=[policy["Arn"]])
    alice = make_user("alice", groups=[group["GroupName"]])
    bob = make_user("bob", groups=[group["GroupName"]])

    for me, other in [(alice, bob), (bob, alice)]:
        client = me.client("iam")
        listed = client.list_access_keys()["AccessKeyMetadata"]
        assert [k["AccessKeyId"] for k in listed] == [me.key["AccessKeyId"]]
        second = client.create_access_key()["AccessKey"]
        assert second["UserName"] == me.name
        client.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Inactive")
        client.delete_access_key(AccessKeyId=second["AccessKeyId"])

        expect_denied(client.list_access_keys, me.arn, "iam:ListAccessKeys", other.arn,
                      UserName=other.name)
        expect_denied(client.create_access_key, me.arn, "iam:CreateAccessKey", other.arn,
                      UserName=other.name)
        expect_denied(client.delete_access_key, me.arn, "iam:DeleteAccessKey", other.arn,
                      UserName=other.name, AccessKeyId=other.key["AccessKeyId"])
        expect_denied(client.list_users, me.arn, "iam:ListUsers",
                      f"arn:aws:iam::{account_id}:user/")

    for u in (alice, bob):
        keys = iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"]
        assert [(k["AccessKeyId"], k["Status"]) for k in keys] == \
            [(u.key["AccessKeyId"], "Active")]


# --- explicit deny, NotAction ------------------------------------------------


def test_explicit_deny_beats_administrator_access(iam, make_user, account_id):
    boss = make_user("boss", policies=[ADMINISTRATOR_ACCESS], inline={
        "NoNewUsers": policy_document(deny("iam:CreateUser"))})
    me = boss.client("iam")
    me.list_users(MaxItems=1)
    group = unique("bossgrp")
    me.create_group(GroupName=group)
    iam.delete_group(GroupName=group)

    name = unique("nope")
    expect_denied(me.create_user, boss.arn, "iam:CreateUser", _user_arn(account_id, name),
                  "deny", UserName=name)
    # Removing the deny lets AdministratorAccess through on the next request.
    iam.delete_user_policy(UserName=boss.name, PolicyName="NoNewUsers")
    assert me.create_user(UserName=name)["User"]["UserName"] == name


def test_not_action_deny_denies_everything_else(iam, make_user, account_id):
    # Deny every action that is not a read: AdministratorAccess is left with
    # the Get*/List* actions only.
    reader = make_user("notaction", policies=[ADMINISTRATOR_ACCESS], inline={
        "ReadOnlyPlease": policy_document({
            "Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"], "Resource": "*"})})
    me = reader.client("iam")
    me.list_users(MaxItems=1)
    assert me.get_user()["User"]["UserName"] == reader.name
    me.list_access_keys()

    name = unique("nope")
    expect_denied(me.create_user, reader.arn, "iam:CreateUser",
                  _user_arn(account_id, name), "deny", UserName=name)
    expect_denied(me.create_access_key, reader.arn, "iam:CreateAccessKey", reader.arn,
                  "deny")
    expect_denied(me.delete_user_policy, reader.arn, "iam:DeleteUserPolicy", reader.arn,
                  "deny", UserName=reader.name, PolicyName="ReadOnlyPlease")
    # sts:GetCallerIdentity needs no permission and cannot be denied (AWS docs).
    assert reader.client("sts").get_caller_identity()["Arn"] == reader.arn
    assert iam.get_user_policy(UserName=reader.name,
                               PolicyName="ReadOnlyPlease")["PolicyName"] == "ReadOnlyPlease"


def test_explicit_deny_of_get_caller_identity_still_allows_it(make_user):
    # "If an administrator attaches a policy to your identity that explicitly
    # denies access to the sts:GetCallerIdentity action, you can still perform
    # this operation." (STS API reference, GetCallerIdentity)
    u = make_user("stsdeny", policies=[ADMINISTRATOR_ACCESS], inline={
        "NoWhoAmI": policy_document(deny("sts:GetCallerIdentity"))})
    assert u.client("sts").get_caller_identity()["Arn"] == u.arn


# --- permissions boundary ----------------------------------------------------


def test_permissions_boundary_narrows_administrator_access(iam, make_user, account_id):
    boss = make_user("bounded", policies=[ADMINISTRATOR_ACCESS])
    iam.put_user_permissions_boundary(UserName=boss.name,
                                      PermissionsBoundary=IAM_READ_ONLY_ACCESS)
    got = iam.get_user(UserName=boss.name)["User"]
    assert got["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": IAM_READ_ONLY_ACCESS,
    }
    me = boss.client("iam")
    me.list_users(MaxItems=1)  # allowed by both

    name = unique("nope")
    expect_denied(me.create_user, boss.arn, "iam:CreateUser", _user_arn(account_id, name),
                  "boundary", UserName=name)
    expect_denied(me.create_access_key, boss.arn, "iam:CreateAccessKey", boss.arn,
                  "boundary")

    iam.delete_user_permissions_boundary(UserName=boss.name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=boss.name)["User"]
    assert me.create_user(UserName=name)["User"]["UserName"] == name


def test_boundary_alone_grants_nothing(make_user, account_id):
    # A boundary caps permissions; it never grants any.
    u = make_user("boundonly", boundary=IAM_READ_ONLY_ACCESS)
    assert u.user["PermissionsBoundary"]["PermissionsBoundaryArn"] == IAM_READ_ONLY_ACCESS
    expect_denied(u.client("iam").list_users, u.arn, "iam:ListUsers",
                  f"arn:aws:iam::{account_id}:user/")


def test_create_user_with_permissions_boundary(iam, make_user, account_id):
    u = make_user("cubound", policies=[ADMINISTRATOR_ACCESS], boundary=IAM_READ_ONLY_ACCESS)
    assert u.user["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": IAM_READ_ONLY_ACCESS,
    }
    assert iam.get_user(UserName=u.name)["User"]["PermissionsBoundary"] == \
        u.user["PermissionsBoundary"]
    me = u.client("iam")
    me.get_user()
    name = unique("nope")
    expect_denied(me.create_user, u.arn, "iam:CreateUser", _user_arn(account_id, name),
                  "boundary", UserName=name)


# --- conditions ----------------------------------------------------------------


def test_request_tag_condition_on_create_user(iam, make_user, account_id):
    # Creating a user with tags also needs iam:TagUser on AWS; both actions
    # carry the request's tags, so one statement with the condition covers them.
    creator = make_user("tagger", inline={"OnlyRedTeam": policy_document(allow(
        ["iam:CreateUser", "iam:TagUser"], "*",
        Condition={"StringEquals": {"aws:RequestTag/team": "red"}}))})
    me = creator.client("iam")

    red = unique("red")
    made = me.create_user(UserName=red, Tags=[{"Key": "team", "Value": "red"}])["User"]
    assert made["Tags"] == [{"Key": "team", "Value": "red"}]
    assert iam.get_user(UserName=red)["User"]["Tags"] == [{"Key": "team", "Value": "red"}]

    untagged = unique("untagged")
    expect_denied(me.create_user, creator.arn, "iam:CreateUser",
                  _user_arn(account_id, untagged), UserName=untagged)
    blue = unique("blue")
    expect_denied(me.create_user, creator.arn, "iam:CreateUser",
                  _user_arn(account_id, blue), UserName=blue,
                  Tags=[{"Key": "team", "Value": "blue"}])
    for name in (untagged, blue):
        expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)


def test_creating_with_tags_needs_the_tagging_action_too(iam, make_user, account_id):
    """CreateUser, CreateRole and CreatePolicy with Tags are also TagUser, TagRole and
    TagPolicy on what they create: allowed to create but not to tag, the call is refused
    naming the tagging action, and nothing is created; without tags it goes through."""
    import json
    creator = make_user("creator", inline={"CreateOnly": policy_document(allow(
        ["iam:CreateUser", "iam:CreateRole", "iam:CreatePolicy"], "*"))})
    me = creator.client("iam")
    tags = [{"Key": "team", "Value": "red"}]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "sts:AssumeRole"}]})
    document = json.dumps({"Version": "2012-10-17", "Statement": [allow("iam:GetUser")]})

    user = unique("tagged")
    expect_denied(me.create_user, creator.arn, "iam:TagUser", _user_arn(account_id, user),
                  UserName=user, Tags=tags)
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=user)
    role = unique("tagged")
    expect_denied(me.create_role, creator.arn, "iam:TagRole",
                  f"arn:aws:iam::{account_id}:role/{role}",
                  RoleName=role, AssumeRolePolicyDocument=trust, Tags=tags)
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=role)
    policy = unique("tagged")
    expect_denied(me.create_policy, creator.arn, "iam:TagPolicy",
                  f"arn:aws:iam::{account_id}:policy/{policy}",
                  PolicyName=policy, PolicyDocument=document, Tags=tags)

    # Without tags, creating is all it is.
    plain = unique("plain")
    me.create_user(UserName=plain)
    iam.delete_user(UserName=plain)


def test_requested_region_condition(make_user, account_id):
    u = make_user("region", inline={"EuOnly": policy_document(allow(
        "iam:ListUsers", "*",
        Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}))})
    u.client("iam", region="eu-west-1").list_users(MaxItems=1)
    expect_denied(u.client("iam", region="us-east-1").list_users, u.arn, "iam:ListUsers",
                  f"arn:aws:iam::{account_id}:user/")


# --- changes apply to the next request ----------------------------------------


def test_detaching_a_policy_takes_effect_on_the_very_next_request(iam, make_user,
                                                                  account_id):
    u = make_user("detach", policies=[IAM_READ_ONLY_ACCESS])
    me = u.client("iam")
    me.list_users(MaxItems=1)
    iam.detach_user_policy(UserName=u.name, PolicyArn=IAM_READ_ONLY_ACCESS)
    expect_denied(me.list_users, u.arn, "iam:ListUsers", f"arn:aws:iam::{account_id}:user/")
    iam.attach_user_policy(UserName=u.name, PolicyArn=IAM_READ_ONLY_ACCESS)
    me.list_users(MaxItems=1)


def test_putting_an_inline_policy_takes_effect_on_the_very_next_request(iam, make_user,
                                                                        account_id):
    u = make_user("inline")
    me = u.client("iam")
    resource = f"arn:aws:iam::{account_id}:group/"
    expect_denied(me.list_groups, u.arn, "iam:ListGroups", resource)
    iam.put_user_policy(UserName=u.name, PolicyName="Groups",
                        PolicyDocument='{"Version":"2012-10-17","Statement":'
                                       '{"Effect":"Allow","Action":"iam:ListGroups",'
                                       '"Resource":"*"}}')
    me.list_groups(MaxItems=1)
    iam.delete_user_policy(UserName=u.name, PolicyName="Groups")
    expect_denied(me.list_groups, u.arn, "iam:ListGroups", resource)


def test_resource_scoped_allow_covers_only_that_path(make_user, account_id):
    path = f"/{unique('team')}/"
    u = make_user("pathscoped", inline={"TeamOnly": policy_document(allow(
        "iam:GetUser", f"arn:aws:iam::{account_id}:user{path}*"))})
    teammate = make_user("mate", path=path, with_key=False)
    outsider = make_user("outsider", with_key=False)
    me = u.client("iam")
    assert me.get_user(UserName=teammate.name)["User"]["Arn"] == teammate.arn
    expect_denied(me.get_user, u.arn, "iam:GetUser", outsider.arn, UserName=outsider.name)


# --- the AWS CLI v1 -------------------------------------------------------------


def test_cli_user_without_policy_is_denied_with_aws_message(aws, make_user, account_id):
    alice = make_user("clinopol")
    res = aws("iam", "list-users", creds=alice.key)
    assert res.returncode == 255, (res.returncode, res.stderr)
    expected = ("An error occurred (AccessDenied) when calling the ListUsers operation: "
                + denial(alice.arn, "iam:ListUsers", f"arn:aws:iam::{account_id}:user/"))
    assert expected in res.stderr, res.stderr
    ident = cli_ok(aws("sts", "get-caller-identity", creds=alice.key))
    assert ident["Arn"] == alice.arn


def test_cli_group_policy_grants_and_removal_revokes(aws, make_user, tmp_path, account_id):
    doc = tmp_path / "read-users.json"
    doc.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                   '"Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "*"}]}')
    policy = cli_ok(aws("iam", "create-policy", "--policy-name", unique("cliread"),
                        "--policy-document", f"file://{doc}"))["Policy"]
    assert policy["Arn"] == f"arn:aws:iam::{account_id}:policy/{policy['PolicyName']}"
    group = unique("cligrp")
    cli_ok(aws("iam", "create-group", "--group-name", group))
    cli_ok(aws("iam", "attach-group-policy", "--group-name", group,
               "--policy-arn", policy["Arn"]))
    u = make_user("clireader", groups=[group])

    listed = cli_ok(aws("iam", "list-users", creds=u.key))["Users"]
    assert u.name in [x["UserName"] for x in listed]
    res = aws("iam", "create-group", "--group-name", unique("nope"), creds=u.key)
    assert res.returncode == 255, (res.returncode, res.stderr)
    assert "(AccessDenied) when calling the CreateGroup operation" in res.stderr, res.stderr

    cli_ok(aws("iam", "detach-group-policy", "--group-name", group,
               "--policy-arn", policy["Arn"]))
    res = aws("iam", "list-users", creds=u.key)
    assert res.returncode == 255, (res.returncode, res.stderr)
    assert "because no identity-based policy allows the iam:ListUsers action" in res.stderr
