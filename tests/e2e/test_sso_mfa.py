"""Authenticator apps (TOTP, RFC 6238) for identity-store people: set up on the invitation
page after the password (at once when the instance requires MFA, the default; offered when
it is optional) or at sign-in; then asked for as the "MFA code" on the verification pages,
where a wrong or replayed code is refused in words next to the field. `aws sso login
--use-device-code --no-browser` (AWS CLI v2) completes with username, password and MFA code.
The codes are computed here from the secret key the page shows."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import html
import re
import struct
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from helpers import unique
from test_sso_oidc import (DEVICE_GRANT, PASSWORD, USER_CODE, CliLogin, oidc)


def totp(secret: str, step: int) -> str:
    """RFC 6238: HMAC-SHA1 of the 30-second step, dynamically truncated to six digits."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{number:06d}"


def current_step() -> int:
    return int(time.time()) // 30


def wrong_code(secret: str) -> str:
    """Six digits that are no code of the steps around now."""
    valid = {totp(secret, current_step() + d) for d in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7)) if c not in valid)


def fetch(url: str, form: dict | None = None) -> tuple[int, str, object]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def hidden(page: str, name: str) -> str:
    return html.unescape(re.search(rf'name="{name}" value="([^"]+)"', page).group(1))


def create_person(server) -> dict:
    ids = server.client("identitystore")
    store = ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]
    name = unique("mfa")
    user_id = ids.create_user(IdentityStoreId=store, UserName=name, DisplayName="Max Mfa",
                              Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"]
    return {"UserName": name, "UserId": user_id, "StoreId": store}


def set_password(server, person: dict) -> tuple[int, str, object]:
    """Follows the invitation link in the outbox and sets the password; the page after."""
    deadline = time.monotonic() + 10
    link = None
    while link is None and time.monotonic() < deadline:
        for path in (server.data_dir / "outbox").glob(f"*{person['UserName']}*.eml"):
            body = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            link = re.search(r"(http://\S+/invitation\?token=\S+)", body.get_content()).group(1)
        time.sleep(0.05)
    assert link, "no invitation in the outbox"
    token = hidden(fetch(link)[1], "token")
    return fetch(server.url + "/invitation",
                 {"token": token, "password": PASSWORD, "confirm": PASSWORD})


def enroll(server, page: str) -> tuple[str, str]:
    """On an enrollment page: checks what it shows, confirms with two consecutive codes
    (after one wrong try), and returns the secret key and the page after."""
    assert '<img src="data:image/png;base64,' in page
    assert '<label for="code1">MFA code 1</label>' in page
    assert '<label for="code2">MFA code 2</label>' in page
    secret = re.search(r'<code id="secret-key">([A-Z2-7]+)</code>', page).group(1)
    assert len(secret) == 32  # 160 bits
    ticket, enrollment = hidden(page, "ticket"), hidden(page, "enrollment")
    step = current_step()
    status, wrong, _ = fetch(server.url + "/mfa/enroll/confirm", {
        "ticket": ticket, "enrollment": enrollment,
        "code1": totp(secret, step), "code2": totp(secret, step - 1)})
    assert status == 400
    assert re.search(r'<span role="alert" id="code2-error">[^<]*consecutive', wrong), wrong
    assert secret not in wrong  # the key is shown once
    status, done, _ = fetch(server.url + "/mfa/enroll/confirm", {
        "ticket": ticket, "enrollment": enrollment,
        "code1": totp(secret, step - 1), "code2": totp(secret, step)})
    assert status == 200, done
    return secret, done


def password_step(server, user_code: str, person: dict) -> str:
    status, page, _ = fetch(server.url + "/device", {
        "user_code": user_code, "username": person["UserName"], "password": PASSWORD})
    assert status == 200, page
    return page


def mfa_step(server, page: str, code: str) -> tuple[int, str]:
    assert '<label for="mfa_code">MFA code</label>' in page and ">Sign in</button>" in page
    assert ">Allow</button>" not in page
    status, after, _ = fetch(server.url + "/mfa", {"ticket": hidden(page, "ticket"),
                                                   "mfa_code": code})
    return status, after


def allow(server, page: str) -> None:
    assert ">Allow</button>" in page and ">Deny</button>" in page, page
    status, done, _ = fetch(server.url + "/device/decision",
                            {"ticket": hidden(page, "ticket"), "decision": "allow"})
    assert status == 200 and "Request approved" in done, done


@pytest.fixture(scope="module")
def server(module_server_pool):
    return module_server_pool.new("mfa")  # MFA required: the default


@pytest.fixture(scope="module")
def optional_server(module_server_pool):
    return module_server_pool.new("mfa-optional",
                                  env={"LATCHKEY_IDENTITY_CENTER_MFA": "optional"})


def test_required_mfa_enrolls_on_the_invitation_and_the_cli_signs_in_with_a_code(
        server, tmp_path):
    person = create_person(server)
    status, page, headers = set_password(server, person)
    assert status == 200, page
    assert "Your password is set" in page and "Set up an authenticator app" in page
    assert "img-src data:" in headers["Content-Security-Policy"]
    secret, done = enroll(server, page)
    assert "Authenticator app set up" in done

    start_url = f"https://{person['StoreId']}.awsapps.com/start"
    login = CliLogin(server, tmp_path / "home", start_url, "--use-device-code")
    user_code = login.wait_for(USER_CODE)
    status, refused = mfa_step(server, password_step(server, user_code, person),
                               wrong_code(secret))
    assert status == 401
    assert re.search(r'<span role="alert" id="mfa_code-error">The MFA code is not correct',
                     refused), refused
    # A new code (enrolling spent the current step's): the next step's is accepted.
    code = totp(secret, current_step() + 1)
    status, approval = mfa_step(server, refused, code)
    assert status == 200, approval
    # The same code again, on a second sign-in for the same request, is refused.
    status, replayed = mfa_step(server, password_step(server, user_code, person), code)
    assert status == 401 and "used already" in replayed, replayed
    allow(server, approval)
    login.finish()
    assert any('"accessToken": "aoa' in t for t in login.cached_tokens())


def test_required_mfa_without_an_authenticator_enrolls_at_sign_in(server):
    person = create_person(server)
    status, page, _ = set_password(server, person)
    assert status == 200 and "Set up an authenticator app" in page  # left without enrolling
    client = oidc(server)
    registered = client.register_client(clientName="mfa-test", clientType="public")
    creds = {"clientId": registered["clientId"], "clientSecret": registered["clientSecret"]}
    started = client.start_device_authorization(**creds, startUrl="https://example.com/start")
    page = password_step(server, started["userCode"], person)
    assert ">Allow</button>" not in page
    assert "requires an authenticator app" in page
    _, approval = enroll(server, page)
    allow(server, approval)
    token = client.create_token(**creds, grantType=DEVICE_GRANT,
                                deviceCode=started["deviceCode"])
    assert token["accessToken"].startswith("aoa")


def test_optional_mfa_is_offered_and_then_asked_for_on_the_authorize_page(optional_server):
    server = optional_server
    # Without an authenticator: the password alone signs in.
    plain = create_person(server)
    status, page, _ = set_password(server, plain)
    assert status == 200 and "Your password is set" in page
    assert ">Set up an authenticator app</button>" in page
    assert "<img" not in page
    client = oidc(server)
    registered = client.register_client(clientName="mfa-test", clientType="public")
    creds = {"clientId": registered["clientId"], "clientSecret": registered["clientSecret"]}
    started = client.start_device_authorization(**creds, startUrl="https://example.com/start")
    allow(server, password_step(server, started["userCode"], plain))

    # Taking the offer: enrollment, then the MFA code on /authorize.
    person = create_person(server)
    _, page, _ = set_password(server, person)
    status, page, _ = fetch(server.url + "/mfa/enroll", {"ticket": hidden(page, "ticket")})
    assert status == 200, page
    secret, done = enroll(server, page)
    assert "Authenticator app set up" in done
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": registered["clientId"],
        "redirect_uri": "http://127.0.0.1:4321/oauth/callback", "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256", "scopes": "sso:account:access"})
    status, page, _ = fetch(f"{server.url}/authorize?{query}")
    assert status == 200, page
    status, page, _ = fetch(server.url + "/authorize", {
        "request": hidden(page, "request"), "username": person["UserName"],
        "password": PASSWORD})
    assert status == 200, page
    status, approval = mfa_step(server, page, totp(secret, current_step() + 1))
    assert status == 200, approval
    assert ">Allow</button>" in approval and 'action="/authorize/decision"' in approval
