"""HTTPS on the same listener (docs/design/tls.md): a certificate made here by a CA made
here; boto3 and both AWS CLIs verify it; aws:SecureTransport says which transport a
request came over; the HTML pages carry Strict-Transport-Security over TLS."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import (REPO_ROOT, allow, cli_ok, client_error, create_user, http,
                     policy_document, run_aws_cli)

AWS_CLI_V2 = Path(os.environ.get("AWS_CLI_V2", REPO_ROOT / ".tools/awscli-v2/aws"))


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """ca.pem, and cert.pem + key.pem for localhost and 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=latchkey test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "server.ext",
            cwd=d)
    return d


def tls_config(pki: Path, extra: str = "") -> str:
    return f'tls_cert = "{pki / "cert.pem"}"\ntls_key = "{pki / "key.pem"}"\n{extra}'


@pytest.fixture(scope="module")
def tls_server(module_server_pool, pki):
    return module_server_pool.new("tls", config=tls_config(pki), ca_file=pki / "ca.pem")


def context(pki: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def test_boto3_verifies_the_certificate_and_signs_for_host_and_port(tls_server):
    assert tls_server.url.startswith("https://localhost:")
    identity = tls_server.client("sts").get_caller_identity()
    assert identity["Arn"].endswith(":user/admin")
    assert "Users" in tls_server.client("iam").list_users()
    assert tls_server.client("organizations").describe_organization()["Organization"]["Id"]


def test_a_client_without_the_ca_refuses_the_server(tls_server):
    with pytest.raises(urllib.error.URLError) as excinfo:
        urllib.request.urlopen(f"{tls_server.url}/healthz", timeout=5)
    assert isinstance(excinfo.value.reason, ssl.SSLCertVerificationError)


def test_presigned_urls_verify_over_tls(tls_server, pki):
    admin = tls_server.admin
    request = AWSRequest(method="GET",
                         url=f"{tls_server.url}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(Credentials(admin["AccessKeyId"], admin["SecretAccessKey"]), "sts",
                   "us-east-1", expires=60).add_auth(request)
    with urllib.request.urlopen(request.prepare().url, context=context(pki)) as response:
        assert response.status == 200
        assert b"<Arn>" in response.read()


def test_aws_cli_v1_with_ca_bundle(tls_server, pki, tmp_path):
    result = cli_ok(run_aws_cli(tls_server, tmp_path, "sts", "get-caller-identity",
                                "--ca-bundle", str(pki / "ca.pem")))
    assert result["Arn"].endswith(":user/admin")
    # Without the bundle the CLI refuses the certificate.
    refused = run_aws_cli(tls_server, tmp_path, "sts", "get-caller-identity")
    assert refused.returncode != 0
    assert "SSL" in refused.stderr or "certificate" in refused.stderr


def test_aws_cli_v2_with_ca_bundle(tls_server, pki, tmp_path):
    if not AWS_CLI_V2.exists():
        pytest.fail(f"AWS CLI v2 not found at {AWS_CLI_V2}; scripts/test installs it")
    admin = tls_server.admin
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": tls_server.url,
        "AWS_ACCESS_KEY_ID": admin["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": admin["SecretAccessKey"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-such-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [str(AWS_CLI_V2), "iam", "list-users", "--ca-bundle", str(pki / "ca.pem"),
         "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert any(u["UserName"] == "admin" for u in json.loads(result.stdout)["Users"])


SECURE_ONLY = policy_document(
    allow("iam:ListUsers", Condition={"Bool": {"aws:SecureTransport": "true"}}))


def test_secure_transport_condition_allows_over_tls(tls_server):
    user = create_user(tls_server, "tls", inline={"secure-only": SECURE_ONLY})
    assert "Users" in user.client("iam").list_users()


def test_secure_transport_condition_denies_over_plain_http(fresh_server):
    plain = fresh_server()
    user = create_user(plain, "plain", inline={"secure-only": SECURE_ONLY})
    with pytest.raises(ClientError) as excinfo:
        user.client("iam").list_users()
    assert client_error(excinfo)[:2] == ("AccessDenied", 403)


def test_html_pages_carry_hsts_over_tls_only(tls_server, pki, fresh_server):
    with urllib.request.urlopen(f"{tls_server.url}/device", context=context(pki)) as page:
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    # The API's answers are not pages.
    with urllib.request.urlopen(f"{tls_server.url}/healthz", context=context(pki)) as ok:
        assert ok.headers["Strict-Transport-Security"] is None
    plain = fresh_server()
    page = http("GET", f"{plain.url}/device")
    assert page.status == 200
    assert page.headers.get("Strict-Transport-Security") is None


def test_plain_http_and_silence_on_the_tls_port_are_cut_off(module_server_pool, pki):
    srv = module_server_pool.new(
        "tls-limits", config=tls_config(pki, "[limits]\nheader_read_timeout_secs = 1\n"),
        ca_file=pki / "ca.pem")
    # Plain HTTP to the TLS port: the handshake fails and the connection is closed.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as plain:
        plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert not plain.recv(4096).startswith(b"HTTP/1.1 200")
    # A client that opens a connection and never starts the handshake is dropped after
    # the header-read timeout.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as silent:
        assert silent.recv(1) == b""
    assert 0.5 < time.monotonic() - started < 5
    # The server still serves.
    assert srv.client("sts").get_caller_identity()["Account"] == srv.account_id


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path, pki):
    from helpers import latchkey_bin

    result = subprocess.run(
        [str(latchkey_bin()), "serve", "--data", str(tmp_path / "data"),
         "--tls-cert", str(pki / "cert.pem"), "--tls-key", str(pki / "ca.key"),
         "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "certificate and private key do not go together" in result.stderr
