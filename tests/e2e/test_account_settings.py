"""Account settings: the account alias (CreateAccountAlias, DeleteAccountAlias,
ListAccountAliases), the password policy (GetAccountPasswordPolicy,
UpdateAccountPasswordPolicy, DeleteAccountPasswordPolicy) and console passwords under it
(CreateLoginProfile, UpdateLoginProfile, DeleteLoginProfile, ChangePassword).

The password policy is account-wide, so these tests run on a server of their own."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from helpers import (allow, cli_ok, create_user, expect_error, policy_document, run_aws_cli,
                     unique)

STRONG = "Correct-Horse-9"


@pytest.fixture(scope="module")
def srv(module_server_pool):
    return module_server_pool.new("account-settings")


@pytest.fixture(scope="module")
def iam(srv):
    return srv.client("iam")


@pytest.fixture
def no_policy(iam):
    """Each test starts and ends with no password policy set."""
    try:
        iam.delete_account_password_policy()
    except iam.exceptions.NoSuchEntityException:
        pass
    yield
    try:
        iam.delete_account_password_policy()
    except iam.exceptions.NoSuchEntityException:
        pass


def member_iam(srv):
    """An administrator session in a new member account of the organization."""
    org = srv.client("organizations")
    status = org.create_account(Email=f"{unique('m')}@example.com",
                                AccountName=unique("Member"))["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", status
    role = f"arn:aws:iam::{status['AccountId']}:role/OrganizationAccountAccessRole"
    creds = srv.client("sts").assume_role(RoleArn=role, RoleSessionName="admin")["Credentials"]
    return srv.client("iam", creds), status["AccountId"]


# --- the account alias -------------------------------------------------------------------


def test_alias_create_list_replace_delete(iam):
    assert iam.list_account_aliases()["AccountAliases"] == []
    first, second = unique("corp").lower(), unique("corp2").lower()
    iam.create_account_alias(AccountAlias=first)
    listed = iam.list_account_aliases()
    assert listed["AccountAliases"] == [first]
    assert listed["IsTruncated"] is False
    # One alias per account: a new one replaces it.
    iam.create_account_alias(AccountAlias=second)
    assert iam.list_account_aliases()["AccountAliases"] == [second]
    # Only the account's own alias can be deleted.
    expect_error(iam.delete_account_alias, "NoSuchEntity", 404, AccountAlias=first)
    iam.delete_account_alias(AccountAlias=second)
    assert iam.list_account_aliases()["AccountAliases"] == []
    expect_error(iam.delete_account_alias, "NoSuchEntity", 404, AccountAlias=second)


def test_alias_taken_by_another_account_is_entity_already_exists(srv, iam):
    alias = unique("taken").lower()
    iam.create_account_alias(AccountAlias=alias)
    other, _ = member_iam(srv)
    expect_error(other.create_account_alias, "EntityAlreadyExists", 409, AccountAlias=alias)
    assert other.list_account_aliases()["AccountAliases"] == []
    # Once freed, the other account may take it.
    iam.delete_account_alias(AccountAlias=alias)
    other.create_account_alias(AccountAlias=alias)
    assert other.list_account_aliases()["AccountAliases"] == [alias]
    assert iam.list_account_aliases()["AccountAliases"] == []


@pytest.mark.parametrize("alias", [
    "ab", "-leading", "trailing-", "two--dashes", "Upper", "under_score", "a" * 64,
    "123456789012",
])
def test_bad_alias_is_validation_error(srv, alias):
    raw = srv.client("iam", parameter_validation=False)
    e = expect_error(raw.create_account_alias, "ValidationError", 400, AccountAlias=alias)
    assert alias in e.response["Error"]["Message"]


def test_alias_needs_permission(srv):
    user = create_user(srv, "noalias")
    expect_error(user.client("iam").create_account_alias, "AccessDenied", 403,
                 AccountAlias=unique("x").lower())
    expect_error(user.client("iam").list_account_aliases, "AccessDenied", 403)


# --- the password policy -----------------------------------------------------------------


def test_no_policy_is_no_such_entity(iam, no_policy):
    expect_error(iam.get_account_password_policy, "NoSuchEntity", 404)
    expect_error(iam.delete_account_password_policy, "NoSuchEntity", 404)


def test_update_sets_every_field_and_omitted_fields_take_defaults(iam, no_policy):
    iam.update_account_password_policy(
        MinimumPasswordLength=12, RequireSymbols=True, RequireNumbers=True,
        RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True, MaxPasswordAge=90, PasswordReusePrevention=5,
        HardExpiry=True)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": True,
        "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True, "ExpirePasswords": True, "MaxPasswordAge": 90,
        "PasswordReusePrevention": 5, "HardExpiry": True,
    }
    # Not a partial update: what is not given reverts to its default.
    iam.update_account_password_policy(RequireNumbers=True)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 6, "RequireSymbols": False, "RequireNumbers": True,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": False,
    }
    iam.delete_account_password_policy()
    expect_error(iam.get_account_password_policy, "NoSuchEntity", 404)


@pytest.mark.parametrize("field,value", [
    ("MinimumPasswordLength", 5), ("MinimumPasswordLength", 129),
    ("MaxPasswordAge", 0), ("MaxPasswordAge", 1096),
    ("PasswordReusePrevention", 0), ("PasswordReusePrevention", 25),
])
def test_policy_out_of_range_is_validation_error(srv, iam, no_policy, field, value):
    raw = srv.client("iam", parameter_validation=False)
    e = expect_error(raw.update_account_password_policy, "ValidationError", 400,
                     **{field: value})
    assert str(value) in e.response["Error"]["Message"]
    expect_error(iam.get_account_password_policy, "NoSuchEntity", 404)


def test_aws_cli_reads_the_policy(srv, iam, no_policy, tmp_path):
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True)
    out = cli_ok(run_aws_cli(srv, tmp_path, "iam", "get-account-password-policy"))
    assert out["PasswordPolicy"]["MinimumPasswordLength"] == 10
    assert out["PasswordPolicy"]["RequireNumbers"] is True
    aliases = cli_ok(run_aws_cli(srv, tmp_path, "iam", "list-account-aliases"))
    assert "AccountAliases" in aliases


# --- login profiles under the policy -----------------------------------------------------


def test_weak_password_is_refused_citing_the_rule(srv, iam, no_policy):
    user = create_user(srv, "weak", with_key=False)
    # AWS's default policy while none is set.
    e = expect_error(iam.create_login_profile, "PasswordPolicyViolation", 400,
                     UserName=user.name, Password="short")
    assert "minimum length of 8" in e.response["Error"]["Message"]
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireSymbols=True,
                                       RequireNumbers=True)
    e = expect_error(iam.create_login_profile, "PasswordPolicyViolation", 400,
                     UserName=user.name, Password="abcdefghij1")
    assert "symbol" in e.response["Error"]["Message"]
    e = expect_error(iam.create_login_profile, "PasswordPolicyViolation", 400,
                     UserName=user.name, Password="abcdefghij!")
    assert "number" in e.response["Error"]["Message"]
    # A password the default policy would refuse (one kind of character) passes this one.
    iam.create_login_profile(UserName=user.name, Password="abcdefghi!1")
    e = expect_error(iam.update_login_profile, "PasswordPolicyViolation", 400,
                     UserName=user.name, Password="abc")
    assert "minimum length of 10" in e.response["Error"]["Message"]


def test_update_and_delete_login_profile(srv, iam, no_policy):
    user = create_user(srv, "profile", with_key=False)
    expect_error(iam.update_login_profile, "NoSuchEntity", 404, UserName=user.name,
                 Password=STRONG)
    expect_error(iam.delete_login_profile, "NoSuchEntity", 404, UserName=user.name)
    created = iam.create_login_profile(UserName=user.name, Password=STRONG)["LoginProfile"]
    iam.update_login_profile(UserName=user.name, PasswordResetRequired=True)
    profile = iam.get_login_profile(UserName=user.name)["LoginProfile"]
    assert profile["PasswordResetRequired"] is True
    assert profile["CreateDate"] == created["CreateDate"]
    iam.update_login_profile(UserName=user.name, Password="Another-Horse-8",
                             PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=user.name)["LoginProfile"][
        "PasswordResetRequired"] is False
    iam.delete_login_profile(UserName=user.name)
    expect_error(iam.get_login_profile, "NoSuchEntity", 404, UserName=user.name)
    expect_error(iam.update_login_profile, "NoSuchEntity", 404, UserName="nobody-here",
                 Password=STRONG)
    # Without the login profile, deleting the user works.
    iam.delete_user(UserName=user.name)


def test_change_password_with_allow_users_to_change_password(srv, iam, no_policy):
    user = create_user(srv, "changer")
    iam.create_login_profile(UserName=user.name, Password=STRONG)
    own = user.client("iam")
    # No policy lets the user change it, and the account does not either.
    expect_error(own.change_password, "AccessDenied", 403, OldPassword=STRONG,
                 NewPassword="New-Horse-77")
    iam.update_account_password_policy(AllowUsersToChangePassword=True,
                                       MinimumPasswordLength=8)
    assert own.get_account_password_policy()["PasswordPolicy"]["AllowUsersToChangePassword"]
    e = expect_error(own.change_password, "AccessDenied", 403, OldPassword="wrong-one",
                     NewPassword="New-Horse-77")
    assert "old password" in e.response["Error"]["Message"]
    e = expect_error(own.change_password, "PasswordPolicyViolation", 400,
                     OldPassword=STRONG, NewPassword="short")
    assert "minimum length of 8" in e.response["Error"]["Message"]
    own.change_password(OldPassword=STRONG, NewPassword="New-Horse-77")
    expect_error(own.change_password, "AccessDenied", 403, OldPassword=STRONG,
                 NewPassword="Third-Horse-7")
    own.change_password(OldPassword="New-Horse-77", NewPassword="Third-Horse-7")
    # Only IAM users have a password of their own to change: not a role's session.
    role_session, _ = member_iam(srv)
    expect_error(role_session.change_password, "InvalidUserType", 400, OldPassword="a",
                 NewPassword="Third-Horse-7")


def test_change_password_allowed_by_a_policy(srv, iam, no_policy):
    user = create_user(srv, "polchanger", inline={"own": policy_document(
        allow("iam:ChangePassword", f"arn:aws:iam::{srv.account_id}:user/${{aws:username}}"))})
    iam.create_login_profile(UserName=user.name, Password=STRONG)
    user.client("iam").change_password(OldPassword=STRONG, NewPassword="Policy-Horse-5")
    # Without AllowUsersToChangePassword, reading the policy still needs a permission.
    iam.update_account_password_policy(MinimumPasswordLength=8)
    expect_error(user.client("iam").get_account_password_policy, "AccessDenied", 403)


def test_password_reuse_prevention(srv, iam, no_policy):
    user = create_user(srv, "reuse")
    iam.update_account_password_policy(AllowUsersToChangePassword=True,
                                       PasswordReusePrevention=2)
    own = user.client("iam")
    iam.create_login_profile(UserName=user.name, Password="First-Pass-1")
    e = expect_error(own.change_password, "PasswordPolicyViolation", 400,
                     OldPassword="First-Pass-1", NewPassword="First-Pass-1")
    assert "previous 2 passwords" in e.response["Error"]["Message"]
    own.change_password(OldPassword="First-Pass-1", NewPassword="Second-Pass-2")
    # The one before is still among the last two.
    expect_error(own.change_password, "PasswordPolicyViolation", 400,
                 OldPassword="Second-Pass-2", NewPassword="First-Pass-1")
    expect_error(iam.update_login_profile, "PasswordPolicyViolation", 400,
                 UserName=user.name, Password="First-Pass-1")
    own.change_password(OldPassword="Second-Pass-2", NewPassword="Third-Pass-3")
    # Three passwords on, the first is allowed again.
    own.change_password(OldPassword="Third-Pass-3", NewPassword="First-Pass-1")


def test_credential_report_shows_password_changes_and_rotation(srv, iam, no_policy):
    user = create_user(srv, "rotation", with_key=False)
    iam.create_login_profile(UserName=user.name, Password=STRONG)
    iam.update_account_password_policy(MaxPasswordAge=30)
    deadline = time.monotonic() + 15
    while iam.generate_credential_report()["State"] != "COMPLETE":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    content = iam.get_credential_report()["Content"].decode()
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(content))}
    row = rows[user.name]
    assert row["password_enabled"] == "true"
    assert row["password_last_changed"] != "N/A"
    assert row["password_next_rotation"] != "N/A"
    assert row["password_next_rotation"] > row["password_last_changed"]


def test_account_settings_calls_are_audited_without_secrets(srv, iam, no_policy):
    user = create_user(srv, "audited")
    iam.update_account_password_policy(AllowUsersToChangePassword=True)
    iam.create_login_profile(UserName=user.name, Password=STRONG)
    user.client("iam").change_password(OldPassword=STRONG, NewPassword="Audit-Horse-3")
    trail = srv.client("cloudtrail")
    deadline = time.monotonic() + 15
    while True:
        events = trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "ChangePassword"}])["Events"]
        if events:
            break
        assert time.monotonic() < deadline, "ChangePassword never reached the trail"
        time.sleep(0.5)
    record = json.loads(events[0]["CloudTrailEvent"])
    text = json.dumps(record)
    assert STRONG not in text and "Audit-Horse-3" not in text
    assert record["requestParameters"] == {"oldPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
                                           "newPassword": "HIDDEN_DUE_TO_SECURITY_REASONS"}
