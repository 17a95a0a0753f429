"""Malformed input over HTTP: every bad request gets a 4xx in the protocol's error format
(or, for what never reaches latchkey's handler, hyper's bare 4xx), never a 5xx, and the server
keeps serving. Limits and their values: docs/design/input-limits.md.

Requests are written byte by byte on a socket (or through http.client), signed with botocore
where a signature is needed to get past authentication.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from helpers import (FORM_CT, IAM_NS, IAM_VERSION, STS_VERSION, RawResponse, allow,
                     credentials, policy_document, trust_policy, unique)

ORG_TARGET = "AWSOrganizationsV20161128.ListAccounts"
JSON_CT = "application/x-amz-json-1.1"

# The limited server: small enough that the tests reach every limit in a second or two.
LIMITS = """
[limits]
max_body_bytes = 4096
max_connections = 3
header_read_timeout_secs = 2
request_timeout_secs = 2
"""


@pytest.fixture(scope="module")
def limited(module_server_pool):
    return module_server_pool.new("limited", config=LIMITS)


# --------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------


def exchange(srv, data: bytes, *, half_close: bool = True, timeout: float = 10) -> RawResponse | None:
    """Writes ``data`` on a new connection and reads until the server closes it. Returns the
    response, or None when the connection closed without one."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before taking everything; read the answer
        return read_response(s)


def read_response(s: socket.socket) -> RawResponse | None:
    raw = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        raw += chunk
        head, sep, body = raw.partition(b"\r\n\r\n")
        if sep:
            headers = parse_headers(head)
            if len(body) >= int(headers.get("content-length", "-1")):
                break
    if not raw:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return RawResponse(status, parse_headers(head), body)


def parse_headers(head: bytes) -> dict:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}


def declared(length: int, headers: dict | None = None) -> bytes:
    """A request head announcing a body of ``length`` bytes, without the body. (A server that
    refuses a body unread and closes may make the kernel reset a client still sending it,
    which can cost the client the answer; these tests send only the head.)"""
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n"


def chunked(body: bytes, chunk_size: int) -> bytes:
    """A chunked request, which declares no length."""
    chunks = [body[i:i + chunk_size] for i in range(0, len(body), chunk_size)]
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n")


def post(body: bytes, headers: dict | None = None, target: str = "/") -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n" + body


def signed(srv, body: bytes, headers: dict | None = None, service: str = "iam") -> RawResponse:
    """A POST with exactly these body bytes and headers, SigV4-signed as the admin."""
    req = AWSRequest(method="POST", url=f"{srv.url}/", data=body, headers=headers or {})
    SigV4Auth(credentials(srv.admin), service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=15)
    try:
        conn.request("POST", "/", body=body, headers=dict(prepared.headers.items()))
        r = conn.getresponse()
        return RawResponse(r.status, r.headers, r.read())
    finally:
        conn.close()


def query_error(resp: RawResponse, status: int, code: str) -> dict:
    """Asserts an awsQuery (XML) error with this status and code; returns it."""
    assert resp is not None, "the connection closed without a response"
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("content-type", "").startswith("text/xml"), dict(resp.headers)
    err = resp.error()
    assert err["Code"] == code, err
    assert err["Type"] == "Sender", err
    assert err["namespace"] == IAM_NS, err
    assert err["RequestId"] and resp.headers.get("x-amzn-requestid") == err["RequestId"]
    return err


def json_error(resp: RawResponse, status: int, code: str) -> dict:
    """Asserts an awsJson error: `__type` in the body and in x-amzn-ErrorType."""
    assert resp is not None, "the connection closed without a response"
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("content-type") == JSON_CT, dict(resp.headers)
    assert resp.headers.get("x-amzn-errortype") == code, dict(resp.headers)
    body = json.loads(resp.body)
    assert body["__type"] == code, body
    assert body["Message"], body
    return body


def bare_status(resp: RawResponse | None) -> int:
    """hyper's own answers (before latchkey's handler runs) carry no body."""
    assert resp is not None, "the connection closed without a response"
    assert resp.body == b"", resp.body
    return resp.status


def still_serving(srv) -> None:
    assert srv.client("sts").get_caller_identity()["Account"] == srv.account_id


# --------------------------------------------------------------------------
# Bytes that are not a request, or not a readable one
# --------------------------------------------------------------------------


def test_random_bytes_get_400(server):
    rng = random.Random(7)
    for _ in range(20):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))
        # hyper refuses a request line it cannot parse before latchkey sees it.
        resp = exchange(server, garbage + b"\r\n\r\n")
        assert bare_status(resp) == 400
    # A request line that is nearly right is still no request.
    assert bare_status(exchange(server, b"POST /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")) == 400
    assert bare_status(exchange(server, b"GET / HTTP/9.9\r\nHost: x\r\n\r\n")) in (400, 505)
    still_serving(server)


