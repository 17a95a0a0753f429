"""AWS Identity Store (awsJson1_1, boto3 client "identitystore"): the organization's identity
store made by init, users with their attributes and UpdateUser operations, groups, group
memberships, filters and paging, AWS's errors with their ResourceType and Reason members,
who may call it, and persistence across restarts (also of data made before the store
existed)."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import allow, cli_ok, denial, expect_error, policy_document, unique

STORE_ID_RE = re.compile(r"^d-[0-9a-f]{10}$")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def resource_id_re(store_id: str) -> re.Pattern:
    """User, group and membership ids: the store's 10 digits, then a UUID, as AWS makes them."""
    return re.compile(rf"^{store_id[2:]}-{UUID}$")


def missing_id(store_id: str) -> str:
    return f"{store_id[2:]}-{uuid.uuid4()}"


def error_of(excinfo) -> dict:
    """The parsed error, with the HTTP status and the x-amzn-ErrorType header."""
    err = excinfo.value
    assert isinstance(err, ClientError), err
    meta = err.response["ResponseMetadata"]
    return {**err.response["Error"], "Status": meta["HTTPStatusCode"],
            "Header": meta["HTTPHeaders"].get("x-amzn-errortype"),
            **{k: v for k, v in err.response.items()
               if k in ("ResourceType", "ResourceId", "Reason")}}


def fails(fn, code: str, **kwargs) -> dict:
    with pytest.raises(ClientError) as excinfo:
        fn(**kwargs)
    error = error_of(excinfo)
    assert error["Code"] == code, error
    assert error["Header"] == code, error
    assert error["Status"] == (500 if code == "InternalServerException" else 400), error
    return error


@pytest.fixture(scope="module")
def ids(server):
    return server.client("identitystore")


@pytest.fixture(scope="module")
def store_id(ids):
    return ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]


def _user(ids, store_id, name=None, **attributes):
    name = name or unique("user")
    attributes.setdefault("DisplayName", name)
    attributes.setdefault("Name", {"GivenName": "Given", "FamilyName": "Family"})
    resp = ids.create_user(IdentityStoreId=store_id, UserName=name, **attributes)
    return resp["UserId"]


def _group(ids, store_id, name=None, **attributes):
    resp = ids.create_group(IdentityStoreId=store_id, DisplayName=name or unique("Group"),
                            **attributes)
    return resp["GroupId"]


# --- the store ---------------------------------------------------------------------------


def test_the_organization_has_one_identity_store(ids, account_id, store_id):
    stores = ids.list_identity_stores()["IdentityStores"]
    assert len(stores) == 1
    assert STORE_ID_RE.match(store_id), store_id
    arn = f"arn:aws:identitystore::{account_id}:identitystore/{store_id}"
    assert stores[0]["IdentityStoreArn"] == arn
    described = ids.describe_identity_store(IdentityStoreId=store_id)
    assert (described["IdentityStoreId"], described["IdentityStoreArn"]) == (store_id, arn)
    # The store may be named by its ARN wherever its id is taken.
    assert ids.describe_identity_store(IdentityStoreId=arn)["IdentityStoreId"] == store_id
    assert ids.list_users(IdentityStoreId=arn, MaxResults=1)["ResponseMetadata"][
        "HTTPStatusCode"] == 200


# --- users -------------------------------------------------------------------------------


