"""Encoded denials (`latchkey serve --encoded-denials`) and STS DecodeAuthorizationMessage.

With encoded denials, an AccessDenied tells the caller only that the call was refused; the
details (principal, action, resource, matched statements, the request's condition keys) are
sealed in the message, and only a principal of the same account allowed
sts:DecodeAuthorizationMessage can read them.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from helpers import (allow, client_error, create_user, deny, expect_error, policy_document,
                     unique)

PREFIX = "You are not authorized to perform this operation. Encoded authorization failure message: "


@pytest.fixture(scope="module")
def server(module_server_pool):
    return module_server_pool.new("encoded", env={"LATCHKEY_ENCODED_DENIALS": "true"})


def denied_message(fn) -> str:
    with pytest.raises(ClientError) as excinfo:
        fn()
    code, status, message = client_error(excinfo)
    assert (code, status) == ("AccessDenied", 403), (code, status, message)
    assert message.startswith(PREFIX), message
    return message[len(PREFIX):]


def conditions(decoded: dict) -> dict[str, list[str]]:
    """Condition keys (case-insensitive, as in policies: compared lowercased) and values."""
    return {item["key"].lower(): [v["value"] for v in item["values"]["items"]]
            for item in decoded["context"]["conditions"]["items"]}


def test_a_denial_hides_its_reason_and_the_admin_decodes_it(server):
    user = create_user(server, "quiet")
    encoded = denied_message(user.client("iam").list_users)
    # Nothing of the decision shows in the message itself.
    assert user.name not in encoded and "because" not in encoded

    decoded = json.loads(server.client("sts").decode_authorization_message(
        EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["matchedStatements"]["items"] == []
    context = decoded["context"]
    assert context["principal"] == {"id": user.user["UserId"], "arn": user.arn}
    assert context["action"] == "iam:ListUsers"
    assert context["resource"] == f"arn:aws:iam::{server.account_id}:user/"
    keys = conditions(decoded)
    assert keys["aws:username"] == [user.name]
    assert keys["aws:principalarn"] == [user.arn]
    assert keys["aws:requestedregion"] == ["us-east-1"]


def test_an_explicit_deny_names_its_statement(server):
    user = create_user(server, "denied", inline={
        "Mixed": policy_document(allow("iam:*"),
                                 {**deny("iam:DeleteUser"), "Sid": "NoDeletes"})})
    target = unique("victim")
    server.client("iam").create_user(UserName=target)
    encoded = denied_message(lambda: user.client("iam").delete_user(UserName=target))
    decoded = json.loads(server.client("sts").decode_authorization_message(
        EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["explicitDeny"] is True
    effects = {(s["statementId"], s["effect"]) for s in decoded["matchedStatements"]["items"]}
    assert ("NoDeletes", "DENY") in effects
    assert decoded["context"]["resource"] == f"arn:aws:iam::{server.account_id}:user/{target}"


def test_decoding_needs_its_own_permission(server):
    user = create_user(server, "nodecode")
    encoded = denied_message(user.client("iam").list_users)
    # The caller may not read the details of its own denial without the permission...
    denied_message(lambda: user.client("sts").decode_authorization_message(
        EncodedMessage=encoded))
    # ...and may with it.
    decoder = create_user(server, "decoder", inline={
        "Decode": policy_document(allow("sts:DecodeAuthorizationMessage"))})
    decoded = decoder.client("sts").decode_authorization_message(EncodedMessage=encoded)
    assert json.loads(decoded["DecodedMessage"])["context"]["principal"]["arn"] == user.arn


def test_a_tampered_or_foreign_message_is_refused(server):
    user = create_user(server, "tamper")
    encoded = denied_message(user.client("iam").list_users)
    sts = server.client("sts")
    flipped = encoded[:-3] + ("A" if encoded[-3] != "A" else "B") + encoded[-2:]
    for bad in (flipped, "not-a-message", encoded + "AAAA"):
        expect_error(lambda: sts.decode_authorization_message(EncodedMessage=bad),
                     "InvalidAuthorizationMessageException", 400)
    # An administrator of another account of the organization cannot read it.
    status = server.client("organizations").create_account(
        Email=f"{unique('acct')}@example.com", AccountName=unique("Member"))
    member = status["CreateAccountStatus"]["AccountId"]
    session = sts.assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
        RoleSessionName="member-admin")["Credentials"]
    expect_error(lambda: server.client("sts", session).decode_authorization_message(
        EncodedMessage=encoded), "InvalidAuthorizationMessageException", 400)


@pytest.mark.parametrize("service, call, action", [
    ("organizations", lambda c: c.list_accounts(), "organizations:ListAccounts"),
    ("identitystore", lambda c: c.list_identity_stores(), "identitystore:ListIdentityStores"),
    ("sso-admin", lambda c: c.list_instances(), "sso:ListInstances"),
])
def test_awsjson_denials_are_encoded_too(server, service, call, action):
    user = create_user(server, "jsonless")
    with pytest.raises(ClientError) as excinfo:
        call(user.client(service))
    code, _, message = client_error(excinfo)
    assert code == "AccessDeniedException"
    assert message.startswith(PREFIX), message
    decoded = json.loads(server.client("sts").decode_authorization_message(
        EncodedMessage=message[len(PREFIX):])["DecodedMessage"])
    assert decoded["context"]["action"] == action