def test_random_bodies_get_aws_errors(server):
    rng = random.Random(11)
    for _ in range(20):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 4096)))
        # Unsigned: refused by authentication, in the query protocol's XML.
        query_error(exchange(server, post(body, {"Content-Type": FORM_CT})), 403,
                    "MissingAuthenticationToken")
        # Signed: past authentication, the form is unreadable or names no action.
        resp = signed(server, body, {"Content-Type": FORM_CT})
        err = resp.error()
        assert (resp.status, err["Code"]) in ((404, "MalformedQueryString"),
                                               (400, "MissingAction"),
                                               (400, "ValidationError")), (resp.status, err)
    still_serving(server)


def test_invalid_utf8_in_the_form_is_malformed_query_string(server):
    for body in (b"Action=GetUser&Version=2010-05-08&UserName=%FF%FE",
                 b"Action=GetUser&Version=2010-05-08&UserName=\xc3\x28",
                 b"Action=Get\xffUser&Version=2010-05-08"):
        err = query_error(signed(server, body, {"Content-Type": FORM_CT}), 404,
                          "MalformedQueryString")
        assert "UTF-8" in err["Message"], err
    # U+FFFD itself, percent-encoded, is a character like any other: the request is read and
    # the user looked up.
    resp = signed(server, f"Action=GetUser&Version={IAM_VERSION}&UserName=%EF%BF%BD".encode(),
                  {"Content-Type": FORM_CT})
    query_error(resp, 404, "NoSuchEntity")
    still_serving(server)


def test_content_type_is_not_required_to_match(server):
    # The query protocol's body is read as a form whatever the Content-Type says, as botocore
    # always sends a form there; a wrong or missing one changes nothing.
    body = f"Action=GetCallerIdentity&Version={STS_VERSION}".encode()
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/json"}):
        resp = signed(server, body, headers, service="sts")
        assert resp.status == 200, (headers, resp.body)
        assert b"<GetCallerIdentityResponse" in resp.body
    # A JSON body without X-Amz-Target is a form without an Action.
    query_error(signed(server, b'{"Action": "GetUser"}', {"Content-Type": JSON_CT}), 400,
                "MissingAction")
    still_serving(server)


def test_repeated_parameters_are_refused(server):
    for body in (f"Action=GetUser&Action=ListUsers&Version={IAM_VERSION}",
                 f"Action=GetUser&Version={IAM_VERSION}&UserName=a&UserName=b"):
        err = query_error(signed(server, body.encode(), {"Content-Type": FORM_CT}), 400,
                          "ValidationError")
        assert "more than once" in err["Message"], err
    still_serving(server)


def test_bad_json_is_serialization_exception(server):
    headers = {"Content-Type": JSON_CT, "X-Amz-Target": ORG_TARGET}
    for body in (b"{nope", b"[]", b'"x"', b"\xff\xfe", b"{}{}", b"[" * 1000 + b"]" * 1000):
        json_error(signed(server, body, headers, service="organizations"), 400,
                   "SerializationException")
    # Unsigned, the same request is refused by authentication, in awsJson.
    json_error(exchange(server, post(b"{nope", headers)), 403, "MissingAuthenticationToken")
    resp = signed(server, b"{}", headers, service="organizations")
    assert resp.status == 200, resp.body
    assert "Accounts" in json.loads(resp.body)
    still_serving(server)


# --------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------


def test_body_over_the_default_limit_is_413(server):
    limit = 1024 * 1024
    # Declared: refused before a byte of the body is read.
    err = query_error(exchange(server, declared(limit + 1), half_close=False), 413,
                      "RequestEntityTooLarge")
    assert str(limit) in err["Message"], err
    # awsJson requests get the awsJson shape.
    json_error(exchange(server, declared(limit + 1, {"X-Amz-Target": ORG_TARGET}),
                        half_close=False), 413, "RequestEntityTooLarge")
    # Chunked declares no length: refused once the body read passes the limit.
    query_error(exchange(server, chunked(b"a" * (limit + 1), 65536)), 413,
                "RequestEntityTooLarge")
    # At the limit the body is read in full and goes on to authentication.
    query_error(exchange(server, post(b"a" * limit)), 403, "MissingAuthenticationToken")
    still_serving(server)


def test_the_largest_legitimate_documents_fit(server, make_role, account_id):
    # A role's inline policies may hold 10,240 characters; URL-encoded that is ~3x as many
    # bytes, well within the 1 MiB limit.
    name = make_role(trust_policy(account_id))["RoleName"]
    resources = []
    while len(json.dumps(policy_document(allow("iam:GetUser", resources)))) < 10_000:
        resources.append(f"arn:aws:iam::{account_id}:user/{unique('padding')}")
    document = json.dumps(policy_document(allow("iam:GetUser", resources)))
    iam = server.client("iam")
    iam.put_role_policy(RoleName=name, PolicyName="large", PolicyDocument=document)
    assert iam.get_role_policy(RoleName=name, PolicyName="large")["PolicyDocument"]


