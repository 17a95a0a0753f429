"""AWS SSO Admin (awsJson1_1, boto3 client "sso-admin"): the organization's IAM Identity
Center instance, permission sets with every kind of policy, account assignments to identity
store users and groups, the roles provisioning makes in member accounts (seen through IAM
there), re-provisioning, failed provisioning, the status calls, AWS's errors, who may call
it, the AWS CLI, and persistence across a restart."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from helpers import (ADMINISTRATOR_ACCESS, allow, aws_policy, cli_ok, expect_error,
                     policy_document, unique)

ACCESS_ROLE = "OrganizationAccountAccessRole"
RESERVED_PATH = "/aws-reserved/sso.amazonaws.com/"
INSTANCE_ARN_RE = re.compile(r"^arn:aws:sso:::instance/ssoins-[0-9a-f]{16}$")
PS_ARN_RE = re.compile(r"^arn:aws:sso:::permissionSet/ssoins-[0-9a-f]{16}/ps-[0-9a-f]{16}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
S3_READ = policy_document(allow(["s3:GetObject", "s3:ListBucket"]))


def reserved_role_re(name: str) -> re.Pattern:
    return re.compile(rf"^AWSReservedSSO_{re.escape(name)}_[0-9a-f]{{16}}$")


def fails(fn, code: str, **kwargs) -> dict:
    """Calls fn, expecting the awsJson error `code` with HTTP 400 and x-amzn-ErrorType."""
    with pytest.raises(ClientError) as excinfo:
        fn(**kwargs)
    err = excinfo.value.response
    meta = err["ResponseMetadata"]
    assert err["Error"]["Code"] == code, err["Error"]
    assert meta["HTTPStatusCode"] == 400, meta
    assert meta["HTTPHeaders"].get("x-amzn-errortype") == code, meta["HTTPHeaders"]
    return err["Error"]


def _member_account(server) -> dict:
    org = server.client("organizations")
    status = org.create_account(Email=f"{unique('sso')}@example.com",
                                AccountName=unique("SsoMember"))["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", status
    account = status["AccountId"]
    creds = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}",
        RoleSessionName="sso-setup")["Credentials"]
    return {"id": account, "iam": server.client("iam", creds),
            "sts": server.client("sts", creds), "creds": creds}


@pytest.fixture(scope="module")
def sso(server):
    return server.client("sso-admin")


@pytest.fixture(scope="module")
def instance(sso) -> dict:
    return sso.list_instances()["Instances"][0]


@pytest.fixture(scope="module")
def instance_arn(instance) -> str:
    return instance["InstanceArn"]


@pytest.fixture(scope="module")
def ids(server):
    return server.client("identitystore")


@pytest.fixture(scope="module")
def member(server) -> dict:
    return _member_account(server)


def _user(ids, store_id: str) -> tuple[str, str]:
    name = unique("person")
    user_id = ids.create_user(IdentityStoreId=store_id, UserName=name, DisplayName=name,
                              Name={"GivenName": "P", "FamilyName": "Q"})["UserId"]
    return user_id, name


def _group(ids, store_id: str) -> str:
    return ids.create_group(IdentityStoreId=store_id,
                            DisplayName=unique("Team"))["GroupId"]


def _permission_set(sso, instance_arn: str, prefix: str = "PS", **kwargs) -> str:
    name = unique(prefix)[:32]
    return sso.create_permission_set(InstanceArn=instance_arn, Name=name,
                                     **kwargs)["PermissionSet"]["PermissionSetArn"]


def _assign(sso, instance_arn, ps_arn, account, kind, principal, delete=False) -> dict:
    call = sso.delete_account_assignment if delete else sso.create_account_assignment
    key = "AccountAssignmentDeletionStatus" if delete else "AccountAssignmentCreationStatus"
    return call(InstanceArn=instance_arn, PermissionSetArn=ps_arn, TargetId=account,
                TargetType="AWS_ACCOUNT", PrincipalType=kind, PrincipalId=principal)[key]


def _reserved_roles(member_iam, name: str) -> list[dict]:
    roles = member_iam.list_roles(PathPrefix=RESERVED_PATH)["Roles"]
    return [r for r in roles if reserved_role_re(name).match(r["RoleName"])]


# --- the instance ------------------------------------------------------------------------


def test_the_organization_has_one_instance(sso, ids, instance, account_id):
    assert len(sso.list_instances()["Instances"]) == 1
    assert INSTANCE_ARN_RE.match(instance["InstanceArn"]), instance
    assert instance["OwnerAccountId"] == account_id
    assert instance["Status"] == "ACTIVE"
    store = ids.list_identity_stores()["IdentityStores"][0]
    assert instance["IdentityStoreId"] == store["IdentityStoreId"]
    described = sso.describe_instance(InstanceArn=instance["InstanceArn"])
    assert (described["IdentityStoreId"], described["OwnerAccountId"], described["Status"]) == \
        (store["IdentityStoreId"], account_id, "ACTIVE")


# --- permission sets ---------------------------------------------------------------------


def test_permission_set_lifecycle_with_every_attachment(sso, instance_arn):
    name = unique("Lifecycle")[:32]
    created = sso.create_permission_set(
        InstanceArn=instance_arn, Name=name, Description="Reads things",
        SessionDuration="PT2H", RelayState="https://console.aws.amazon.com/s3/",
        Tags=[{"Key": "team", "Value": "ops"}])["PermissionSet"]
    arn = created["PermissionSetArn"]
    assert PS_ARN_RE.match(arn), arn
    assert arn.startswith(instance_arn.replace(":instance/", ":permissionSet/") + "/")
    assert (created["Name"], created["Description"], created["SessionDuration"],
            created["RelayState"]) == (name, "Reads things", "PT2H",
                                       "https://console.aws.amazon.com/s3/")
    described = sso.describe_permission_set(InstanceArn=instance_arn,
                                            PermissionSetArn=arn)["PermissionSet"]
    assert described == created
    listed = sso.get_paginator("list_permission_sets").paginate(
        InstanceArn=instance_arn, PaginationConfig={"PageSize": 1}).build_full_result()
    assert arn in listed["PermissionSets"]

    sso.update_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                              SessionDuration="PT90M", Description="Reads more")
    updated = sso.describe_permission_set(InstanceArn=instance_arn,
                                          PermissionSetArn=arn)["PermissionSet"]
    assert (updated["SessionDuration"], updated["Description"]) == ("PT1H30M", "Reads more")

    # AWS managed policies.
    for policy in ("ReadOnlyAccess", "job-function/ViewOnlyAccess"):
        sso.attach_managed_policy_to_permission_set(
            InstanceArn=instance_arn, PermissionSetArn=arn, ManagedPolicyArn=aws_policy(policy))
    fails(sso.attach_managed_policy_to_permission_set, "ConflictException",
          InstanceArn=instance_arn, PermissionSetArn=arn,
          ManagedPolicyArn=aws_policy("ReadOnlyAccess"))
    attached = sso.list_managed_policies_in_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["AttachedManagedPolicies"]
    assert attached == [
        {"Name": "ReadOnlyAccess", "Arn": aws_policy("ReadOnlyAccess")},
        {"Name": "ViewOnlyAccess", "Arn": aws_policy("job-function/ViewOnlyAccess")}]
    sso.detach_managed_policy_from_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ManagedPolicyArn=aws_policy("job-function/ViewOnlyAccess"))
    fails(sso.detach_managed_policy_from_permission_set, "ResourceNotFoundException",
          InstanceArn=instance_arn, PermissionSetArn=arn,
          ManagedPolicyArn=aws_policy("job-function/ViewOnlyAccess"))
    fails(sso.attach_managed_policy_to_permission_set, "ValidationException",
          InstanceArn=instance_arn, PermissionSetArn=arn,
          ManagedPolicyArn="arn:aws:iam::123456789012:policy/Mine")

    # Customer managed policy references.
    reference = {"Name": "TeamReader", "Path": "/team/"}
    sso.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn, CustomerManagedPolicyReference=reference)
    sso.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        CustomerManagedPolicyReference={"Name": "Other"})
    assert sso.list_customer_managed_policy_references_in_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["CustomerManagedPolicyReferences"] == \
        [reference, {"Name": "Other", "Path": "/"}]
    sso.detach_customer_managed_policy_reference_from_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        CustomerManagedPolicyReference={"Name": "Other", "Path": "/"})
    assert sso.list_customer_managed_policy_references_in_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["CustomerManagedPolicyReferences"] == \
        [reference]

    # The inline policy.
    assert "InlinePolicy" not in sso.get_inline_policy_for_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)
    sso.put_inline_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                                            InlinePolicy=json.dumps(S3_READ))
    got = sso.get_inline_policy_for_permission_set(InstanceArn=instance_arn,
                                                   PermissionSetArn=arn)["InlinePolicy"]
    assert json.loads(got) == S3_READ
    fails(sso.put_inline_policy_to_permission_set, "ValidationException",
          InstanceArn=instance_arn, PermissionSetArn=arn, InlinePolicy='{"Statement": 3}')
    sso.delete_inline_policy_from_permission_set(InstanceArn=instance_arn,
                                                 PermissionSetArn=arn)
    fails(sso.delete_inline_policy_from_permission_set, "ResourceNotFoundException",
          InstanceArn=instance_arn, PermissionSetArn=arn)

    # The permissions boundary, either kind.
    fails(sso.get_permissions_boundary_for_permission_set, "ResourceNotFoundException",
          InstanceArn=instance_arn, PermissionSetArn=arn)
    sso.put_permissions_boundary_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        PermissionsBoundary={"ManagedPolicyArn": aws_policy("PowerUserAccess")})
    assert sso.get_permissions_boundary_for_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["PermissionsBoundary"] == \
        {"ManagedPolicyArn": aws_policy("PowerUserAccess")}
    sso.put_permissions_boundary_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        PermissionsBoundary={"CustomerManagedPolicyReference": {"Name": "Limit"}})
    assert sso.get_permissions_boundary_for_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["PermissionsBoundary"] == \
        {"CustomerManagedPolicyReference": {"Name": "Limit", "Path": "/"}}
    sso.delete_permissions_boundary_from_permission_set(InstanceArn=instance_arn,
                                                       PermissionSetArn=arn)
    fails(sso.get_permissions_boundary_for_permission_set, "ResourceNotFoundException",
          InstanceArn=instance_arn, PermissionSetArn=arn)

    # Tags.
    sso.tag_resource(InstanceArn=instance_arn, ResourceArn=arn,
                     Tags=[{"Key": "tier", "Value": "1"}, {"Key": "team", "Value": "sec"}])
    assert sso.list_tags_for_resource(InstanceArn=instance_arn, ResourceArn=arn)["Tags"] == \
        [{"Key": "team", "Value": "sec"}, {"Key": "tier", "Value": "1"}]
    sso.untag_resource(InstanceArn=instance_arn, ResourceArn=arn, TagKeys=["tier"])
    assert sso.list_tags_for_resource(ResourceArn=arn)["Tags"] == \
        [{"Key": "team", "Value": "sec"}]

    fails(sso.create_permission_set, "ConflictException", InstanceArn=instance_arn,
          Name=name.upper())
    sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
    fails(sso.describe_permission_set, "ResourceNotFoundException",
          InstanceArn=instance_arn, PermissionSetArn=arn)
    assert arn not in sso.list_permission_sets(InstanceArn=instance_arn)["PermissionSets"]


# --- assignments and provisioning --------------------------------------------------------


def test_assignments_provision_a_reserved_role_in_the_member_account(
        server, sso, ids, instance, instance_arn, member, make_user):
    store_id = instance["IdentityStoreId"]
    account = member["id"]
    member_iam = member["iam"]
    user_id, _ = _user(ids, store_id)
    group_id = _group(ids, store_id)
    # A customer managed policy the permission set references, made in the member account.
    cmp_name = unique("Reader")
    member_iam.create_policy(PolicyName=cmp_name, Path="/sso/",
                             PolicyDocument=json.dumps(S3_READ))
    cmp_arn = f"arn:aws:iam::{account}:policy/sso/{cmp_name}"

    name = unique("Eng")[:32]
    arn = sso.create_permission_set(InstanceArn=instance_arn, Name=name,
                                    SessionDuration="PT2H")["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ManagedPolicyArn=aws_policy("ReadOnlyAccess"))
    sso.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        CustomerManagedPolicyReference={"Name": cmp_name, "Path": "/sso/"})
    inline = policy_document(allow("ec2:Describe*"))
    sso.put_inline_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                                            InlinePolicy=json.dumps(inline))
    sso.put_permissions_boundary_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        PermissionsBoundary={"ManagedPolicyArn": aws_policy("PowerUserAccess")})

    status = _assign(sso, instance_arn, arn, account, "USER", user_id)
    assert status["Status"] == "SUCCEEDED", status
    assert UUID_RE.match(status["RequestId"]), status
    assert (status["TargetId"], status["TargetType"], status["PermissionSetArn"],
            status["PrincipalType"], status["PrincipalId"]) == \
        (account, "AWS_ACCOUNT", arn, "USER", user_id)
    described = sso.describe_account_assignment_creation_status(
        InstanceArn=instance_arn,
        AccountAssignmentCreationRequestId=status["RequestId"])["AccountAssignmentCreationStatus"]
    assert described == status
    listed = sso.get_paginator("list_account_assignment_creation_status").paginate(
        InstanceArn=instance_arn, Filter={"Status": "SUCCEEDED"}).build_full_result()
    assert status["RequestId"] in [s["RequestId"] for s in
                                   listed["AccountAssignmentsCreationStatus"]]

    # The role, seen through IAM in the member account.
    [role] = _reserved_roles(member_iam, name)
    role = member_iam.get_role(RoleName=role["RoleName"])["Role"]
    assert role["Path"] == RESERVED_PATH
    assert role["Arn"] == f"arn:aws:iam::{account}:role{RESERVED_PATH}{role['RoleName']}"
    assert role["MaxSessionDuration"] == 7200
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == aws_policy("PowerUserAccess")
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert re.match(rf"^arn:aws:iam::{account}:saml-provider/AWSSSO_[0-9a-f]{{16}}_DO_NOT_DELETE$",
                    statement["Principal"]["Federated"]), statement
    assert statement["Action"] == ["sts:AssumeRoleWithSAML", "sts:TagSession"]
    attached = member_iam.list_attached_role_policies(RoleName=role["RoleName"])
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == \
        [aws_policy("ReadOnlyAccess"), cmp_arn]
    assert member_iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == \
        ["AwsSSOInlinePolicy"]
    document = member_iam.get_role_policy(RoleName=role["RoleName"],
                                          PolicyName="AwsSSOInlinePolicy")["PolicyDocument"]
    assert document == inline

    # The group's assignment uses the same role.
    assert _assign(sso, instance_arn, arn, account, "GROUP", group_id)["Status"] == "SUCCEEDED"
    assert len(_reserved_roles(member_iam, name)) == 1
    assignments = sso.list_account_assignments(InstanceArn=instance_arn, AccountId=account,
                                               PermissionSetArn=arn)["AccountAssignments"]
    assert sorted((a["PrincipalType"], a["PrincipalId"]) for a in assignments) == \
        sorted([("USER", user_id), ("GROUP", group_id)])
    for_user = sso.list_account_assignments_for_principal(
        InstanceArn=instance_arn, PrincipalId=user_id, PrincipalType="USER",
        Filter={"AccountId": account})["AccountAssignments"]
    assert for_user == [{"AccountId": account, "PermissionSetArn": arn,
                         "PrincipalId": user_id, "PrincipalType": "USER"}]
    assert sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["AccountIds"] == [account]
    assert arn in sso.list_permission_sets_provisioned_to_account(
        InstanceArn=instance_arn, AccountId=account)["PermissionSets"]

    # IAM protects the role from everyone, the member account's administrator included.
    for call, kwargs in [
        (member_iam.delete_role, {}),
        (member_iam.detach_role_policy, {"PolicyArn": aws_policy("ReadOnlyAccess")}),
        (member_iam.attach_role_policy, {"PolicyArn": ADMINISTRATOR_ACCESS}),
        (member_iam.update_assume_role_policy,
         {"PolicyDocument": json.dumps(policy_document({
             "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": "sts:AssumeRole"}))}),
        (member_iam.delete_role_policy, {"PolicyName": "AwsSSOInlinePolicy"}),
        (member_iam.delete_role_permissions_boundary, {}),
    ]:
        expect_error(call, "UnmodifiableEntity", 400,
                     f"Cannot perform the operation on the protected role '{role['RoleName']}'"
                     " - this role is only modifiable by AWS",
                     RoleName=role["RoleName"], **kwargs)
    # An IAM administrator of the member account may not assume it: it trusts only
    # Identity Center.
    admin_name = unique("memberadmin")
    member_iam.create_user(UserName=admin_name)
    member_iam.attach_user_policy(UserName=admin_name, PolicyArn=ADMINISTRATOR_ACCESS)
    key = member_iam.create_access_key(UserName=admin_name)["AccessKey"]
    expect_error(server.client("sts", key).assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="sneaky")

    # Deleting a permission set that is assigned is a conflict.
    fails(sso.delete_permission_set, "ConflictException", InstanceArn=instance_arn,
          PermissionSetArn=arn)

    # A change marks the account out of date; provisioning applies it to the role.
    sso.detach_managed_policy_from_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ManagedPolicyArn=aws_policy("ReadOnlyAccess"))
    sso.attach_managed_policy_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ManagedPolicyArn=aws_policy("job-function/ViewOnlyAccess"))
    sso.delete_inline_policy_from_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
    sso.delete_permissions_boundary_from_permission_set(InstanceArn=instance_arn,
                                                       PermissionSetArn=arn)
    sso.update_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                              SessionDuration="PT4H")
    assert sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ProvisioningStatus="LATEST_PERMISSION_SET_NOT_PROVISIONED")["AccountIds"] == [account]
    assert member_iam.get_role(RoleName=role["RoleName"])["Role"]["MaxSessionDuration"] == 7200
    provisioned = sso.provision_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn, TargetId=account,
        TargetType="AWS_ACCOUNT")["PermissionSetProvisioningStatus"]
    assert (provisioned["Status"], provisioned["AccountId"], provisioned["PermissionSetArn"]) == \
        ("SUCCEEDED", account, arn)
    assert sso.describe_permission_set_provisioning_status(
        InstanceArn=instance_arn, ProvisionPermissionSetRequestId=provisioned["RequestId"]
    )["PermissionSetProvisioningStatus"] == provisioned
    assert provisioned["RequestId"] in [s["RequestId"] for s in sso.list_permission_set_provisioning_status(
        InstanceArn=instance_arn)["PermissionSetsProvisioningStatus"]]
    assert sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ProvisioningStatus="LATEST_PERMISSION_SET_PROVISIONED")["AccountIds"] == [account]
    role = member_iam.get_role(RoleName=role["RoleName"])["Role"]
    assert role["MaxSessionDuration"] == 4 * 3600
    assert "PermissionsBoundary" not in role
    assert [p["PolicyArn"] for p in member_iam.list_attached_role_policies(
        RoleName=role["RoleName"])["AttachedPolicies"]] == \
        [cmp_arn, aws_policy("job-function/ViewOnlyAccess")]
    assert member_iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == []
    # The referenced policy is in use by the role, so IAM keeps it.
    expect_error(member_iam.delete_policy, "DeleteConflict", 409, PolicyArn=cmp_arn)

    # The role stays while an assignment remains, and goes with the last one.
    deleted = _assign(sso, instance_arn, arn, account, "USER", user_id, delete=True)
    assert deleted["Status"] == "SUCCEEDED"
    assert sso.describe_account_assignment_deletion_status(
        InstanceArn=instance_arn, AccountAssignmentDeletionRequestId=deleted["RequestId"]
    )["AccountAssignmentDeletionStatus"] == deleted
    assert len(_reserved_roles(member_iam, name)) == 1
    _assign(sso, instance_arn, arn, account, "GROUP", group_id, delete=True)
    assert _reserved_roles(member_iam, name) == []
    expect_error(member_iam.get_role, "NoSuchEntity", 404, RoleName=role["RoleName"])
    assert sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["AccountIds"] == []
    fails(sso.delete_account_assignment, "ResourceNotFoundException", InstanceArn=instance_arn,
          PermissionSetArn=arn, TargetId=account, TargetType="AWS_ACCOUNT",
          PrincipalType="GROUP", PrincipalId=group_id)
    sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
    member_iam.delete_policy(PolicyArn=cmp_arn)


def test_deleting_a_person_or_group_removes_its_assignments_and_last_roles(
        sso, ids, instance, instance_arn, member):
    """As the AWS docs say, deleting a user removes their access to accounts: their
    assignments go (listings no longer show them), and a role provisioned only for them is
    removed as DeleteAccountAssignment removes it. A group's deletion does the same."""
    store_id = instance["IdentityStoreId"]
    account, member_iam = member["id"], member["iam"]
    user_id, _ = _user(ids, store_id)
    group_id = _group(ids, store_id)
    other_id, _ = _user(ids, store_id)
    mine = _permission_set(sso, instance_arn, "Mine")
    shared = _permission_set(sso, instance_arn, "Shared")
    team = _permission_set(sso, instance_arn, "Team")
    names = {arn: sso.describe_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
             ["PermissionSet"]["Name"] for arn in (mine, shared, team)}
    for ps, kind, principal in [(mine, "USER", user_id), (shared, "USER", user_id),
                                (shared, "USER", other_id), (team, "GROUP", group_id),
                                (team, "USER", user_id)]:
        assert _assign(sso, instance_arn, ps, account, kind, principal)["Status"] == "SUCCEEDED"
    for arn in names:
        assert len(_reserved_roles(member_iam, names[arn])) == 1

    def principals(ps):
        return sorted((a["PrincipalType"], a["PrincipalId"])
                      for a in sso.list_account_assignments(
                          InstanceArn=instance_arn, AccountId=account,
                          PermissionSetArn=ps)["AccountAssignments"])

    ids.delete_user(IdentityStoreId=store_id, UserId=user_id)
    assert principals(mine) == []
    assert principals(shared) == [("USER", other_id)]
    assert principals(team) == [("GROUP", group_id)]
    assert sso.list_account_assignments_for_principal(
        InstanceArn=instance_arn, PrincipalId=user_id,
        PrincipalType="USER")["AccountAssignments"] == []
    # Only the permission set the user alone held loses its role.
    assert _reserved_roles(member_iam, names[mine]) == []
    assert len(_reserved_roles(member_iam, names[shared])) == 1
    assert len(_reserved_roles(member_iam, names[team])) == 1
    assert account not in sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=mine)["AccountIds"]
    # The deleted user cannot be assigned again.
    fails(sso.create_account_assignment, "ResourceNotFoundException",
          InstanceArn=instance_arn, PermissionSetArn=mine, TargetId=account,
          TargetType="AWS_ACCOUNT", PrincipalType="USER", PrincipalId=user_id)

    ids.delete_group(IdentityStoreId=store_id, GroupId=group_id)
    assert principals(team) == []
    assert _reserved_roles(member_iam, names[team]) == []
    # The permission sets are no longer assigned or provisioned: they can be deleted.
    for ps in (mine, team):
        sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=ps)


