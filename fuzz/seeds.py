#!/usr/bin/env python3
"""Writes the committed seed corpora, fuzz/corpus/<target>/, from the repository's tests.

Run from the repository root: `python3 fuzz/seeds.py`. Each seed is named by the SHA-1 of its
content, as libFuzzer names corpus files, so rerunning changes nothing.
"""

import hashlib
import json
import pathlib
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
SIGV4 = ROOT / "crates" / "sigv4" / "tests" / "data"


def write(target: str, seeds) -> None:
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        data = seed if isinstance(seed, bytes) else seed.encode()
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def sigv4_header():
    # The signed requests of the SigV4 test suite, as written (the parser is lenient).
    return [p.read_bytes() for p in sorted(SIGV4.glob("aws-sig-v4-test-suite/**/*.sreq"))]


def sigv4_presigned():
    # The query strings of the signing suite's presigned requests.
    for path in sorted(SIGV4.glob("aws-signing-test-suite/v4/*/query-signed-request.txt")):
        target = path.read_text().split("\n", 1)[0].split(" ")[1]
        yield target.split("?", 1)[1] if "?" in target else ""


def query_form():
    # Bodies as botocore serializes them for the operations the e2e tests call.
    forms = [
        {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        {"Action": "CreateUser", "Version": "2010-05-08", "UserName": "alice", "Path": "/eng/"},
        {"Action": "CreateUser", "Version": "2010-05-08", "UserName": "bob",
         "Tags.member.1.Key": "team", "Tags.member.1.Value": "blue",
         "Tags.member.2.Key": "cost", "Tags.member.2.Value": "42"},
        {"Action": "ListUsers", "Version": "2010-05-08", "MaxItems": "10", "Marker": "abc"},
        {"Action": "AssumeRole", "Version": "2011-06-15",
         "RoleArn": "arn:aws:iam::111122223333:role/R", "RoleSessionName": "s",
         "DurationSeconds": "900", "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
         "TransitiveTagKeys.member.1": "team"},
        {"Action": "PutUserPolicy", "Version": "2010-05-08", "UserName": "alice",
         "PolicyName": "p", "PolicyDocument": json.dumps(
             {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})},
        {"Action": "SimulateCustomPolicy", "Version": "2010-05-08",
         "PolicyInputList.member.1": "{}", "ActionNames.member.1": "iam:GetUser",
         "ContextEntries.member.1.ContextKeyName": "aws:username",
         "ContextEntries.member.1.ContextKeyType": "string",
         "ContextEntries.member.1.ContextKeyValues.member.1": "alice"},
        {"Action": "UpdateAccessKey", "Version": "2010-05-08", "AccessKeyId": "AKIA0000",
         "Status": "Inactive"},
        {"Action": "GetAccountAuthorizationDetails", "Version": "2010-05-08",
         "Filter.member.1": "User", "Filter.member.2": "Role"},
        {"Action": "CreateRole", "Version": "2010-05-08", "RoleName": "r",
         "AssumeRolePolicyDocument": "{\"Statement\":[]}", "MaxSessionDuration": "3600"},
    ]
    for form in forms:
        yield urllib.parse.urlencode(form)
    yield "Action=GetUser&UserName=%E2%9C%93&Description=a+b"
    yield "Action=A&Action=B"
    yield "Names.member.1=a&Names.member.3=c"
    yield "UserName=%FF%FE"


def policy():
    # Every document of the policy engine's test cases.
    for path in sorted((ROOT / "crates" / "policy" / "tests" / "cases").glob("*.json")):
        case = json.loads(path.read_text())
        for documents in case["policies"].values():
            for document in documents if isinstance(documents, list) else [documents]:
                if isinstance(document, list):
                    yield from (json.dumps(d) for d in document)
                else:
                    yield json.dumps(document, indent=2)


def json_input():
    # Bodies botocore sends for the Organizations operations latchkey serves.
    yield "{}"
    yield json.dumps({"Email": "a@example.com", "AccountName": "dev",
                      "RoleName": "OrganizationAccountAccessRole"})
    yield json.dumps({"CreateAccountRequestId": "car-0123456789abcdef"})
    yield json.dumps({"MaxResults": 5, "NextToken": "20"})
    yield json.dumps({"AccountId": "111122223333"})
    yield '{"a": [1, 2.5e10, -0, true, null, {"b": "\\u00e9\\ud83d\\ude00"}]}'


def xml_escape():
    yield "arn:aws:iam::111122223333:user/a&b"
    yield "<ErrorResponse>\"quoted\" 'single'</ErrorResponse>"
    yield '{"Version":"2012-10-17","Statement":[]}'
    yield "tab\there\nnewline"
    yield "\u00e9\u4e2d\U0001f600"
    yield "control\u0001\u001f"


# The order of ROUTES in fuzz/fuzz_targets/console_form.rs.
CONSOLE_ROUTES = [
    "/console/signin", "/console/signin/mfa", "/console/signin/new-password",
    "/console/account/alias", "/console/account/password-policy", "/console/password",
    "/console/users/new", "/console/users/{}/console-access",
    "/console/users/{}/console-access/reset", "/console/users/{}/console-access/delete",
    "/console/users/{}/mfa/new", "/console/users/{}/mfa/enable", "/console/users/{}/mfa/remove",
    "/console/users/{}/access-keys/new", "/console/users/alice/access-keys/{}/status",
    "/console/users/alice/access-keys/{}/delete", "/console/users/{}/policies",
    "/console/users/{}/groups", "/console/users/{}/tags", "/console/groups/new",
    "/console/groups/{}/members", "/console/groups/{}/policies", "/console/policies/new",
    "/console/policies/validate", "/console/policies/versions", "/console/root-keys",
    "/console/root-keys/{}/status", "/console/root-keys/{}/delete",
    "/console/identity-center/users", "/console/identity-center/users/{}/resend",
    "/console/identity-center/users/{}/authenticator", "/console/identity-center/groups",
    "/console/identity-center/groups/{}/members",
    "/console/identity-center/groups/{}/members/remove",
    "/console/identity-center/permission-sets", "/console/identity-center/permission-sets/attach",
    "/console/identity-center/permission-sets/detach", "/console/identity-center/accounts/assign",
    "/console/identity-center/accounts/unassign", "/console/identity-center/accounts/ou",
    "/console/identity-center/accounts/move",
]


def console_form():
    """A route byte, the path's name, a line break, and a form as the console's pages post it
    (the target adds the session's anti-forgery token)."""
    policy_doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    admin_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    forms = {
        "/console/signin": {"account": "111122223333", "user_name": "bob", "password": "pw"},
        "/console/signin/mfa": {"ticket": "t", "code": "123456"},
        "/console/signin/new-password": {"ticket": "t", "new_password": "N3w-password!",
                                         "confirm_password": "N3w-password!"},
        "/console/account/alias": {"alias": "my-company", "action": "create"},
        "/console/account/password-policy": {
            "minimum_password_length": "14", "require_symbols": "on", "require_numbers": "on",
            "max_password_age": "90", "password_reuse_prevention": "5", "hard_expiry": "on"},
        "/console/password": {"old_password": "a", "new_password": "B-c0mplex!pw",
                              "confirm_password": "B-c0mplex!pw"},
        "/console/users/new": [("user_name", "carol"), ("console_access", "on"),
                               ("password", "Carol-pa55word!"), ("group", "admins"),
                               ("policy", admin_arn), ("boundary", ""), ("tag_key", "team"),
                               ("tag_value", "red"), ("action", "create")],
        "/console/users/{}/console-access": {"password": "Al1ce-password!", "require_reset": "on"},
        "/console/users/{}/console-access/reset": {"password": "Al1ce-password2!"},
        "/console/users/{}/console-access/delete": {"confirmation": "alice"},
        "/console/users/{}/mfa/new": {"device_name": "phone"},
        "/console/users/{}/mfa/enable": {"serial": "arn:aws:iam::111122223333:mfa/phone",
                                         "code1": "123456", "code2": "654321"},
        "/console/users/{}/mfa/remove": {"serial": "arn:aws:iam::111122223333:mfa/phone"},
        "/console/users/{}/access-keys/new": {"use_case": "cli", "understood": "on",
                                              "description": "laptop", "step": "create"},
        "/console/users/alice/access-keys/{}/status": {"status": "Inactive"},
        "/console/users/alice/access-keys/{}/delete": {"confirmation": "AKIAEXAMPLE"},
        "/console/users/{}/policies": {"policy_arn": admin_arn, "action": "attach"},
        "/console/users/{}/groups": {"group_name": "admins", "action": "add"},
        "/console/users/{}/tags": {"key": "team", "value": "blue", "action": "add"},
        "/console/groups/new": {"group_name": "admins"},
        "/console/groups/{}/members": {"user_name": "alice", "action": "add"},
        "/console/groups/{}/policies": {"policy_arn": admin_arn, "action": "attach"},
        "/console/policies/new": {"policy_name": "s3-all", "description": "d",
                                  "document": policy_doc},
        "/console/policies/validate": {"document": policy_doc, "kind": "identity"},
        "/console/policies/versions": {"arn": "arn:aws:iam::111122223333:policy/s3-all",
                                       "version": "v1", "action": "default"},
        "/console/root-keys": {"understood": "on"},
        "/console/root-keys/{}/status": {"status": "Inactive"},
        "/console/root-keys/{}/delete": {"confirmation": "AKIAEXAMPLE"},
        "/console/identity-center/users": {"user_name": "dana", "given_name": "Dana",
                                           "family_name": "Scully", "email": "dana@example.com",
                                           "display_name": "Dana Scully"},
        "/console/identity-center/users/{}/resend": {},
        "/console/identity-center/users/{}/authenticator": {"confirmation": "dana"},
        "/console/identity-center/groups": {"display_name": "Engineers",
                                            "description": "people who build"},
        "/console/identity-center/groups/{}/members": {"user_id": "u-1"},
        "/console/identity-center/groups/{}/members/remove": {"membership_id": "m-1"},
        "/console/identity-center/permission-sets": {
            "name": "AdministratorAccess", "predefined": "AdministratorAccess",
            "description": "admins", "session_hours": "8"},
        "/console/identity-center/permission-sets/attach": {
            "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
            "policy_arn": admin_arn},
        "/console/identity-center/permission-sets/detach": {
            "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
            "policy_arn": admin_arn},
        "/console/identity-center/accounts/assign": {
            "account_id": "111122223333", "principal": "GROUP:g-1",
            "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1"},
        "/console/identity-center/accounts/unassign": {
            "account_id": "111122223333", "principal": "USER:u-1",
            "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1"},
        "/console/identity-center/accounts/ou": {"name": "Workloads", "parent_id": "r-abcd"},
        "/console/identity-center/accounts/move": {
            "account_id": "111122223333", "source_parent_id": "r-abcd",
            "destination_parent_id": "ou-abcd-12345678"},
    }
    for index, route in enumerate(CONSOLE_ROUTES):
        form = forms[route]
        pairs = form.items() if isinstance(form, dict) else form
        body = urllib.parse.urlencode(list(pairs)).encode()
        name = b"alice" if "{}" in route else b""
        yield bytes([index]) + name + b"\n" + body
        # The same, with no anti-forgery token: the forgery check's path.
        yield bytes([index | 0x80]) + name + b"\n" + body
    yield bytes([7]) + "ü%2F..".encode() + b"\n" + b"password=%FF%FE&require_reset=maybe"


for name, seeds in [("sigv4_header", sigv4_header()), ("sigv4_presigned", sigv4_presigned()),
                    ("query_form", query_form()), ("policy", policy()),
                    ("json_input", json_input()), ("xml_escape", xml_escape()),
                    ("console_form", console_form())]:
    write(name, seeds)