def test_oversized_headers_are_431(server):
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert bare_status(exchange(server, big)) == 431
    many = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n")
    assert bare_status(exchange(server, many)) == 431
    huge_line = b"GET /?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert bare_status(exchange(server, huge_line)) in (414, 431)
    still_serving(server)


def test_limited_server_body_limit(limited):
    query_error(exchange(limited, declared(4097), half_close=False), 413,
                "RequestEntityTooLarge")
    query_error(exchange(limited, chunked(b"a" * 4097, 1000)), 413, "RequestEntityTooLarge")
    query_error(exchange(limited, post(b"a" * 4096)), 403, "MissingAuthenticationToken")
    still_serving(limited)


# --------------------------------------------------------------------------
# Truncated and slow clients
# --------------------------------------------------------------------------


def test_truncated_body_is_incomplete_body(server):
    # Content-Length promises more than is sent, then the client stops sending.
    data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAction=GetUser"
    query_error(exchange(server, data), 400, "IncompleteBody")
    # A truncated chunked body likewise.
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nAction"
    query_error(exchange(server, data), 400, "IncompleteBody")
    # Invalid chunked framing.
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
    resp = exchange(server, data)
    assert resp is not None and resp.status == 400, resp
    # A client that closes altogether mid-body leaves nobody to answer; the server carries on.
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAct")
    still_serving(server)


def test_slowloris_headers_are_cut_off(limited):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(10):  # a header line now and then, never the end of the head
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.5)
        assert read_response(s) is None
    elapsed = time.monotonic() - start
    assert 1.5 < elapsed < 6, elapsed
    still_serving(limited)


def test_idle_connection_is_closed(limited):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as s:
        assert read_response(s) is None
    assert 1.5 < time.monotonic() - start < 6


def test_slow_body_gets_request_timeout(limited):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAction=")
        resp = read_response(s)
    query_error(resp, 400, "RequestTimeout")
    assert 1.5 < time.monotonic() - start < 6
    still_serving(limited)


def test_connections_over_the_limit_wait(limited):
    # Three idle connections take every slot; the fourth is accepted by the kernel but not
    # served until one of them goes.
    idle = [socket.create_connection(("127.0.0.1", limited.port)) for _ in range(3)]
    try:
        time.sleep(0.2)
        waiting = socket.create_connection(("127.0.0.1", limited.port), timeout=0.5)
        waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with pytest.raises(socket.timeout):
            waiting.recv(1024)
        idle.pop().close()
        waiting.settimeout(5)
        resp = read_response(waiting)
        waiting.close()
        assert resp is not None and resp.status == 200 and resp.body == b"ok", resp
    finally:
        for s in idle:
            s.close()
    still_serving(limited)


def test_sigterm_stops_a_server_with_open_connections(fresh_server):
    srv = fresh_server("sigterm", config=LIMITS.replace("header_read_timeout_secs = 2",
                                                        "header_read_timeout_secs = 60"))
    idle = socket.create_connection(("127.0.0.1", srv.port))
    keep_alive = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    keep_alive.request("GET", "/healthz")
    assert keep_alive.getresponse().read() == b"ok"
    try:
        start = time.monotonic()
        assert srv.stop(timeout=10) == 0
        # Idle connections do not hold up the shutdown (their timeout is a minute here).
        assert time.monotonic() - start < 5
    finally:
        idle.close()
        keep_alive.close()


def test_errors_are_never_5xx_under_a_mixed_barrage(server):
    rng = random.Random(3)
    requests = [
        post(b"Action=GetUser"),
        post(b"\x00" * 100, {"X-Amz-Target": ORG_TARGET}),
        post(b"Action=GetUser", {"Authorization": "AWS4-HMAC-SHA256 garbage"}),
        post(b"Action=GetUser", {"Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, "
                                                   "SignedHeaders=host, Signature=00"}),
        post(b"", {"X-Amz-Date": "not a date", "Authorization": "x"}),
        b"GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%FF HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /?Action=GetUser&Action=GetUser HTTP/1.1\r\nHost: x\r\n\r\n",
        b"DELETE / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    ]
    for data in requests * 3 + [bytes(rng.randrange(256) for _ in range(64)) for _ in range(10)]:
        resp = exchange(server, data)
        assert resp is not None, data
        assert 400 <= resp.status < 500, (data, resp.status, resp.body)
        if resp.body:
            # Whatever latchkey itself answers is an AWS error document.
            if resp.headers.get("content-type") == JSON_CT:
                assert "__type" in json.loads(resp.body)
            else:
                assert ET.fromstring(resp.body).tag == f"{{{IAM_NS}}}ErrorResponse"
    still_serving(server)