def test_a_missing_customer_managed_policy_fails_provisioning(sso, ids, instance, instance_arn,
                                                              member):
    account = member["id"]
    user_id, _ = _user(ids, instance["IdentityStoreId"])
    name = unique("Missing")[:32]
    arn = sso.create_permission_set(InstanceArn=instance_arn,
                                    Name=name)["PermissionSet"]["PermissionSetArn"]
    missing = unique("NotThere")
    sso.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        CustomerManagedPolicyReference={"Name": missing})
    status = _assign(sso, instance_arn, arn, account, "USER", user_id)
    assert status["Status"] == "FAILED", status
    assert missing in status["FailureReason"] and account in status["FailureReason"], status
    assert sso.describe_account_assignment_creation_status(
        InstanceArn=instance_arn, AccountAssignmentCreationRequestId=status["RequestId"]
    )["AccountAssignmentCreationStatus"]["Status"] == "FAILED"
    failed = sso.list_account_assignment_creation_status(
        InstanceArn=instance_arn, Filter={"Status": "FAILED"})["AccountAssignmentsCreationStatus"]
    assert status["RequestId"] in [s["RequestId"] for s in failed]
    assert sso.list_account_assignments(InstanceArn=instance_arn, AccountId=account,
                                        PermissionSetArn=arn)["AccountAssignments"] == []
    assert _reserved_roles(member["iam"], name) == []
    fails(sso.provision_permission_set, "ResourceNotFoundException", InstanceArn=instance_arn,
          PermissionSetArn=arn, TargetId=account, TargetType="AWS_ACCOUNT")

    # Once the policy exists there, the assignment provisions the role.
    member["iam"].create_policy(PolicyName=missing, PolicyDocument=json.dumps(S3_READ))
    assert _assign(sso, instance_arn, arn, account, "USER", user_id)["Status"] == "SUCCEEDED"
    [role] = _reserved_roles(member["iam"], name)

    # A provisioning that cannot be done changes nothing and reports why.
    other = unique("AlsoMissing")
    sso.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        CustomerManagedPolicyReference={"Name": other})
    provisioned = sso.provision_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        TargetType="ALL_PROVISIONED_ACCOUNTS")["PermissionSetProvisioningStatus"]
    assert provisioned["Status"] == "FAILED" and other in provisioned["FailureReason"]
    assert "AccountId" not in provisioned
    assert [p["PolicyName"] for p in member["iam"].list_attached_role_policies(
        RoleName=role["RoleName"])["AttachedPolicies"]] == [missing]
    assert sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn,
        ProvisioningStatus="LATEST_PERMISSION_SET_NOT_PROVISIONED")["AccountIds"] == [account]
    _assign(sso, instance_arn, arn, account, "USER", user_id, delete=True)
    sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)


