"""AWS Organizations (awsJson1_1, boto3 client "organizations"): the organization,
CreateAccount with its OrganizationAccountAccessRole, ListAccounts/DescribeAccount,
who may call them, and cross-account AssumeRole into a member account (with and
without ExternalId)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from helpers import (ACCOUNT_ID_RE, ADMINISTRATOR_ACCESS, allow, assumed_role_arn,
                     expect_error, policy_document, trust_policy, unique)

ORG_ID_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
CREATE_REQUEST_ID_RE = re.compile(r"^car-[a-z0-9]{8,32}$")
ACCESS_ROLE = "OrganizationAccountAccessRole"
NO_PERMISSION = "You don't have permissions to access this resource."


def sts_denial(caller_arn: str, role_arn: str) -> str:
    return (f"User: {caller_arn} is not authorized to perform: sts:AssumeRole "
            f"on resource: {role_arn}")


def _email(prefix: str = "acct") -> str:
    return f"{unique(prefix)}@example.com"


def _create_account(org, name: str | None = None, email: str | None = None) -> dict:
    status = org.create_account(Email=email or _email(),
                                AccountName=name or unique("Member"))["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", status
    return status


def _access_role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ACCESS_ROLE}"


@pytest.fixture
def org(server):
    return server.client("organizations")


@pytest.fixture(scope="module")
def member(server):
    """A member account created once for this module, with an admin session in it
    through OrganizationAccountAccessRole."""
    org = server.client("organizations")
    status = _create_account(org, unique("Shared"))
    account = status["AccountId"]
    resp = server.client("sts").assume_role(RoleArn=_access_role_arn(account),
                                            RoleSessionName="org-admin")
    return {"id": account, "status": status, "session": resp,
            "iam": server.client("iam", resp["Credentials"]),
            "sts": server.client("sts", resp["Credentials"])}


# --- the organization ---------------------------------------------------------------------


def test_describe_organization(org, server, account_id):
    resp = org.describe_organization()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    o = resp["Organization"]
    assert ORG_ID_RE.match(o["Id"]), o["Id"]
    assert o["MasterAccountId"] == account_id
    assert o["Arn"] == f"arn:aws:organizations::{account_id}:organization/{o['Id']}"
    assert o["MasterAccountArn"] == \
        f"arn:aws:organizations::{account_id}:account/{o['Id']}/{account_id}"
    assert o["FeatureSet"] == "ALL"
    # The same organization every time.
    assert org.describe_organization()["Organization"]["Id"] == o["Id"]


# --- CreateAccount and its status ---------------------------------------------------------


def test_create_account_succeeds_with_a_new_account_id(org, account_id):
    name = unique("Dev")
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=60)
    status = _create_account(org, name)
    assert CREATE_REQUEST_ID_RE.match(status["Id"]), status["Id"]
    assert status["AccountName"] == name
    assert ACCOUNT_ID_RE.match(status["AccountId"]), status["AccountId"]
    assert status["AccountId"] != account_id
    assert status["RequestedTimestamp"] >= before
    assert status["CompletedTimestamp"] >= status["RequestedTimestamp"]
    assert "FailureReason" not in status

    again = org.describe_create_account_status(
        CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert again["Id"] == status["Id"]
    assert again["State"] == "SUCCEEDED"
    assert again["AccountId"] == status["AccountId"]
    assert again["AccountName"] == name


def test_each_account_gets_its_own_id(org):
    ids = {_create_account(org)["AccountId"] for _ in range(3)}
    assert len(ids) == 3


def test_describe_account(org, account_id):
    name, email = unique("Desc"), _email("desc")
    new = _create_account(org, name, email)["AccountId"]
    organization = org.describe_organization()["Organization"]["Id"]
    acct = org.describe_account(AccountId=new)["Account"]
    assert acct["Id"] == new
    assert acct["Arn"] == f"arn:aws:organizations::{account_id}:account/{organization}/{new}"
    assert acct["Email"] == email
    assert acct["Name"] == name
    assert acct["Status"] == "ACTIVE"
    assert acct["JoinedMethod"] == "CREATED"
    assert isinstance(acct["JoinedTimestamp"], dt.datetime)

    mine = org.describe_account(AccountId=account_id)["Account"]
    assert mine["Id"] == account_id
    assert mine["Arn"] == \
        f"arn:aws:organizations::{account_id}:account/{organization}/{account_id}"


def test_describe_unknown_account_or_request(org):
    expect_error(org.describe_account, "AccountNotFoundException", 400,
                 "You specified an account that doesn't exist.", AccountId="000000000001")
    expect_error(org.describe_create_account_status, "CreateAccountStatusNotFoundException",
                 400, CreateAccountRequestId="car-0000000000000000")


def test_create_account_with_a_reused_email_fails(org):
    # CreateAccount does not list DuplicateAccountException among its errors (botocore
    # organizations model); a reused address makes the request FAILED with
    # FailureReason EMAIL_ALREADY_EXISTS ("The account could not be created because
    # another Amazon Web Services account with that email address already exists.").
    email = _email("dup")
    first = _create_account(org, email=email)
    before = {a["Id"] for a in org.get_paginator("list_accounts").paginate()
              .build_full_result()["Accounts"]}
    status = org.create_account(Email=email, AccountName=unique("Dup"))["CreateAccountStatus"]
    assert status["State"] in ("IN_PROGRESS", "FAILED"), status
    final = org.describe_create_account_status(
        CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert final["State"] == "FAILED", final
    assert final["FailureReason"] == "EMAIL_ALREADY_EXISTS"
    assert "AccountId" not in final
    after = {a["Id"] for a in org.get_paginator("list_accounts").paginate()
             .build_full_result()["Accounts"]}
    assert after == before
    assert first["AccountId"] in after


# --- ListAccounts -------------------------------------------------------------------------


def test_list_accounts_pages_with_next_token(org, account_id):
    created = {_create_account(org)["AccountId"] for _ in range(3)}
    seen, pages, token = [], 0, None
    while True:
        kwargs = {"MaxResults": 1}
        if token:
            kwargs["NextToken"] = token
        page = org.list_accounts(**kwargs)
        pages += 1
        assert len(page["Accounts"]) <= 1
        seen.extend(page["Accounts"])
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 10_000
    ids = [a["Id"] for a in seen]
    assert len(ids) == len(set(ids)), "every account exactly once"
    assert account_id in ids
    assert created <= set(ids)
    assert pages >= 4
    for acct in seen:
        assert ACCOUNT_ID_RE.match(acct["Id"])
        assert acct["Status"] == "ACTIVE"
        assert acct["Arn"].startswith(f"arn:aws:organizations::{account_id}:account/o-")
        assert acct["Arn"].endswith(f"/{acct['Id']}")

    everything = org.get_paginator("list_accounts").paginate(
        PaginationConfig={"PageSize": 2}).build_full_result()["Accounts"]
    assert sorted(a["Id"] for a in everything) == sorted(ids)


# --- who may call Organizations -----------------------------------------------------------


def test_member_account_principal_may_not_administer_the_organization(server, member):
    org = server.client("organizations", member["session"]["Credentials"])
    expect_error(org.list_accounts, "AccessDeniedException", 400, NO_PERMISSION)
    expect_error(org.create_account, "AccessDeniedException", 400, NO_PERMISSION,
                 Email=_email("nope"), AccountName="Nope")
    expect_error(org.describe_account, "AccessDeniedException", 400, NO_PERMISSION,
                 AccountId=member["id"])


def test_member_account_may_describe_its_organization(server, member, account_id):
    # "You can call this operation from any account in a organization."
    # (DescribeOrganization, botocore organizations model)
    org = server.client("organizations", member["session"]["Credentials"])
    o = org.describe_organization()["Organization"]
    assert o["MasterAccountId"] == account_id
    assert o["Id"] == server.client("organizations").describe_organization()[
        "Organization"]["Id"]


def test_management_account_user_without_permission_is_denied(make_user):
    u = make_user("noorg")
    org = u.client("organizations")
    expect_error(org.list_accounts, "AccessDeniedException", 400)
    expect_error(org.create_account, "AccessDeniedException", 400,
                 Email=_email("nope"), AccountName="Nope")


def test_management_account_user_with_permission_may_list(make_user, account_id):
    u = make_user("orgreader", inline={"OrgRead": policy_document(allow(
        ["organizations:ListAccounts", "organizations:DescribeOrganization"]))})
    org = u.client("organizations")
    ids = [a["Id"] for a in org.list_accounts()["Accounts"]]
    assert account_id in ids
    assert org.describe_organization()["Organization"]["MasterAccountId"] == account_id
    expect_error(org.create_account, "AccessDeniedException", 400,
                 Email=_email("nope"), AccountName="Nope")


# --- OrganizationAccountAccessRole --------------------------------------------------------


def test_management_admin_works_in_the_new_account_through_the_access_role(
        server, iam, org, account_id):
    new = _create_account(org, unique("Work"))["AccountId"]
    resp = server.client("sts").assume_role(RoleArn=_access_role_arn(new),
                                            RoleSessionName="setup")
    assert resp["AssumedRoleUser"]["Arn"] == assumed_role_arn(new, ACCESS_ROLE, "setup")
    creds = resp["Credentials"]
    ident = server.client("sts", creds).get_caller_identity()
    assert ident["Account"] == new
    assert ident["Arn"] == assumed_role_arn(new, ACCESS_ROLE, "setup")

    their_iam = server.client("iam", creds)
    role = their_iam.get_role(RoleName=ACCESS_ROLE)["Role"]
    assert role["Arn"] == _access_role_arn(new)
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == \
        {"AWS": f"arn:aws:iam::{account_id}:root"}
    assert [p["PolicyArn"] for p in their_iam.list_attached_role_policies(
        RoleName=ACCESS_ROLE)["AttachedPolicies"]] == [ADMINISTRATOR_ACCESS]

    mine_before = {u["UserName"] for u in iam.get_paginator("list_users").paginate()
                   .build_full_result()["Users"]}
    name = unique("memberuser")
    user = their_iam.create_user(UserName=name)["User"]
    assert user["Arn"] == f"arn:aws:iam::{new}:user/{name}"
    assert [u["UserName"] for u in their_iam.list_users()["Users"]] == [name]
    mine_after = {u["UserName"] for u in iam.get_paginator("list_users").paginate()
                  .build_full_result()["Users"]}
    assert mine_after == mine_before
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)

    # A key of the member account's user works there, and identifies it there.
    key = their_iam.create_access_key(UserName=name)["AccessKey"]
    ident = server.client("sts", key).get_caller_identity()
    assert (ident["Account"], ident["Arn"]) == (new, user["Arn"])
    assert server.client("sts").get_access_key_info(
        AccessKeyId=key["AccessKeyId"])["Account"] == new


def test_access_role_needs_an_identity_policy_in_the_management_account(server, make_user,
                                                                       member):
    # The role trusts the management account (its root), which delegates to that
    # account's own policies: a user with none may not assume it.
    u = make_user("nodelegation")
    role = _access_role_arn(member["id"])
    expect_error(u.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role, RoleSessionName="nope")
    allowed = make_user("delegated", inline={"Member": policy_document(
        allow("sts:AssumeRole", role))})
    resp = allowed.client("sts").assume_role(RoleArn=role, RoleSessionName="ok")
    assert server.client("sts", resp["Credentials"]).get_caller_identity()["Account"] == \
        member["id"]


# --- cross-account AssumeRole with ExternalId ---------------------------------------------


def test_cross_account_role_with_external_id(server, member, make_user, account_id):
    external_id = unique("ext")
    name = unique("Partner")
    their_iam = member["iam"]
    role = their_iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust_policy(
            f"arn:aws:iam::{account_id}:root",
            condition={"StringEquals": {"sts:ExternalId": external_id}})))["Role"]
    assert role["Arn"] == f"arn:aws:iam::{member['id']}:role/{name}"
    their_iam.attach_role_policy(RoleName=name, PolicyArn=ADMINISTRATOR_ACCESS)

    allowed = make_user("xacct", inline={"AssumePartner": policy_document(
        allow("sts:AssumeRole", role["Arn"]))})
    sts = allowed.client("sts")
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="partner",
                           ExternalId=external_id)
    ident = server.client("sts", resp["Credentials"]).get_caller_identity()
    assert ident["Account"] == member["id"]
    assert ident["Arn"] == assumed_role_arn(member["id"], name, "partner")
    # The session acts in the member account.
    server.client("iam", resp["Credentials"]).get_role(RoleName=name)

    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="noext")
    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="badext", ExternalId="not-it")

    # Cross-account needs both sides: the trust policy AND the caller's own policy.
    unallowed = make_user("xacctno")
    expect_error(unallowed.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="nopolicy", ExternalId=external_id)
    boss = make_user("xacctboss", policies=[ADMINISTRATOR_ACCESS])
    boss.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="boss",
                                   ExternalId=external_id)


def test_cross_account_role_not_trusting_the_caller_account_is_denied(member, make_user):
    # A role in the member account that trusts only its own account.
    name = unique("Inward")
    role = member["iam"].create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust_policy(
            f"arn:aws:iam::{member['id']}:root")))["Role"]
    boss = make_user("outsider", policies=[ADMINISTRATOR_ACCESS])
    expect_error(boss.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="nope")


def test_cross_account_denials_use_the_sts_wording(server, member, make_user, account_id):
    from botocore.exceptions import ClientError
    name = unique("Worded")
    role = member["iam"].create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(
            f"arn:aws:iam::{account_id}:root",
            condition={"StringEquals": {"sts:ExternalId": "the-id"}})))["Role"]
    inward = member["iam"].create_role(
        RoleName=unique("WordedIn"), AssumeRolePolicyDocument=json.dumps(trust_policy(
            f"arn:aws:iam::{member['id']}:root")))["Role"]
    allowed = make_user("xworded", inline={"Any": policy_document(allow("sts:AssumeRole"))})
    unallowed = make_user("xwordedno")
    cases = [
        (allowed, role["Arn"], {}),                              # ExternalId missing
        (unallowed, role["Arn"], {"ExternalId": "the-id"}),      # no identity policy
        (allowed, inward["Arn"], {}),                            # account not trusted
        (unallowed, _access_role_arn(member["id"]), {}),         # no identity policy
    ]
    wrong = []
    for who, arn, extra in cases:
        try:
            who.client("sts").assume_role(RoleArn=arn, RoleSessionName="worded", **extra)
        except ClientError as e:
            err = e.response["Error"]
            assert (err["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]) == \
                ("AccessDenied", 403), err
            if err["Message"] != sts_denial(who.arn, arn):
                wrong.append({"expected": sts_denial(who.arn, arn), "got": err["Message"]})
        else:
            raise AssertionError(f"AssumeRole {arn} succeeded for {who.arn}")
    assert not wrong, json.dumps(wrong, indent=1)
