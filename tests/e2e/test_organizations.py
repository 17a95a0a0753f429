"""AWS Organizations (awsJson1_1, boto3 client "organizations"): the organization,
CreateAccount with its OrganizationAccountAccessRole, ListAccounts/DescribeAccount,
who may call them, and cross-account AssumeRole into a member account (with and
without ExternalId), and the tree: the root, organizational units (nested at most
five deep) and the accounts in them."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from helpers import (ACCOUNT_ID_RE, ADMINISTRATOR_ACCESS, allow, assumed_role_arn, cli_ok,
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
    # A token the server did not give (here a position past any list) is refused, not
    # wrapped around into a page.
    for forged in (str(2**64 - 1), "not-a-token"):
        expect_error(org.list_accounts, "InvalidInputException", 400, NextToken=forged)
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


# --- the root and organizational units ----------------------------------------------------

ROOT_ID_RE = re.compile(r"^r-[0-9a-z]{4,32}$")
OU_ID_RE = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
PARENT_NOT_FOUND = "We can't find a root or OU with the ParentId that you specified."
OU_NOT_FOUND = "We can't find an OU with the OrganizationalUnitId that you specified."


@pytest.fixture
def root(org):
    return org.list_roots()["Roots"][0]


def _ou(org, parent: str, name: str | None = None) -> dict:
    return org.create_organizational_unit(ParentId=parent,
                                          Name=name or unique("OU"))["OrganizationalUnit"]


def _parents(org, child: str) -> list[dict]:
    return org.list_parents(ChildId=child)["Parents"]


def test_list_roots_gives_the_one_root(org, account_id):
    resp = org.list_roots()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(resp["Roots"]) == 1 and "NextToken" not in resp
    root = resp["Roots"][0]
    assert ROOT_ID_RE.match(root["Id"]), root
    o = org.describe_organization()["Organization"]["Id"]
    assert root["Arn"] == f"arn:aws:organizations::{account_id}:root/{o}/{root['Id']}"
    assert root["Name"] == "Root"
    assert root["PolicyTypes"] == []
    assert org.list_roots(MaxResults=1)["Roots"] == [root]


def test_create_describe_rename_and_delete_an_ou(org, root, account_id):
    name = unique("Engineering")
    ou = _ou(org, root["Id"], name)
    assert OU_ID_RE.match(ou["Id"]), ou
    # The OU's id carries its root's suffix.
    assert ou["Id"].split("-")[1] == root["Id"][2:]
    o = org.describe_organization()["Organization"]["Id"]
    assert ou["Arn"] == f"arn:aws:organizations::{account_id}:ou/{o}/{ou['Id']}"
    assert ou["Name"] == name
    assert ou["Path"] == f"{o}/{root['Id']}/{ou['Id']}/"
    assert org.describe_organizational_unit(OrganizationalUnitId=ou["Id"])[
        "OrganizationalUnit"] == ou

    renamed = org.update_organizational_unit(OrganizationalUnitId=ou["Id"],
                                             Name=name + "-2")["OrganizationalUnit"]
    assert renamed == {**ou, "Name": name + "-2"}
    # Without a name, nothing changes.
    assert org.update_organizational_unit(OrganizationalUnitId=ou["Id"])[
        "OrganizationalUnit"] == renamed

    resp = org.delete_organizational_unit(OrganizationalUnitId=ou["Id"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    expect_error(org.describe_organizational_unit, "OrganizationalUnitNotFoundException", 400,
                 OU_NOT_FOUND, OrganizationalUnitId=ou["Id"])
    expect_error(org.delete_organizational_unit, "OrganizationalUnitNotFoundException", 400,
                 OU_NOT_FOUND, OrganizationalUnitId=ou["Id"])
    expect_error(org.update_organizational_unit, "OrganizationalUnitNotFoundException", 400,
                 OU_NOT_FOUND, OrganizationalUnitId=ou["Id"], Name="x")


def test_create_ou_with_tags_and_in_an_ou(org, root):
    parent = _ou(org, root["Id"])
    child = org.create_organizational_unit(
        ParentId=parent["Id"], Name="Web",
        Tags=[{"Key": "team", "Value": "web"}])["OrganizationalUnit"]
    assert child["Path"] == parent["Path"] + child["Id"] + "/"
    assert _parents(org, child["Id"]) == [{"Id": parent["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert _parents(org, parent["Id"]) == [{"Id": root["Id"], "Type": "ROOT"}]
    e = expect_error(org.create_organizational_unit, "InvalidInputException", 400,
                     "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
                     ParentId=parent["Id"], Name="Dup",
                     Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert e.response["Reason"] == "DUPLICATE_TAG_KEY"
    e = expect_error(org.create_organizational_unit, "InvalidInputException", 400,
                     ParentId=parent["Id"], Name="Bad", Tags=[{"Key": "a!", "Value": "1"}])
    assert e.response["Reason"] == "INVALID_LIST_MEMBER"
    e = expect_error(org.create_organizational_unit, "ConstraintViolationException", 400,
                     ParentId=parent["Id"], Name="Many",
                     Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert e.response["Reason"] == "MAX_TAG_LIMIT_EXCEEDED"
    assert [u["Name"] for u in org.list_organizational_units_for_parent(
        ParentId=parent["Id"])["OrganizationalUnits"]] == ["Web"]


def test_ou_names_are_unique_per_parent(org, root):
    name = unique("Same")
    first = _ou(org, root["Id"], name)
    expect_error(org.create_organizational_unit, "DuplicateOrganizationalUnitException", 400,
                 "An OU with the same name already exists.", ParentId=root["Id"], Name=name)
    # The same name under another parent is fine.
    _ou(org, first["Id"], name)
    other = _ou(org, root["Id"])
    expect_error(org.update_organizational_unit, "DuplicateOrganizationalUnitException", 400,
                 OrganizationalUnitId=other["Id"], Name=name)


def test_unknown_and_malformed_parents(org, root):
    unknown_ou = f"ou-{root['Id'][2:]}-zzzzzzzz"
    for parent in (unknown_ou, "r-zzzz" if root["Id"] != "r-zzzz" else "r-yyyy"):
        expect_error(org.create_organizational_unit, "ParentNotFoundException", 400,
                     PARENT_NOT_FOUND, ParentId=parent, Name="x")
        expect_error(org.list_organizational_units_for_parent, "ParentNotFoundException",
                     400, PARENT_NOT_FOUND, ParentId=parent)
        expect_error(org.list_accounts_for_parent, "ParentNotFoundException", 400,
                     PARENT_NOT_FOUND, ParentId=parent)
        expect_error(org.list_children, "ParentNotFoundException", 400, PARENT_NOT_FOUND,
                     ParentId=parent, ChildType="ACCOUNT")
    e = expect_error(org.create_organizational_unit, "InvalidInputException", 400,
                     ParentId="not-a-parent", Name="x")
    assert e.response["Reason"] == "INVALID_PATTERN"
    expect_error(org.describe_organizational_unit, "InvalidInputException", 400,
                 OrganizationalUnitId="ou-nope")
    expect_error(org.list_parents, "ChildNotFoundException", 400, ChildId=unknown_ou)
    expect_error(org.list_parents, "ChildNotFoundException", 400, ChildId="000000000000")
    expect_error(org.list_parents, "InvalidInputException", 400, ChildId="nope")


def test_ous_nest_five_deep_and_no_deeper(org, root):
    parent = root["Id"]
    chain = []
    for _ in range(5):
        parent = _ou(org, parent)["Id"]
        chain.append(parent)
    e = expect_error(org.create_organizational_unit, "ConstraintViolationException", 400,
                     "You attempted to create an OU tree that is too many levels deep.",
                     ParentId=parent, Name="Sixth")
    assert e.response["Reason"] == "OU_DEPTH_LIMIT_EXCEEDED"
    deepest = org.describe_organizational_unit(OrganizationalUnitId=parent)["OrganizationalUnit"]
    o = org.describe_organization()["Organization"]["Id"]
    assert deepest["Path"] == f"{o}/{root['Id']}/" + "".join(f"{i}/" for i in chain)
    # Each level lists its one child OU.
    for upper, lower in zip([root["Id"], *chain], chain):
        assert [c["Id"] for c in org.list_children(
            ParentId=upper, ChildType="ORGANIZATIONAL_UNIT")["Children"]
            if c["Id"] == lower] == [lower]


def test_new_accounts_land_under_the_root_and_move_between_ous(org, root):
    account = _create_account(org)["AccountId"]
    assert _parents(org, account) == [{"Id": root["Id"], "Type": "ROOT"}]
    in_root = [c["Id"] for c in org.get_paginator("list_children").paginate(
        ParentId=root["Id"], ChildType="ACCOUNT").build_full_result()["Children"]]
    assert account in in_root

    eng = _ou(org, root["Id"], unique("Engineering"))
    web = _ou(org, eng["Id"], "Web")
    resp = org.move_account(AccountId=account, SourceParentId=root["Id"],
                            DestinationParentId=web["Id"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _parents(org, account) == [{"Id": web["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    listed = org.list_accounts_for_parent(ParentId=web["Id"])["Accounts"]
    assert [a["Id"] for a in listed] == [account]
    assert listed[0] == org.describe_account(AccountId=account)["Account"]
    assert org.list_children(ParentId=web["Id"], ChildType="ACCOUNT")["Children"] == [
        {"Id": account, "Type": "ACCOUNT"}]
    assert org.list_children(ParentId=eng["Id"], ChildType="ORGANIZATIONAL_UNIT")[
        "Children"] == [{"Id": web["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert org.list_children(ParentId=eng["Id"], ChildType="ACCOUNT")["Children"] == []
    assert org.list_organizational_units_for_parent(ParentId=eng["Id"])[
        "OrganizationalUnits"] == [web]
    assert account not in [a["Id"] for a in org.get_paginator(
        "list_accounts_for_parent").paginate(ParentId=root["Id"]).build_full_result()[
        "Accounts"]]

    # Non-empty OUs stay.
    not_empty = ("The specified OU is not empty. Move all accounts to another root or to "
                 "other OUs, remove all child OUs, and try the operation again.")
    for ou in (web, eng):
        expect_error(org.delete_organizational_unit, "OrganizationalUnitNotEmptyException",
                     400, not_empty, OrganizationalUnitId=ou["Id"])

    # Back to the root, and then the OUs can go.
    org.move_account(AccountId=account, SourceParentId=web["Id"],
                     DestinationParentId=root["Id"])
    assert _parents(org, account) == [{"Id": root["Id"], "Type": "ROOT"}]
    org.delete_organizational_unit(OrganizationalUnitId=web["Id"])
    org.delete_organizational_unit(OrganizationalUnitId=eng["Id"])


def test_move_account_errors(org, root):
    account = _create_account(org)["AccountId"]
    ou = _ou(org, root["Id"])
    unknown_ou = f"ou-{root['Id'][2:]}-zzzzzzzz"
    expect_error(org.move_account, "SourceParentNotFoundException", 400,
                 "We can't find a source root or OU with the ParentId that you specified.",
                 AccountId=account, SourceParentId=unknown_ou, DestinationParentId=ou["Id"])
    expect_error(org.move_account, "DestinationParentNotFoundException", 400,
                 "We can't find the destination container (a root or OU) with the ParentId "
                 "that you specified.",
                 AccountId=account, SourceParentId=root["Id"], DestinationParentId=unknown_ou)
    # The account is not where the caller says it is.
    expect_error(org.move_account, "AccountNotFoundException", 400,
                 AccountId=account, SourceParentId=ou["Id"], DestinationParentId=root["Id"])
    expect_error(org.move_account, "AccountNotFoundException", 400,
                 AccountId="000000000000", SourceParentId=root["Id"],
                 DestinationParentId=ou["Id"])
    expect_error(org.move_account, "DuplicateAccountException", 400,
                 "That account is already present in the specified destination.",
                 AccountId=account, SourceParentId=root["Id"], DestinationParentId=root["Id"])
    e = expect_error(org.move_account, "InvalidInputException", 400,
                     AccountId="12345", SourceParentId=root["Id"],
                     DestinationParentId=ou["Id"])
    assert e.response["Reason"] == "INVALID_PATTERN"
    assert _parents(org, account) == [{"Id": root["Id"], "Type": "ROOT"}]


def test_ou_listings_page_with_next_token(org, root):
    parent = _ou(org, root["Id"])
    made = [_ou(org, parent["Id"])["Id"] for _ in range(3)]
    seen, token = [], None
    while True:
        kwargs = {"ParentId": parent["Id"], "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = org.list_organizational_units_for_parent(**kwargs)
        assert len(page["OrganizationalUnits"]) <= 2
        seen.extend(ou["Id"] for ou in page["OrganizationalUnits"])
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(made) and len(set(seen)) == len(seen), "each once"
    children = org.get_paginator("list_children").paginate(
        ParentId=parent["Id"], ChildType="ORGANIZATIONAL_UNIT",
        PaginationConfig={"PageSize": 1}).build_full_result()["Children"]
    assert [c["Id"] for c in children] == seen, "in the same order"


def test_member_accounts_may_not_see_or_change_the_tree(server, member, root):
    org = server.client("organizations", member["session"]["Credentials"])
    expect_error(org.list_roots, "AccessDeniedException", 400, NO_PERMISSION)
    expect_error(org.create_organizational_unit, "AccessDeniedException", 400, NO_PERMISSION,
                 ParentId=root["Id"], Name="Nope")
    expect_error(org.list_parents, "AccessDeniedException", 400, NO_PERMISSION,
                 ChildId=member["id"])
    expect_error(org.move_account, "AccessDeniedException", 400, NO_PERMISSION,
                 AccountId=member["id"], SourceParentId=root["Id"],
                 DestinationParentId=root["Id"])


def test_tree_operations_need_their_own_permission(make_user, org, root):
    u = make_user("ouviewer", inline={"OrgTree": policy_document(allow(
        ["organizations:ListRoots", "organizations:ListChildren"]))})
    viewer = u.client("organizations")
    assert viewer.list_roots()["Roots"][0]["Id"] == root["Id"]
    expect_error(viewer.create_organizational_unit, "AccessDeniedException", 400,
                 ParentId=root["Id"], Name="Nope")
    ou = _ou(org, root["Id"])
    children = viewer.get_paginator("list_children").paginate(
        ParentId=root["Id"], ChildType="ORGANIZATIONAL_UNIT").build_full_result()["Children"]
    assert {"Id": ou["Id"], "Type": "ORGANIZATIONAL_UNIT"} in children
    expect_error(viewer.delete_organizational_unit, "AccessDeniedException", 400,
                 OrganizationalUnitId=ou["Id"])
    expect_error(viewer.describe_organizational_unit, "AccessDeniedException", 400,
                 OrganizationalUnitId=ou["Id"])
    # Still there: the denied delete changed nothing.
    assert org.describe_organizational_unit(OrganizationalUnitId=ou["Id"])[
        "OrganizationalUnit"] == ou


def test_aws_cli_lists_roots_and_builds_the_tree(aws, org, root):
    roots = cli_ok(aws("organizations", "list-roots"))["Roots"]
    assert [r["Id"] for r in roots] == [root["Id"]]
    ou = cli_ok(aws("organizations", "create-organizational-unit", "--parent-id", root["Id"],
                    "--name", unique("Cli")))["OrganizationalUnit"]
    assert OU_ID_RE.match(ou["Id"])
    children = cli_ok(aws("organizations", "list-children", "--parent-id", root["Id"],
                          "--child-type", "ORGANIZATIONAL_UNIT"))["Children"]
    assert {"Id": ou["Id"], "Type": "ORGANIZATIONAL_UNIT"} in children
    res = aws("organizations", "delete-organizational-unit", "--organizational-unit-id",
              ou["Id"])
    cli_ok(res)
    res = aws("organizations", "describe-organizational-unit", "--organizational-unit-id",
              ou["Id"])
    assert res.returncode != 0 and "OrganizationalUnitNotFoundException" in res.stderr