# --- errors and access -------------------------------------------------------------------


def test_errors_are_aws_shaped(sso, ids, instance, instance_arn, member):
    wrong = "arn:aws:sso:::instance/ssoins-0000000000000000"
    fails(sso.list_permission_sets, "ResourceNotFoundException", InstanceArn=wrong)
    fails(sso.describe_instance, "ResourceNotFoundException", InstanceArn=wrong)
    fails(sso.create_permission_set, "ResourceNotFoundException", InstanceArn=wrong, Name="X")
    fails(sso.list_permission_sets, "ValidationException",
          InstanceArn="arn:aws:sso:::instance/nonsense")
    for duration in ("PT13H", "PT30M", "P1D", "1 hour", "PT"):
        error = fails(sso.create_permission_set, "ValidationException", InstanceArn=instance_arn,
                      Name=unique("D")[:32], SessionDuration=duration)
        assert duration in error["Message"], error
    for name in ("has space", "x" * 33):
        fails(sso.create_permission_set, "ValidationException", InstanceArn=instance_arn,
              Name=name)
    missing_ps = instance_arn.replace(":instance/", ":permissionSet/") + "/ps-0000000000000000"
    fails(sso.describe_permission_set, "ResourceNotFoundException", InstanceArn=instance_arn,
          PermissionSetArn=missing_ps)
    fails(sso.describe_permission_set, "ValidationException", InstanceArn=instance_arn,
          PermissionSetArn="arn:aws:sso:::permissionSet/nope")
    arn = _permission_set(sso, instance_arn, "Errors")
    # Principals must exist in the identity store; targets must be accounts of the
    # organization.
    absent = f"{instance['IdentityStoreId'][2:]}-00000000-0000-4000-8000-000000000000"
    fails(sso.create_account_assignment, "ResourceNotFoundException", InstanceArn=instance_arn,
          PermissionSetArn=arn, TargetId=member["id"], TargetType="AWS_ACCOUNT",
          PrincipalType="USER", PrincipalId=absent)
    user_id, _ = _user(ids, instance["IdentityStoreId"])
    fails(sso.create_account_assignment, "ResourceNotFoundException", InstanceArn=instance_arn,
          PermissionSetArn=arn, TargetId=member["id"], TargetType="AWS_ACCOUNT",
          PrincipalType="GROUP", PrincipalId=user_id)
    fails(sso.create_account_assignment, "ValidationException", InstanceArn=instance_arn,
          PermissionSetArn=arn, TargetId="999999999999", TargetType="AWS_ACCOUNT",
          PrincipalType="USER", PrincipalId=user_id)
    fails(sso.create_account_assignment, "ValidationException", InstanceArn=instance_arn,
          PermissionSetArn=arn, TargetId=member["id"], TargetType="AWS_ACCOUNT",
          PrincipalType="ROBOT", PrincipalId=user_id)
    fails(sso.describe_account_assignment_creation_status, "ResourceNotFoundException",
          InstanceArn=instance_arn,
          AccountAssignmentCreationRequestId="00000000-0000-4000-8000-000000000000")
    fails(sso.tag_resource, "ValidationException", ResourceArn=instance_arn,
          Tags=[{"Key": "k", "Value": "v"}])
    sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)


