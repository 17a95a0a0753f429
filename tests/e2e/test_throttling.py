"""Failed authentications are throttled per source address and per access key id
(docs/design/throttling.md): a failing request gets AWS's Throttling, which botocore
retries; valid requests are never throttled; once throttled, an unknown key id and a bad
signature get the same answer."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import client_error, signed_post

# Five failures per key id, then one more every 30 s (none during a test); the address
# bucket is large enough not to interfere.
PER_KEY = """
[throttle.source_address]
burst = 1000
per_minute = 600
[throttle.access_key_id]
burst = 5
per_minute = 2
"""

# Three failures per address, whatever the key id.
PER_ADDRESS = """
[throttle.source_address]
burst = 3
per_minute = 2
"""


def bad_secret(creds: dict) -> dict:
    return {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": "not-the-secret"}


def unknown_key() -> dict:
    return {"AccessKeyId": "AKIAZZZZZZZZZZZZZZZZ", "SecretAccessKey": "whatever"}


def error_of(fn) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        fn()
    return client_error(excinfo)


def test_bad_signatures_from_one_key_are_throttled_and_its_valid_requests_are_not(
        fresh_server):
    srv = fresh_server(config=PER_KEY)
    forged = srv.client("sts", creds=bad_secret(srv.admin))
    for _ in range(5):
        assert error_of(forged.get_caller_identity)[:2] == ("SignatureDoesNotMatch", 403)
    assert error_of(forged.get_caller_identity) == ("Throttling", 400, "Rate exceeded")

    # The wire shape AWS sends: query-protocol ErrorResponse, Sender, HTTP 400.
    raw = signed_post(srv, bad_secret(srv.admin), "iam",
                      {"Action": "ListUsers", "Version": "2010-05-08"})
    assert raw.status == 400
    error = raw.error()
    assert error["Type"] == "Sender"
    assert error["Code"] == "Throttling"
    assert error["Message"] == "Rate exceeded"
    assert error["namespace"] == "https://iam.amazonaws.com/doc/2010-05-08/"
    assert raw.headers.get("x-amzn-requestid") == error["RequestId"]

    # The real key holder, same key id, same address: served at once, repeatedly.
    sts = srv.client("sts")
    iam = srv.client("iam")
    for _ in range(3):
        assert sts.get_caller_identity()["Arn"].endswith(":user/admin")
        iam.list_users()

    # Another key from the same address is not affected.
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    try:
        other = srv.client("sts", creds=bad_secret(key))
        assert error_of(other.get_caller_identity)[0] == "SignatureDoesNotMatch"
    finally:
        iam.delete_access_key(UserName="admin", AccessKeyId=key["AccessKeyId"])


def test_botocore_retries_throttling(fresh_server):
    srv = fresh_server(config=PER_KEY)
    for mode in ("standard", "legacy"):
        forged = boto3.client(
            "sts", endpoint_url=srv.url, region_name="us-east-1",
            aws_access_key_id=srv.admin["AccessKeyId"], aws_secret_access_key="wrong",
            config=Config(retries={"max_attempts": 3, "mode": mode}))
        with pytest.raises(ClientError) as excinfo:
            # The first five fail with SignatureDoesNotMatch (not retried); then Throttling.
            for _ in range(6):
                try:
                    forged.get_caller_identity()
                except ClientError as e:
                    if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
                        raise
        assert client_error(excinfo)[0] == "Throttling"
        retries = excinfo.value.response["ResponseMetadata"]["RetryAttempts"]
        # botocore's max_attempts in `retries` counts the retries after the first attempt.
        assert retries == 3, (mode, retries)


def test_awsjson_services_name_throttling_as_their_models_do(fresh_server):
    srv = fresh_server(config=PER_ADDRESS)
    forged = bad_secret(srv.admin)
    for _ in range(3):
        assert error_of(srv.client("sts", creds=forged).get_caller_identity)[0] == (
            "SignatureDoesNotMatch")
    assert error_of(srv.client("organizations", creds=forged).describe_organization)[:2] == (
        "TooManyRequestsException", 400)
    assert error_of(lambda: srv.client("identitystore", creds=forged).list_users(
        IdentityStoreId="d-1234567890"))[:2] == ("ThrottlingException", 400)
    assert error_of(srv.client("sso-admin", creds=forged).list_instances)[:2] == (
        "ThrottlingException", 400)
    # The administrator's valid calls from the same address still go through.
    assert srv.client("organizations").describe_organization()["Organization"]["Id"]


def comparable(raw) -> tuple:
    """A response with its request id (different every time) taken out."""
    error = raw.error()
    body = raw.body.decode().replace(error["RequestId"], "")
    headers = sorted((k.lower(), v) for k, v in raw.headers.items()
                     if k.lower() not in ("date", "x-amzn-requestid"))
    return raw.status, body, headers


def test_once_throttled_an_unknown_key_and_a_bad_signature_look_the_same(fresh_server):
    srv = fresh_server(config=PER_ADDRESS)
    params = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    # Before: the two failures are told apart, as AWS tells them apart.
    assert signed_post(srv, unknown_key(), "sts", params).error()["Code"] == (
        "InvalidClientTokenId")
    assert signed_post(srv, bad_secret(srv.admin), "sts", params).error()["Code"] == (
        "SignatureDoesNotMatch")
    assert signed_post(srv, unknown_key(), "sts", params).status == 403
    # The address has used its three failures: now both get one answer.
    unknown = signed_post(srv, unknown_key(), "sts", params)
    forged = signed_post(srv, bad_secret(srv.admin), "sts", params)
    assert unknown.error()["Code"] == "Throttling"
    assert comparable(unknown) == comparable(forged)
    # And a valid request is answered as ever.
    valid = signed_post(srv, srv.admin, "sts", params)
    assert valid.status == 200, valid.body


def test_throttled_requests_are_counted_in_metrics(fresh_server):
    from test_observability import scrape

    srv = fresh_server(config=PER_ADDRESS)
    # Raw requests: a client would retry the throttled ones.
    params = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    for _ in range(5):
        assert signed_post(srv, bad_secret(srv.admin), "sts", params).status in (400, 403)
    metrics = scrape(srv)
    assert metrics[("latchkey_throttled_requests_total", (("bucket", "source_address"),))] == 2
    assert metrics[("latchkey_authentication_failures_total",
                    (("reason", "SignatureDoesNotMatch"),))] == 5
    assert metrics[("latchkey_requests_total", (("operation", "GetCallerIdentity"),
                                                ("outcome", "Throttling"),
                                                ("service", "sts")))] == 2


def test_guessed_bearer_tokens_and_grants_are_throttled_per_address(fresh_server):
    """The access portal's bearer token and SSO OIDC's grants are secrets too: failed
    checks count against the source address, and once its bucket is empty the answer is
    the service's own throttling error, whatever is presented."""
    from botocore import UNSIGNED

    srv = fresh_server(config=PER_ADDRESS)
    once = Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1})
    portal = boto3.client("sso", endpoint_url=srv.url, region_name="us-east-1", config=once)
    oidc = boto3.client("sso-oidc", endpoint_url=srv.url, region_name="us-east-1", config=once)

    def guess_token():
        portal.list_accounts(accessToken="a-guessed-token")

    for _ in range(3):
        assert error_of(guess_token)[:2] == ("UnauthorizedException", 401)
    assert error_of(guess_token) == ("TooManyRequestsException", 429, "Rate exceeded")

    client = oidc.register_client(clientName="guesser", clientType="public")

    def guess_device_code():
        oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"],
                          grantType="urn:ietf:params:oauth:grant-type:device_code",
                          deviceCode="a-guessed-device-code")

    # The address's bucket is shared with the portal's failures: still empty.
    with pytest.raises(ClientError) as excinfo:
        guess_device_code()
    assert excinfo.value.response["Error"]["Code"] == "SlowDownException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    # Signed API calls with valid credentials from the same address are not slowed.
    assert srv.client("sts").get_caller_identity()["Arn"].endswith(":user/admin")
    # Nor is a client with valid credentials registering (no bearer check fails there).
    assert oidc.register_client(clientName="honest", clientType="public")["clientId"]
