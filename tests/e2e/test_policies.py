"""Customer managed policies (versions, tags, attachments), the AWS managed
policies under arn:aws:iam::aws:policy/, and policy document validation."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from helpers import (ADMINISTRATOR_ACCESS, IAM_NS, IAM_READ_ONLY_ACCESS, IAM_VERSION,
                     SELF_SERVICE_KEYS_DOCUMENT, allow, aws_policy, expect_denied,
                     expect_error, policy_document, signed_post, unique)

READ_GROUPS = policy_document(allow("iam:ListGroups"))
READ_USERS = policy_document(allow(["iam:ListUsers", "iam:GetUser"]))


def _all(iam, operation: str, key: str, **kwargs) -> list:
    return iam.get_paginator(operation).paginate(**kwargs).build_full_result()[key]


# --- create, get, list ---------------------------------------------------------


def test_create_get_and_list_a_customer_managed_policy(iam, account_id):
    path = f"/{unique('pp')}/"
    name = unique("Readers")
    created = iam.create_policy(
        PolicyName=name, Path=path, PolicyDocument=json.dumps(READ_USERS),
        Description="Lets you read users")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    policy = created["Policy"]
    assert policy["PolicyName"] == name
    assert policy["Arn"] == f"arn:aws:iam::{account_id}:policy{path}{name}"
    assert policy["Path"] == path
    assert policy["PolicyId"].startswith("ANPA") and len(policy["PolicyId"]) == 21, policy
    assert policy["DefaultVersionId"] == "v1"
    assert policy["AttachmentCount"] == 0
    assert policy["PermissionsBoundaryUsageCount"] == 0
    assert policy["IsAttachable"] is True
    assert policy["CreateDate"] == policy["UpdateDate"]

    got = iam.get_policy(PolicyArn=policy["Arn"])["Policy"]
    assert got["Description"] == "Lets you read users"
    for field in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId",
                  "AttachmentCount", "IsAttachable", "CreateDate"):
        assert got[field] == policy[field], field

    local = _all(iam, "list_policies", "Policies", Scope="Local", PathPrefix=path)
    assert [p["Arn"] for p in local] == [policy["Arn"]]
    # "Description ... is not included in the response to the ListPolicies
    # operation" (Policy data type, IAM API reference).
    assert "Description" not in local[0], local[0]
    everything = _all(iam, "list_policies", "Policies", PathPrefix=path)
    assert [p["Arn"] for p in everything] == [policy["Arn"]]
    assert _all(iam, "list_policies", "Policies", Scope="AWS", PathPrefix=path) == []


def test_list_aws_managed_policies(iam):
    aws = _all(iam, "list_policies", "Policies", Scope="AWS")
    by_name = {p["PolicyName"]: p for p in aws}
    admin = by_name["AdministratorAccess"]
    assert admin["Arn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert admin["Path"] == "/"
    assert admin["IsAttachable"] is True
    assert admin["AttachmentCount"] >= 1  # the admin made by init
    for name in ("PowerUserAccess", "ReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess",
                 "IAMUserChangePassword", "IAMSelfManageServiceSpecificCredentials",
                 "SecurityAudit"):
        assert by_name[name]["Arn"] == aws_policy(name), name
    job = by_name["ViewOnlyAccess"]
    assert job["Path"] == "/job-function/"
    assert job["Arn"] == "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
    assert all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in aws)
    # No customer managed policy among them, and none of these among Local.
    local = {p["Arn"] for p in _all(iam, "list_policies", "Policies", Scope="Local")}
    assert not local & {p["Arn"] for p in aws}


def test_get_aws_managed_policy_and_its_document(iam):
    policy = iam.get_policy(PolicyArn=ADMINISTRATOR_ACCESS)["Policy"]
    assert policy["PolicyName"] == "AdministratorAccess"
    assert policy["Arn"] == ADMINISTRATOR_ACCESS
    version = iam.get_policy_version(PolicyArn=ADMINISTRATOR_ACCESS,
                                     VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert version["IsDefaultVersion"] is True
    assert version["Document"] == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }


def test_list_policies_only_attached_and_usage_filter(iam, make_user, make_policy):
    path = f"/{unique('usage')}/"
    attached = make_policy(READ_USERS, "att", Path=path)
    boundary = make_policy(READ_USERS, "bnd", Path=path)
    make_policy(READ_USERS, "idle", Path=path)
    make_user("usage", with_key=False, policies=[attached["Arn"]], boundary=boundary["Arn"])

    def arns(**kw):
        return {p["Arn"] for p in _all(iam, "list_policies", "Policies", PathPrefix=path,
                                       **kw)}

    assert len(arns()) == 3
    assert arns(OnlyAttached=True) == {attached["Arn"], boundary["Arn"]}
    assert arns(PolicyUsageFilter="PermissionsPolicy", OnlyAttached=True) == {attached["Arn"]}
    assert arns(PolicyUsageFilter="PermissionsBoundary", OnlyAttached=True) == \
        {boundary["Arn"]}
    got = iam.get_policy(PolicyArn=boundary["Arn"])["Policy"]
    assert (got["AttachmentCount"], got["PermissionsBoundaryUsageCount"]) == (0, 1)
    got = iam.get_policy(PolicyArn=attached["Arn"])["Policy"]
    assert (got["AttachmentCount"], got["PermissionsBoundaryUsageCount"]) == (1, 0)


def test_duplicate_policy_name_is_entity_already_exists(iam, make_policy):
    policy = make_policy(READ_USERS, "dup")
    name = policy["PolicyName"]
    expect_error(iam.create_policy, "EntityAlreadyExists", 409,
                 f"A policy called {name} already exists. Duplicate names are not allowed.",
                 PolicyName=name, PolicyDocument=json.dumps(READ_GROUPS))


def test_get_unknown_policy_is_no_such_entity(iam, account_id):
    arn = f"arn:aws:iam::{account_id}:policy/{unique('ghost')}"
    expect_error(iam.get_policy, "NoSuchEntity", 404, f"Policy {arn} was not found.",
                 PolicyArn=arn)


# --- documents -----------------------------------------------------------------


def test_get_policy_version_returns_the_document_sent(server, iam, make_policy):
    doc = policy_document(
        {"Sid": "Read", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"],
         "Resource": "*"},
        {"Sid": "NoDelete", "Effect": "Deny", "NotAction": "iam:DeleteUser",
         "NotResource": "arn:aws:iam::*:user/keep/*",
         "Condition": {"StringLike": {"aws:username": ["a*", "b?"]}}})
    policy = make_policy(doc, "doc")
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"] == doc
    assert version["VersionId"] == "v1"
    assert version["IsDefaultVersion"] is True

    # On the wire the document is URL-encoded JSON, the text as it was sent.
    text = '{\n  "Version": "2012-10-17",\n  "Statement": {"Effect": "Allow", ' \
           '"Action": "iam:GetUser", "Resource": "*"}\n}'
    raw_policy = iam.create_policy(PolicyName=unique("raw"), PolicyDocument=text)["Policy"]
    res = signed_post(server, server.admin, "iam", {
        "Action": "GetPolicyVersion", "Version": IAM_VERSION,
        "PolicyArn": raw_policy["Arn"], "VersionId": "v1"})
    assert res.status == 200, res.body
    encoded = res.xml().find(f".//{{{IAM_NS}}}Document").text
    assert "{" not in encoded and "%7B" in encoded, encoded
    assert urllib.parse.unquote(encoded) == text


@pytest.mark.parametrize("document", [
    pytest.param("this is not json", id="not-json"),
    pytest.param('{"Version": "2012-10-17", "Statement": [', id="truncated-json"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Action": "iam:GetUser", "Resource": "*"}]}), id="missing-effect"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "iam:GetUser",
         "Resource": "*"}]}), id="principal-in-identity-policy"),
    pytest.param(json.dumps({"Version": "2013-01-01", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}),
        id="unknown-version"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Action": "iam:GetUser", "Resource": "*"}]}), id="bad-effect"),
])
def test_malformed_policy_document(iam, make_user, make_group, make_policy, document):
    expect_error(iam.create_policy, "MalformedPolicyDocument", 400,
                 PolicyName=unique("bad"), PolicyDocument=document)
    u = make_user("badinline", with_key=False)
    expect_error(iam.put_user_policy, "MalformedPolicyDocument", 400,
                 UserName=u.name, PolicyName="bad", PolicyDocument=document)
    assert iam.list_user_policies(UserName=u.name)["PolicyNames"] == []
    g = make_group("badinline")
    expect_error(iam.put_group_policy, "MalformedPolicyDocument", 400,
                 GroupName=g["GroupName"], PolicyName="bad", PolicyDocument=document)
    good = make_policy(READ_USERS, "goodbad")
    expect_error(iam.create_policy_version, "MalformedPolicyDocument", 400,
                 PolicyArn=good["Arn"], PolicyDocument=document)
    assert len(iam.list_policy_versions(PolicyArn=good["Arn"])["Versions"]) == 1


# --- versions --------------------------------------------------------------------


def test_versions_up_to_five_then_limit_exceeded(iam, make_policy):
    policy = make_policy(READ_USERS, "ver")
    arn = policy["Arn"]
    docs = {"v1": READ_USERS}
    for n in range(2, 6):
        doc = policy_document(allow("iam:GetUser", f"arn:aws:iam::*:user/v{n}"))
        v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc),
                                      SetAsDefault=True)["PolicyVersion"]
        assert v["VersionId"] == f"v{n}"
        assert v["IsDefaultVersion"] is True
        docs[v["VersionId"]] = doc
        assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == f"v{n}"

    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v1", "v2", "v3", "v4", "v5"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v5"]
    assert all("Document" not in v for v in versions)
    for vid, doc in docs.items():
        got = iam.get_policy_version(PolicyArn=arn, VersionId=vid)["PolicyVersion"]
        assert got["Document"] == doc, vid
        assert got["IsDefaultVersion"] is (vid == "v5")

    expect_error(iam.create_policy_version, "LimitExceeded", 409,
                 "A managed policy can have up to 5 versions. Before you create a new "
                 "version, you must delete an existing version.",
                 PolicyArn=arn, PolicyDocument=json.dumps(READ_GROUPS))

    # Deleting an old version makes room; the new id is never reused.
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(READ_GROUPS))
    assert v["PolicyVersion"]["VersionId"] == "v6"
    assert v["PolicyVersion"]["IsDefaultVersion"] is False
    expect_error(iam.get_policy_version, "NoSuchEntity", 404,
                 PolicyArn=arn, VersionId="v2")


def test_default_version_cannot_be_deleted(iam, make_policy):
    policy = make_policy(READ_USERS, "defver")
    arn = policy["Arn"]
    expect_error(iam.delete_policy_version, "DeleteConflict", 409,
                 "Cannot delete the default version of a policy.",
                 PolicyArn=arn, VersionId="v1")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(READ_GROUPS),
                              SetAsDefault=True)
    expect_error(iam.delete_policy_version, "DeleteConflict", 409,
                 PolicyArn=arn, VersionId="v2")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] \
        == ["v2"]


def test_set_default_policy_version_switches_what_is_enforced(iam, make_user, make_policy,
                                                              account_id):
    policy = make_policy(READ_GROUPS, "switch")
    arn = policy["Arn"]
    u = make_user("switch", policies=[arn])
    me = u.client("iam")
    users = f"arn:aws:iam::{account_id}:user/"
    groups = f"arn:aws:iam::{account_id}:group/"

    me.list_groups(MaxItems=1)
    expect_denied(me.list_users, u.arn, "iam:ListUsers", users)

    # A new version that is not the default changes nothing.
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(READ_USERS),
                              SetAsDefault=False)
    me.list_groups(MaxItems=1)
    expect_denied(me.list_users, u.arn, "iam:ListUsers", users)

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    me.list_users(MaxItems=1)
    expect_denied(me.list_groups, u.arn, "iam:ListGroups", groups)

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    me.list_groups(MaxItems=1)
    expect_denied(me.list_users, u.arn, "iam:ListUsers", users)

    expect_error(iam.set_default_policy_version, "NoSuchEntity", 404,
                 PolicyArn=arn, VersionId="v9")


def test_delete_policy_conflicts_while_attached_or_versioned(iam, make_user, make_group,
                                                             make_policy):
    policy = make_policy(READ_USERS, "del")
    arn = policy["Arn"]
    u = make_user("del", with_key=False, policies=[arn])
    g = make_group("del", policies=[arn])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(READ_GROUPS))

    expect_error(iam.delete_policy, "DeleteConflict", 409,
                 "Cannot delete a policy attached to entities.", PolicyArn=arn)
    iam.detach_user_policy(UserName=u.name, PolicyArn=arn)
    expect_error(iam.delete_policy, "DeleteConflict", 409, PolicyArn=arn)
    iam.detach_group_policy(GroupName=g["GroupName"], PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0

    # Still a non-default version.
    expect_error(iam.delete_policy, "DeleteConflict", 409, PolicyArn=arn)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    iam.delete_policy(PolicyArn=arn)
    expect_error(iam.get_policy, "NoSuchEntity", 404, PolicyArn=arn)
    expect_error(iam.delete_policy, "NoSuchEntity", 404, PolicyArn=arn)
    # The name is free again.
    iam.create_policy(PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(READ_USERS))


def test_delete_policy_used_as_a_boundary_conflicts(iam, make_user, make_policy):
    policy = make_policy(READ_USERS, "delbnd")
    u = make_user("delbnd", with_key=False, boundary=policy["Arn"])
    expect_error(iam.delete_policy, "DeleteConflict", 409, PolicyArn=policy["Arn"])
    iam.delete_user_permissions_boundary(UserName=u.name)
    iam.delete_policy(PolicyArn=policy["Arn"])


def test_aws_managed_policies_cannot_be_changed(iam):
    before = iam.list_policy_versions(PolicyArn=ADMINISTRATOR_ACCESS)["Versions"]
    expect_error(iam.create_policy_version, "UnmodifiableEntity", 400,
                 PolicyArn=ADMINISTRATOR_ACCESS, PolicyDocument=json.dumps(READ_GROUPS),
                 SetAsDefault=True)
    expect_error(iam.delete_policy, "UnmodifiableEntity", 400,
                 PolicyArn=IAM_READ_ONLY_ACCESS)
    assert iam.list_policy_versions(PolicyArn=ADMINISTRATOR_ACCESS)["Versions"] == before
    iam.get_policy(PolicyArn=IAM_READ_ONLY_ACCESS)


# --- tags ------------------------------------------------------------------------


def test_policy_tags_round_trip(iam, make_policy):
    path = f"/{unique('tagged')}/"
    policy = make_policy(READ_USERS, "tags", Path=path,
                         Tags=[{"Key": "team", "Value": "red"}])
    assert policy["Tags"] == [{"Key": "team", "Value": "red"}]
    arn = policy["Arn"]
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "team", "Value": "red"}]

    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "env", "Value": "prod"},
                                        {"Key": "team", "Value": "blue"}])
    tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]}
    assert tags == {"team": "blue", "env": "prod"}
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert {t["Key"]: t["Value"] for t in got["Tags"]} == tags
    listed = _all(iam, "list_policies", "Policies", Scope="Local", PathPrefix=path)
    assert [p["Arn"] for p in listed] == [arn]
    assert "Tags" not in listed[0]  # "this operation does not return tags" (ListPolicies)

    iam.untag_policy(PolicyArn=arn, TagKeys=["team", "absent"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    expect_error(iam.tag_policy, "NoSuchEntity", 404,
                 PolicyArn=arn + "-gone", Tags=[{"Key": "a", "Value": "b"}])


# --- attachments -------------------------------------------------------------------


def test_attached_policies_and_entities_for_policy(iam, make_user, make_group,
                                                   make_policy):
    policy = make_policy(READ_USERS, "ents")
    arn = policy["Arn"]
    u = make_user("ents", with_key=False, policies=[arn, IAM_READ_ONLY_ACCESS])
    g = make_group("ents", policies=[arn])

    attached = iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"]
    assert sorted(attached, key=lambda p: p["PolicyArn"]) == sorted([
        {"PolicyName": policy["PolicyName"], "PolicyArn": arn},
        {"PolicyName": "IAMReadOnlyAccess", "PolicyArn": IAM_READ_ONLY_ACCESS},
    ], key=lambda p: p["PolicyArn"])
    assert iam.list_attached_group_policies(GroupName=g["GroupName"])["AttachedPolicies"] \
        == [{"PolicyName": policy["PolicyName"], "PolicyArn": arn}]
    # Attaching again is a no-op, as on AWS.
    iam.attach_user_policy(UserName=u.name, PolicyArn=arn)
    assert len(iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"]) == 2

    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert ents["PolicyUsers"] == [{"UserName": u.name, "UserId": u.user["UserId"]}]
    assert ents["PolicyGroups"] == [{"GroupName": g["GroupName"], "GroupId": g["GroupId"]}]
    assert ents["PolicyRoles"] == []
    only_users = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")
    assert only_users["PolicyUsers"] == ents["PolicyUsers"]
    assert only_users["PolicyGroups"] == []
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2

    iam.detach_user_policy(UserName=u.name, PolicyArn=arn)
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert ents["PolicyUsers"] == []
    assert len(ents["PolicyGroups"]) == 1
    expect_error(iam.detach_user_policy, "NoSuchEntity", 404, UserName=u.name,
                 PolicyArn=arn)


def test_attach_unknown_policy_is_no_such_entity(iam, make_user, make_group, account_id):
    u = make_user("ghostpol", with_key=False)
    g = make_group("ghostpol")
    for arn in (f"arn:aws:iam::{account_id}:policy/{unique('ghost')}",
                aws_policy(unique("NoSuchAwsPolicy"))):
        expect_error(iam.attach_user_policy, "NoSuchEntity", 404,
                     f"Policy {arn} does not exist or is not attachable.",
                     UserName=u.name, PolicyArn=arn)
        expect_error(iam.attach_group_policy, "NoSuchEntity", 404,
                     f"Policy {arn} does not exist or is not attachable.",
                     GroupName=g["GroupName"], PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"] == []
    expect_error(iam.attach_user_policy, "NoSuchEntity", 404,
                 UserName=unique("nouser"), PolicyArn=IAM_READ_ONLY_ACCESS)


def test_eleventh_attachment_is_limit_exceeded(iam, make_user, make_group, make_policy):
    policies = [make_policy(policy_document(allow("iam:GetUser", f"arn:aws:iam::*:user/x{i}")),
                            "lim")["Arn"] for i in range(11)]
    u = make_user("lim", with_key=False, policies=policies[:10])
    expect_error(iam.attach_user_policy, "LimitExceeded", 409,
                 "Cannot exceed quota for PoliciesPerUser: 10",
                 UserName=u.name, PolicyArn=policies[10])
    assert len(iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"]) == 10

    g = make_group("lim", policies=policies[:10])
    expect_error(iam.attach_group_policy, "LimitExceeded", 409,
                 "Cannot exceed quota for PoliciesPerGroup: 10",
                 GroupName=g["GroupName"], PolicyArn=policies[10])

    # Detaching one makes room.
    iam.detach_user_policy(UserName=u.name, PolicyArn=policies[0])
    iam.attach_user_policy(UserName=u.name, PolicyArn=policies[10])


def test_managed_policy_with_self_service_document_works_for_its_user(make_user,
                                                                       make_policy):
    # The customer managed policy the suite uses for self-service, made here
    # from scratch: attached to a user, it lets her list her own keys.
    policy = make_policy(SELF_SERVICE_KEYS_DOCUMENT, "own")
    u = make_user("own", policies=[policy["Arn"]])
    keys = u.client("iam").list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [u.key["AccessKeyId"]]