def test_who_may_administer_identity_center(server, sso, instance_arn, make_user, member):
    nobody = make_user("ssonobody")
    error = fails(nobody.client("sso-admin").list_permission_sets, "AccessDeniedException",
                  InstanceArn=instance_arn)
    assert f"User: {nobody.arn} is not authorized to perform: sso:ListPermissionSets " \
           f"on resource: {instance_arn}" in error["Message"], error
    # Allowed on the instance, a user may list but not create (another action).
    lister = make_user("ssolister", inline={"Sso": policy_document(
        allow(["sso:ListPermissionSets", "sso:DescribePermissionSet"], instance_arn))})
    client = lister.client("sso-admin")
    assert "PermissionSets" in client.list_permission_sets(InstanceArn=instance_arn)
    fails(client.create_permission_set, "AccessDeniedException", InstanceArn=instance_arn,
          Name=unique("No")[:32])
    # The permission set is a resource of its own.
    arn = _permission_set(sso, instance_arn, "Scoped")
    error = fails(client.describe_permission_set, "AccessDeniedException",
                  InstanceArn=instance_arn, PermissionSetArn=arn)
    assert arn in error["Message"], error
    # Principals of member accounts do not reach the instance, whatever their policies.
    fails(server.client("sso-admin", member["creds"]).list_instances, "AccessDeniedException")
    sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)


