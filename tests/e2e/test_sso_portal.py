"""The whole Identity Center journey: an administrator creates a person (invited by e-mail), a
group, a permission set with IAMReadOnlyAccess, and assigns the group to a member account;
the person sets a password, runs `aws sso login` with the AWS CLI v2 and works in the account
with exactly the permission set's rights, through the CLI and through boto3's SSO credential
provider. The access portal API (ListAccounts, ListAccountRoles, GetRoleCredentials, Logout)
answers with the token; removing the person from the group takes the account away at once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import unique
from test_sso_oidc import AWS_CLI_V2, PASSWORD, USER_CODE, CliLogin, approve, invite

READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


@pytest.fixture(scope="module")
def server(module_server_pool):
    return module_server_pool.new("portal", env={"LATCHKEY_IDENTITY_CENTER_MFA": "optional"})


@pytest.fixture(scope="module")
def journey(server):
    """The administrator's side: person, group, permission set, member account, assignment."""
    person = invite(server)
    ids = server.client("identitystore")
    group = ids.create_group(IdentityStoreId=person["StoreId"],
                             DisplayName=unique("Readers"))["GroupId"]
    membership = ids.create_group_membership(
        IdentityStoreId=person["StoreId"], GroupId=group,
        MemberId={"UserId": person["UserId"]})["MembershipId"]
    org = server.client("organizations")
    status = org.create_account(Email=f"{unique('acct')}@example.com",
                                AccountName=unique("Workload"))["CreateAccountStatus"]
    account = status["AccountId"]
    sso = server.client("sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    ps_name = unique("ReadOnly")[:32]
    ps = sso.create_permission_set(InstanceArn=instance, Name=ps_name,
                                   SessionDuration="PT2H")["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(InstanceArn=instance, PermissionSetArn=ps,
                                                ManagedPolicyArn=READ_ONLY)
    created = sso.create_account_assignment(
        InstanceArn=instance, PermissionSetArn=ps, TargetId=account, TargetType="AWS_ACCOUNT",
        PrincipalType="GROUP", PrincipalId=group)["AccountAssignmentCreationStatus"]
    assert sso.describe_account_assignment_creation_status(
        InstanceArn=instance, AccountAssignmentCreationRequestId=created["RequestId"],
    )["AccountAssignmentCreationStatus"]["Status"] == "SUCCEEDED"
    return {**person, "group": group, "membership": membership, "account": account,
            "ps_name": ps_name, "instance": instance, "ps": ps}


def login_with_cli(server, journey, home) -> dict:
    """`aws sso login --use-device-code` approved on the verification page; returns the env."""
    login = CliLogin(server, home, f"https://{journey['StoreId']}.awsapps.com/start",
                     "--use-device-code", account=journey["account"],
                     role=journey["ps_name"], profile="work")
    approve(server, login.wait_for(USER_CODE), journey["UserName"], PASSWORD)
    login.finish()
    return login.env


def cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(AWS_CLI_V2), *args, "--profile", "work", "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def access_token(home) -> str:
    for path in (home / ".aws" / "sso" / "cache").glob("*.json"):
        cached = json.loads(path.read_text())
        if "accessToken" in cached:
            return cached["accessToken"]
    raise AssertionError("no token in the CLI's cache")


def portal(server):
    return boto3.client("sso", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED,
                                      retries={"total_max_attempts": 1}))


