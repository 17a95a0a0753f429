"""IAM roles: CreateRole/GetRole/ListRoles/UpdateRole*/DeleteRole, trust policies,
tags, managed and inline role policies and permissions boundaries, as AWS shapes
them (botocore's iam model) and words their errors."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse

from helpers import (ADMINISTRATOR_ACCESS, IAM_NS, IAM_READ_ONLY_ACCESS, IAM_VERSION,
                     ROLE_ID_RE, allow, expect_denied, expect_error, policy_document,
                     role_arn, signed_post, trust_policy, unique)


def _root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


# --- CreateRole / GetRole -----------------------------------------------------------------


def test_create_role_returns_the_aws_shape(iam, account_id):
    name = unique("shape")
    path = f"/{unique('team')}/"
    trust = trust_policy(_root(account_id))
    role = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust),
        Description="Reads the team's users", MaxSessionDuration=7200,
        Tags=[{"Key": "team", "Value": "red"}])["Role"]
    assert role["RoleName"] == name
    assert role["Path"] == path
    assert role["Arn"] == role_arn(account_id, name, path)
    assert ROLE_ID_RE.match(role["RoleId"]), role["RoleId"]
    assert isinstance(role["CreateDate"], dt.datetime)
    assert abs((dt.datetime.now(dt.timezone.utc) - role["CreateDate"]).total_seconds()) < 120
    # botocore URL-decodes and JSON-parses AssumeRolePolicyDocument.
    assert role["AssumeRolePolicyDocument"] == trust

    got = iam.get_role(RoleName=name)["Role"]
    assert got["RoleName"] == name
    assert got["RoleId"] == role["RoleId"]
    assert got["Arn"] == role["Arn"]
    assert got["Path"] == path
    assert got["CreateDate"] == role["CreateDate"]
    assert got["AssumeRolePolicyDocument"] == trust
    assert got["Description"] == "Reads the team's users"
    assert got["MaxSessionDuration"] == 7200
    assert got["Tags"] == [{"Key": "team", "Value": "red"}]
    assert "PermissionsBoundary" not in got
    assert "RoleLastUsed" in got


def test_get_role_sends_the_trust_policy_url_encoded_on_the_wire(server, make_role,
                                                                 account_id):
    trust = trust_policy(_root(account_id))
    role = make_role(trust, "wire")
    res = signed_post(server, server.admin, "iam",
                      {"Action": "GetRole", "Version": IAM_VERSION,
                       "RoleName": role["RoleName"]})
    assert res.status == 200, res.body
    doc = res.xml().find(f"{{{IAM_NS}}}GetRoleResult/{{{IAM_NS}}}Role/"
                         f"{{{IAM_NS}}}AssumeRolePolicyDocument").text
    assert "%22" in doc and "{" not in doc, doc  # percent-encoded JSON, as on AWS
    assert json.loads(urllib.parse.unquote(doc)) == trust


def test_role_defaults(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "defaults")
    got = iam.get_role(RoleName=role["RoleName"])["Role"]
    assert got["Path"] == "/"
    assert got["Arn"] == role_arn(account_id, role["RoleName"])
    assert got["MaxSessionDuration"] == 3600
    assert "Description" not in got
    assert "Tags" not in got


def test_create_role_twice_is_entity_already_exists(iam, make_role, account_id):
    trust = json.dumps(trust_policy(_root(account_id)))
    role = make_role(trust, "dup")
    expect_error(iam.create_role, "EntityAlreadyExists", 409,
                 f"Role with name {role['RoleName']} already exists.",
                 RoleName=role["RoleName"], AssumeRolePolicyDocument=trust)


def test_get_missing_role_is_no_such_entity(iam):
    name = unique("missing")
    expect_error(iam.get_role, "NoSuchEntity", 404,
                 f"The role with name {name} cannot be found.", RoleName=name)
    expect_error(iam.delete_role, "NoSuchEntity", 404,
                 f"The role with name {name} cannot be found.", RoleName=name)


def test_max_session_duration_must_be_between_one_and_twelve_hours(server, account_id):
    iam = server.client("iam", parameter_validation=False)
    trust = json.dumps(trust_policy(_root(account_id)))
    expect_error(iam.create_role, "ValidationError", 400,
                 "1 validation error detected: Value '3599' at 'maxSessionDuration' failed "
                 "to satisfy constraint: Member must have value greater than or equal to 3600",
                 RoleName=unique("short"), AssumeRolePolicyDocument=trust,
                 MaxSessionDuration=3599)
    expect_error(iam.create_role, "ValidationError", 400,
                 "1 validation error detected: Value '43201' at 'maxSessionDuration' failed "
                 "to satisfy constraint: Member must have value less than or equal to 43200",
                 RoleName=unique("long"), AssumeRolePolicyDocument=trust,
                 MaxSessionDuration=43201)
    for seconds in (3600, 43200):
        name = unique("edge")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                        MaxSessionDuration=seconds)
        assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == seconds


def test_trust_policy_without_principal_is_malformed(iam):
    name = unique("noprincipal")
    doc = json.dumps(policy_document({"Effect": "Allow", "Action": "sts:AssumeRole"}))
    err = expect_error(iam.create_role, "MalformedPolicyDocument", 400,
                       RoleName=name, AssumeRolePolicyDocument=doc)
    assert "Principal" in err.response["Error"]["Message"], err.response["Error"]
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=name)


def test_trust_policy_with_a_non_sts_action_is_malformed(iam, account_id):
    name = unique("iamaction")
    doc = json.dumps(trust_policy(_root(account_id), actions=["sts:AssumeRole",
                                                                "iam:CreateUser"]))
    expect_error(iam.create_role, "MalformedPolicyDocument", 400,
                 "AssumeRole policy may only specify STS AssumeRole actions.",
                 RoleName=name, AssumeRolePolicyDocument=doc)
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=name)


def test_update_assume_role_policy(iam, make_role, make_user, account_id):
    role = make_role(trust_policy(_root(account_id)), "uarp")
    alice = make_user("uarp", with_key=False)
    new_trust = trust_policy(alice.arn)
    assert iam.update_assume_role_policy(
        RoleName=role["RoleName"],
        PolicyDocument=json.dumps(new_trust))["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"] \
        == new_trust

    bad = json.dumps(trust_policy(alice.arn, actions="s3:GetObject"))
    expect_error(iam.update_assume_role_policy, "MalformedPolicyDocument", 400,
                 "AssumeRole policy may only specify STS AssumeRole actions.",
                 RoleName=role["RoleName"], PolicyDocument=bad)
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"] \
        == new_trust
    missing = unique("nope")
    expect_error(iam.update_assume_role_policy, "NoSuchEntity", 404,
                 f"The role with name {missing} cannot be found.",
                 RoleName=missing, PolicyDocument=json.dumps(new_trust))


# --- ListRoles ----------------------------------------------------------------------------


def test_list_roles_pages_through_a_path_prefix(iam, make_role, account_id):
    path = f"/{unique('paging')}/"
    trust = trust_policy(_root(account_id))
    created = {make_role(trust, "pager", Path=path)["RoleName"] for _ in range(5)}
    make_role(trust, "elsewhere", Path=f"/{unique('other')}/")

    seen, pages, marker = [], [], None
    while True:
        kwargs = {"PathPrefix": path, "MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_roles(**kwargs)
        pages.append(len(page["Roles"]))
        for role in page["Roles"]:
            assert role["Path"] == path
            assert role["Arn"] == role_arn(account_id, role["RoleName"], path)
            assert ROLE_ID_RE.match(role["RoleId"])
            assert role["AssumeRolePolicyDocument"] == trust
            seen.append(role["RoleName"])
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        marker = page["Marker"]
        assert len(pages) < 10, pages
    assert pages == [2, 2, 1]
    assert sorted(seen) == sorted(created)

    everything = iam.get_paginator("list_roles").paginate(
        PaginationConfig={"PageSize": 2}).build_full_result()["Roles"]
    names = [r["RoleName"] for r in everything]
    assert created <= set(names)
    assert len(names) == len(set(names))


def test_list_roles_leaves_out_tags_boundary_and_last_used(iam, make_role, account_id):
    # "This operation does not return the following attributes, even though they are
    # an attribute of the returned object: PermissionsBoundary, RoleLastUsed, Tags"
    # (ListRoles, IAM API reference).
    path = f"/{unique('subset')}/"
    role = make_role(trust_policy(_root(account_id)), "subset", Path=path,
                     Description="listed", MaxSessionDuration=7200,
                     PermissionsBoundary=IAM_READ_ONLY_ACCESS,
                     Tags=[{"Key": "k", "Value": "v"}])
    [listed] = iam.list_roles(PathPrefix=path)["Roles"]
    assert listed["RoleName"] == role["RoleName"]
    assert listed["Description"] == "listed"
    assert listed["MaxSessionDuration"] == 7200
    for absent in ("Tags", "PermissionsBoundary", "RoleLastUsed"):
        assert absent not in listed, (absent, listed)


# --- UpdateRole, UpdateRoleDescription ----------------------------------------------------


def test_update_role(server, iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "update", Description="before")
    name = role["RoleName"]
    # UpdateRole has an (empty) output shape with resultWrapper UpdateRoleResult, so
    # AWS answers with an empty <UpdateRoleResult/> that botocore looks for.
    resp = iam.update_role(RoleName=name, Description="after", MaxSessionDuration=14400)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = iam.get_role(RoleName=name)["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("after", 14400)

    raw = server.client("iam", parameter_validation=False)
    expect_error(raw.update_role, "ValidationError", 400,
                 "1 validation error detected: Value '43201' at 'maxSessionDuration' failed "
                 "to satisfy constraint: Member must have value less than or equal to 43200",
                 RoleName=name, MaxSessionDuration=43201)
    missing = unique("nope")
    expect_error(iam.update_role, "NoSuchEntity", 404,
                 f"The role with name {missing} cannot be found.",
                 RoleName=missing, Description="x")


def test_update_role_description(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "describe", Description="before",
                     MaxSessionDuration=14400)
    name = role["RoleName"]
    described = iam.update_role_description(RoleName=name, Description="again")["Role"]
    assert described["RoleName"] == name
    assert described["Arn"] == role["Arn"]
    assert described["RoleId"] == role["RoleId"]
    assert described["Description"] == "again"
    assert described["MaxSessionDuration"] == 14400
    assert described["AssumeRolePolicyDocument"] == role["AssumeRolePolicyDocument"]
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "again"
    missing = unique("nope")
    expect_error(iam.update_role_description, "NoSuchEntity", 404,
                 f"The role with name {missing} cannot be found.",
                 RoleName=missing, Description="x")


# --- tags ---------------------------------------------------------------------------------


def test_tag_untag_and_list_role_tags(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "tags",
                     Tags=[{"Key": "team", "Value": "red"}])
    name = role["RoleName"]
    iam.tag_role(RoleName=name, Tags=[{"Key": "env", "Value": "prod"},
                                      {"Key": "team", "Value": "blue"}])
    tags = iam.list_role_tags(RoleName=name)
    assert sorted((t["Key"], t["Value"]) for t in tags["Tags"]) == \
        [("env", "prod"), ("team", "blue")]
    assert tags["IsTruncated"] is False
    assert sorted((t["Key"], t["Value"]) for t in
                  iam.get_role(RoleName=name)["Role"]["Tags"]) == \
        [("env", "prod"), ("team", "blue")]

    iam.untag_role(RoleName=name, TagKeys=["team", "not-there"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "env", "Value": "prod"}]
    iam.untag_role(RoleName=name, TagKeys=["env"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == []
    assert "Tags" not in iam.get_role(RoleName=name)["Role"]

    missing = unique("nope")
    expect_error(iam.tag_role, "NoSuchEntity", 404,
                 f"The role with name {missing} cannot be found.",
                 RoleName=missing, Tags=[{"Key": "a", "Value": "b"}])
    expect_error(iam.list_role_tags, "NoSuchEntity", 404,
                 f"The role with name {missing} cannot be found.", RoleName=missing)


# --- managed and inline policies; DeleteRole ----------------------------------------------


def test_attached_policies_block_delete_role_until_detached(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "attached")
    name = role["RoleName"]
    iam.attach_role_policy(RoleName=name, PolicyArn=IAM_READ_ONLY_ACCESS)
    iam.attach_role_policy(RoleName=name, PolicyArn=IAM_READ_ONLY_ACCESS)  # idempotent
    attached = iam.list_attached_role_policies(RoleName=name)
    assert attached["AttachedPolicies"] == [
        {"PolicyName": "IAMReadOnlyAccess", "PolicyArn": IAM_READ_ONLY_ACCESS}]
    assert attached["IsTruncated"] is False

    expect_error(iam.delete_role, "DeleteConflict", 409,
                 "Cannot delete entity, must detach all policies first.", RoleName=name)
    iam.get_role(RoleName=name)

    iam.detach_role_policy(RoleName=name, PolicyArn=IAM_READ_ONLY_ACCESS)
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    iam.delete_role(RoleName=name)
    expect_error(iam.get_role, "NoSuchEntity", 404,
                 f"The role with name {name} cannot be found.", RoleName=name)


def test_inline_policies_block_delete_role_until_deleted(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "inline")
    name = role["RoleName"]
    doc = policy_document(allow(["iam:ListUsers", "iam:GetUser"]))
    iam.put_role_policy(RoleName=name, PolicyName="ReadUsers", PolicyDocument=json.dumps(doc))
    got = iam.get_role_policy(RoleName=name, PolicyName="ReadUsers")
    assert got["RoleName"] == name
    assert got["PolicyName"] == "ReadUsers"
    assert got["PolicyDocument"] == doc  # decoded by botocore
    listed = iam.list_role_policies(RoleName=name)
    assert listed["PolicyNames"] == ["ReadUsers"]
    assert listed["IsTruncated"] is False

    expect_error(iam.delete_role, "DeleteConflict", 409,
                 "Cannot delete entity, must delete policies first.", RoleName=name)

    expect_error(iam.get_role_policy, "NoSuchEntity", 404,
                 "The role policy with name Other cannot be found.",
                 RoleName=name, PolicyName="Other")
    expect_error(iam.delete_role_policy, "NoSuchEntity", 404,
                 "The role policy with name Other cannot be found.",
                 RoleName=name, PolicyName="Other")
    iam.delete_role_policy(RoleName=name, PolicyName="ReadUsers")
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
    iam.delete_role(RoleName=name)
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=name)


def test_malformed_inline_role_policy_is_rejected(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "badinline")
    expect_error(iam.put_role_policy, "MalformedPolicyDocument", 400,
                 RoleName=role["RoleName"], PolicyName="Bad", PolicyDocument="{not json")
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == []


# --- permissions boundary -----------------------------------------------------------------


def test_role_permissions_boundary(iam, make_role, account_id):
    role = make_role(trust_policy(_root(account_id)), "boundary",
                     PermissionsBoundary=IAM_READ_ONLY_ACCESS)
    name = role["RoleName"]
    expected = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                "PermissionsBoundaryArn": IAM_READ_ONLY_ACCESS}
    assert role["PermissionsBoundary"] == expected
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == expected

    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]
    expect_error(iam.delete_role_permissions_boundary, "NoSuchEntity", 404, RoleName=name)

    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=ADMINISTRATOR_ACCESS)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": ADMINISTRATOR_ACCESS}
    # A boundary is no attached policy: the role can be deleted with one in place.
    iam.delete_role(RoleName=name)
    expect_error(iam.get_role, "NoSuchEntity", 404, RoleName=name)


# --- who may manage roles -----------------------------------------------------------------


def test_user_without_policy_may_not_manage_roles(make_user, make_role, account_id):
    u = make_user("norole")
    me = u.client("iam")
    name = unique("denied")
    trust = json.dumps(trust_policy(_root(account_id)))
    expect_denied(me.create_role, u.arn, "iam:CreateRole", role_arn(account_id, name),
                  RoleName=name, AssumeRolePolicyDocument=trust)
    expect_denied(me.list_roles, u.arn, "iam:ListRoles", f"arn:aws:iam::{account_id}:role/")
    role = make_role(trust, "guarded")
    expect_denied(me.get_role, u.arn, "iam:GetRole", role["Arn"], RoleName=role["RoleName"])
    expect_denied(me.delete_role, u.arn, "iam:DeleteRole", role["Arn"],
                  RoleName=role["RoleName"])
    expect_denied(me.attach_role_policy, u.arn, "iam:AttachRolePolicy", role["Arn"],
                  RoleName=role["RoleName"], PolicyArn=ADMINISTRATOR_ACCESS)


def test_iam_read_only_access_reads_roles_but_cannot_change_them(make_user, make_role,
                                                                  account_id):
    u = make_user("roreader", policies=[IAM_READ_ONLY_ACCESS])
    me = u.client("iam")
    role = make_role(trust_policy(_root(account_id)), "readable")
    assert me.get_role(RoleName=role["RoleName"])["Role"]["Arn"] == role["Arn"]
    me.list_roles(MaxItems=1)
    expect_denied(me.update_role_description, u.arn, "iam:UpdateRoleDescription",
                  role["Arn"],
                  RoleName=role["RoleName"], Description="nope")
    expect_denied(me.update_assume_role_policy, u.arn, "iam:UpdateAssumeRolePolicy",
                  role["Arn"], RoleName=role["RoleName"],
                  PolicyDocument=json.dumps(trust_policy(u.arn)))
