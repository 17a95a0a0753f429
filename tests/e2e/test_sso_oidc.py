"""SSO OIDC: client registration, the device authorization grant with its verification page,
refresh tokens, the OAuth errors; and `aws sso login --use-device-code` with the unmodified
AWS CLI v2, approved by a test that follows the verification page as a person would.

The invited person sets a password through the invitation link (the outbox, no relay).
"""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import REPO_ROOT, unique

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PASSWORD = "correct horse battery staple"
# Where scripts/test unpacks the AWS CLI v2 (npm @aws-cdk/asset-awscli-v2); AWS_CLI_V2 overrides.
AWS_CLI_V2 = Path(os.environ.get("AWS_CLI_V2", REPO_ROOT / ".tools/awscli-v2/aws"))


USER_CODE = r"\b([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\b"


class CliLogin:
    """`aws sso login` (AWS CLI v2) running against the server with its own HOME, holding an
    `sso-session` profile; its output is collected as it comes."""

    def __init__(self, server, home: Path, start_url: str, *args: str,
                 account: str = "111122223333", role: str = "ReadOnly", profile: str = "lk"):
        if not AWS_CLI_V2.exists():
            pytest.fail(f"AWS CLI v2 not found at {AWS_CLI_V2}; scripts/test installs it")
        (home / ".aws").mkdir(parents=True)
        (home / ".aws" / "config").write_text(
            f"[profile {profile}]\nsso_session = lk\nsso_account_id = {account}\n"
            f"sso_role_name = {role}\nregion = us-east-1\n\n"
            f"[sso-session lk]\nsso_start_url = {start_url}\nsso_region = us-east-1\n"
            "sso_registration_scopes = sso:account:access\n")
        self.home, self.profile = home, profile
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_ENDPOINT_URL": server.url,
                    "AWS_PAGER": "", "AWS_EC2_METADATA_DISABLED": "true"}
        self.proc = subprocess.Popen(
            [str(AWS_CLI_V2), "sso", "login", "--profile", profile, "--no-browser", *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout),
                                       daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        """The first group of `pattern` once the CLI has printed it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"the CLI did not print {pattern!r}:\n{self.output}")

    def finish(self) -> None:
        assert self.proc.wait(timeout=60) == 0, self.output
        self.reader.join(timeout=5)

    def cached_tokens(self) -> list[str]:
        return [p.read_text() for p in (self.home / ".aws" / "sso" / "cache").glob("*.json")]


def fetch(url: str, form: dict | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def server(module_server_pool):
    # Password-only sign-in (MFA optional, nobody enrolled); tests/e2e/test_sso_mfa.py covers MFA.
    return module_server_pool.new("oidc", env={"LATCHKEY_IDENTITY_CENTER_MFA": "optional"})


def invite(server) -> dict:
    """An identity-store person who accepted their invitation: {UserName, UserId}."""
    ids = server.client("identitystore")
    store = ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]
    name = unique("sso")
    user_id = ids.create_user(IdentityStoreId=store, UserName=name, DisplayName="Sam Sso",
                              Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"]
    outbox = server.data_dir / "outbox"
    deadline = time.monotonic() + 10
    link = None
    while link is None and time.monotonic() < deadline:
        for path in outbox.glob(f"*{name}*.eml"):
            body = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            link = re.search(r"(http://\S+/invitation\?token=\S+)", body.get_content()).group(1)
        time.sleep(0.05)
    assert link, "no invitation in the outbox"
    page = fetch(link)[1]
    token = html.unescape(re.search(r'name="token" value="([^"]+)"', page).group(1))
    status, page = fetch(server.url + "/invitation",
                         {"token": token, "password": PASSWORD, "confirm": PASSWORD})
    assert status == 200, page
    return {"UserName": name, "UserId": user_id, "StoreId": store}


@pytest.fixture(scope="module")
def person(server):
    return invite(server)


def oidc(server):
    return boto3.client("sso-oidc", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED,
                                      retries={"total_max_attempts": 1}))


def approve(server, user_code: str, user_name: str, password: str, decision: str = "allow"):
    """What a person does on the verification page: sign in, then Allow (or Deny)."""
    status, page = fetch(f"{server.url}/device?user_code={user_code}")
    assert status == 200 and '<label for="username">Username</label>' in page
    assert '<label for="password">Password</label>' in page and ">Sign in</button>" in page
    status, page = fetch(server.url + "/device",
                         {"user_code": user_code, "username": user_name, "password": password})
    assert status == 200, page
    assert ">Allow</button>" in page and ">Deny</button>" in page and user_code.upper() in page
    ticket = html.unescape(re.search(r'name="ticket" value="([^"]+)"', page).group(1))
    status, page = fetch(server.url + "/device/decision",
                         {"ticket": ticket, "decision": decision})
    assert status == 200, page
    return page


def test_device_grant_with_boto3(server, person):
    client = oidc(server)
    registered = client.register_client(clientName="test-client", clientType="public",
                                        grantTypes=[DEVICE_GRANT, "refresh_token"])
    assert registered["clientSecretExpiresAt"] > registered["clientIdIssuedAt"]
    ids = {"clientId": registered["clientId"], "clientSecret": registered["clientSecret"]}
    started = client.start_device_authorization(
        **ids, startUrl="https://d-0123456789.awsapps.com/start")
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}",
                        started["userCode"])
    assert started["verificationUri"] == server.url + "/device"
    assert started["verificationUriComplete"].endswith("?user_code=" + started["userCode"])
    assert started["expiresIn"] == 600 and started["interval"] == 1

    def token(**extra):
        return client.create_token(**ids, grantType=DEVICE_GRANT,
                                   deviceCode=started["deviceCode"], **extra)

    with pytest.raises(ClientError) as pending:
        token()
    assert pending.value.response["Error"]["Code"] == "AuthorizationPendingException"
    assert pending.value.response["error"] == "authorization_pending"
    with pytest.raises(ClientError) as fast:
        token()
    assert fast.value.response["Error"]["Code"] == "SlowDownException"

    # A wrong password does not get to the approval.
    status, page = fetch(server.url + "/device", {"user_code": started["userCode"],
                                                  "username": person["UserName"],
                                                  "password": "wrong password"})
    assert status == 401 and "not correct" in page
    assert "Request approved" in approve(server, started["userCode"].lower(),
                                         person["UserName"], PASSWORD)
    time.sleep(1.1)
    tokens = token()
    assert tokens["tokenType"] == "Bearer" and tokens["accessToken"].startswith("aoa")
    assert tokens["expiresIn"] == 8 * 3600 and tokens["refreshToken"].startswith("aor")
    # The device code works once.
    with pytest.raises(ClientError) as again:
        token()
    assert again.value.response["Error"]["Code"] == "InvalidGrantException"

    refreshed = client.create_token(**ids, grantType="refresh_token",
                                    refreshToken=tokens["refreshToken"])
    assert refreshed["accessToken"].startswith("aoa")
    with pytest.raises(ClientError) as bad:
        client.create_token(**ids, grantType="refresh_token", refreshToken="aorforged")
    assert bad.value.response["Error"]["Code"] == "InvalidGrantException"


def test_denied_and_wrong_client(server, person):
    client = oidc(server)
    registered = client.register_client(clientName="denied-client", clientType="public")
    ids = {"clientId": registered["clientId"], "clientSecret": registered["clientSecret"]}
    started = client.start_device_authorization(**ids, startUrl="https://x.awsapps.com/start")
    assert "Request denied" in approve(server, started["userCode"], person["UserName"],
                                       PASSWORD, decision="deny")
    with pytest.raises(ClientError) as denied:
        client.create_token(**ids, grantType=DEVICE_GRANT, deviceCode=started["deviceCode"])
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    other = client.register_client(clientName="other", clientType="public")
    for secret in (other["clientSecret"], "forged"):
        with pytest.raises(ClientError) as wrong:
            client.start_device_authorization(clientId=registered["clientId"],
                                              clientSecret=secret, startUrl="https://x/start")
        assert wrong.value.response["Error"]["Code"] == "InvalidClientException"
        assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    with pytest.raises(ClientError) as unsupported:
        client.create_token(**ids, grantType="password")
    assert unsupported.value.response["Error"]["Code"] == "UnsupportedGrantTypeException"
    # A used or unknown user code leads nowhere.
    status, page = fetch(server.url + "/device", {"user_code": started["userCode"],
                                                  "username": person["UserName"],
                                                  "password": PASSWORD})
    assert status == 400 and "not valid" in page


def test_aws_cli_v2_sso_login_with_the_device_code(server, person, tmp_path):
    start_url = f"https://{person['StoreId']}.awsapps.com/start"
    login = CliLogin(server, tmp_path / "home", start_url, "--use-device-code")
    code = login.wait_for(USER_CODE)
    assert f"{server.url}/device" in login.output
    approve(server, code, person["UserName"], PASSWORD)
    login.finish()
    assert f"Successfully logged into Start URL: {start_url}" in login.output
    tokens = login.cached_tokens()
    assert any('"accessToken": "aoa' in t for t in tokens), tokens
    assert any('"refreshToken": "aor' in t for t in tokens), tokens


def follow_authorization(server, url: str, user_name: str, password: str,
                         decision: str = "allow") -> str:
    """What a person does in the browser the CLI would open: sign in, Allow (or Deny).
    Returns where the browser is sent back to (the CLI's loopback listener)."""
    status, page = fetch(url)
    assert status == 200, page
    assert '<label for="username">Username</label>' in page and ">Sign in</button>" in page
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))
    status, page = fetch(server.url + "/authorize",
                         {"request": request, "username": user_name, "password": password})
    assert status == 200, page
    ticket = html.unescape(re.search(r'name="ticket" value="([^"]+)"', page).group(1))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    data = urllib.parse.urlencode({"ticket": ticket, "decision": decision}).encode()
    with pytest.raises(urllib.error.HTTPError) as found:
        opener.open(server.url + "/authorize/decision", data=data, timeout=10)
    assert found.value.code == 302
    return found.value.headers["Location"]


