"""IAM groups: create, get (with members), list, rename, delete, membership,
and inline group policies."""

from __future__ import annotations

import json

from helpers import (IAM_READ_ONLY_ACCESS, allow, expect_error, policy_document, unique)

GROUP_ID_LEN = 21  # AGPA + 17


def _all(iam, operation: str, key: str, **kwargs) -> list:
    return iam.get_paginator(operation).paginate(**kwargs).build_full_result()[key]


def test_create_get_list_update_delete_group(iam, make_user, account_id):
    path = f"/{unique('gp')}/"
    name = unique("devs")
    created = iam.create_group(GroupName=name, Path=path)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    group = created["Group"]
    assert group["GroupName"] == name
    assert group["Path"] == path
    assert group["Arn"] == f"arn:aws:iam::{account_id}:group{path}{name}"
    assert group["GroupId"].startswith("AGPA") and len(group["GroupId"]) == GROUP_ID_LEN
    assert "CreateDate" in group

    got = iam.get_group(GroupName=name)
    assert got["Group"] == group
    assert got["Users"] == []
    assert got["IsTruncated"] is False

    alice = make_user("member", with_key=False)
    bob = make_user("member", with_key=False)
    iam.add_user_to_group(GroupName=name, UserName=alice.name)
    iam.add_user_to_group(GroupName=name, UserName=bob.name)
    iam.add_user_to_group(GroupName=name, UserName=bob.name)  # idempotent, as on AWS
    users = iam.get_group(GroupName=name)["Users"]
    assert sorted(u["UserName"] for u in users) == sorted([alice.name, bob.name])
    for u in users:
        assert u["Arn"] in (alice.arn, bob.arn)
        assert "UserId" in u and "CreateDate" in u

    # Paginated members.
    page = iam.get_group(GroupName=name, MaxItems=1)
    assert len(page["Users"]) == 1 and page["IsTruncated"] is True
    rest = iam.get_group(GroupName=name, Marker=page["Marker"])
    assert {u["UserName"] for u in page["Users"] + rest["Users"]} == {alice.name, bob.name}

    listed = _all(iam, "list_groups", "Groups", PathPrefix=path)
    assert listed == [group]
    other_path = f"/{unique('gp')}/"
    assert _all(iam, "list_groups", "Groups", PathPrefix=other_path) == []
    assert name in [g["GroupName"] for g in _all(iam, "list_groups", "Groups")]

    # Rename and move; members follow.
    new_name, new_path = unique("renamed"), f"/{unique('gp')}/"
    iam.update_group(GroupName=name, NewGroupName=new_name, NewPath=new_path)
    expect_error(iam.get_group, "NoSuchEntity", 404,
                 f"The group with name {name} cannot be found.", GroupName=name)
    renamed = iam.get_group(GroupName=new_name)
    assert renamed["Group"]["GroupId"] == group["GroupId"]
    assert renamed["Group"]["Path"] == new_path
    assert renamed["Group"]["Arn"] == f"arn:aws:iam::{account_id}:group{new_path}{new_name}"
    assert len(renamed["Users"]) == 2
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=alice.name)["Groups"]] \
        == [new_name]
    assert _all(iam, "list_groups", "Groups", PathPrefix=path) == []

    iam.remove_user_from_group(GroupName=new_name, UserName=alice.name)
    iam.remove_user_from_group(GroupName=new_name, UserName=bob.name)
    iam.delete_group(GroupName=new_name)
    expect_error(iam.get_group, "NoSuchEntity", 404, GroupName=new_name)
    expect_error(iam.delete_group, "NoSuchEntity", 404,
                 f"The group with name {new_name} cannot be found.", GroupName=new_name)
    assert iam.list_groups_for_user(UserName=alice.name)["Groups"] == []


def test_duplicate_group_name_is_entity_already_exists(iam, make_group):
    g = make_group("dup")
    expect_error(iam.create_group, "EntityAlreadyExists", 409,
                 f"Group with name {g['GroupName']} already exists.",
                 GroupName=g["GroupName"])
    other = make_group("dup")
    expect_error(iam.update_group, "EntityAlreadyExists", 409,
                 f"Group with name {g['GroupName']} already exists.",
                 GroupName=other["GroupName"], NewGroupName=g["GroupName"])


