"""/metrics, /readyz and the request log lines (docs/design/observability.md)."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import http, unique

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict:
    """Prometheus text format: {(name, sorted label pairs): value}; every line must parse."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = tuple(sorted(LABEL.findall(labels or "")))
        samples[(name, pairs)] = float(value)
    assert text.rstrip().endswith("# EOF")
    assert types["latchkey_requests"] == "counter"
    assert types["latchkey_authorization_seconds"] == "histogram"
    return samples


def scrape(srv) -> dict:
    response = http("GET", f"{srv.url}/metrics")
    assert response.status == 200
    assert response.headers.get("Content-Type").startswith("text/plain; version=0.0.4")
    return parse(response.body.decode())


def requests(metrics: dict, service: str, operation: str, outcome: str) -> float:
    key = ("latchkey_requests_total",
           (("operation", operation), ("outcome", outcome), ("service", service)))
    return metrics.get(key, 0.0)


def test_metrics_move_with_requests(fresh_server):
    srv = fresh_server()
    iam = srv.client("iam")
    before = scrape(srv)
    iam.list_users()
    iam.list_users()
    iam.create_user(UserName=unique("metrics"))
    with pytest.raises(ClientError):
        iam.get_user(UserName="no-such-user")
    with pytest.raises(ClientError):
        srv.client("sts", creds={"AccessKeyId": srv.admin["AccessKeyId"],
                                 "SecretAccessKey": "wrong"}).get_caller_identity()
    srv.client("organizations").describe_organization()
    after = scrape(srv)

    def moved(service, operation, outcome):
        return (requests(after, service, operation, outcome)
                - requests(before, service, operation, outcome))

    assert moved("iam", "ListUsers", "ok") == 2
    assert moved("iam", "CreateUser", "ok") == 1
    assert moved("iam", "GetUser", "NoSuchEntity") == 1
    assert moved("sts", "GetCallerIdentity", "SignatureDoesNotMatch") == 1
    assert moved("organizations", "DescribeOrganization", "ok") == 1
    failures = ("latchkey_authentication_failures_total", (("reason", "SignatureDoesNotMatch"),))
    assert after[failures] - before.get(failures, 0) == 1
    # Every operation but GetCallerIdentity is authorized: ListUsers twice, CreateUser,
    # GetUser, DescribeOrganization.
    count = ("latchkey_authorization_seconds_count", ())
    assert after[count] - before[count] == 5
    assert after[("latchkey_authorization_seconds_sum", ())] > 0
    inf = ("latchkey_authorization_seconds_bucket", (("le", "+Inf"),))
    assert after[inf] == after[count]
    # The write moved the snapshot on.
    sequence = ("latchkey_snapshot_sequence", ())
    assert after[sequence] == before[sequence] + 1
    assert after[("latchkey_snapshot_age_seconds", ())] == 0
    # The pages are counted by route.
    assert requests(after, "http", "/metrics", "ok") >= 1


def test_readyz_and_healthz(fresh_server):
    srv = fresh_server()
    ready = http("GET", f"{srv.url}/readyz")
    assert (ready.status, ready.body) == (200, b"ready\n")
    assert http("GET", f"{srv.url}/healthz").status == 200


def log_lines(srv) -> list[dict]:
    lines = [line for line in srv.log().splitlines() if line.strip()]
    assert lines
    # Every line is one JSON object, nothing else is written.
    return [json.loads(line) for line in lines]


def test_json_logs_have_one_line_per_request_and_no_secret(fresh_server):
    srv = fresh_server(env={"LATCHKEY_LOG_FORMAT": "json"})
    iam = srv.client("iam")
    sts = srv.client("sts")
    name = unique("logged")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = sts.get_session_token()["Credentials"]
    temporary = {"AccessKeyId": session["AccessKeyId"],
                 "SecretAccessKey": session["SecretAccessKey"],
                 "SessionToken": session["SessionToken"]}
    srv.client("sts", creds=temporary).get_caller_identity()
    # A presigned URL carries the signature and the session token in its query string.
    request = AWSRequest(method="GET",
                         url=f"{srv.url}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(Credentials(session["AccessKeyId"], session["SecretAccessKey"],
                               session["SessionToken"]), "sts", "us-east-1",
                   expires=60).add_auth(request)
    url = request.prepare().url
    assert "X-Amz-Security-Token=" in url
    assert http("GET", url).status == 200
    with pytest.raises(ClientError):
        srv.client("iam", creds={"AccessKeyId": key["AccessKeyId"],
                                 "SecretAccessKey": "wrong"}).list_users()
    time.sleep(0.2)  # the last line is written after the response

    text = srv.log()
    for secret in (srv.admin["SecretAccessKey"], key["SecretAccessKey"],
                   session["SecretAccessKey"], session["SessionToken"],
                   url.split("X-Amz-Signature=")[1]):
        assert secret not in text
    records = log_lines(srv)
    requests_logged = [r for r in records if r.get("message") == "request"]
    for record in requests_logged:
        assert record["level"] == "INFO"
        for field in ("method", "path", "service", "operation", "status", "outcome",
                      "latency_ms", "request_id"):
            assert field in record, (field, record)
        assert "?" not in record["path"]

    def logged(operation, access_key_id):
        return [r for r in requests_logged
                if r["operation"] == operation and r.get("access_key_id") == access_key_id]

    [created] = logged("CreateAccessKey", srv.admin["AccessKeyId"])
    assert (created["service"], created["status"], created["outcome"]) == ("iam", 200, "ok")
    assert created["method"] == "POST" and created["path"] == "/"
    assert re.fullmatch(r"[0-9a-f-]{36}", created["request_id"])
    assert created["source_ip"] == "127.0.0.1"
    assert len(logged("GetCallerIdentity", session["AccessKeyId"])) == 2
    [refused] = logged("ListUsers", key["AccessKeyId"])
    assert (refused["status"], refused["outcome"]) == (403, "SignatureDoesNotMatch")
    # The request id in the log is the one the client was given.
    response = urllib.request.urlopen(f"{srv.url}/healthz")
    request_id = response.headers["x-amzn-requestid"]
    time.sleep(0.2)
    assert any(r.get("request_id") == request_id and r["path"] == "/healthz"
               for r in log_lines(srv))
