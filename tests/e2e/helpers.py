"""Plain helpers shared by the end-to-end tests (no fixtures here).

Everything talks to a real ``latchkey serve`` process over HTTP, either with
boto3 clients or with hand-signed requests sent through urllib.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.session
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"

ACCESS_KEY_ID_RE = re.compile(r"^AKIA[A-Z2-7]{16}$")
USER_ID_RE = re.compile(r"^AIDA[A-Z2-7]{17}$")  # 21 characters in all
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")

HEALTH_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 15.0

# One botocore session for every client: loading the service models is the
# slow part of creating a client, and the session caches them.
_BOTOCORE_SESSION = botocore.session.get_session()


def latchkey_bin() -> Path:
    return Path(os.environ.get("LATCHKEY_BIN", REPO_ROOT / "target/debug/latchkey"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------


def run_latchkey(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    binary = latchkey_bin()
    if not binary.exists():
        raise AssertionError(
            f"latchkey binary not found at {binary}; build it with "
            "`cargo build -p latchkey-server` or set LATCHKEY_BIN"
        )
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def init_data_dir(data_dir: Path) -> dict:
    """Run ``latchkey init --data DIR --json`` and return its JSON object."""
    res = run_latchkey("init", "--data", str(data_dir), "--json")
    assert res.returncode == 0, (
        f"latchkey init failed ({res.returncode}):\nstdout:\n{res.stdout}\n"
        f"stderr:\n{res.stderr}"
    )
    try:
        creds = json.loads(res.stdout)
    except json.JSONDecodeError as e:  # pragma: no cover - diagnostic only
        raise AssertionError(f"init --json did not print JSON: {res.stdout!r}") from e
    assert isinstance(creds, dict), creds
    return creds


@dataclass
class Server:
    """A running ``latchkey serve`` with its log captured to a file."""

    data_dir: Path
    log_path: Path
    admin: dict | None = None
    config: Path | None = None  # passed as --config (e.g. small [limits] for a test)
    port: int = 0
    proc: subprocess.Popen | None = None
    stopped: bool = False  # set once a test or the fixture stopped it on purpose
    # Extra environment for `latchkey serve` (e.g. LATCHKEY_ENCODED_DENIALS), and a command
    # it runs under (e.g. ["faketime", "+16m"]); both apply from the next start.
    env: dict = field(default_factory=dict)
    wrapper: list = field(default_factory=list)
    # The CA that signed the server's certificate, when its configuration serves TLS: then
    # its URL is https://localhost:<port> and its clients verify against this file.
    ca_file: Path | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self.ca_file is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    @property
    def account_id(self) -> str:
        assert self.admin is not None
        return self.admin["AccountId"]

    def start(self) -> "Server":
        binary = latchkey_bin()
        if not binary.exists():
            raise AssertionError(
                f"latchkey binary not found at {binary}; build it with "
                "`cargo build -p latchkey-server` or set LATCHKEY_BIN"
            )
        self.port = free_port()
        self.stopped = False
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                *self.wrapper,
                str(binary),
                "serve",
                "--data",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{self.port}",
                *(["--config", str(self.config)] if self.config else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            # A process group of its own: a wrapper (faketime) forks the server rather than
            # becoming it, and stopping the wrapper alone would leave the server running.
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last_err = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise AssertionError(
                    f"latchkey serve exited with {code} before becoming healthy; "
                    f"log:\n{self.log()}"
                )
            try:
                context = (ssl.create_default_context(cafile=str(self.ca_file))
                           if self.ca_file is not None else None)
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2,
                                            context=context) as r:
                    if r.status == 200:
                        return
                    last_err = f"status {r.status}"
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                last_err = e
            time.sleep(0.05)
        self.kill()
        raise AssertionError(
            f"latchkey serve not healthy after {HEALTH_TIMEOUT_S}s ({last_err}); "
            f"log:\n{self.log()}"
        )

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM and wait. Returns the exit code."""
        assert self.proc is not None
        self.stopped = True
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self._close_log()
                raise AssertionError(
                    f"latchkey serve ignored SIGTERM for {timeout}s; log:\n{self.log()}"
                )
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL and wait (no chance to flush or clean up)."""
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._close_log()

    # -- clients ------------------------------------------------------------

    def client(self, service: str, creds: dict | None = None, region: str = "us-east-1",
               **config_kwargs):
        """A boto3 client for this server. ``creds`` is a dict with
        AccessKeyId/SecretAccessKey (defaults to the admin's)."""
        creds = creds or self.admin
        assert creds is not None
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=HTTP_TIMEOUT_S,
            **config_kwargs,
        )
        session = boto3.session.Session(botocore_session=_BOTOCORE_SESSION)
        return session.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            # Temporary credentials (AssumeRole, GetSessionToken) carry a token.
            aws_session_token=creds.get("SessionToken"),
            config=config,
            verify=str(self.ca_file) if self.ca_file is not None else None,
        )