def test_the_aws_cli_drives_sso_admin(aws, instance_arn):
    instances = cli_ok(aws("sso-admin", "list-instances"))["Instances"]
    assert [i["InstanceArn"] for i in instances] == [instance_arn]
    name = unique("Cli")[:32]
    created = cli_ok(aws("sso-admin", "create-permission-set", "--instance-arn", instance_arn,
                         "--name", name, "--session-duration", "PT8H"))["PermissionSet"]
    assert created["SessionDuration"] == "PT8H"
    arn = created["PermissionSetArn"]
    cli_ok(aws("sso-admin", "attach-managed-policy-to-permission-set", "--instance-arn",
               instance_arn, "--permission-set-arn", arn, "--managed-policy-arn",
               aws_policy("ReadOnlyAccess")))
    listed = cli_ok(aws("sso-admin", "list-managed-policies-in-permission-set",
                        "--instance-arn", instance_arn, "--permission-set-arn", arn))
    assert [p["Name"] for p in listed["AttachedManagedPolicies"]] == ["ReadOnlyAccess"]
    bad = aws("sso-admin", "create-permission-set", "--instance-arn", instance_arn, "--name",
              unique("Bad")[:32], "--session-duration", "PT20H")
    assert bad.returncode != 0 and "ValidationException" in bad.stderr, bad.stderr
    cli_ok(aws("sso-admin", "delete-permission-set", "--instance-arn", instance_arn,
               "--permission-set-arn", arn))