def test_a_person_signs_in_with_the_cli_and_works_with_the_permission_set(
        server, journey, tmp_path):
    if not AWS_CLI_V2.exists():
        pytest.fail(f"AWS CLI v2 not found at {AWS_CLI_V2}; scripts/test installs it")
    home = tmp_path / "home"
    env = login_with_cli(server, journey, home)

    who = cli(env, "sts", "get-caller-identity")
    assert who.returncode == 0, who.stderr
    arn = json.loads(who.stdout)["Arn"]
    assert re.fullmatch(
        rf"arn:aws:sts::{journey['account']}:assumed-role/"
        rf"AWSReservedSSO_{journey['ps_name']}_[0-9a-f]{{16}}/{journey['UserName']}", arn), arn
    # IAMReadOnlyAccess: reads work, writes are denied.
    listed = cli(env, "iam", "list-roles")
    assert listed.returncode == 0, listed.stderr
    denied = cli(env, "iam", "create-user", "--user-name", unique("nope"))
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr, denied.stderr

    # boto3's SSO credential provider reads the same cached token.
    script = ("import boto3; s = boto3.Session(profile_name='work'); "
              "print(s.client('sts').get_caller_identity()['Arn'])")
    res = subprocess.run([sys.executable, "-c", script], env={**env, "PATH": env["PATH"]},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == arn


def test_the_portal_api_lists_and_issues_credentials(server, journey, tmp_path):
    home = tmp_path / "home"
    login_with_cli(server, journey, home)
    token = access_token(home)
    api = portal(server)
    accounts = api.list_accounts(accessToken=token)["accountList"]
    assert [a["accountId"] for a in accounts] == [journey["account"]]
    roles = api.list_account_roles(accessToken=token, accountId=journey["account"])["roleList"]
    assert roles == [{"roleName": journey["ps_name"], "accountId": journey["account"]}]
    creds = api.get_role_credentials(accessToken=token, accountId=journey["account"],
                                     roleName=journey["ps_name"])["roleCredentials"]
    assert creds["accessKeyId"].startswith("ASIA")
    # Expiration in epoch milliseconds, the permission set's two hours away.
    left = creds["expiration"] / 1000 - time.time()
    assert 7000 < left <= 7200, left
    sts = server.client("sts", {"AccessKeyId": creds["accessKeyId"],
                                "SecretAccessKey": creds["secretAccessKey"],
                                "SessionToken": creds["sessionToken"]})
    assert f"/{journey['UserName']}" in sts.get_caller_identity()["Arn"]

    with pytest.raises(ClientError) as missing:
        api.get_role_credentials(accessToken=token, accountId=journey["account"],
                                 roleName="NotMine")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as forged:
        api.list_accounts(accessToken="aoaforged")
    assert forged.value.response["Error"]["Code"] == "UnauthorizedException"
    assert forged.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401

    # Logout revokes the token everywhere.
    api.logout(accessToken=token)
    with pytest.raises(ClientError) as out:
        api.list_accounts(accessToken=token)
    assert out.value.response["Error"]["Code"] == "UnauthorizedException"


def test_leaving_the_group_takes_the_account_away_at_once(server, journey, tmp_path):
    home = tmp_path / "home"
    login_with_cli(server, journey, home)
    token = access_token(home)
    api = portal(server)
    assert api.list_accounts(accessToken=token)["accountList"]
    ids = server.client("identitystore")
    ids.delete_group_membership(IdentityStoreId=journey["StoreId"],
                                MembershipId=journey["membership"])
    try:
        assert api.list_accounts(accessToken=token)["accountList"] == []
        with pytest.raises(ClientError) as gone:
            api.get_role_credentials(accessToken=token, accountId=journey["account"],
                                     roleName=journey["ps_name"])
        assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        journey["membership"] = ids.create_group_membership(
            IdentityStoreId=journey["StoreId"], GroupId=journey["group"],
            MemberId={"UserId": journey["UserId"]})["MembershipId"]


def test_aws_configure_sso_from_stdin(server, journey, tmp_path):
    """`aws configure sso` as a person answers its prompts: session name, start URL, region,
    scopes; sign in on the verification page; the only account and role are chosen for them;
    then the profile's region, output and name. The profile it writes works."""
    if not AWS_CLI_V2.exists():
        pytest.fail(f"AWS CLI v2 not found at {AWS_CLI_V2}; scripts/test installs it")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_ENDPOINT_URL": server.url,
           "AWS_PAGER": "", "AWS_EC2_METADATA_DISABLED": "true"}
    start_url = f"https://{journey['StoreId']}.awsapps.com/start"
    configure = subprocess.Popen(
        [str(AWS_CLI_V2), "configure", "sso", "--use-device-code", "--no-browser"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(lambda: configure.stdout.read(1), "")), daemon=True)
    reader.start()
    configure.stdin.write(f"lk\n{start_url}\nus-east-1\nsso:account:access\n")
    configure.stdin.flush()
    deadline = time.monotonic() + 30
    code = None
    while code is None and time.monotonic() < deadline:
        found = re.search(USER_CODE, "".join(lines))
        code = found.group(1) if found else None
        time.sleep(0.1)
    assert code, "".join(lines)
    approve(server, code, journey["UserName"], PASSWORD)
    configure.stdin.write("us-east-1\njson\nconfigured\n")
    configure.stdin.flush()
    configure.stdin.close()
    assert configure.wait(timeout=60) == 0, "".join(lines)
    reader.join(timeout=5)
    config = (home / ".aws" / "config").read_text()
    assert f"sso_account_id = {journey['account']}" in config, config
    assert f"sso_role_name = {journey['ps_name']}" in config, config
    who = subprocess.run([str(AWS_CLI_V2), "sts", "get-caller-identity", "--profile",
                          "configured", "--output", "json"], env=env, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert who.returncode == 0, who.stderr
    assert f"/{journey['UserName']}" in json.loads(who.stdout)["Arn"]


def test_deleting_the_group_then_the_person_ends_their_access_at_once(server, journey, tmp_path):
    """Runs last: it deletes the journey's group and person. The group's assignment and the
    role provisioned for it alone go with the group; the person's token stops with them."""
    home = tmp_path / "home"
    login_with_cli(server, journey, home)
    token = access_token(home)
    api = portal(server)
    assert [a["accountId"] for a in api.list_accounts(accessToken=token)["accountList"]] \
        == [journey["account"]]
    creds = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{journey['account']}:role/OrganizationAccountAccessRole",
        RoleSessionName="check")["Credentials"]
    member_iam = server.client("iam", creds)

    def reserved_roles():
        return [r["RoleName"] for r in member_iam.list_roles(
            PathPrefix="/aws-reserved/sso.amazonaws.com/")["Roles"]
            if r["RoleName"].startswith(f"AWSReservedSSO_{journey['ps_name']}_")]

    assert len(reserved_roles()) == 1
    ids = server.client("identitystore")
    ids.delete_group(IdentityStoreId=journey["StoreId"], GroupId=journey["group"])
    assert api.list_accounts(accessToken=token)["accountList"] == []
    with pytest.raises(ClientError) as gone:
        api.get_role_credentials(accessToken=token, accountId=journey["account"],
                                 roleName=journey["ps_name"])
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    sso = server.client("sso-admin")
    assert sso.list_account_assignments(
        InstanceArn=journey["instance"], AccountId=journey["account"],
        PermissionSetArn=journey["ps"])["AccountAssignments"] == []
    assert reserved_roles() == []

    ids.delete_user(IdentityStoreId=journey["StoreId"], UserId=journey["UserId"])
    with pytest.raises(ClientError) as out:
        api.list_accounts(accessToken=token)
    assert out.value.response["Error"]["Code"] == "UnauthorizedException"