# --------------------------------------------------------------------------
# Assertions on errors
# --------------------------------------------------------------------------


def client_error(excinfo) -> tuple[str, int, str]:
    """(code, http status, message) of a pytest.raises(ClientError) result."""
    err = excinfo.value
    assert isinstance(err, ClientError), err
    return (
        err.response["Error"]["Code"],
        err.response["ResponseMetadata"]["HTTPStatusCode"],
        err.response["Error"].get("Message", ""),
    )


def expect_error(fn, code: str, status: int, message: str | None = None, **kwargs):
    """Call fn(**kwargs), assert it fails with exactly this AWS error."""
    try:
        fn(**kwargs)
    except ClientError as e:
        got = (
            e.response["Error"]["Code"],
            e.response["ResponseMetadata"]["HTTPStatusCode"],
        )
        assert got == (code, status), (
            f"expected {code} {status}, got {got}: {e.response['Error']}"
        )
        if message is not None:
            assert e.response["Error"]["Message"] == message, e.response["Error"]
        return e
    raise AssertionError(f"expected {code} {status}, but the call succeeded")


# --------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: object  # email.message.Message (case-insensitive get)
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def error(self) -> dict:
        """Parse an AWS query-protocol <ErrorResponse>."""
        root = self.xml()
        assert root.tag.endswith("}ErrorResponse") or root.tag == "ErrorResponse", (
            f"not an ErrorResponse: {self.body!r}"
        )
        ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
        q = (lambda t: f"{{{ns}}}{t}") if ns else (lambda t: t)
        err = root.find(q("Error"))
        assert err is not None, self.body

        def text(parent, tag):
            el = parent.find(q(tag))
            return None if el is None else (el.text or "")

        return {
            "namespace": ns,
            "Type": text(err, "Type"),
            "Code": text(err, "Code"),
            "Message": text(err, "Message"),
            "RequestId": text(root, "RequestId"),
        }


