"""STS temporary credentials: AssumeRole (trust policies, session policies, boundaries,
durations, role chaining, ExternalId, session tags, SourceIdentity) and GetSessionToken,
and what the credentials they return may do.

AssumeRole denials carry STS's wording, which names no policy type:
  User: <caller arn> is not authorized to perform: sts:AssumeRole on resource: <role arn>
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from helpers import (ADMINISTRATOR_ACCESS, IAM_READ_ONLY_ACCESS, TEMP_ACCESS_KEY_ID_RE,
                     allow, assumed_role_arn, expect_denied, expect_error, policy_document,
                     trust_policy, unique)

INVALID_TOKEN = "The security token included in the request is invalid."


def sts_denial(caller_arn: str, role_arn: str, action: str = "sts:AssumeRole") -> str:
    return f"User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"


def _root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def _users_resource(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:user/"


def _seconds_from_now(when: dt.datetime) -> float:
    return (when - dt.datetime.now(dt.timezone.utc)).total_seconds()


def _assert_expires_in(creds: dict, seconds: int) -> None:
    left = _seconds_from_now(creds["Expiration"])
    assert seconds - 120 <= left <= seconds + 5, (seconds, left, creds["Expiration"])


def _assert_temporary_credentials(creds: dict) -> None:
    assert TEMP_ACCESS_KEY_ID_RE.match(creds["AccessKeyId"]), creds["AccessKeyId"]
    assert len(creds["SecretAccessKey"]) == 40
    assert isinstance(creds["SessionToken"], str) and len(creds["SessionToken"]) >= 16
    assert creds["Expiration"].tzinfo is not None


@pytest.fixture
def assumer(make_user):
    """A user whose identity policy allows sts:AssumeRole on any role."""
    return make_user("assumer", inline={
        "AssumeAnyRole": policy_document(allow("sts:AssumeRole"))})


def _session(server, resp: dict, service: str, **kwargs):
    return server.client(service, resp["Credentials"], **kwargs)


# --- AssumeRole: what comes back ----------------------------------------------------------


def test_assume_role_returns_credentials_and_the_assumed_role_user(server, make_role,
                                                                   assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "shape")
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess-1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    creds = resp["Credentials"]
    _assert_temporary_credentials(creds)
    _assert_expires_in(creds, 3600)  # the default
    arn = assumed_role_arn(account_id, role["RoleName"], "sess-1")
    assert resp["AssumedRoleUser"] == {"AssumedRoleId": f"{role['RoleId']}:sess-1",
                                       "Arn": arn}
    assert "PackedPolicySize" not in resp

    ident = _session(server, resp, "sts").get_caller_identity()
    assert ident["Arn"] == arn
    assert ident["UserId"] == f"{role['RoleId']}:sess-1"
    assert ident["Account"] == account_id


def test_each_assume_role_call_gives_distinct_credentials(make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "distinct")
    sts = assumer.client("sts")
    a = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="one")["Credentials"]
    b = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="one")["Credentials"]
    assert a["AccessKeyId"] != b["AccessKeyId"]
    assert a["SecretAccessKey"] != b["SecretAccessKey"]
    assert a["SessionToken"] != b["SessionToken"]


# --- AssumeRole: who may ------------------------------------------------------------------


def test_user_named_in_the_trust_policy_needs_no_identity_policy(server, make_user,
                                                                 make_role, account_id):
    # "When a resource-based policy grants access to a principal in the same account,
    # no additional identity-based policy is required." (AssumeRole, STS API reference)
    u = make_user("named")
    role = make_role(trust_policy(u.arn), "named")
    resp = u.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="named")
    assert _session(server, resp, "sts").get_caller_identity()["Arn"] == \
        assumed_role_arn(account_id, role["RoleName"], "named")


def test_account_trust_needs_an_identity_policy_too(make_user, make_role, account_id):
    # A trust policy naming the account delegates to the account's own policies.
    u = make_user("nopolicy")
    role = make_role(trust_policy(_root(account_id)), "acct")
    expect_error(u.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="nope")


def test_identity_policy_scoped_to_another_role_does_not_allow(make_user, make_role,
                                                                account_id):
    trust = trust_policy(_root(account_id))
    allowed = make_role(trust, "allowed")
    other = make_role(trust, "other")
    u = make_user("scoped", inline={"OneRole": policy_document(
        allow("sts:AssumeRole", allowed["Arn"]))})
    sts = u.client("sts")
    sts.assume_role(RoleArn=allowed["Arn"], RoleSessionName="ok")
    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=other["Arn"], RoleSessionName="nope")


def test_trust_policy_naming_someone_else_denies_even_an_administrator(
        server, make_user, make_role):
    # Even in the role's own account, the trust policy must allow the caller.
    other = make_user("trusted", with_key=False)
    role = make_role(trust_policy(other.arn), "notyou")
    boss = make_user("boss", policies=[ADMINISTRATOR_ACCESS])
    expect_error(boss.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="nope")
    admin_arn = server.client("sts").get_caller_identity()["Arn"]
    expect_error(server.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="nope")


def test_explicit_deny_in_the_trust_policy_wins(make_user, make_role, account_id):
    u = make_user("denied", policies=[ADMINISTRATOR_ACCESS])
    trust = trust_policy(_root(account_id))
    trust["Statement"].append({"Effect": "Deny", "Principal": {"AWS": u.arn},
                               "Action": "sts:AssumeRole"})
    role = make_role(trust, "denyone")
    expect_error(u.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="x1")


def test_assuming_a_missing_role_is_access_denied(assumer, account_id):
    arn = f"arn:aws:iam::{account_id}:role/{unique('ghost')}"
    expect_error(assumer.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=arn, RoleSessionName="ghost")


def test_trust_policy_change_applies_to_the_next_call(iam, make_user, make_role):
    u = make_user("retrust")
    other = make_user("other", with_key=False)
    role = make_role(trust_policy(u.arn), "retrust")
    sts = u.client("sts")
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="before")
    iam.update_assume_role_policy(RoleName=role["RoleName"],
                                  PolicyDocument=json.dumps(trust_policy(other.arn)))
    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="after")


def _denial_messages(cases) -> list:
    """Runs each (fn, kwargs, expected message) that must fail with AccessDenied 403
    and returns the mismatching messages, so one run reports them all."""
    from botocore.exceptions import ClientError
    wrong = []
    for fn, kwargs, expected in cases:
        try:
            fn(**kwargs)
        except ClientError as e:
            err = e.response["Error"]
            got = (err["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
            assert got == ("AccessDenied", 403), (kwargs, e.response["Error"])
            if err["Message"] != expected:
                wrong.append({"expected": expected, "got": err["Message"]})
        else:
            raise AssertionError(f"AssumeRole succeeded: {kwargs}")
    return wrong


def test_assume_role_denials_use_the_sts_wording(server, make_user, make_role, account_id):
    # STS's AccessDenied names the caller, the action and the role, and no policy type,
    # whatever the cause (e.g. "User: arn:aws:iam::123456789012:user/x is not
    # authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/y").
    u = make_user("wording")
    other = make_user("wordother", with_key=False)
    sts = u.client("sts")
    by_account = make_role(trust_policy(_root(account_id)), "wacct")
    by_other = make_role(trust_policy(other.arn), "wother")
    with_ext = make_role(trust_policy(u.arn, condition={
        "StringEquals": {"sts:ExternalId": "the-id"}}), "wext")
    deny_trust = trust_policy(u.arn)
    deny_trust["Statement"].append({"Effect": "Deny", "Principal": {"AWS": u.arn},
                                    "Action": "sts:AssumeRole"})
    denying = make_role(deny_trust, "wdeny")
    plain = make_role(trust_policy(u.arn), "wplain")
    ghost = f"arn:aws:iam::{account_id}:role/{unique('wghost')}"

    def case(role_arn, action="sts:AssumeRole", **extra):
        return (sts.assume_role, {"RoleArn": role_arn, "RoleSessionName": "worded", **extra},
                sts_denial(u.arn, role_arn, action))

    wrong = _denial_messages([
        case(by_account["Arn"]),                      # no identity policy
        case(by_other["Arn"]),                        # trust names someone else
        case(with_ext["Arn"]),                        # ExternalId missing
        case(with_ext["Arn"], ExternalId="not-it"),   # ExternalId wrong
        case(denying["Arn"]),                         # explicit deny in the trust policy
        case(ghost),                                  # no such role
        case(plain["Arn"], "sts:TagSession", Tags=[{"Key": "k", "Value": "v"}]),
        case(plain["Arn"], "sts:SetSourceIdentity", SourceIdentity="alice"),
    ])
    assert not wrong, json.dumps(wrong, indent=1)


# --- what the session may do --------------------------------------------------------------


def test_the_roles_policies_govern_the_session(server, iam, make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "reader",
                     policies=[IAM_READ_ONLY_ACCESS])
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="reader")
    me = _session(server, resp, "iam")
    caller = resp["AssumedRoleUser"]["Arn"]

    me.list_users(MaxItems=1)
    assert me.get_role(RoleName=role["RoleName"])["Role"]["Arn"] == role["Arn"]
    name = unique("nope")
    expect_denied(me.create_user, caller, "iam:CreateUser",
                  f"arn:aws:iam::{account_id}:user/{name}", UserName=name)
    expect_denied(me.attach_role_policy, caller, "iam:AttachRolePolicy", role["Arn"],
                  RoleName=role["RoleName"], PolicyArn=ADMINISTRATOR_ACCESS)

    # A change to the role's policies applies to its live sessions at once.
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="MakeUsers",
                        PolicyDocument=json.dumps(policy_document(allow("iam:CreateUser"))))
    assert me.create_user(UserName=name)["User"]["Arn"] == \
        f"arn:aws:iam::{account_id}:user/{name}"
    iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=IAM_READ_ONLY_ACCESS)
    expect_denied(me.list_users, caller, "iam:ListUsers", _users_resource(account_id))


def test_role_without_policies_gives_a_session_that_may_do_nothing(server, make_role,
                                                                   assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "empty")
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="empty")
    expect_denied(_session(server, resp, "iam").list_users, resp["AssumedRoleUser"]["Arn"],
                  "iam:ListUsers", _users_resource(account_id))


def test_inline_session_policy_narrows_the_role(server, make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "narrow",
                     policies=[ADMINISTRATOR_ACCESS])
    session_policy = json.dumps(policy_document(allow("iam:ListUsers")))
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="narrow",
                                             Policy=session_policy)
    assert isinstance(resp["PackedPolicySize"], int)
    assert 0 < resp["PackedPolicySize"] <= 100
    me = _session(server, resp, "iam")
    caller = resp["AssumedRoleUser"]["Arn"]
    me.list_users(MaxItems=1)
    expect_denied(me.list_groups, caller, "iam:ListGroups",
                  f"arn:aws:iam::{account_id}:group/", "session")


def test_session_policy_cannot_widen_the_role(server, make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "nowiden",
                     policies=[IAM_READ_ONLY_ACCESS])
    resp = assumer.client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName="nowiden",
        Policy=json.dumps(policy_document(allow("iam:*"))))
    me = _session(server, resp, "iam")
    me.list_users(MaxItems=1)
    name = unique("nope")
    expect_denied(me.create_user, resp["AssumedRoleUser"]["Arn"], "iam:CreateUser",
                  f"arn:aws:iam::{account_id}:user/{name}", UserName=name)


def test_managed_session_policies_narrow_the_role(server, make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "arns", policies=[ADMINISTRATOR_ACCESS])
    resp = assumer.client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName="arns",
        PolicyArns=[{"arn": IAM_READ_ONLY_ACCESS}])
    me = _session(server, resp, "iam")
    me.list_users(MaxItems=1)
    name = unique("nope")
    expect_denied(me.create_user, resp["AssumedRoleUser"]["Arn"], "iam:CreateUser",
                  f"arn:aws:iam::{account_id}:user/{name}", "session", UserName=name)


def test_malformed_session_policy_is_rejected(make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "badpolicy")
    expect_error(assumer.client("sts").assume_role, "MalformedPolicyDocument", 400,
                 RoleArn=role["Arn"], RoleSessionName="bad", Policy="{not json")


def test_the_roles_permissions_boundary_caps_the_session(server, make_role, assumer,
                                                         account_id):
    role = make_role(trust_policy(_root(account_id)), "bounded",
                     policies=[ADMINISTRATOR_ACCESS], PermissionsBoundary=IAM_READ_ONLY_ACCESS)
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="bounded")
    me = _session(server, resp, "iam")
    me.list_users(MaxItems=1)
    name = unique("nope")
    expect_denied(me.create_user, resp["AssumedRoleUser"]["Arn"], "iam:CreateUser",
                  f"arn:aws:iam::{account_id}:user/{name}", "boundary", UserName=name)


def test_explicit_deny_in_the_roles_policy(server, make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "rdeny",
                     policies=[ADMINISTRATOR_ACCESS],
                     inline={"NoGroups": policy_document(
                         {"Effect": "Deny", "Action": "iam:ListGroups", "Resource": "*"})})
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="rdeny")
    me = _session(server, resp, "iam")
    me.list_users(MaxItems=1)
    expect_denied(me.list_groups, resp["AssumedRoleUser"]["Arn"], "iam:ListGroups",
                  f"arn:aws:iam::{account_id}:group/", "deny")


# --- revocation and forged tokens ---------------------------------------------------------


def test_deleting_the_role_revokes_its_sessions_at_once(server, iam, make_role, assumer,
                                                         account_id):
    role = make_role(trust_policy(_root(account_id)), "revoked",
                     policies=[IAM_READ_ONLY_ACCESS])
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="doomed")
    sts = _session(server, resp, "sts")
    me = _session(server, resp, "iam")
    sts.get_caller_identity()
    me.list_users(MaxItems=1)

    iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=IAM_READ_ONLY_ACCESS)
    iam.delete_role(RoleName=role["RoleName"])
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403, INVALID_TOKEN)
    expect_error(me.list_users, "InvalidClientTokenId", 403)

    # A new role of the same name is a new role: the old session stays dead.
    iam.create_role(RoleName=role["RoleName"],
                    AssumeRolePolicyDocument=json.dumps(trust_policy(_root(account_id))))
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403, INVALID_TOKEN)


def _tamper(token: str) -> str:
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def test_tampered_or_missing_session_token_is_invalid(server, make_role, assumer,
                                                      account_id):
    role = make_role(trust_policy(_root(account_id)), "tamper")
    sts = assumer.client("sts")
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="tamper")["Credentials"]
    other = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="other")["Credentials"]

    tampered = dict(creds, SessionToken=_tamper(creds["SessionToken"]))
    expect_error(server.client("sts", tampered).get_caller_identity,
                 "InvalidClientTokenId", 403, INVALID_TOKEN)
    expect_error(server.client("iam", tampered).list_roles,
                 "InvalidClientTokenId", 403)
    # Another session's (valid) token with this session's key.
    swapped = dict(creds, SessionToken=other["SessionToken"])
    expect_error(server.client("sts", swapped).get_caller_identity,
                 "InvalidClientTokenId", 403, INVALID_TOKEN)
    # A temporary key without any token.
    bare = {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"]}
    expect_error(server.client("sts", bare).get_caller_identity,
                 "InvalidClientTokenId", 403)
    # The right token with a wrong secret is a signature mismatch.
    wrong_secret = dict(creds, SecretAccessKey="x" * 40)
    expect_error(server.client("sts", wrong_secret).get_caller_identity,
                 "SignatureDoesNotMatch", 403)
    # The untouched credentials still work.
    assert server.client("sts", creds).get_caller_identity()["Arn"].endswith("/tamper")


# --- RoleSessionName and DurationSeconds --------------------------------------------------


@pytest.mark.parametrize("name, constraint", [
    ("a", "Member must have length greater than or equal to 2"),
    ("x" * 65, "Member must have length less than or equal to 64"),
    ("has space", r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
    ("semi;colon", r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
    ("slash/no", r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
])
def test_invalid_role_session_name_is_a_validation_error(server, make_role, assumer,
                                                         account_id, name, constraint):
    role = make_role(trust_policy(_root(account_id)), "badname")
    sts = server.client("sts", assumer.key, parameter_validation=False)
    expect_error(sts.assume_role, "ValidationError", 400,
                 f"1 validation error detected: Value '{name}' at 'roleSessionName' failed "
                 f"to satisfy constraint: {constraint}",
                 RoleArn=role["Arn"], RoleSessionName=name)


@pytest.mark.parametrize("name", ["ab", "x" * 64, "Az09_+=,.@-"])
def test_valid_role_session_names(server, make_role, assumer, account_id, name):
    role = make_role(trust_policy(_root(account_id)), "goodname")
    resp = assumer.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName=name)
    assert resp["AssumedRoleUser"]["Arn"] == \
        assumed_role_arn(account_id, role["RoleName"], name)
    assert _session(server, resp, "sts").get_caller_identity()["UserId"] == \
        f"{role['RoleId']}:{name}"


def test_duration_seconds_range(server, make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "duration", MaxSessionDuration=7200)
    sts = server.client("sts", assumer.key, parameter_validation=False)
    expect_error(sts.assume_role, "ValidationError", 400,
                 "1 validation error detected: Value '899' at 'durationSeconds' failed to "
                 "satisfy constraint: Member must have value greater than or equal to 900",
                 RoleArn=role["Arn"], RoleSessionName="short", DurationSeconds=899)
    expect_error(sts.assume_role, "ValidationError", 400,
                 "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                 "this role.",
                 RoleArn=role["Arn"], RoleSessionName="long", DurationSeconds=7201)
    for seconds in (900, 7200):
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ok",
                                DurationSeconds=seconds)["Credentials"]
        _assert_expires_in(creds, seconds)


def test_default_max_session_duration_is_one_hour(make_role, assumer, account_id):
    role = make_role(trust_policy(_root(account_id)), "onehour")
    expect_error(assumer.client("sts").assume_role, "ValidationError", 400,
                 "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                 "this role.",
                 RoleArn=role["Arn"], RoleSessionName="long", DurationSeconds=3601)


# --- role chaining ------------------------------------------------------------------------


def _chain(make_role, assumer, account_id, first_trust_actions="sts:AssumeRole",
           second_trust_actions="sts:AssumeRole", second_kwargs=None):
    """Role A (trusting the account, allowed to assume B) and role B (trusting A)."""
    second_name = unique("second")
    second_arn = f"arn:aws:iam::{account_id}:role/{second_name}"
    first = make_role(trust_policy(_root(account_id), actions=first_trust_actions), "first",
                      inline={"AssumeSecond": policy_document(
                          allow(["sts:AssumeRole", "sts:TagSession"], second_arn))})
    second = assumer.server.client("iam").create_role(
        RoleName=second_name, MaxSessionDuration=43200,
        AssumeRolePolicyDocument=json.dumps(
            trust_policy(first["Arn"], actions=second_trust_actions)),
        **(second_kwargs or {}))["Role"]
    return first, second


def test_role_chaining_is_limited_to_one_hour(server, make_role, assumer, account_id):
    first, second = _chain(make_role, assumer, account_id)
    resp = assumer.client("sts").assume_role(RoleArn=first["Arn"], RoleSessionName="hop1",
                                             DurationSeconds=3600)
    chained = _session(server, resp, "sts")
    expect_error(chained.assume_role, "ValidationError", 400,
                 "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                 "assumed by role chaining.",
                 RoleArn=second["Arn"], RoleSessionName="hop2", DurationSeconds=3601)
    resp2 = chained.assume_role(RoleArn=second["Arn"], RoleSessionName="hop2",
                                DurationSeconds=3600)
    _assert_expires_in(resp2["Credentials"], 3600)
    ident = _session(server, resp2, "sts").get_caller_identity()
    assert ident["Arn"] == assumed_role_arn(account_id, second["RoleName"], "hop2")
    assert ident["UserId"] == f"{second['RoleId']}:hop2"
    # Without DurationSeconds a chained session gets the one-hour default.
    _assert_expires_in(chained.assume_role(RoleArn=second["Arn"],
                                           RoleSessionName="hop3")["Credentials"], 3600)


def test_role_not_trusted_by_the_next_role_cannot_chain(server, make_role, assumer,
                                                        account_id):
    first, second = _chain(make_role, assumer, account_id)
    third = make_role(trust_policy(assumer.arn), "third")  # trusts the user, not role A
    resp = assumer.client("sts").assume_role(RoleArn=first["Arn"], RoleSessionName="hop1")
    expect_error(_session(server, resp, "sts").assume_role, "AccessDenied", 403,
                 RoleArn=third["Arn"], RoleSessionName="hop2")


# --- ExternalId ---------------------------------------------------------------------------


def test_external_id_condition_in_the_trust_policy(make_user, make_role):
    u = make_user("extid")
    external_id = unique("ext")
    role = make_role(trust_policy(u.arn, condition={
        "StringEquals": {"sts:ExternalId": external_id}}), "extid")
    sts = u.client("sts")
    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="none")
    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="wrong", ExternalId="wrong-id")
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="right",
                           ExternalId=external_id)
    _assert_temporary_credentials(resp["Credentials"])


# --- session tags, TransitiveTagKeys, SourceIdentity --------------------------------------


def _tag_gated_policy(tag_value: str = "red") -> dict:
    return policy_document(allow("iam:ListUsers", Condition={
        "StringEquals": {"aws:PrincipalTag/team": tag_value}}))


def test_session_tags_reach_principal_tag_conditions(server, make_user, make_role,
                                                     account_id):
    u = make_user("tagger")
    role = make_role(trust_policy(u.arn, actions=["sts:AssumeRole", "sts:TagSession"]),
                     "tagged", inline={"RedOnly": _tag_gated_policy()})
    sts = u.client("sts")
    red = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="red",
                          Tags=[{"Key": "team", "Value": "red"}])
    _session(server, red, "iam").list_users(MaxItems=1)
    blue = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="blue",
                           Tags=[{"Key": "team", "Value": "blue"}])
    expect_denied(_session(server, blue, "iam").list_users, blue["AssumedRoleUser"]["Arn"],
                  "iam:ListUsers", _users_resource(account_id))


def test_session_tags_need_sts_tag_session_in_the_trust_policy(make_user, make_role):
    u = make_user("notag")
    role = make_role(trust_policy(u.arn), "notag")
    sts = u.client("sts")
    expect_error(sts.assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="tags",
                 Tags=[{"Key": "team", "Value": "red"}])
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="notags")


@pytest.mark.parametrize("transitive", [True, False])
def test_transitive_tags_survive_role_chaining(server, make_role, assumer, account_id,
                                               transitive):
    both = ["sts:AssumeRole", "sts:TagSession"]
    first, second = _chain(make_role, assumer, account_id, both, both)
    assumer.server.client("iam").put_role_policy(
        RoleName=second["RoleName"], PolicyName="RedOnly",
        PolicyDocument=json.dumps(_tag_gated_policy()))
    assumer.server.client("iam").put_user_policy(
        UserName=assumer.name, PolicyName="Tag",
        PolicyDocument=json.dumps(policy_document(allow("sts:TagSession"))))
    kwargs = {"TransitiveTagKeys": ["team"]} if transitive else {}
    hop1 = assumer.client("sts").assume_role(
        RoleArn=first["Arn"], RoleSessionName="hop1",
        Tags=[{"Key": "team", "Value": "red"}], **kwargs)
    hop2 = _session(server, hop1, "sts").assume_role(RoleArn=second["Arn"],
                                                     RoleSessionName="hop2")
    me = _session(server, hop2, "iam")
    if transitive:
        me.list_users(MaxItems=1)
    else:
        expect_denied(me.list_users, hop2["AssumedRoleUser"]["Arn"], "iam:ListUsers",
                      _users_resource(account_id))


def test_source_identity(server, make_user, make_role, account_id):
    u = make_user("srcid")
    role = make_role(trust_policy(u.arn, actions=["sts:AssumeRole", "sts:SetSourceIdentity"]),
                     "srcid", inline={"AliceOnly": policy_document(allow(
                         "iam:ListUsers", Condition={
                             "StringEquals": {"aws:SourceIdentity": "alice@example.com"}}))})
    sts = u.client("sts")
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="alice",
                           SourceIdentity="alice@example.com")
    assert resp["SourceIdentity"] == "alice@example.com"
    _session(server, resp, "iam").list_users(MaxItems=1)
    plain = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="plain")
    assert "SourceIdentity" not in plain
    expect_denied(_session(server, plain, "iam").list_users, plain["AssumedRoleUser"]["Arn"],
                  "iam:ListUsers", _users_resource(account_id))


def test_source_identity_needs_sts_set_source_identity_in_the_trust_policy(make_user,
                                                                          make_role):
    u = make_user("nosrc")
    role = make_role(trust_policy(u.arn), "nosrc")
    expect_error(u.client("sts").assume_role, "AccessDenied", 403,
                 RoleArn=role["Arn"], RoleSessionName="src", SourceIdentity="alice")


# --- GetSessionToken ----------------------------------------------------------------------


def test_get_session_token_returns_credentials_of_the_user(server, make_user, account_id):
    u = make_user("gst")
    resp = u.client("sts").get_session_token()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    creds = resp["Credentials"]
    _assert_temporary_credentials(creds)
    _assert_expires_in(creds, 43200)  # 12 hours by default
    ident = server.client("sts", creds).get_caller_identity()
    assert ident["Arn"] == u.arn
    assert ident["UserId"] == u.user["UserId"]
    assert ident["Account"] == account_id


def test_get_session_token_duration_range(server, make_user):
    u = make_user("gstrange")
    sts = server.client("sts", u.key, parameter_validation=False)
    for seconds in (900, 129600):
        _assert_expires_in(sts.get_session_token(DurationSeconds=seconds)["Credentials"],
                           seconds)
    expect_error(sts.get_session_token, "ValidationError", 400,
                 "1 validation error detected: Value '899' at 'durationSeconds' failed to "
                 "satisfy constraint: Member must have value greater than or equal to 900",
                 DurationSeconds=899)
    expect_error(sts.get_session_token, "ValidationError", 400,
                 "1 validation error detected: Value '129601' at 'durationSeconds' failed to "
                 "satisfy constraint: Member must have value less than or equal to 129600",
                 DurationSeconds=129601)


def test_get_session_token_credentials_cannot_call_iam_without_mfa(server, make_user):
    # "You cannot call any IAM API operations unless MFA authentication information is
    # included in the request." (GetSessionToken, STS API reference). AWS answers such
    # calls with InvalidClientTokenId, as users of aws-vault report
    # (99designs/aws-vault#15, #328, #1056).
    u = make_user("gstiam", policies=[IAM_READ_ONLY_ACCESS])
    u.client("iam").list_users(MaxItems=1)
    creds = u.client("sts").get_session_token()["Credentials"]
    err = expect_error(server.client("iam", creds).list_users, "InvalidClientTokenId", 403)
    assert err.response["Error"]["Message"].startswith(
        "The security token included in the request is invalid"), err.response["Error"]


def test_get_session_token_with_session_credentials_is_denied(server, make_user,
                                                              make_role, account_id):
    u = make_user("gsttwice")
    creds = u.client("sts").get_session_token()["Credentials"]
    expect_error(server.client("sts", creds).get_session_token, "AccessDenied", 403,
                 "Cannot call GetSessionToken with session credentials")
    role = make_role(trust_policy(u.arn), "gstrole")
    resp = u.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="gst")
    expect_error(_session(server, resp, "sts").get_session_token, "AccessDenied", 403,
                 "Cannot call GetSessionToken with session credentials")


def test_get_session_token_credentials_may_assume_a_role(server, make_user, make_role,
                                                         account_id):
    # "You cannot call any STS API except AssumeRole or GetCallerIdentity."
    u = make_user("gstassume")
    role = make_role(trust_policy(u.arn), "fromgst")
    creds = u.client("sts").get_session_token()["Credentials"]
    resp = server.client("sts", creds).assume_role(RoleArn=role["Arn"],
                                                   RoleSessionName="fromgst")
    assert resp["AssumedRoleUser"]["Arn"] == \
        assumed_role_arn(account_id, role["RoleName"], "fromgst")


def test_deleting_the_user_revokes_its_session_tokens(server, iam, make_user):
    u = make_user("gstgone")
    creds = u.client("sts").get_session_token()["Credentials"]
    sts = server.client("sts", creds)
    assert sts.get_caller_identity()["Arn"] == u.arn
    iam.delete_access_key(UserName=u.name, AccessKeyId=u.key["AccessKeyId"])
    iam.delete_user(UserName=u.name)
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403, INVALID_TOKEN)