def test_update_unknown_group_is_no_such_entity(iam):
    name = unique("ghost")
    expect_error(iam.update_group, "NoSuchEntity", 404,
                 f"The group with name {name} cannot be found.",
                 GroupName=name, NewGroupName=unique("x"))


def test_delete_group_with_a_member_is_delete_conflict(iam, make_user, make_group):
    g = make_group("busy")
    u = make_user("busy", with_key=False, groups=[g["GroupName"]])
    expect_error(iam.delete_group, "DeleteConflict", 409,
                 "Cannot delete entity, must remove users from group first.",
                 GroupName=g["GroupName"])
    assert [x["UserName"] for x in iam.get_group(GroupName=g["GroupName"])["Users"]] == [u.name]
    iam.remove_user_from_group(GroupName=g["GroupName"], UserName=u.name)
    iam.delete_group(GroupName=g["GroupName"])


def test_delete_group_with_policies_is_delete_conflict(iam, make_group):
    g = make_group("pols", policies=[IAM_READ_ONLY_ACCESS])
    name = g["GroupName"]
    expect_error(iam.delete_group, "DeleteConflict", 409,
                 "Cannot delete entity, must detach all policies first.", GroupName=name)
    iam.detach_group_policy(GroupName=name, PolicyArn=IAM_READ_ONLY_ACCESS)
    iam.put_group_policy(GroupName=name, PolicyName="inline",
                         PolicyDocument=json.dumps(policy_document(allow("iam:GetUser"))))
    expect_error(iam.delete_group, "DeleteConflict", 409,
                 "Cannot delete entity, must delete policies first.", GroupName=name)
    iam.delete_group_policy(GroupName=name, PolicyName="inline")
    iam.delete_group(GroupName=name)


def test_add_user_to_group_unknown_user_or_group_is_no_such_entity(iam, make_user,
                                                                  make_group):
    g = make_group("known")
    u = make_user("known", with_key=False)
    ghost_user, ghost_group = unique("ghost"), unique("ghost")
    expect_error(iam.add_user_to_group, "NoSuchEntity", 404,
                 f"The user with name {ghost_user} cannot be found.",
                 GroupName=g["GroupName"], UserName=ghost_user)
    expect_error(iam.add_user_to_group, "NoSuchEntity", 404,
                 f"The group with name {ghost_group} cannot be found.",
                 GroupName=ghost_group, UserName=u.name)
    assert iam.get_group(GroupName=g["GroupName"])["Users"] == []
    # Removing a user who is not a member.
    expect_error(iam.remove_user_from_group, "NoSuchEntity", 404,
                 GroupName=g["GroupName"], UserName=u.name)


def test_list_groups_for_user(iam, make_user, make_group):
    a, b, c = make_group("lg"), make_group("lg"), make_group("lg")
    u = make_user("lg", with_key=False, groups=[a["GroupName"], b["GroupName"]])
    groups = iam.list_groups_for_user(UserName=u.name)
    assert groups["IsTruncated"] is False
    assert sorted(groups["Groups"], key=lambda g: g["GroupName"]) == \
        sorted([a, b], key=lambda g: g["GroupName"])
    assert c["GroupName"] not in [g["GroupName"] for g in groups["Groups"]]
    lonely = make_user("lg", with_key=False)
    assert iam.list_groups_for_user(UserName=lonely.name)["Groups"] == []
    ghost = unique("ghost")
    expect_error(iam.list_groups_for_user, "NoSuchEntity", 404,
                 f"The user with name {ghost} cannot be found.", UserName=ghost)


def test_delete_user_in_a_group_is_delete_conflict(iam, make_user, make_group):
    g = make_group("deluser")
    u = make_user("deluser", with_key=False, groups=[g["GroupName"]])
    expect_error(iam.delete_user, "DeleteConflict", 409,
                 "Cannot delete entity, must remove users from group first.",
                 UserName=u.name)
    iam.get_user(UserName=u.name)
    iam.remove_user_from_group(GroupName=g["GroupName"], UserName=u.name)
    iam.delete_user(UserName=u.name)
    assert iam.get_group(GroupName=g["GroupName"])["Users"] == []