# --- persistence -------------------------------------------------------------------------


def test_permission_sets_assignments_and_roles_survive_a_restart(fresh_server):
    server = fresh_server("ssorestart")
    sso = server.client("sso-admin")
    ids = server.client("identitystore")
    instance = sso.list_instances()["Instances"][0]
    instance_arn = instance["InstanceArn"]
    member = _member_account(server)
    user_id, _ = _user(ids, instance["IdentityStoreId"])
    name = unique("Kept")[:32]
    arn = sso.create_permission_set(InstanceArn=instance_arn, Name=name, SessionDuration="PT3H",
                                    Tags=[{"Key": "k", "Value": "v"}]
                                    )["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                                                ManagedPolicyArn=aws_policy("ReadOnlyAccess"))
    sso.put_inline_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                                            InlinePolicy=json.dumps(S3_READ))
    request = _assign(sso, instance_arn, arn, member["id"], "USER", user_id)
    [role] = _reserved_roles(member["iam"], name)

    server.stop()
    server.start()

    sso = server.client("sso-admin")
    assert sso.list_instances()["Instances"][0]["InstanceArn"] == instance_arn
    described = sso.describe_permission_set(InstanceArn=instance_arn,
                                            PermissionSetArn=arn)["PermissionSet"]
    assert (described["Name"], described["SessionDuration"]) == (name, "PT3H")
    assert sso.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    assert json.loads(sso.get_inline_policy_for_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn)["InlinePolicy"]) == S3_READ
    assert sso.list_account_assignments(
        InstanceArn=instance_arn, AccountId=member["id"],
        PermissionSetArn=arn)["AccountAssignments"][0]["PrincipalId"] == user_id
    assert sso.describe_account_assignment_creation_status(
        InstanceArn=instance_arn, AccountAssignmentCreationRequestId=request["RequestId"]
    )["AccountAssignmentCreationStatus"] == request
    creds = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member['id']}:role/{ACCESS_ROLE}",
        RoleSessionName="after")["Credentials"]
    member_iam = server.client("iam", creds)
    kept = member_iam.get_role(RoleName=role["RoleName"])["Role"]
    assert (kept["Path"], kept["MaxSessionDuration"]) == (RESERVED_PATH, 3 * 3600)
    # The provisioning record survived too: the last assignment's deletion removes the role.
    _assign(sso, instance_arn, arn, member["id"], "USER", user_id, delete=True)
    expect_error(member_iam.get_role, "NoSuchEntity", 404, RoleName=role["RoleName"])
