"""IAM users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, tags."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import USER_ID_RE, expect_error, unique


def _recent(ts: dt.datetime) -> bool:
    now = dt.datetime.now(dt.timezone.utc)
    return ts.tzinfo is not None and abs((now - ts).total_seconds()) < 300


def test_create_user_returns_aws_shaped_user(iam, account_id):
    name = unique("alice")
    resp = iam.create_user(UserName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    user = resp["User"]
    assert user["Path"] == "/"
    assert user["UserName"] == name
    assert USER_ID_RE.match(user["UserId"]), user["UserId"]
    assert user["Arn"] == f"arn:aws:iam::{account_id}:user/{name}"
    assert _recent(user["CreateDate"]), user["CreateDate"]
    assert "PasswordLastUsed" not in user


def test_user_ids_are_unique(iam):
    ids = {iam.create_user(UserName=unique("uid"))["User"]["UserId"] for _ in range(3)}
    assert len(ids) == 3


def test_create_user_with_path_puts_path_in_arn(iam, account_id):
    name = unique("bob")
    user = iam.create_user(UserName=name, Path="/eng/")["User"]
    assert user["Path"] == "/eng/"
    assert user["Arn"] == f"arn:aws:iam::{account_id}:user/eng/{name}"
    got = iam.get_user(UserName=name)["User"]
    assert got["Path"] == "/eng/"
    assert got["Arn"] == user["Arn"]
    assert got["UserId"] == user["UserId"]


def test_duplicate_user_name_is_entity_already_exists(iam):
    name = unique("dup")
    iam.create_user(UserName=name)
    e = expect_error(iam.create_user, "EntityAlreadyExists", 409, UserName=name)
    assert name in e.response["Error"]["Message"]


def test_user_names_are_case_insensitively_unique(iam):
    name = unique("case")
    iam.create_user(UserName=name)
    expect_error(iam.create_user, "EntityAlreadyExists", 409, UserName=name.upper())
    expect_error(iam.create_user, "EntityAlreadyExists", 409,
                 UserName=name[0].upper() + name[1:])


@pytest.mark.parametrize("bad", ["bad name!", "a" * 65, "slash/name", "tab\tname"],
                         ids=["space-and-bang", "65-chars", "slash", "tab"])
def test_invalid_user_name_is_validation_error(iam, bad):
    expect_error(iam.create_user, "ValidationError", 400, UserName=bad)


def test_user_name_of_64_chars_is_accepted(iam):
    name = unique("x")
    name = name + "a" * (64 - len(name))
    assert iam.create_user(UserName=name)["User"]["UserName"] == name


def test_get_user_by_name(iam, make_user):
    u = make_user("getme", with_key=False)
    got = iam.get_user(UserName=u.name)["User"]
    for field in ("Path", "UserName", "UserId", "Arn", "CreateDate"):
        assert got[field] == u.user[field], field


def test_get_user_without_name_returns_caller(iam, account_id):
    got = iam.get_user()["User"]
    assert got["UserName"] == "admin"
    assert got["Arn"] == f"arn:aws:iam::{account_id}:user/admin"


def test_get_unknown_user_is_no_such_entity(iam):
    name = unique("ghost")
    expect_error(iam.get_user, "NoSuchEntity", 404,
                 f"The user with name {name} cannot be found.", UserName=name)


def test_list_users_filters_by_path_prefix(iam, make_user):
    path = f"/{unique('pp')}/"
    inside = sorted(make_user("in", path=path, with_key=False).name for _ in range(2))
    nested = make_user("nested", path=f"{path}sub/", with_key=False).name
    outside = make_user("out", path="/other/", with_key=False).name

    listed = iam.list_users(PathPrefix=path)
    assert listed["IsTruncated"] is False
    names = [u["UserName"] for u in listed["Users"]]
    assert sorted(names) == sorted(inside + [nested])
    assert outside not in names
    for u in listed["Users"]:
        assert u["Path"].startswith(path)

    everyone = [u["UserName"] for u in iam.get_paginator("list_users").paginate()
                .build_full_result()["Users"]]
    assert "admin" in everyone
    assert outside in everyone


def _five_users_under_unique_path(iam) -> tuple[str, list[str]]:
    path = f"/{unique('page')}/"
    base = unique("pg")
    names = [f"{base}-{i}" for i in range(5)]
    for n in names:
        iam.create_user(UserName=n, Path=path)
    return path, names


def test_list_users_pages_with_marker(iam):
    path, names = _five_users_under_unique_path(iam)
    seen, pages, marker = [], [], None
    for _ in range(10):
        kwargs = {"PathPrefix": path, "MaxItems": 2}
        if marker is not None:
            kwargs["Marker"] = marker
        page = iam.list_users(**kwargs)
        pages.append(len(page["Users"]))
        seen += [u["UserName"] for u in page["Users"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        assert page["Marker"], page
        marker = page["Marker"]
    assert pages == [2, 2, 1]
    assert seen == names  # every user exactly once, in name order


def test_list_users_paginator_returns_every_user_once(iam):
    path, names = _five_users_under_unique_path(iam)
    pages = list(iam.get_paginator("list_users").paginate(
        PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [len(p["Users"]) for p in pages] == [2, 2, 1]
    assert [u["UserName"] for p in pages for u in p["Users"]] == names


@pytest.mark.parametrize("max_items", [0, 1001])
def test_list_users_max_items_out_of_range_is_validation_error(server, max_items):
    # botocore itself refuses MaxItems=0; turn its validation off so the
    # server is the one that answers.
    iam = server.client("iam", parameter_validation=False)
    expect_error(iam.list_users, "ValidationError", 400, MaxItems=max_items)


def test_update_user_renames_and_moves(iam, make_user, account_id):
    u = make_user("old")
    new_name = unique("new")
    iam.update_user(UserName=u.name, NewUserName=new_name, NewPath="/moved/")

    expect_error(iam.get_user, "NoSuchEntity", 404,
                 f"The user with name {u.name} cannot be found.", UserName=u.name)
    got = iam.get_user(UserName=new_name)["User"]
    new_arn = f"arn:aws:iam::{account_id}:user/moved/{new_name}"
    assert got["Path"] == "/moved/"
    assert got["Arn"] == new_arn
    assert got["UserId"] == u.user["UserId"]

    # The access key follows the user.
    keys = iam.list_access_keys(UserName=new_name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [u.key["AccessKeyId"]]
    ident = u.client("sts").get_caller_identity()
    assert ident["Arn"] == new_arn
    assert ident["UserId"] == u.user["UserId"]


def test_update_user_to_existing_name_is_entity_already_exists(iam, make_user):
    a = make_user("ua", with_key=False)
    b = make_user("ub", with_key=False)
    expect_error(iam.update_user, "EntityAlreadyExists", 409,
                 UserName=a.name, NewUserName=b.name)


def test_update_unknown_user_is_no_such_entity(iam):
    expect_error(iam.update_user, "NoSuchEntity", 404,
                 UserName=unique("ghost"), NewPath="/x/")


def test_delete_user_with_access_key_is_delete_conflict(iam, make_user):
    u = make_user("del")
    expect_error(iam.delete_user, "DeleteConflict", 409, UserName=u.name)
    # Still there.
    assert iam.get_user(UserName=u.name)["User"]["UserName"] == u.name

    iam.delete_access_key(UserName=u.name, AccessKeyId=u.key["AccessKeyId"])
    iam.delete_user(UserName=u.name)
    expect_error(iam.get_user, "NoSuchEntity", 404,
                 f"The user with name {u.name} cannot be found.", UserName=u.name)
    listed = iam.get_paginator("list_users").paginate().build_full_result()["Users"]
    assert u.name not in [x["UserName"] for x in listed]


def test_delete_unknown_user_is_no_such_entity(iam):
    expect_error(iam.delete_user, "NoSuchEntity", 404, UserName=unique("ghost"))


def test_deleted_user_name_can_be_reused(iam):
    name = unique("again")
    first = iam.create_user(UserName=name)["User"]
    iam.delete_user(UserName=name)
    second = iam.create_user(UserName=name)["User"]
    assert second["UserId"] != first["UserId"]


def _tags(resp) -> dict:
    return {t["Key"]: t["Value"] for t in resp["Tags"]}


def test_tag_user_round_trip(iam, make_user):
    u = make_user("tag", with_key=False)
    iam.tag_user(UserName=u.name, Tags=[{"Key": "team", "Value": "infra"},
                                        {"Key": "cost-center", "Value": "42"}])
    assert _tags(iam.list_user_tags(UserName=u.name)) == {
        "team": "infra", "cost-center": "42"}

    # Tagging an existing key overwrites its value.
    iam.tag_user(UserName=u.name, Tags=[{"Key": "team", "Value": "platform"}])
    assert _tags(iam.list_user_tags(UserName=u.name)) == {
        "team": "platform", "cost-center": "42"}

    iam.untag_user(UserName=u.name, TagKeys=["cost-center"])
    resp = iam.list_user_tags(UserName=u.name)
    assert _tags(resp) == {"team": "platform"}
    assert resp["IsTruncated"] is False


def test_fifty_first_tag_is_limit_exceeded(iam, make_user):
    u = make_user("tags50", with_key=False)
    iam.tag_user(UserName=u.name,
                 Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(50)])
    assert len(iam.list_user_tags(UserName=u.name, MaxItems=100)["Tags"]) == 50
    expect_error(iam.tag_user, "LimitExceeded", 409,
                 UserName=u.name, Tags=[{"Key": "k50", "Value": "50"}])
    assert len(iam.list_user_tags(UserName=u.name, MaxItems=100)["Tags"]) == 50


def test_tag_key_longer_than_128_is_validation_error(iam, make_user):
    u = make_user("tagkey", with_key=False)
    expect_error(iam.tag_user, "ValidationError", 400,
                 UserName=u.name, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert iam.list_user_tags(UserName=u.name)["Tags"] == []


def test_tag_unknown_user_is_no_such_entity(iam):
    expect_error(iam.tag_user, "NoSuchEntity", 404,
                 UserName=unique("ghost"), Tags=[{"Key": "a", "Value": "b"}])


def test_create_user_with_tags(iam, make_user):
    tags = [{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "ops@example.com"}]
    u = make_user("tagged", with_key=False, tags=tags)
    assert _tags(iam.list_user_tags(UserName=u.name)) == {
        "env": "prod", "owner": "ops@example.com"}
    assert _tags(iam.get_user(UserName=u.name)["User"]) == {
        "env": "prod", "owner": "ops@example.com"}