def test_user_lifecycle_with_every_attribute(ids, store_id, server):
    name = unique("alice")
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=60)
    attributes = {
        "Name": {"Formatted": "Dr. Alice P. Liddell", "FamilyName": "Liddell",
                 "GivenName": "Alice", "MiddleName": "Pleasance",
                 "HonorificPrefix": "Dr.", "HonorificSuffix": "PhD"},
        "DisplayName": "Alice Liddell",
        "NickName": "Al",
        "ProfileUrl": "https://example.com/alice",
        "Emails": [{"Value": f"{name}@example.com", "Type": "work", "Primary": True}],
        "Addresses": [{"StreetAddress": "1 Wonder Way", "Locality": "Oxford",
                       "Region": "Oxon", "PostalCode": "OX1", "Country": "GB",
                       "Formatted": "1 Wonder Way, Oxford", "Type": "home", "Primary": True}],
        "PhoneNumbers": [{"Value": "+44 1865 000000", "Type": "mobile", "Primary": True}],
        "UserType": "Employee",
        "Title": "Explorer",
        "PreferredLanguage": "en-GB",
        "Locale": "en_GB",
        "Timezone": "Europe/London",
        "Photos": [{"Value": "https://example.com/alice.png", "Type": "photo",
                    "Display": "Alice", "Primary": True}],
        "Website": "https://alice.example.com",
        "Birthdate": "1852-05-04",
        "Roles": [{"Value": "Researcher", "Type": "work", "Primary": True}],
        "Extensions": {"aws:identitystore:enterprise": {"costCenter": "42",
                                                        "department": "Rabbit holes"}},
    }
    created = ids.create_user(IdentityStoreId=store_id, UserName=name, **attributes)
    user_id = created["UserId"]
    assert resource_id_re(store_id).match(user_id), user_id
    assert created["UserArn"] == f"arn:aws:identitystore:::user/{user_id}"
    assert created["IdentityStoreId"] == store_id
    assert created["Revision"] == "1"

    user = ids.describe_user(IdentityStoreId=store_id, UserId=user_id)
    for key, value in attributes.items():
        if key != "Extensions":
            assert user[key] == value, key
    # Extensions only when asked for.
    assert "Extensions" not in user
    assert user["UserName"] == name
    assert user["UserStatus"] == "ENABLED"
    assert user["Revision"] == "1"
    assert user["UserArn"] == created["UserArn"]
    assert user["CreatedAt"] >= before and user["UpdatedAt"] == user["CreatedAt"]
    assert user["CreatedBy"] == user["UpdatedBy"] == server.admin["UserArn"]
    with_extensions = ids.describe_user(IdentityStoreId=store_id, UserId=user_id,
                                        Extensions=["aws:identitystore:enterprise"])
    assert with_extensions["Extensions"] == attributes["Extensions"]
    # The user may be named by its ARN.
    assert ids.describe_user(IdentityStoreId=store_id,
                             UserId=created["UserArn"])["UserId"] == user_id

    ids.delete_user(IdentityStoreId=store_id, UserId=user_id)
    error = fails(ids.describe_user, "ResourceNotFoundException",
                  IdentityStoreId=store_id, UserId=user_id)
    assert (error["ResourceType"], error["ResourceId"]) == ("USER", user_id)


def test_update_user_operations(ids, store_id):
    name = unique("bob")
    user_id = _user(ids, store_id, name, Title="Builder", NickName="Bobby",
                    Emails=[{"Value": f"{name}@example.com", "Primary": True}])
    updated = ids.update_user(IdentityStoreId=store_id, UserId=user_id, Operations=[
        {"AttributePath": "displayName", "AttributeValue": "Robert B."},
        {"AttributePath": "name.givenName", "AttributeValue": "Robert"},
        {"AttributePath": "title"},  # no value: remove it
        {"AttributePath": "emails", "AttributeValue": [
            {"Value": f"{name}@corp.example", "Type": "work", "Primary": True}]},
        {"AttributePath": "aws:identitystore:enterprise.employeeNumber",
         "AttributeValue": "7"},
    ])
    assert (updated["UserId"], updated["Revision"]) == (user_id, "2")
    user = ids.describe_user(IdentityStoreId=store_id, UserId=user_id,
                             Extensions=["aws:identitystore:enterprise"])
    assert user["DisplayName"] == "Robert B."
    assert user["Name"] == {"GivenName": "Robert", "FamilyName": "Family"}
    assert "Title" not in user
    assert user["NickName"] == "Bobby"
    assert user["Emails"] == [{"Value": f"{name}@corp.example", "Type": "work",
                               "Primary": True}]
    assert user["Extensions"] == {"aws:identitystore:enterprise": {"employeeNumber": "7"}}
    assert user["Revision"] == "2"

    # With the current revision the update applies; with an old one it is refused.
    ids.update_user(IdentityStoreId=store_id, UserId=user_id, Revision="2",
                    Operations=[{"AttributePath": "nickName", "AttributeValue": "Rob"}])
    error = fails(ids.update_user, "ConflictException", IdentityStoreId=store_id,
                  UserId=user_id, Revision="2",
                  Operations=[{"AttributePath": "nickName", "AttributeValue": "R"}])
    assert error["Reason"] == "CONCURRENT_MODIFICATION"
    fails(ids.delete_user, "ConflictException", IdentityStoreId=store_id, UserId=user_id,
          Revision="1")
    assert ids.describe_user(IdentityStoreId=store_id, UserId=user_id)["NickName"] == "Rob"

    # Paths and values the user's shape does not have.
    for operation in ({"AttributePath": "favouriteColour", "AttributeValue": "blue"},
                      {"AttributePath": "name.nickname", "AttributeValue": "x"},
                      {"AttributePath": "displayName", "AttributeValue": 7},
                      {"AttributePath": "userName"},
                      {"AttributePath": "emails", "AttributeValue": [{"Value": "a@x"},
                                                                     {"Value": "b@x"}]}):
        fails(ids.update_user, "ValidationException", IdentityStoreId=store_id,
              UserId=user_id, Operations=[operation])
    ids.delete_user(IdentityStoreId=store_id, UserId=user_id, Revision="3")