def http(method: str, url: str, body: bytes | None = None,
         headers: dict | None = None) -> RawResponse:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as r:
            return RawResponse(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return RawResponse(e.code, e.headers, e.read())


def credentials(creds: dict) -> Credentials:
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"])


FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"


def signed_post(server: Server, creds: dict, service: str, params: dict,
                region: str = "us-east-1") -> RawResponse:
    """A query-protocol POST signed with SigV4 (body form-encoded)."""
    body = urllib.parse.urlencode(params)
    req = AWSRequest(method="POST", url=f"{server.url}/", data=body,
                     headers={"Content-Type": FORM_CT})
    SigV4Auth(credentials(creds), service, region).add_auth(req)
    prepared = req.prepare()
    data = prepared.body
    if isinstance(data, str):
        data = data.encode()
    return http("POST", prepared.url, data, dict(prepared.headers.items()))


def presigned_url(server: Server, creds: dict, query: str, expires: int,
                  service: str = "sts", region: str = "us-east-1") -> str:
    req = AWSRequest(method="GET", url=f"{server.url}/?{query}")
    SigV4QueryAuth(credentials(creds), service, region, expires=expires).add_auth(req)
    return req.prepare().url


# --------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------


@dataclass
class User:
    name: str
    user: dict  # the CreateUser "User" structure
    key: dict | None  # the CreateAccessKey "AccessKey" structure, if any
    server: Server

    @property
    def arn(self) -> str:
        return self.user["Arn"]

    def client(self, service: str, region: str = "us-east-1", key: dict | None = None):
        key = key or self.key
        assert key is not None, f"user {self.name} has no access key"
        return self.server.client(service, key, region=region)


def create_user(srv: Server, prefix: str = "user", path: str | None = None,
                with_key: bool = True, tags: list | None = None,
                policies: list[str] | tuple[str, ...] = (),
                inline: dict[str, dict] | None = None,
                groups: list[str] | tuple[str, ...] = (),
                boundary: str | None = None,
                self_service: bool = False) -> User:
    """Create a uniquely named user as the admin.

    ``policies``: managed policy ARNs to attach; ``inline``: name -> document of
    inline user policies; ``groups``: group names to join; ``boundary``: ARN of
    the permissions boundary; ``self_service``: attach the AWS-documented policy
    that lets a user manage its own access keys (``self_service_keys_policy``).
    Without any of these the user may do nothing but sts:GetCallerIdentity.
    """
    iam = srv.client("iam")
    name = unique(prefix)
    kwargs = {"UserName": name}
    if path is not None:
        kwargs["Path"] = path
    if tags is not None:
        kwargs["Tags"] = tags
    if boundary is not None:
        kwargs["PermissionsBoundary"] = boundary
    user = iam.create_user(**kwargs)["User"]
    arns = list(policies)
    if self_service:
        arns.append(self_service_keys_policy(srv))
    for arn in arns:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for policy_name, document in (inline or {}).items():
        iam.put_user_policy(UserName=name, PolicyName=policy_name,
                            PolicyDocument=json.dumps(document))
    for group in groups:
        iam.add_user_to_group(GroupName=group, UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"] if with_key else None
    return User(name=name, user=user, key=key, server=srv)


# --------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------

POLICY_VERSION = "2012-10-17"


def aws_policy(name: str) -> str:
    """The ARN of an AWS managed policy, e.g. ``aws_policy("ReadOnlyAccess")``."""
    return f"arn:aws:iam::aws:policy/{name}"


ADMINISTRATOR_ACCESS = aws_policy("AdministratorAccess")
IAM_READ_ONLY_ACCESS = aws_policy("IAMReadOnlyAccess")
IAM_FULL_ACCESS = aws_policy("IAMFullAccess")


def policy_document(*statements: dict) -> dict:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def allow(actions, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def deny(actions, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": actions, "Resource": resource, **extra}


# "IAM: Allows IAM users to manage their own access keys" (the AWS example
# policy for rotating one's own credentials): each user reaches only the user
# whose name is its own, through the ${aws:username} policy variable.
SELF_SERVICE_KEYS_DOCUMENT = policy_document({
    "Sid": "ManageOwnAccessKeys",
    "Effect": "Allow",
    "Action": [
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
        "iam:GetAccessKeyLastUsed",
        "iam:GetUser",
    ],
    "Resource": "arn:aws:iam::*:user/${aws:username}",
})

_SELF_SERVICE_ARNS: dict[str, str] = {}


def create_policy(srv_or_iam, document: dict | str, prefix: str = "pol",
                  **kwargs) -> dict:
    """CreatePolicy with a unique name (as the admin); returns the "Policy"."""
    iam = srv_or_iam.client("iam") if isinstance(srv_or_iam, Server) else srv_or_iam
    if not isinstance(document, str):
        document = json.dumps(document)
    return iam.create_policy(PolicyName=unique(prefix), PolicyDocument=document,
                             **kwargs)["Policy"]


def self_service_keys_policy(srv: Server) -> str:
    """The ARN of a customer managed policy holding ``SELF_SERVICE_KEYS_DOCUMENT``,
    created once per server."""
    arn = _SELF_SERVICE_ARNS.get(srv.url)
    if arn is None:
        arn = create_policy(srv, SELF_SERVICE_KEYS_DOCUMENT, "ManageOwnAccessKeys",
                            Description="Allows IAM users to manage their own access keys")["Arn"]
        _SELF_SERVICE_ARNS[srv.url] = arn
    return arn


def create_group(srv: Server, prefix: str = "grp", policies=(), inline=None,
                 path: str | None = None) -> dict:
    """CreateGroup with a unique name (as the admin), with policies attached
    and inline policies put; returns the "Group"."""
    iam = srv.client("iam")
    kwargs = {"GroupName": unique(prefix)}
    if path is not None:
        kwargs["Path"] = path
    group = iam.create_group(**kwargs)["Group"]
    for arn in policies:
        iam.attach_group_policy(GroupName=group["GroupName"], PolicyArn=arn)
    for policy_name, document in (inline or {}).items():
        iam.put_group_policy(GroupName=group["GroupName"], PolicyName=policy_name,
                             PolicyDocument=json.dumps(document))
    return group


def denial(caller_arn: str, action: str, resource: str, why: str = "identity") -> str:
    """AWS's AccessDenied message. ``why``: "identity" (no identity-based
    policy allows), "boundary" (no permissions boundary allows), "session" (no
    session policy allows) or "deny" (an explicit deny in an identity-based
    policy)."""
    head = (f"User: {caller_arn} is not authorized to perform: {action} "
            f"on resource: {resource}")
    if why == "identity":
        return f"{head} because no identity-based policy allows the {action} action"
    if why == "boundary":
        return f"{head} because no permissions boundary allows the {action} action"
    if why == "session":
        return f"{head} because no session policy allows the {action} action"
    if why == "deny":
        return f"{head} with an explicit deny in an identity-based policy"
    raise ValueError(why)


def expect_denied(fn, caller_arn: str, action: str, resource: str,
                  why: str = "identity", **kwargs):
    """Call fn(**kwargs) and assert AccessDenied 403 with AWS's exact message."""
    return expect_error(fn, "AccessDenied", 403,
                        denial(caller_arn, action, resource, why), **kwargs)


# --------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------

ROLE_ID_RE = re.compile(r"^AROA[A-Z2-7]{17}$")  # 21 characters, like user ids
TEMP_ACCESS_KEY_ID_RE = re.compile(r"^ASIA[A-Z2-7]{16}$")


def role_arn(account_id: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account_id}:role{path}{name}"


def trust_policy(*principals: str, actions="sts:AssumeRole", condition: dict | None = None,
                 effect: str = "Allow") -> dict:
    """A role trust policy letting the AWS principals (ARNs or account ids)
    perform ``actions``, under ``condition`` if given."""
    statement = {
        "Effect": effect,
        "Principal": {"AWS": principals[0] if len(principals) == 1 else list(principals)},
        "Action": actions,
    }
    if condition is not None:
        statement["Condition"] = condition
    return policy_document(statement)


def create_role(srv_or_iam, trust: dict | str, prefix: str = "role", policies=(),
                inline: dict[str, dict] | None = None, **kwargs) -> dict:
    """CreateRole with a unique name (as the admin unless given a client),
    with managed policies attached and inline policies put; returns the "Role"."""
    iam = srv_or_iam.client("iam") if isinstance(srv_or_iam, Server) else srv_or_iam
    if not isinstance(trust, str):
        trust = json.dumps(trust)
    role = iam.create_role(RoleName=unique(prefix), AssumeRolePolicyDocument=trust,
                           **kwargs)["Role"]
    for arn in policies:
        iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    for policy_name, document in (inline or {}).items():
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName=policy_name,
                            PolicyDocument=json.dumps(document))
    return role


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"


# --------------------------------------------------------------------------
# The AWS CLI v1
# --------------------------------------------------------------------------

# The CLI installed beside the interpreter running the tests (.venv/bin/aws).
AWS_CLI = Path(sys.executable).parent / "aws"


def run_aws_cli(server: Server, home: Path, *args: str, creds: dict | None = None,
                region: str = "us-east-1", wrapper=()) -> subprocess.CompletedProcess:
    """``aws ARGS --output json`` against ``server`` with explicit credentials,
    no config files and no retries; under ``wrapper`` (e.g. faketime) if given."""
    creds = creds or server.admin
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": str(home / "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-such-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if creds.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = creds["SessionToken"]
    return subprocess.run([*wrapper, str(AWS_CLI), *args, "--output", "json"], env=env,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def cli_ok(res: subprocess.CompletedProcess) -> dict:
    assert res.returncode == 0, f"rc={res.returncode}\nstderr:\n{res.stderr}"
    return json.loads(res.stdout) if res.stdout.strip() else {}
