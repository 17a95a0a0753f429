"""Error and response envelopes on the wire (query protocol XML)."""

from __future__ import annotations

from helpers import IAM_NS, IAM_VERSION, STS_NS, STS_VERSION, signed_post, unique


def test_error_response_is_aws_xml_with_request_id(server):
    name = unique("ghost")
    resp = signed_post(server, server.admin, "iam",
                       {"Action": "GetUser", "Version": IAM_VERSION, "UserName": name})
    assert resp.status == 404, resp.body
    assert resp.body.lstrip().startswith(b"<") and b"<ErrorResponse" in resp.body
    err = resp.error()
    assert err["namespace"] == IAM_NS, resp.body
    assert err["Type"] == "Sender"
    assert err["Code"] == "NoSuchEntity"
    assert err["Message"] == f"The user with name {name} cannot be found."
    assert err["RequestId"], resp.body
    header_id = resp.headers.get("x-amzn-RequestId")
    assert header_id, dict(resp.headers)
    assert header_id == err["RequestId"]
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith(("text/xml", "application/xml")), ctype


def test_unknown_action_is_invalid_action(server):
    resp = signed_post(server, server.admin, "iam",
                       {"Action": "NoSuchThing", "Version": IAM_VERSION})
    assert resp.status == 400, resp.body
    err = resp.error()
    assert err["Code"] == "InvalidAction", err
    assert err["Type"] == "Sender", err
    assert err["namespace"] == IAM_NS, resp.body
    assert "NoSuchThing" in (err["Message"] or ""), err
    assert resp.headers.get("x-amzn-RequestId")


def test_request_ids_are_unique(server):
    ids = set()
    for _ in range(3):
        resp = signed_post(server, server.admin, "iam",
                           {"Action": "NoSuchThing", "Version": IAM_VERSION})
        ids.add(resp.headers.get("x-amzn-RequestId"))
    assert None not in ids and len(ids) == 3, ids


def test_successful_response_is_aws_xml_with_request_id(server):
    resp = signed_post(server, server.admin, "sts",
                       {"Action": "GetCallerIdentity", "Version": STS_VERSION})
    assert resp.status == 200, resp.body
    root = resp.xml()
    assert root.tag == f"{{{STS_NS}}}GetCallerIdentityResponse", root.tag
    req_id = root.find(f"{{{STS_NS}}}ResponseMetadata/{{{STS_NS}}}RequestId")
    assert req_id is not None and req_id.text
    assert resp.headers.get("x-amzn-RequestId") == req_id.text

    resp = signed_post(server, server.admin, "iam",
                       {"Action": "GetUser", "Version": IAM_VERSION})
    assert resp.status == 200, resp.body
    root = resp.xml()
    assert root.tag == f"{{{IAM_NS}}}GetUserResponse", root.tag
    user_name = root.find(f"{{{IAM_NS}}}GetUserResult/{{{IAM_NS}}}User/{{{IAM_NS}}}UserName")
    assert user_name is not None and user_name.text == "admin"


def test_missing_required_parameter_is_validation_error(server):
    resp = signed_post(server, server.admin, "iam",
                       {"Action": "CreateUser", "Version": IAM_VERSION})
    assert resp.status == 400, resp.body
    err = resp.error()
    assert err["Code"] == "ValidationError", err
    assert err["Type"] == "Sender"
