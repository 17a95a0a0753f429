"""SigV4 authentication: clock skew, missing/malformed Authorization,
presigned URLs and their expiry."""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse

import botocore.auth
import pytest

from helpers import (
    FORM_CT,
    STS_NS,
    STS_VERSION,
    expect_error,
    http,
    presigned_url,
)

SKEW_CODES = {"RequestTimeTooSkewed", "RequestExpired"}


@pytest.mark.parametrize("minutes", [-20, 20], ids=["past", "future"])
def test_skewed_clock_is_rejected(server, make_user, monkeypatch, minutes):
    alice = make_user("skew")
    sts = alice.client("sts")
    skewed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + \
        dt.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    amz_date = skewed.strftime("%Y%m%dT%H%M%SZ")

    try:
        sts.get_caller_identity()
    except Exception as e:  # noqa: BLE001 - inspected below
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        msg = e.response["Error"]["Message"]
    else:
        raise AssertionError("a request signed 20 minutes off was accepted")
    assert code in SKEW_CODES, (code, msg)
    assert 400 <= status < 500, status
    # Like AWS ("Signature expired: 20240101T000000Z is now earlier than ..."),
    # the message names the request's time.
    assert amz_date in msg, msg

    monkeypatch.undo()
    assert sts.get_caller_identity()["Arn"] == alice.arn


def test_small_clock_skew_is_tolerated(make_user, monkeypatch):
    alice = make_user("skew")
    sts = alice.client("sts")
    skewed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - \
        dt.timedelta(minutes=3)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    assert sts.get_caller_identity()["Arn"] == alice.arn


def _body(params: dict) -> bytes:
    return urllib.parse.urlencode(params).encode()


GCI = {"Action": "GetCallerIdentity", "Version": STS_VERSION}


def test_request_without_authorization_is_missing_authentication_token(server):
    resp = http("POST", f"{server.url}/", _body(GCI), {"Content-Type": FORM_CT})
    assert resp.status == 403, resp.body
    err = resp.error()
    assert err["Code"] == "MissingAuthenticationToken", err
    assert err["Type"] == "Sender", err
    assert err["RequestId"], err
    assert resp.headers.get("x-amzn-RequestId"), dict(resp.headers)


@pytest.mark.parametrize("header", [
    "AWS4-HMAC-SHA256 garbage",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sts/aws4_request",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sts/aws4_request,"
    " SignedHeaders=host;x-amz-date",
], ids=["garbage", "credential-only", "no-signature"])
def test_malformed_authorization_is_incomplete_signature(server, header):
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    resp = http("POST", f"{server.url}/", _body(GCI), {
        "Content-Type": FORM_CT, "X-Amz-Date": now, "Authorization": header})
    assert resp.status == 400, resp.body
    err = resp.error()
    assert err["Code"] == "IncompleteSignature", err
    assert err["Type"] == "Sender", err


def test_presigned_url_authenticates_a_get(server, make_user):
    alice = make_user("presign")
    url = presigned_url(server, alice.key, "Action=GetCallerIdentity&Version=2011-06-15",
                        expires=60)
    assert "X-Amz-Signature=" in url
    resp = http("GET", url)
    assert resp.status == 200, resp.body
    root = resp.xml()
    assert root.tag == f"{{{STS_NS}}}GetCallerIdentityResponse", root.tag
    arn = root.find(f"{{{STS_NS}}}GetCallerIdentityResult/{{{STS_NS}}}Arn")
    assert arn is not None and arn.text == alice.arn, resp.body
    req_id = root.find(f"{{{STS_NS}}}ResponseMetadata/{{{STS_NS}}}RequestId")
    assert req_id is not None and req_id.text, resp.body


def test_presigned_url_with_a_tampered_query_is_signature_does_not_match(server, make_user):
    alice = make_user("presign")
    url = presigned_url(server, alice.key, "Action=GetCallerIdentity&Version=2011-06-15",
                        expires=60)
    resp = http("GET", url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"))
    assert resp.status == 403, resp.body
    assert resp.error()["Code"] == "SignatureDoesNotMatch"


def test_expired_presigned_url_is_request_expired(server, make_user):
    alice = make_user("presign")
    url = presigned_url(server, alice.key, "Action=GetCallerIdentity&Version=2011-06-15",
                        expires=1)
    time.sleep(2)  # the behaviour under test is time-based
    resp = http("GET", url)
    assert resp.status == 400, resp.body
    err = resp.error()
    assert err["Code"] == "RequestExpired", err
    assert err["Type"] == "Sender", err


def test_presigned_url_of_deactivated_key_is_invalid_client_token_id(server, iam, make_user):
    alice = make_user("presign")
    url = presigned_url(server, alice.key, "Action=GetCallerIdentity&Version=2011-06-15",
                        expires=60)
    iam.update_access_key(UserName=alice.name, AccessKeyId=alice.key["AccessKeyId"],
                          Status="Inactive")
    resp = http("GET", url)
    assert resp.status == 403, resp.body
    assert resp.error()["Code"] == "InvalidClientTokenId"


def test_wrong_secret_in_boto3_is_signature_does_not_match(server, make_user):
    alice = make_user("sig")
    bad = {"AccessKeyId": alice.key["AccessKeyId"], "SecretAccessKey": "A" * 40}
    expect_error(server.client("iam", bad).list_access_keys, "SignatureDoesNotMatch", 403)
