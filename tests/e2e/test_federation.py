"""STS GetFederationToken: a federated user gets the calling user's permissions intersected
with the session policies passed to the call, and nothing without one."""
from __future__ import annotations

import json

from botocore.exceptions import ClientError

from helpers import IAM_READ_ONLY_ACCESS, TEMP_ACCESS_KEY_ID_RE, allow, policy_document


def _federator(make_user):
    """A user that may federate and holds IAMReadOnlyAccess plus sts:GetCallerIdentity."""
    return make_user("federator", policies=[IAM_READ_ONLY_ACCESS], inline={
        "Federate": policy_document(allow("sts:GetFederationToken"))})


def test_get_federation_token_returns_a_federated_user(server, make_user, account_id):
    user = _federator(make_user)
    resp = user.client("sts").get_federation_token(Name="fed-alice", DurationSeconds=900)
    creds = resp["Credentials"]
    assert TEMP_ACCESS_KEY_ID_RE.match(creds["AccessKeyId"])
    assert resp["FederatedUser"] == {
        "FederatedUserId": f"{account_id}:fed-alice",
        "Arn": f"arn:aws:sts::{account_id}:federated-user/fed-alice",
    }
    identity = server.client("sts", creds).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{account_id}:federated-user/fed-alice"
    assert identity["UserId"] == f"{account_id}:fed-alice"


def test_a_federated_user_without_a_session_policy_can_do_nothing(server, make_user):
    user = _federator(make_user)
    creds = user.client("sts").get_federation_token(Name="fed-bob")["Credentials"]
    federated_sts = server.client("sts", creds)
    try:
        federated_sts.get_federation_token(Name="fed-again")
        raise AssertionError("a federated user must not federate again")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied"


def test_session_policy_and_user_policy_intersect(server, make_user, account_id):
    user = _federator(make_user)
    only_get_user = json.dumps(policy_document(allow("iam:GetUser"), allow("s3:*")))
    resp = user.client("sts").get_federation_token(Name="fed-carol", Policy=only_get_user)
    assert resp["PackedPolicySize"] > 0
    # IAM refuses federated credentials outright, whatever the policies say, as AWS does.
    iam = server.client("iam", resp["Credentials"])
    try:
        iam.get_user(UserName=user.name)
        raise AssertionError("IAM must refuse federated credentials")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidClientTokenId"


def test_get_federation_token_needs_permission_and_long_term_credentials(server, make_user):
    plain = make_user("nofed")
    try:
        plain.client("sts").get_federation_token(Name="fed-dave")
        raise AssertionError("a user without sts:GetFederationToken must be denied")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied"
        assert "sts:GetFederationToken" in error.response["Error"]["Message"]
    user = _federator(make_user)
    session = user.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    try:
        server.client("sts", session).get_federation_token(Name="fed-erin")
        raise AssertionError("session credentials must not federate")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied"


def test_federation_name_and_policy_are_validated(make_user):
    # botocore checks lengths itself; the server must refuse what gets past it.
    sts = _federator(make_user).client("sts")
    for name in ["bad name", "semi;colon"]:
        try:
            sts.get_federation_token(Name=name)
            raise AssertionError(f"{name!r} must be refused")
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ValidationError", name
    try:
        sts.get_federation_token(Name="fed-frank", Policy='{"Version":"2012-10-17","Statement":[]')
        raise AssertionError("a malformed session policy must be refused")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "MalformedPolicyDocument"
