"""SimulatePrincipalPolicy, SimulateCustomPolicy and GetContextKeysFor*Policy give the same
decisions the enforcement gives."""
import json

import pytest
from botocore.exceptions import ClientError

from helpers import create_user


ACTIONS = ["iam:ListUsers", "iam:CreateUser", "iam:GetUser", "iam:ListGroups"]


def _real_call(client, action):
    calls = {
        "iam:ListUsers": lambda: client.list_users(),
        "iam:CreateUser": lambda: client.create_user(UserName="never-created-by-simulation"),
        "iam:GetUser": lambda: client.get_user(),
        "iam:ListGroups": lambda: client.list_groups(),
    }
    try:
        calls[action]()
        return "allowed"
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied", error
        return "denied"


def test_simulate_principal_policy_agrees_with_the_real_calls(server, iam):
    deny_groups = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iam:ListGroups", "Resource": "*"}],
    }
    user = create_user(
        server, "sim",
        policies=["arn:aws:iam::aws:policy/IAMReadOnlyAccess"],
        inline={"no-groups": deny_groups},
    )
    results = iam.simulate_principal_policy(
        PolicySourceArn=user.arn, ActionNames=ACTIONS
    )["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {
        "iam:ListUsers": "allowed",
        "iam:CreateUser": "implicitDeny",
        "iam:GetUser": "allowed",
        "iam:ListGroups": "explicitDeny",
    }
    client = user.client("iam")
    for action, decision in decisions.items():
        expected = "allowed" if decision == "allowed" else "denied"
        assert _real_call(client, action) == expected, action
    matched = {r["EvalActionName"]: r["MatchedStatements"] for r in results}
    assert {"SourcePolicyId": "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
            "SourcePolicyType": "aws-managed"} in matched["iam:ListUsers"]


def test_simulate_custom_policy_reports_missing_context_values(server, iam):
    doc = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }],
    })
    without = iam.simulate_custom_policy(
        PolicyInputList=[doc], ActionNames=["s3:GetObject"]
    )["EvaluationResults"][0]
    assert without["EvalDecision"] == "implicitDeny"
    assert without["MissingContextValues"] == ["aws:SourceIp"]
    inside = iam.simulate_custom_policy(
        PolicyInputList=[doc], ActionNames=["s3:GetObject"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"],
                         "ContextKeyType": "ip"}],
    )["EvaluationResults"][0]
    assert inside["EvalDecision"] == "allowed"
    outside = iam.simulate_custom_policy(
        PolicyInputList=[doc], ActionNames=["s3:GetObject"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["192.0.2.1"],
                         "ContextKeyType": "ip"}],
    )["EvaluationResults"][0]
    assert outside["EvalDecision"] == "implicitDeny"


def test_simulate_custom_policy_with_a_boundary_and_scps(server, iam):
    allow_all = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    iam_only = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
    result = iam.simulate_custom_policy(
        PolicyInputList=[allow_all], PermissionsBoundaryPolicyInputList=[iam_only],
        ActionNames=["iam:ListUsers", "s3:ListBucket"],
    )["EvaluationResults"]
    by_action = {r["EvalActionName"]: r for r in result}
    assert by_action["iam:ListUsers"]["EvalDecision"] == "allowed"
    assert by_action["s3:ListBucket"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:ListBucket"]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": False}
    scp = iam.simulate_custom_policy(
        PolicyInputList=[allow_all],
        OrderedOrganizationPolicyInputList=[
            {"ServiceControlPolicyInputList": [allow_all]},
            {"ServiceControlPolicyInputList": [iam_only]},
        ],
        ActionNames=["s3:ListBucket"],
    )["EvaluationResults"][0]
    assert scp["EvalDecision"] == "implicitDeny"
    assert scp["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}


def test_context_keys_for_policies(server, iam):
    doc = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::*:user/${aws:username}",
            "Condition": {"StringEquals": {"aws:RequestTag/team": "red"},
                          "Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }],
    }
    keys = iam.get_context_keys_for_custom_policy(
        PolicyInputList=[json.dumps(doc)])["ContextKeyNames"]
    assert {k.lower() for k in keys} == {"aws:username", "aws:requesttag/team",
                                         "aws:multifactorauthpresent"}
    user = create_user(server, "ctx", inline={"p": doc})
    keys = iam.get_context_keys_for_principal_policy(
        PolicySourceArn=user.arn)["ContextKeyNames"]
    assert "aws:multifactorauthpresent" in {k.lower() for k in keys}


def test_a_malformed_policy_in_a_simulation_is_refused(server, iam):
    with pytest.raises(ClientError) as caught:
        iam.simulate_custom_policy(PolicyInputList=["{not json"], ActionNames=["iam:GetUser"])
    assert caught.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_account_authorization_details_lists_every_entity_with_its_policies(server, iam):
    inline = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}
    user = create_user(server, "details", policies=["arn:aws:iam::aws:policy/IAMReadOnlyAccess"],
                       inline={"self": inline})
    details = iam.get_account_authorization_details()
    mine = [u for u in details["UserDetailList"] if u["UserName"] == user.name]
    assert len(mine) == 1
    assert mine[0]["Arn"] == user.arn
    assert mine[0]["UserPolicyList"] == [{"PolicyName": "self", "PolicyDocument": inline}]
    assert {"PolicyName": "IAMReadOnlyAccess",
            "PolicyArn": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"} in mine[0]["AttachedManagedPolicies"]
    aws = [p for p in details["Policies"] if p["Arn"] == "arn:aws:iam::aws:policy/IAMReadOnlyAccess"]
    assert aws and aws[0]["PolicyVersionList"][0]["IsDefaultVersion"] is True
    assert isinstance(aws[0]["PolicyVersionList"][0]["Document"], dict)
    only_users = iam.get_account_authorization_details(Filter=["User"])
    assert only_users["GroupDetailList"] == [] and only_users["Policies"] == []