def test_user_names_are_unique_ignoring_case(ids, store_id):
    name = unique("carol")
    first = _user(ids, store_id, name)
    error = fails(ids.create_user, "ConflictException", IdentityStoreId=store_id,
                  UserName=name.upper(), DisplayName="Carol")
    assert error["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"
    other = _user(ids, store_id)
    error = fails(ids.update_user, "ConflictException", IdentityStoreId=store_id,
                  UserId=other,
                  Operations=[{"AttributePath": "userName", "AttributeValue": name}])
    assert error["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"
    # Renaming to a free name frees the old one.
    renamed = unique("carla")
    ids.update_user(IdentityStoreId=store_id, UserId=first,
                    Operations=[{"AttributePath": "userName", "AttributeValue": renamed}])
    assert ids.describe_user(IdentityStoreId=store_id, UserId=first)["UserName"] == renamed
    _user(ids, store_id, name)


def test_get_user_id(ids, store_id):
    name = unique("dave")
    user_id = _user(ids, store_id, name,
                    Emails=[{"Value": f"{name}@example.com", "Primary": True}])
    by_name = ids.get_user_id(IdentityStoreId=store_id, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": name.upper()}})
    assert by_name["UserId"] == user_id
    assert by_name["UserArn"] == f"arn:aws:identitystore:::user/{user_id}"
    by_email = ids.get_user_id(IdentityStoreId=store_id, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "emails.value",
                            "AttributeValue": f"{name}@example.com"}})
    assert by_email["UserId"] == user_id
    # External ids come from an identity provider; UpdateUser sets them here.
    external = {"Issuer": "https://idp.example.com", "Id": unique("ext")}
    ids.update_user(IdentityStoreId=store_id, UserId=user_id,
                    Operations=[{"AttributePath": "externalIds", "AttributeValue": [external]}])
    assert ids.describe_user(IdentityStoreId=store_id, UserId=user_id)["ExternalIds"] == \
        [external]
    assert ids.get_user_id(IdentityStoreId=store_id, AlternateIdentifier={
        "ExternalId": external})["UserId"] == user_id

    error = fails(ids.get_user_id, "ResourceNotFoundException", IdentityStoreId=store_id,
                  AlternateIdentifier={"UniqueAttribute": {
                      "AttributePath": "userName", "AttributeValue": unique("nobody")}})
    assert error["ResourceType"] == "USER"
    fails(ids.get_user_id, "ValidationException", IdentityStoreId=store_id,
          AlternateIdentifier={"UniqueAttribute": {"AttributePath": "title",
                                                   "AttributeValue": "x"}})


def test_list_users_filters_and_pages(ids, store_id):
    prefix = unique("page")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    made = {_user(ids, store_id, n) for n in names}
    pages = list(ids.get_paginator("list_users").paginate(
        IdentityStoreId=store_id, PaginationConfig={"PageSize": 2}))
    assert all(len(p["Users"]) <= 2 for p in pages)
    assert all("NextToken" in p for p in pages[:-1])
    listed = [u["UserId"] for p in pages for u in p["Users"]]
    assert len(listed) == len(set(listed)), "a user listed twice"
    assert made <= set(listed)
    ours = [u["UserName"] for p in pages for u in p["Users"] if u["UserId"] in made]
    assert ours == names, "users are listed in user name order"

    first = ids.list_users(IdentityStoreId=store_id, MaxResults=1)
    assert len(first["Users"]) == 1 and first["NextToken"]
    second = ids.list_users(IdentityStoreId=store_id, MaxResults=1,
                            NextToken=first["NextToken"])
    assert second["Users"][0]["UserId"] != first["Users"][0]["UserId"]

    found = ids.list_users(IdentityStoreId=store_id, Filters=[
        {"AttributePath": "UserName", "AttributeValue": names[2]}])["Users"]
    assert [u["UserName"] for u in found] == [names[2]]
    assert found[0]["DisplayName"] == names[2]
    assert ids.list_users(IdentityStoreId=store_id, Filters=[
        {"AttributePath": "UserName", "AttributeValue": unique("none")}])["Users"] == []
    fails(ids.list_users, "ValidationException", IdentityStoreId=store_id,
          Filters=[{"AttributePath": "Title", "AttributeValue": "x"}])
    fails(ids.list_users, "ValidationException", IdentityStoreId=store_id,
          NextToken="not a token")


# --- groups ------------------------------------------------------------------------------


def test_group_lifecycle(ids, store_id, server):
    name = unique("Engineering")
    created = ids.create_group(IdentityStoreId=store_id, DisplayName=name,
                               Description="Builds things")
    group_id = created["GroupId"]
    assert resource_id_re(store_id).match(group_id), group_id
    assert created["GroupArn"] == f"arn:aws:identitystore:::group/{group_id}"
    assert created["Revision"] == "1"
    group = ids.describe_group(IdentityStoreId=store_id, GroupId=group_id)
    assert (group["DisplayName"], group["Description"]) == (name, "Builds things")
    assert group["CreatedBy"] == server.admin["UserArn"]
    assert isinstance(group["CreatedAt"], dt.datetime)

    listed = ids.list_groups(IdentityStoreId=store_id, Filters=[
        {"AttributePath": "DisplayName", "AttributeValue": name.lower()}])["Groups"]
    assert [g["GroupId"] for g in listed] == [group_id]
    assert ids.get_group_id(IdentityStoreId=store_id, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": name}
    })["GroupId"] == group_id

    renamed = unique("Platform")
    updated = ids.update_group(IdentityStoreId=store_id, GroupId=group_id, Operations=[
        {"AttributePath": "displayName", "AttributeValue": renamed},
        {"AttributePath": "description"}])
    assert updated["Revision"] == "2"
    group = ids.describe_group(IdentityStoreId=store_id, GroupId=group_id)
    assert group["DisplayName"] == renamed and "Description" not in group

    error = fails(ids.create_group, "ConflictException", IdentityStoreId=store_id,
                  DisplayName=renamed.upper())
    assert error["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"
    fails(ids.create_group, "ValidationException", IdentityStoreId=store_id,
          DisplayName="AWSAdministrators")
    fails(ids.update_group, "ValidationException", IdentityStoreId=store_id,
          GroupId=group_id, Operations=[{"AttributePath": "title", "AttributeValue": "x"}])
    error = fails(ids.get_group_id, "ResourceNotFoundException", IdentityStoreId=store_id,
                  AlternateIdentifier={"UniqueAttribute": {
                      "AttributePath": "displayName", "AttributeValue": name}})
    assert error["ResourceType"] == "GROUP"

    ids.delete_group(IdentityStoreId=store_id, GroupId=group_id, Revision="2")
    error = fails(ids.describe_group, "ResourceNotFoundException",
                  IdentityStoreId=store_id, GroupId=group_id)
    assert (error["ResourceType"], error["ResourceId"]) == ("GROUP", group_id)
    fails(ids.delete_group, "ResourceNotFoundException", IdentityStoreId=store_id,
          GroupId=group_id)


def test_list_groups_pages(ids, store_id):
    prefix = unique("Pages")
    made = {_group(ids, store_id, f"{prefix} {i}") for i in range(3)}
    pages = list(ids.get_paginator("list_groups").paginate(
        IdentityStoreId=store_id, PaginationConfig={"PageSize": 1}))
    listed = [g["GroupId"] for p in pages for g in p["Groups"]]
    assert all(len(p["Groups"]) == 1 for p in pages)
    assert made <= set(listed) and len(listed) == len(set(listed))


# --- memberships -------------------------------------------------------------------------


def test_group_memberships(ids, store_id):
    erin, frank = _user(ids, store_id), _user(ids, store_id)
    ops, dev = _group(ids, store_id), _group(ids, store_id)
    created = ids.create_group_membership(IdentityStoreId=store_id, GroupId=ops,
                                          MemberId={"UserId": erin})
    membership = created["MembershipId"]
    assert resource_id_re(store_id).match(membership), membership
    assert created["MembershipArn"] == f"arn:aws:identitystore:::membership/{membership}"
    frank_ops = ids.create_group_membership(IdentityStoreId=store_id, GroupId=ops,
                                            MemberId={"UserId": frank})["MembershipId"]
    ids.create_group_membership(IdentityStoreId=store_id, GroupId=dev,
                                MemberId={"UserId": frank})
    error = fails(ids.create_group_membership, "ConflictException", IdentityStoreId=store_id,
                  GroupId=ops, MemberId={"UserId": erin})
    assert error["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"

    described = ids.describe_group_membership(IdentityStoreId=store_id,
                                              MembershipId=membership)
    assert (described["GroupId"], described["MemberId"]) == (ops, {"UserId": erin})
    assert described["MembershipArn"] == created["MembershipArn"]
    assert ids.get_group_membership_id(IdentityStoreId=store_id, GroupId=ops,
                                       MemberId={"UserId": erin})["MembershipId"] == membership
    error = fails(ids.get_group_membership_id, "ResourceNotFoundException",
                  IdentityStoreId=store_id, GroupId=dev, MemberId={"UserId": erin})
    assert error["ResourceType"] == "GROUP_MEMBERSHIP"

    pages = list(ids.get_paginator("list_group_memberships").paginate(
        IdentityStoreId=store_id, GroupId=ops, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 2
    members = sorted(m["MemberId"]["UserId"] for p in pages for m in p["GroupMemberships"])
    assert members == sorted([erin, frank])
    franks = ids.list_group_memberships_for_member(IdentityStoreId=store_id,
                                                   MemberId={"UserId": frank})
    assert sorted(m["GroupId"] for m in franks["GroupMemberships"]) == sorted([ops, dev])

    results = ids.is_member_in_groups(IdentityStoreId=store_id, MemberId={"UserId": erin},
                                      GroupIds=[ops, dev])["Results"]
    assert {r["GroupId"]: r["MembershipExists"] for r in results} == {ops: True, dev: False}
    assert all(r["MemberId"] == {"UserId": erin} for r in results)

    ids.delete_group_membership(IdentityStoreId=store_id, MembershipId=membership)
    error = fails(ids.describe_group_membership, "ResourceNotFoundException",
                  IdentityStoreId=store_id, MembershipId=membership)
    assert (error["ResourceType"], error["ResourceId"]) == ("GROUP_MEMBERSHIP", membership)

    # Deleting a user or a group deletes its memberships, as on AWS.
    ids.delete_user(IdentityStoreId=store_id, UserId=frank)
    assert ids.list_group_memberships(IdentityStoreId=store_id,
                                      GroupId=ops)["GroupMemberships"] == []
    fails(ids.describe_group_membership, "ResourceNotFoundException",
          IdentityStoreId=store_id, MembershipId=frank_ops)
    ids.create_group_membership(IdentityStoreId=store_id, GroupId=dev,
                                MemberId={"UserId": erin})
    ids.delete_group(IdentityStoreId=store_id, GroupId=dev)
    assert ids.list_group_memberships_for_member(
        IdentityStoreId=store_id, MemberId={"UserId": erin})["GroupMemberships"] == []

    error = fails(ids.create_group_membership, "ResourceNotFoundException",
                  IdentityStoreId=store_id, GroupId=ops,
                  MemberId={"UserId": missing_id(store_id)})
    assert error["ResourceType"] == "USER"
    error = fails(ids.list_group_memberships, "ResourceNotFoundException",
                  IdentityStoreId=store_id, GroupId=dev)
    assert (error["ResourceType"], error["ResourceId"]) == ("GROUP", dev)


# --- errors ------------------------------------------------------------------------------


def test_a_wrong_identity_store(ids, store_id, account_id):
    other = "d-0000000000" if store_id != "d-0000000000" else "d-1111111111"
    for call, kwargs in ((ids.list_users, {}), (ids.describe_identity_store, {}),
                         (ids.create_group, {"DisplayName": unique("G")})):
        error = fails(call, "ResourceNotFoundException", IdentityStoreId=other, **kwargs)
        assert (error["ResourceType"], error["ResourceId"]) == ("IDENTITY_STORE", other)
    # The right id in another account's ARN is not this store either.
    error = fails(ids.describe_identity_store, "ResourceNotFoundException",
                  IdentityStoreId=f"arn:aws:identitystore::000000000000:identitystore/{store_id}")
    assert error["ResourceType"] == "IDENTITY_STORE"
    for malformed in ("bogus", "d-ABCDEF0123", "d-123"):
        error = fails(ids.list_users, "ValidationException", IdentityStoreId=malformed)
        assert "identityStoreId" in error["Message"], error


def test_malformed_input_is_a_validation_error(ids, store_id):
    fails(ids.describe_user, "ValidationException", IdentityStoreId=store_id,
          UserId="alice")
    fails(ids.describe_group, "ValidationException", IdentityStoreId=store_id,
          GroupId="arn:aws:identitystore:::role/00000000-0000-4000-8000-000000000000")
    error = fails(ids.describe_user, "ResourceNotFoundException", IdentityStoreId=store_id,
                  UserId=missing_id(store_id))
    assert error["ResourceType"] == "USER"
    fails(ids.create_user, "ValidationException", IdentityStoreId=store_id,
          DisplayName="No user name")
    fails(ids.create_user, "ValidationException", IdentityStoreId=store_id,
          UserName="Administrator", DisplayName="x")
    fails(ids.create_user, "ValidationException", IdentityStoreId=store_id,
          UserName="has space", DisplayName="x")
    fails(ids.create_user, "ValidationException", IdentityStoreId=store_id,
          UserName=unique("u"), Extensions={"aws:identitystore:other": {"a": "b"}})
    fails(ids.create_group, "ValidationException", IdentityStoreId=store_id)
    fails(ids.describe_user, "ValidationException", IdentityStoreId=store_id,
          UserId=missing_id(store_id), Extensions=["aws:identitystore:other"])


# --- authorization -----------------------------------------------------------------------


def test_a_user_without_a_policy_is_denied(make_user, store_id, account_id):
    user = make_user("nopolicy")
    ids = user.client("identitystore")
    store_arn = f"arn:aws:identitystore::{account_id}:identitystore/{store_id}"
    for call, action, kwargs in (
            (ids.list_users, "identitystore:ListUsers", {"IdentityStoreId": store_id}),
            (ids.create_group, "identitystore:CreateGroup",
             {"IdentityStoreId": store_id, "DisplayName": unique("G")}),
            (ids.describe_identity_store, "identitystore:DescribeIdentityStore",
             {"IdentityStoreId": store_id})):
        error = fails(call, "AccessDeniedException", **kwargs)
        assert error["Message"] == denial(user.arn, action, store_arn), error


def test_policies_decide_per_action_and_resource(make_user, ids, store_id, account_id):
    visible, hidden = _user(ids, store_id), _user(ids, store_id)
    store_arn = f"arn:aws:identitystore::{account_id}:identitystore/{store_id}"
    visible_arn = f"arn:aws:identitystore:::user/{visible}"
    reader = make_user("idsreader", inline={"read": policy_document(
        allow(["identitystore:ListUsers", "identitystore:DescribeIdentityStore"]),
        allow("identitystore:DescribeUser", [store_arn, visible_arn]))})
    client = reader.client("identitystore")
    assert client.list_users(IdentityStoreId=store_id, MaxResults=5)["Users"]
    assert client.describe_user(IdentityStoreId=store_id, UserId=visible)["UserId"] == visible
    hidden_arn = f"arn:aws:identitystore:::user/{hidden}"
    error = fails(client.describe_user, "AccessDeniedException", IdentityStoreId=store_id,
                  UserId=hidden)
    assert error["Message"] == denial(reader.arn, "identitystore:DescribeUser", hidden_arn)
    error = fails(client.create_user, "AccessDeniedException", IdentityStoreId=store_id,
                  UserName=unique("x"), DisplayName="x")
    assert error["Message"] == denial(reader.arn, "identitystore:CreateUser", store_arn)


def test_member_accounts_do_not_reach_the_store(server, store_id):
    status = server.client("organizations").create_account(
        Email=f"{unique('ids')}@example.com", AccountName=unique("Member"))
    account = status["CreateAccountStatus"]["AccountId"]
    session = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="ids")["Credentials"]
    member_ids = server.client("identitystore", session)
    error = fails(member_ids.list_users, "AccessDeniedException", IdentityStoreId=store_id)
    assert "identitystore:ListUsers" in error["Message"], error


# --- persistence -------------------------------------------------------------------------


def test_the_store_survives_a_restart(fresh_server):
    srv = fresh_server("ids-restart")
    ids = srv.client("identitystore")
    store_id = ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]
    user_id = _user(ids, store_id, "grace", Title="Admiral")
    group_id = _group(ids, store_id, "Navy")
    membership = ids.create_group_membership(IdentityStoreId=store_id, GroupId=group_id,
                                             MemberId={"UserId": user_id})["MembershipId"]
    ids.update_user(IdentityStoreId=store_id, UserId=user_id,
                    Operations=[{"AttributePath": "nickName", "AttributeValue": "Amazing"}])
    srv.stop()
    srv.start()
    ids = srv.client("identitystore")
    assert ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"] == store_id
    user = ids.describe_user(IdentityStoreId=store_id, UserId=user_id)
    assert (user["UserName"], user["Title"], user["NickName"], user["Revision"]) == \
        ("grace", "Admiral", "Amazing", "2")
    assert ids.describe_group_membership(IdentityStoreId=store_id, MembershipId=membership)[
        "GroupId"] == group_id
    fails(ids.create_user, "ConflictException", IdentityStoreId=store_id, UserName="GRACE",
          DisplayName="x")


def test_data_from_before_the_store_gets_one_at_start(fresh_server):
    srv = fresh_server("ids-upgrade")
    srv.stop()
    # What a data directory made before Identity Center instances existed holds.
    db = sqlite3.connect(srv.data_dir / "latchkey.db")
    with db:
        db.execute("DELETE FROM identity_centers")
    db.close()
    srv.start()
    ids = srv.client("identitystore")
    stores = ids.list_identity_stores()["IdentityStores"]
    assert len(stores) == 1 and STORE_ID_RE.match(stores[0]["IdentityStoreId"])
    store_id = stores[0]["IdentityStoreId"]
    _user(ids, store_id)
    srv.stop()
    srv.start()
    # Made once: a restart keeps it.
    assert srv.client("identitystore").list_identity_stores()["IdentityStores"] == stores


# --- the AWS CLI -------------------------------------------------------------------------


def test_aws_cli_v1(aws, store_id):
    name = unique("CliGroup")
    created = cli_ok(aws("identitystore", "create-group", "--identity-store-id", store_id,
                         "--display-name", name, "--description", "from the CLI"))
    group = cli_ok(aws("identitystore", "describe-group", "--identity-store-id", store_id,
                       "--group-id", created["GroupId"]))
    assert (group["DisplayName"], group["Description"]) == (name, "from the CLI")
    missing = aws("identitystore", "describe-user", "--identity-store-id", store_id,
                  "--user-id", missing_id(store_id))
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr, missing.stderr
