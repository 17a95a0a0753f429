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


for name, seeds in [("sigv4_header", sigv4_header()), ("sigv4_presigned", sigv4_presigned()),
                    ("query_form", query_form()), ("policy", policy()),
                    ("json_input", json_input()), ("xml_escape", xml_escape())]:
    write(name, seeds)