def test_aws_cli_v2_sso_login_in_the_browser_with_pkce(server, person, tmp_path):
    start_url = f"https://{person['StoreId']}.awsapps.com/start"
    login = CliLogin(server, tmp_path / "home", start_url)
    url = login.wait_for(r"(http://\S+/authorize\?\S+)")
    callback = follow_authorization(server, url, person["UserName"], PASSWORD)
    assert callback.startswith("http://127.0.0.1:") and "code=" in callback, callback
    fetch(callback)  # the browser lands on the CLI's listener
    login.finish()
    assert f"Successfully logged into Start URL: {start_url}" in login.output
    assert any('"accessToken": "aoa' in t for t in login.cached_tokens())


def test_pkce_codes_are_bound_to_the_verifier_and_work_once(server, person):
    import base64
    import hashlib
    import secrets
    client = oidc(server)
    registered = client.register_client(
        clientName="pkce-test", clientType="public",
        grantTypes=["authorization_code", "refresh_token"],
        redirectUris=["http://127.0.0.1/oauth/callback"])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1:9/oauth/callback"
    url = server.url + "/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": registered["clientId"],
        "redirect_uri": redirect_uri, "state": "st4te", "code_challenge": challenge,
        "code_challenge_method": "S256", "scopes": "sso:account:access"})
    location = follow_authorization(server, url, person["UserName"], PASSWORD)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["state"] == ["st4te"]
    code = query["code"][0]
    ids = {"clientId": registered["clientId"], "clientSecret": registered["clientSecret"]}
    for wrong in ({"codeVerifier": verifier + "x", "redirectUri": redirect_uri},
                  {"codeVerifier": verifier, "redirectUri": "http://127.0.0.1:10/other"}):
        with pytest.raises(ClientError) as bad:
            client.create_token(**ids, grantType="authorization_code", code=code, **wrong)
        assert bad.value.response["Error"]["Code"] == "InvalidGrantException"
    tokens = client.create_token(**ids, grantType="authorization_code", code=code,
                                 codeVerifier=verifier, redirectUri=redirect_uri)
    assert tokens["accessToken"].startswith("aoa") and tokens["refreshToken"].startswith("aor")
    with pytest.raises(ClientError) as reused:
        client.create_token(**ids, grantType="authorization_code", code=code,
                            codeVerifier=verifier, redirectUri=redirect_uri)
    assert reused.value.response["Error"]["Code"] == "InvalidGrantException"
    # Deny sends the browser back with access_denied; a non-loopback redirect is refused.
    denied = follow_authorization(server, url, person["UserName"], PASSWORD, decision="deny")
    assert "error=access_denied" in denied and "state=st4te" in denied
    status, page = fetch(url.replace(urllib.parse.quote(redirect_uri, safe=""),
                                     urllib.parse.quote("https://evil.example/cb", safe="")))
    assert status == 400 and "loopback" in page


def test_password_guessing_is_slowed_per_user(server, person):
    client = oidc(server)
    registered = client.register_client(clientName="guesser", clientType="public")
    started = client.start_device_authorization(
        clientId=registered["clientId"], clientSecret=registered["clientSecret"],
        startUrl="https://x.awsapps.com/start")
    target = unique("victim")
    statuses = []
    for attempt in range(11):
        status, page = fetch(server.url + "/device", {
            "user_code": started["userCode"], "username": target,
            "password": f"guess {attempt}"})
        statuses.append(status)
    # Ten failures are allowed in a burst; the eleventh attempt is refused before any check.
    assert statuses == [401] * 10 + [429], statuses
    assert "Too many failed sign-ins" in page
    # Another person is not slowed by it.
    status, page = fetch(server.url + "/device", {
        "user_code": started["userCode"], "username": person["UserName"], "password": PASSWORD})
    assert status == 200, page