def test_inline_group_policy_put_get_list_delete(iam, make_group):
    g = make_group("inline")
    name = g["GroupName"]
    doc = policy_document(allow(["iam:GetUser", "iam:ListUsers"]))
    assert iam.list_group_policies(GroupName=name)["PolicyNames"] == []

    iam.put_group_policy(GroupName=name, PolicyName="ReadUsers",
                         PolicyDocument=json.dumps(doc))
    iam.put_group_policy(GroupName=name, PolicyName="AlsoGroups",
                         PolicyDocument=json.dumps(policy_document(allow("iam:ListGroups"))))
    got = iam.get_group_policy(GroupName=name, PolicyName="ReadUsers")
    assert got["GroupName"] == name
    assert got["PolicyName"] == "ReadUsers"
    assert got["PolicyDocument"] == doc
    listed = iam.list_group_policies(GroupName=name)
    assert sorted(listed["PolicyNames"]) == ["AlsoGroups", "ReadUsers"]
    assert listed["IsTruncated"] is False

    # Put again replaces the document.
    replaced = policy_document(allow("iam:GetUser"))
    iam.put_group_policy(GroupName=name, PolicyName="ReadUsers",
                         PolicyDocument=json.dumps(replaced))
    assert iam.get_group_policy(GroupName=name,
                                PolicyName="ReadUsers")["PolicyDocument"] == replaced
    assert len(iam.list_group_policies(GroupName=name)["PolicyNames"]) == 2

    iam.delete_group_policy(GroupName=name, PolicyName="ReadUsers")
    assert iam.list_group_policies(GroupName=name)["PolicyNames"] == ["AlsoGroups"]
    expect_error(iam.get_group_policy, "NoSuchEntity", 404,
                 "The group policy with name ReadUsers cannot be found.",
                 GroupName=name, PolicyName="ReadUsers")
    expect_error(iam.delete_group_policy, "NoSuchEntity", 404,
                 GroupName=name, PolicyName="ReadUsers")
    ghost = unique("ghost")
    expect_error(iam.put_group_policy, "NoSuchEntity", 404,
                 f"The group with name {ghost} cannot be found.",
                 GroupName=ghost, PolicyName="x", PolicyDocument=json.dumps(doc))


def test_inline_user_policy_put_get_list_delete(iam, make_user):
    u = make_user("inlineuser", with_key=False)
    doc = policy_document(allow("iam:GetUser", "arn:aws:iam::*:user/${aws:username}"))
    iam.put_user_policy(UserName=u.name, PolicyName="Self", PolicyDocument=json.dumps(doc))
    got = iam.get_user_policy(UserName=u.name, PolicyName="Self")
    assert (got["UserName"], got["PolicyName"], got["PolicyDocument"]) == \
        (u.name, "Self", doc)
    assert iam.list_user_policies(UserName=u.name)["PolicyNames"] == ["Self"]
    expect_error(iam.delete_user, "DeleteConflict", 409,
                 "Cannot delete entity, must delete policies first.", UserName=u.name)
    iam.delete_user_policy(UserName=u.name, PolicyName="Self")
    expect_error(iam.get_user_policy, "NoSuchEntity", 404,
                 "The user policy with name Self cannot be found.",
                 UserName=u.name, PolicyName="Self")
    iam.delete_user(UserName=u.name)


def test_group_membership_grants_inline_group_policy(iam, make_user, make_group, account_id):
    g = make_group("grant", inline={"Read": policy_document(allow("iam:ListGroups"))})
    u = make_user("grant", groups=[g["GroupName"]])
    me = u.client("iam")
    assert g["GroupName"] in [x["GroupName"] for x in _all(me, "list_groups", "Groups")]
    iam.delete_group_policy(GroupName=g["GroupName"], PolicyName="Read")
    expect_error(me.list_groups, "AccessDenied", 403,
                 f"User: {u.arn} is not authorized to perform: iam:ListGroups on resource: "
                 f"arn:aws:iam::{account_id}:group/ because no identity-based policy "
                 "allows the iam:ListGroups action")
