"""Invitations: an identity-store user created with an e-mail address receives a message with
a one-time link to set a password. Delivery through a real SMTP server on loopback (aiosmtpd)
when a relay is configured, and to `<data>/outbox/` (the log names the file) when not.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from aiosmtpd.controller import Controller

from helpers import free_port, unique

LINK = re.compile(r"(http://\S+/invitation\?token=[A-Za-z0-9_-]+)")


class Inbox:
    """An SMTP server on loopback that keeps what it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def wait_for(self, address: str, timeout: float = 10) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if address in message["X-Envelope-To"]:
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no message to {address} within {timeout}s: {self.messages}")


@pytest.fixture(scope="module")
def inbox():
    box = Inbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture(scope="module")
def server(module_server_pool, inbox):
    return module_server_pool.new("invite", env={
        "LATCHKEY_MAIL_RELAY": f"smtp://127.0.0.1:{inbox.port}",
        "LATCHKEY_MAIL_FROM": "Latchkey Admin <admin@example.com>",
        "LATCHKEY_INVITATION_TTL": "5",
    })


def store_id(server) -> str:
    return server.client("identitystore").list_identity_stores()["IdentityStores"][0][
        "IdentityStoreId"]


def create_person(server, address: str | None) -> dict:
    kwargs = {"UserName": unique("person"), "DisplayName": "Pat Person",
              "Name": {"GivenName": "Pat", "FamilyName": "Person"}}
    if address:
        kwargs["Emails"] = [{"Value": address, "Type": "work", "Primary": True}]
    resp = server.client("identitystore").create_user(IdentityStoreId=store_id(server), **kwargs)
    return {"UserId": resp["UserId"], "UserName": kwargs["UserName"]}


def fetch(url: str, form: dict | None = None) -> tuple[int, str, object]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def hidden_token(page: str) -> str:
    return html.unescape(re.search(r'name="token" value="([^"]+)"', page).group(1))


def link_of(message) -> str:
    return LINK.search(message.get_content()).group(1)


def test_a_new_person_receives_a_link_and_sets_a_password_once(server, inbox):
    address = f"{unique('pat')}@example.com"
    person = create_person(server, address)
    message = inbox.wait_for(address)
    assert message["From"] == "Latchkey Admin <admin@example.com>"
    assert address in message["To"] and "Pat Person" in message["To"]
    assert "set your password" in message["Subject"].lower()
    body = message.get_content()
    assert person["UserName"] in body
    link = link_of(message)
    assert link.startswith(server.url + "/invitation?token=")

    status, page, headers = fetch(link)
    assert status == 200, page
    assert person["UserName"] in page and address in page
    # The labelled fields a person (or a screen reader) finds.
    assert '<label for="password">Password</label>' in page
    assert '<label for="confirm">Confirm password</label>' in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"

    token = hidden_token(page)
    status, page, _ = fetch(server.url + "/invitation",
                            {"token": token, "password": "short", "confirm": "short"})
    assert status == 400 and "at least 8 characters" in page
    status, page, _ = fetch(server.url + "/invitation",
                            {"token": token, "password": "correct horse", "confirm": "other"})
    assert status == 400 and "do not match" in page
    status, page, _ = fetch(server.url + "/invitation", {
        "token": token, "password": "correct horse battery", "confirm": "correct horse battery"})
    assert status == 200 and "Your password is set" in page

    # The link works once.
    status, page, _ = fetch(link)
    assert status == 400 and "not valid" in page
    status, page, _ = fetch(server.url + "/invitation", {
        "token": token, "password": "another password", "confirm": "another password"})
    assert status == 400 and "not valid" in page


def test_a_link_expires(server, inbox):
    address = f"{unique('late')}@example.com"
    create_person(server, address)
    link = link_of(inbox.wait_for(address))
    assert fetch(link)[0] == 200
    time.sleep(6)  # the module's server makes links that last 5 seconds
    status, page, _ = fetch(link)
    assert status == 400 and "expired" in page


def test_a_forged_or_missing_token_is_refused(server):
    for url in (server.url + "/invitation", server.url + "/invitation?token=forged"):
        status, page, _ = fetch(url)
        assert status == 400, page
    status, _, _ = fetch(server.url + "/invitation",
                         {"token": "forged", "password": "p" * 12, "confirm": "p" * 12})
    assert status == 400


def test_a_person_without_an_address_gets_no_message(server, inbox):
    before = len(inbox.messages)
    create_person(server, None)
    time.sleep(0.5)
    assert len(inbox.messages) == before


def test_without_a_relay_the_message_goes_to_the_outbox(fresh_server):
    server = fresh_server("outbox")
    address = f"{unique('box')}@example.com"
    create_person(server, address)
    outbox = server.data_dir / "outbox"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list(outbox.glob("*.eml")):
        time.sleep(0.05)
    files = list(outbox.glob("*.eml"))
    assert len(files) == 1, files
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert oct(outbox.stat().st_mode & 0o777) == "0o700"
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert address in message["To"]
    link = link_of(message)
    # The log names the file for an administrator to hand over, never the link: it is a
    # one-time credential.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and files[0].name not in server.log():
        time.sleep(0.05)
    assert str(files[0]) in server.log()
    token = link.rsplit("=", 1)[1]
    assert token not in server.log()
    assert fetch(link)[0] == 200


def test_a_password_survives_a_restart_and_the_used_link_stays_used(fresh_server, inbox):
    server = fresh_server("persist", env={"LATCHKEY_MAIL_RELAY": f"smtp://127.0.0.1:{inbox.port}"})
    address = f"{unique('keep')}@example.com"
    create_person(server, address)
    link = link_of(inbox.wait_for(address))
    token = hidden_token(fetch(link)[1])
    assert fetch(server.url + "/invitation", {
        "token": token, "password": "persistent pw", "confirm": "persistent pw"})[0] == 200
    server.stop()
    server.start()
    used = link.replace(link.split("/invitation")[0], server.url)
    status, page, _ = fetch(used)
    assert status == 400 and "not valid" in page
