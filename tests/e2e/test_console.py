"""The web console in headless Chromium (Debian's chromium driven by Playwright), and the
IAM calls behind it (CreateLoginProfile, GetLoginProfile) with boto3.

Each journey saves a screenshot of every page it visits under
target/e2e-artifacts/console/ (or $LATCHKEY_ARTIFACTS/console/). A page that logs a script
error or a Content-Security-Policy violation, or whose stylesheet or script fails to load,
fails its test.
"""

from __future__ import annotations

import email
import email.policy
import html
import http.cookiejar
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from helpers import expect_error, unique
from test_mfa import enable, new_device, now_step, totp

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LATCHKEY_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "target" / "e2e-artifacts"))
SCREENSHOTS = ARTIFACTS / "console"
GOOD_PASSWORD = "Correct-Horse-42"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Journey:
    """One browser context: its page, the problems the page reported, its screenshots."""

    def __init__(self, browser, name: str, width: int = 1280, javascript: bool = True):
        self.name = name
        self.context = browser.new_context(accept_downloads=True,
                                           viewport={"width": width, "height": 900},
                                           java_script_enabled=javascript)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.shots = 0
        self.page.on("console", self._check_console)
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("response", self._check_asset)

    def _check_console(self, message) -> None:
        # Chromium also logs every 4xx document as "Failed to load resource"; the tests
        # assert the statuses of pages themselves, and _check_asset those of assets.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _check_asset(self, response) -> None:
        if response.request.resource_type != "document" and response.status != 200:
            self.problems.append(f"{response.url} answered {response.status}")

    def shot(self, label: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}.png",
                             full_page=True)

    def close(self) -> None:
        self.context.close()
        assert not self.problems, "the pages reported problems:\n" + "\n".join(self.problems)


@pytest.fixture
def journey(browser, request):
    made: list[Journey] = []

    def make(width: int = 1280, javascript: bool = True) -> Journey:
        j = Journey(browser, f"{request.node.name}-{len(made)}", width, javascript)
        made.append(j)
        return j

    yield make
    for j in made:
        j.close()


def sign_in(j: Journey, server, account: str, user: str, password: str) -> None:
    page = j.page
    page.goto(f"{server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    j.shot("signin")
    page.get_by_label("Account ID").fill(account)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def console_user(server, iam, **kwargs) -> str:
    """A user with a console password (set with CreateLoginProfile) and no access key."""
    name = unique("con")
    iam.create_user(UserName=name)
    for arn in kwargs.get("policies", ()):
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    iam.create_login_profile(UserName=name, Password=GOOD_PASSWORD)
    return name


def test_admin_creates_a_user_and_an_access_key_in_the_wizard_and_the_csv_works(
        server, journey):
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    j.shot("dashboard")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Create user").click()
    name = unique("alice")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Provide access to the console").check()
    page.get_by_label("Console password").fill(GOOD_PASSWORD)
    j.shot("create-user")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()

    page.get_by_role("link", name="Security credentials").click()
    j.shot("security-credentials")
    page.get_by_role("link", name="Create access key").click()

    # Step 1: the CLI use case recommends the access portal and needs an acknowledgment.
    page.get_by_label("Command Line Interface (CLI)").check()
    expect(page.locator("#alt-cli")).to_contain_text("aws sso login")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Confirm that you understand the recommendation before going on.")
    j.shot("use-case-refused")
    page.get_by_label("I understand the above recommendation").check()
    page.get_by_role("button", name="Next").click()

    # Step 2: the description tag.
    page.get_by_label("Description tag value").fill("build laptop")
    j.shot("description")
    page.get_by_role("button", name="Create access key").click()

    # Step 3: shown once, masked until asked.
    expect(page.get_by_role("heading", name="Retrieve access keys")).to_be_visible()
    expect(page.get_by_text("This is the only time the secret access key can be viewed"))\
        .to_be_visible()
    secret_field = page.get_by_label("Secret access key")
    expect(secret_field).to_have_attribute("type", "password")
    page.get_by_role("button", name="Show").click()
    expect(secret_field).to_have_attribute("type", "text")
    key_id = page.get_by_label("Access key ID").input_value()
    secret = secret_field.input_value()
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
    j.shot("retrieve")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download .csv file").click()
    assert download.value.suggested_filename == f"{name}_accessKeys.csv"
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the .csv starts with a UTF-8 byte order mark"
    assert raw[3:].decode() == f"Access key ID,Secret access key\r\n{key_id},{secret}\r\n"

    # The downloaded key works with boto3.
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id=key_id, aws_secret_access_key=secret)
    identity = sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{server.account_id}:user/{name}"

    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row").filter(has_text=key_id)
    expect(row).to_contain_text("build laptop")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("sts")  # last used: the call just made
    j.shot("keys")
    # The description is stored as AWS stores it: a user tag keyed by the key id.
    tags = server.client("iam").list_user_tags(UserName=name)["Tags"]
    assert {"Key": key_id, "Value": "build laptop"} in tags


def test_a_user_without_permission_is_denied_the_users_page(server, iam, journey):
    name = console_user(server, iam)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, name, GOOD_PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Your permissions do not include listing")).to_be_visible()
    j.shot("dashboard")
    response = page.goto(f"{server.url}/console/users")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Access denied")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        f"arn:aws:iam::{server.account_id}:user/{name} is not authorized to perform: "
        "iam:ListUsers")
    j.shot("denied")


def test_a_read_only_user_sees_users_but_cannot_create_a_key(server, iam, journey):
    name = console_user(server, iam,
                        policies=["arn:aws:iam::aws:policy/IAMReadOnlyAccess"])
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, name, GOOD_PASSWORD)
    page.goto(f"{server.url}/console/users?search={name}")
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Enabled")
    response = page.goto(f"{server.url}/console/users/{name}/access-keys/new")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("iam:CreateAccessKey")


def test_a_user_with_two_keys_is_told_why_there_is_no_third(server, iam, journey):
    name = console_user(server, iam)
    for _ in range(2):
        iam.create_access_key(UserName=name)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/{name}?tab=security_credentials")
    expect(page.locator("#key-limit")).to_have_text(
        "This user has 2 access keys, the most a user can have. "
        "Delete one before creating another.")
    expect(page.get_by_role("link", name="Create access key")).to_have_count(0)
    j.shot("two-keys")


def test_deactivate_then_delete_a_key_after_typing_its_id(server, iam, journey):
    name = console_user(server, iam)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/{name}?tab=security_credentials")
    page.get_by_role("button", name=f"Deactivate {key['AccessKeyId']}").click()
    expect(page.get_by_role("row").filter(has_text=key["AccessKeyId"])).to_contain_text(
        "Inactive")
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    expect_error(sts.get_caller_identity, "InvalidClientTokenId", 403)

    page.get_by_role("link", name=f"Delete {key['AccessKeyId']}").click()
    expect(page.get_by_role("heading")).to_contain_text(key["AccessKeyId"])
    page.get_by_label("Type the access key ID to confirm").fill("AKIAWRONG")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#confirmation-error")).to_have_text(
        "Type the access key ID exactly to confirm.")
    j.shot("confirm-refused")
    page.get_by_label("Type the access key ID to confirm").fill(key["AccessKeyId"])
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No access keys.")).to_be_visible()
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []


def test_a_user_with_mfa_signs_in_with_a_code(server, iam, journey):
    name = console_user(server, iam)
    device = new_device(iam)
    enable(iam, name, device)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, name, GOOD_PASSWORD)
    expect(page.get_by_label("MFA code")).to_be_visible()
    page.get_by_label("MFA code").fill(device.code(-2))  # already used to enable the device
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#code-error")).to_contain_text("The MFA code is not valid")
    j.shot("mfa-refused")
    page.get_by_label("MFA code").fill(device.code(0))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_an_mfa_device_is_assigned_in_the_console_and_then_asked_for(server, iam, journey):
    name = console_user(server, iam)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/{name}?tab=security_credentials")
    page.get_by_role("link", name="Assign MFA device").click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("img", name="QR code of the device's secret")).to_be_visible()
    page.get_by_role("button", name="Show").click()
    seed = page.get_by_label("Or type this secret key into the app").input_value()
    j.shot("qr-code")
    page.get_by_label("MFA code 1").fill("000000")
    page.get_by_label("MFA code 2").fill("000000")
    page.get_by_role("button", name="Add MFA").click()
    expect(page.locator("#codes-error")).to_be_visible()
    # The seed is not shown a second time.
    expect(page.get_by_role("img")).to_have_count(0)
    step = now_step()
    page.get_by_label("MFA code 1").fill(totp(seed, step - 1))
    page.get_by_label("MFA code 2").fill(totp(seed, step))
    page.get_by_role("button", name="Add MFA").click()
    expect(page.get_by_role("heading", name="Multi-factor authentication (MFA)")).to_be_visible()
    devices = iam.list_mfa_devices(UserName=name)["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [
        f"arn:aws:iam::{server.account_id}:mfa/{name}"]

    person = journey()
    sign_in(person, server, server.account_id, name, GOOD_PASSWORD)
    person.page.get_by_label("MFA code").fill(totp(seed, step + 1))
    person.page.get_by_role("button", name="Sign in").click()
    expect(person.page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_the_root_user_is_warned(server, journey):
    j = journey()
    page = j.page
    page.goto(f"{server.url}/console/signin?as=root")
    page.get_by_label("Root user e-mail").fill(server.admin["RootEmail"])
    page.get_by_label("Password").fill(server.admin["RootPassword"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You are signed in as the root user")).to_be_visible()
    expect(page.get_by_text("root access keys: none")).to_be_visible()
    j.shot("root-dashboard")


def test_sign_out_ends_the_session_everywhere(server, browser, journey):
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    cookies = j.context.cookies()
    assert [c["name"] for c in cookies] == ["latchkey-console"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    # The old cookie, replayed from elsewhere, no longer works.
    replay = journey()
    replay.context.add_cookies(cookies)
    replay.page.goto(f"{server.url}/console/users")
    expect(replay.page).to_have_url(re.compile(r"/console/signin$"))


def test_keyboard_only_sign_in_and_a_320_pixel_screen(server, journey):
    j = journey(width=320)
    page = j.page
    page.goto(f"{server.url}/console/signin")
    # The account field has the focus; Tab walks the form in order; Enter submits.
    page.keyboard.type(server.account_id)
    page.keyboard.press("Tab")
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(server.admin["ConsolePassword"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for path in ("/console", "/console/users", "/console/users/admin?tab=security_credentials",
                 "/console/users/admin?tab=permissions", "/console/users/admin?tab=groups",
                 "/console/users/admin?tab=tags",
                 "/console/groups", "/console/groups/new", "/console/policies",
                 "/console/policies/new", f"/console/policies/view?arn={READ_ONLY}",
                 "/console/roles", "/console/account", "/console/users/new",
                 "/console/users/admin/mfa/remove?serial=arn:aws:iam::123456789012:mfa/admin",
                 "/console/identity-center/users"):
        page.goto(f"{server.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 320, f"{path} is {overflow}px wide on a 320px screen"
        j.shot(path.strip("/").replace("/", "-").split("?")[0] + "-320")


# --- groups, policies, roles, account settings ----------------------------------------

LIST_ROLES_ONLY = ('{"Version": "2012-10-17", "Statement": [{"Effect": "%s", '
                   '"Action": "iam:ListRoles", "Resource": "*"}]}')


def test_admin_creates_a_group_adds_a_user_and_attaches_a_policy(server, iam, journey):
    member = console_user(server, iam)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="Create group").click()
    page.get_by_label("Group name").fill("bad name!")
    page.get_by_role("button", name="Create group").click()
    expect(page.locator("#group_name-error")).to_contain_text("groupName")
    expect(page.get_by_label("Group name")).to_have_attribute("aria-invalid", "true")
    j.shot("name-refused")
    group = unique("devs")
    page.get_by_label("Group name").fill(group)
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name=group)).to_be_visible()

    # With the keyboard only: type-ahead picks the user, Tab reaches the button.
    page.get_by_label("User to add").focus()
    page.keyboard.type(member)
    expect(page.get_by_label("User to add")).to_have_value(member)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add user")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name=member, exact=True)).to_be_visible()
    page.get_by_label("Managed policy to attach").select_option(READ_ONLY)
    page.get_by_role("button", name="Attach policy").click()
    expect(page.get_by_role("button", name=f"Detach {READ_ONLY}")).to_be_visible()
    j.shot("group")
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [member]
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(
        GroupName=group)["AttachedPolicies"]] == [READ_ONLY]

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Groups").click()
    row = page.get_by_role("row").filter(has_text=group)
    expect(row.get_by_role("cell").first).to_have_text("1")
    j.shot("groups")
    page.get_by_role("link", name=group).click()
    page.get_by_role("button", name=f"Remove {member}").click()
    expect(page.get_by_text("No users in this group.")).to_be_visible()
    assert iam.get_group(GroupName=group)["Users"] == []


def test_a_policy_written_in_the_editor_is_checked_as_you_type_and_then_applies(
        server, iam, journey):
    name = console_user(server, iam)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user_iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                            aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"])
    expect_error(user_iam.list_roles, "AccessDenied", 403)

    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Policies").click()
    page.get_by_role("link", name="Create policy").click()
    policy = unique("ListRolesOnly")
    page.get_by_label("Policy name").fill(policy)
    editor = page.get_by_label("Policy document (JSON)")
    editor.fill(LIST_ROLES_ONLY % "Permit")
    # The server's validator answers while the form is still unsent.
    expect(page.locator("#document-error")).to_have_text("Invalid effect: Permit")
    expect(editor).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/console/policies/new$"))
    j.shot("live-error")
    editor.fill(LIST_ROLES_ONLY % "Allow")
    expect(page.get_by_text("The document is valid.")).to_be_visible()
    expect(page.locator("#document-error")).to_have_text("")
    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("heading", name=policy)).to_be_visible()
    expect(page.get_by_label("Policy document")).to_contain_text('"iam:ListRoles"')
    expect(page.get_by_role("row").filter(has_text="v1")).to_contain_text("(default)")
    j.shot("policy")
    arn = f"arn:aws:iam::{server.account_id}:policy/{policy}"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"

    page.goto(f"{server.url}/console/users/{name}?tab=permissions")
    page.get_by_label("Managed policy to attach").select_option(arn)
    page.get_by_role("button", name="Attach policy").click()
    expect(page.get_by_role("button", name=f"Detach {arn}")).to_be_visible()
    j.shot("attached")
    user_iam.list_roles()  # the policy applies at once
    page.get_by_role("button", name=f"Detach {arn}").click()
    expect(page.get_by_text("No policies are attached directly.")).to_be_visible()
    expect_error(user_iam.list_roles, "AccessDenied", 403)


def test_without_script_the_policy_form_reports_errors_on_submit(server, iam, journey):
    j = journey(javascript=False)
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/policies/new")
    policy = unique("NoScript")
    page.get_by_label("Policy name").fill(policy)
    page.get_by_label("Policy document (JSON)").fill(LIST_ROLES_ONLY % "Permit")
    page.get_by_role("button", name="Create policy").click()
    expect(page.locator("#document-error")).to_have_text("Invalid effect: Permit")
    expect(page.get_by_label("Policy name")).to_have_value(policy)
    j.shot("error-on-submit")
    expect_error(iam.get_policy, "NoSuchEntity", 404,
                 PolicyArn=f"arn:aws:iam::{server.account_id}:policy/{policy}")
    page.get_by_label("Policy document (JSON)").fill(LIST_ROLES_ONLY % "Allow")
    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("heading", name=policy)).to_be_visible()


def test_a_read_only_user_cannot_create_a_policy(server, iam, journey):
    name = console_user(server, iam, policies=[READ_ONLY])
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, name, GOOD_PASSWORD)
    page.goto(f"{server.url}/console/policies?scope=aws")
    expect(page.get_by_role("link", name="IAMReadOnlyAccess")).to_be_visible()
    page.get_by_role("link", name="Create policy").click()
    policy = unique("Sneaky")
    page.get_by_label("Policy name").fill(policy)
    page.get_by_label("Policy document (JSON)").fill(LIST_ROLES_ONLY % "Allow")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/console/policies/new")) as answer:
        page.get_by_role("button", name="Create policy").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Access denied")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        f"arn:aws:iam::{server.account_id}:user/{name} is not authorized to perform: "
        "iam:CreatePolicy")
    j.shot("denied")
    expect_error(iam.get_policy, "NoSuchEntity", 404,
                 PolicyArn=f"arn:aws:iam::{server.account_id}:policy/{policy}")
    # Denials of the user page's forms are said next to the field.
    page.goto(f"{server.url}/console/users/{name}?tab=permissions")
    page.get_by_label("Managed policy to attach").select_option(
        "arn:aws:iam::aws:policy/AdministratorAccess")
    page.get_by_role("button", name="Attach policy").click()
    expect(page.locator("#policy_arn-error")).to_contain_text("iam:AttachUserPolicy")
    j.shot("attach-denied")
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(
        UserName=name)["AttachedPolicies"]] == [READ_ONLY]


def test_the_policies_list_filters_by_type_and_name(server, iam, journey):
    policy = unique("Filtered")
    iam.create_policy(PolicyName=policy, PolicyDocument=LIST_ROLES_ONLY % "Allow")
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/policies")
    page.get_by_label("Type").select_option("local")
    page.get_by_label("Search policies").fill(policy)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row").filter(has_text=policy)).to_contain_text("Customer managed")
    expect(page.get_by_role("link", name="IAMReadOnlyAccess")).to_have_count(0)
    page.get_by_label("Type").select_option("aws")
    page.get_by_label("Search policies").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="IAMReadOnlyAccess")).to_be_visible()
    expect(page.get_by_role("link", name=policy)).to_have_count(0)
    j.shot("aws-managed")


def test_policy_versions_can_be_made_default_and_deleted(server, iam, journey):
    arn = iam.create_policy(PolicyName=unique("Versioned"),
                            PolicyDocument=LIST_ROLES_ONLY % "Allow")["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=LIST_ROLES_ONLY % "Deny")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=LIST_ROLES_ONLY % "Allow")
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/policies/view?arn={urllib.parse.quote(arn, safe='')}")
    expect(page.get_by_label("Policy document")).to_contain_text('"Allow"')
    page.get_by_role("button", name="Set v2 as default").click()
    expect(page.get_by_label("Policy document")).to_contain_text('"Deny"')
    expect(page.get_by_role("button", name="Delete v2")).to_have_count(0)
    page.get_by_role("button", name="Delete v3").click()
    expect(page.get_by_role("button", name="Delete v1")).to_be_visible()
    j.shot("versions")
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert sorted((v["VersionId"], v["IsDefaultVersion"]) for v in versions) == [
        ("v1", False), ("v2", True)]


def test_the_roles_page_shows_the_trust_policy_and_the_policies(server, iam, journey):
    role = unique("deployer")
    trust = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
             f'{{"AWS": "arn:aws:iam::{server.account_id}:root"}}, "Action": "sts:AssumeRole"}}]}}')
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Description="Deploys")
    iam.attach_role_policy(RoleName=role, PolicyArn=READ_ONLY)
    iam.put_role_policy(RoleName=role, PolicyName="inline-list",
                        PolicyDocument=LIST_ROLES_ONLY % "Allow")
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Roles").click()
    expect(page.get_by_role("row").filter(has_text=role)).to_contain_text("Deploys")
    page.get_by_role("link", name=role).click()
    expect(page.get_by_role("heading", name=role)).to_be_visible()
    expect(page.get_by_label("Trust policy")).to_contain_text('"sts:AssumeRole"')
    expect(page.get_by_label("Trust policy")).to_contain_text(
        f"arn:aws:iam::{server.account_id}:root")
    expect(page.get_by_role("link", name=READ_ONLY)).to_be_visible()
    expect(page.get_by_text("inline-list (inline)")).to_be_visible()
    j.shot("role")


def test_the_user_page_manages_groups_and_tags(server, iam, journey):
    name = console_user(server, iam)
    group = unique("ops")
    iam.create_group(GroupName=group)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/{name}?tab=groups")
    page.get_by_label("Group to add the user to").select_option(group)
    page.get_by_role("button", name="Add to group").click()
    expect(page.get_by_role("link", name=group)).to_be_visible()
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    page.get_by_role("button", name=f"Remove from {group}").click()
    expect(page.get_by_text("The user is in no group.")).to_be_visible()
    assert iam.list_groups_for_user(UserName=name)["Groups"] == []

    page.get_by_role("link", name="Tags").click()
    page.get_by_label("Tag key").fill("cost#center")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator("#tag_key-error")).to_contain_text("tagKey")
    j.shot("tag-refused")
    page.get_by_label("Tag key").fill("team")
    page.get_by_label("Tag value (optional)").fill("plat#form")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator("#tag_value-error")).to_contain_text("member.value")
    expect(page.locator("#tag_key-error")).to_have_count(0)
    page.get_by_label("Tag key").fill("team")
    page.get_by_label("Tag value (optional)").fill("platform")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("row").filter(has_text="team")).to_contain_text("platform")
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "team", "Value": "platform"}]
    page.get_by_role("button", name="Remove tag team").click()
    expect(page.get_by_text("No tags.")).to_be_visible()
    assert iam.list_user_tags(UserName=name)["Tags"] == []


def test_account_settings_show_the_password_policy(server, journey):
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.get_by_role("navigation", name="Console").get_by_role("link",
                                                               name="Account settings").click()
    expect(page.get_by_text(server.account_id, exact=True)).to_be_visible()
    # The shared server keeps AWS's default policy: its tests set passwords by it.
    expect(page.locator("#policy-state")).to_contain_text("AWS's default policy")
    expect(page.get_by_text("At least 8 and at most 128 characters.")).to_be_visible()
    j.shot("account")


# --- account settings: alias, password policy, passwords (a server of their own) ---------


@pytest.fixture(scope="module")
def settings_server(module_server_pool):
    return module_server_pool.new("console-settings")


def open_account_settings(page) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link",
                                                               name="Account settings").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()


def test_admin_edits_the_alias_and_the_password_policy_and_users_sign_in_by_alias(
        settings_server, journey):
    srv = settings_server
    iam = srv.client("iam")
    j = journey()
    page = j.page
    sign_in(j, srv, srv.account_id, "admin", srv.admin["ConsolePassword"])
    open_account_settings(page)
    j.shot("account-settings")

    # A bad alias is refused next to the field; a good one is created.
    page.get_by_label("Alias", exact=True).fill("Not_Valid")
    page.get_by_role("button", name="Create alias").click()
    expect(page.locator("#alias-error")).to_contain_text("failed to satisfy constraint")
    expect(page.get_by_label("Alias", exact=True)).to_have_attribute("aria-invalid", "true")
    j.shot("alias-refused")
    alias = unique("corp").lower()
    page.get_by_label("Alias", exact=True).fill(alias)
    page.get_by_role("button", name="Create alias").click()
    expect(page.locator("#current-alias")).to_have_text(alias)
    assert iam.list_account_aliases()["AccountAliases"] == [alias]
    j.shot("alias-created")

    # The password policy: out of range is refused in words (by the server: the browser's
    # own range check is switched off, as in a browser without it), then a strict one is saved.
    page.get_by_label("Minimum length (6–128)").evaluate("field => { field.form.noValidate = true; }")
    page.get_by_label("Minimum length (6–128)").fill("200")
    page.get_by_role("button", name="Save password policy").click()
    expect(page.locator("#minimum_password_length-error")).to_contain_text("from 6 to 128")
    expect(page.get_by_label("Minimum length (6–128)")).to_have_value("200")
    j.shot("policy-refused")
    page.get_by_label("Minimum length (6–128)").fill("12")
    page.get_by_label("At least one number (0–9)").check()
    page.get_by_label("At least one of").check()
    page.get_by_label("Prevent password reuse").check()
    page.get_by_label("Number of previous passwords remembered (1–24)").fill("3")
    page.get_by_label("Allow IAM users to change their own password").check()
    page.get_by_role("button", name="Save password policy").click()
    expect(page.locator("#policy-state")).to_contain_text("This account's password policy")
    expect(page.locator("#policy-rules")).to_contain_text("At least 12 and at most 128")
    j.shot("policy-saved")
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 12
    assert policy["RequireNumbers"] is True and policy["RequireSymbols"] is True
    assert policy["PasswordReusePrevention"] == 3
    assert policy["AllowUsersToChangePassword"] is True
    assert policy["ExpirePasswords"] is False

    # A user signs in with the alias and changes their own password under the policy.
    name = unique("aliasuser")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="Strong-Pass-123")
    other = journey()
    sign_in(other, srv, alias.upper(), name, "Strong-Pass-123")
    expect(other.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    open_account_settings(other.page)
    other.page.get_by_role("link", name="Change your password").click()
    other.page.get_by_label("Current password").fill("Strong-Pass-123")
    other.page.get_by_label("New password", exact=True).fill("short")
    other.page.get_by_label("Confirm new password").fill("short")
    other.page.get_by_role("button", name="Change password").click()
    expect(other.page.locator("#new_password-error")).to_contain_text("minimum length of 12")
    other.shot("change-password-refused")
    other.page.get_by_label("Current password").fill("Strong-Pass-123")
    other.page.get_by_label("New password", exact=True).fill("Another-Pass-456")
    other.page.get_by_label("Confirm new password").fill("Another-Pass-456")
    other.page.get_by_role("button", name="Change password").click()
    expect(other.page.locator("#password-changed")).to_be_visible()
    other.shot("password-changed")

    # The admin deletes the policy and the alias; the default policy applies again.
    page.reload()
    page.get_by_role("button", name="Delete the policy").click()
    expect(page.locator("#policy-state")).to_contain_text("AWS's default policy")
    expect_error(iam.get_account_password_policy, "NoSuchEntity", 404)
    page.get_by_role("button", name=f"Delete alias {alias}").click()
    expect(page.locator("#current-alias")).to_have_count(0)
    assert iam.list_account_aliases()["AccountAliases"] == []
    j.shot("settings-deleted")


def test_a_user_without_permission_cannot_change_account_settings(settings_server, journey):
    srv = settings_server
    iam = srv.client("iam")
    name = unique("viewer")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name,
                           PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.create_login_profile(UserName=name, Password="Viewer-Pass-123")
    # On a 320-pixel screen: nothing of the page may be wider than the screen.
    j = journey(width=320)
    page = j.page
    sign_in(j, srv, srv.account_id, name, "Viewer-Pass-123")
    page.goto(f"{srv.url}/console/account")
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    # Reading is allowed, so the policy shows; the user may not change it (nor read its
    # own policy-granted change: IAMReadOnlyAccess has no iam:ChangePassword).
    expect(page.locator("#policy-rules")).to_be_visible()
    expect(page.get_by_role("link", name="Change your password")).to_have_count(0)
    j.shot("account-320")
    page.get_by_label("Alias", exact=True).fill(unique("nope").lower())
    page.get_by_role("button", name="Create alias").click()
    expect(page.locator("#alias-error")).to_contain_text("iam:CreateAccountAlias")
    j.shot("alias-denied")
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_admin_resets_and_removes_a_users_console_password(settings_server, journey):
    srv = settings_server
    iam = srv.client("iam")
    name = unique("resetme")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="First-Pass-123")
    j = journey()
    page = j.page
    sign_in(j, srv, srv.account_id, "admin", srv.admin["ConsolePassword"])
    page.goto(f"{srv.url}/console/users/{name}?tab=security_credentials")
    page.get_by_label("New console password").fill("Reset-Pass-456")
    page.get_by_label("User must create a new password at next sign-in").check()
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator("#console-access-state")).to_contain_text("must choose a new password")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"]
    j.shot("password-reset")

    # The user signs in with the reset password and must choose a new one first.
    user = journey()
    sign_in(user, srv, srv.account_id, name, "Reset-Pass-456")
    expect(user.page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    user.shot("new-password")
    user.page.get_by_label("New password", exact=True).fill("Chosen-Pass-789")
    user.page.get_by_label("Confirm new password").fill("Chosen-Pass-789")
    user.page.get_by_role("button", name="Set password and sign in").click()
    expect(user.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False

    # Removing console access ends the user's session at once.
    page.reload()
    page.get_by_role("button", name="Remove console access").click()
    expect(page.get_by_role("button", name="Enable console access")).to_be_visible()
    expect_error(iam.get_login_profile, "NoSuchEntity", 404, UserName=name)
    j.shot("console-access-removed")
    user.page.reload()
    expect(user.page).to_have_url(re.compile(r"/console/signin$"))


def expiring_user(fresh_server, **policy) -> tuple:
    """A server of its own whose policy makes passwords expire after a day, and a user with a
    console password; the server is then restarted two days later (libfaketime). Clients
    signing with the real clock cannot reach it after that, only the browser."""
    if shutil.which("faketime") is None:
        pytest.fail("faketime is not installed; scripts/test installs it (Debian: faketime)")
    srv = fresh_server("expiry")
    iam = srv.client("iam")
    iam.update_account_password_policy(MinimumPasswordLength=10, MaxPasswordAge=1, **policy)
    name = unique("expiring")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="Before-Expiry-1")
    srv.stop()
    srv.wrapper = ["faketime", "-f", "+2d"]
    srv.start()
    return srv, name


def test_an_expired_password_is_replaced_at_sign_in(fresh_server, journey):
    srv, name = expiring_user(fresh_server, PasswordReusePrevention=1)
    j = journey()
    page = j.page
    sign_in(j, srv, srv.account_id, name, "Before-Expiry-1")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.get_by_text("Passwords expire after 1 days")).to_be_visible()
    j.shot("expired")
    # The same password again is refused by reuse prevention, next to the field.
    page.get_by_label("New password", exact=True).fill("Before-Expiry-1")
    page.get_by_label("Confirm new password").fill("Before-Expiry-1")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.locator("#new-password-error")).to_contain_text("previous 1 passwords")
    page.get_by_label("New password", exact=True).fill("After-Expiry-2")
    page.get_by_label("Confirm new password").fill("After-Expiry-2")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    j.shot("signed-in-after-expiry")
    # The new password signs in directly.
    again = journey()
    sign_in(again, srv, srv.account_id, name, "After-Expiry-2")
    expect(again.page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_hard_expired_password_needs_an_administrator(fresh_server, journey):
    srv, name = expiring_user(fresh_server, HardExpiry=True)
    j = journey()
    sign_in(j, srv, srv.account_id, name, "Before-Expiry-1")
    expect(j.page.get_by_role("alert")).to_contain_text("Ask your administrator")
    j.shot("hard-expired")


# --- the same rules without a browser -------------------------------------------------

class Form:
    """A cookie-keeping form client, for what a browser would not send."""

    def __init__(self, server):
        self.url = server.url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(self, path: str, fields: dict, headers: dict | None = None):
        request = urllib.request.Request(f"{self.url}{path}",
                                         data=urllib.parse.urlencode(fields).encode(),
                                         headers=headers or {}, method="POST")
        try:
            with self.opener.open(request) as r:
                return r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers


def test_forms_without_the_session_token_or_from_another_origin_are_refused(server, iam):
    form = Form(server)
    status, page, _ = form.post("/console/signin", {
        "account": server.account_id, "user_name": "admin",
        "password": server.admin["ConsolePassword"]})
    assert status == 200 and "Dashboard" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    name = unique("forged")
    status, page, _ = form.post("/console/users/new", {"csrf": "not-the-token",
                                                       "user_name": name})
    assert status == 403 and "This form has expired" in page
    status, _, _ = form.post("/console/users/new", {"csrf": csrf, "user_name": name},
                             headers={"Origin": "https://evil.example"})
    assert status == 403
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)
    status, _, _ = form.post("/console/users/new", {"csrf": csrf, "user_name": name})
    assert status == 200
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    # The policy editor's check is a form post like any other.
    document = '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*"}]}'
    status, _, _ = form.post("/console/policies/validate", {"csrf": "not-the-token",
                                                            "document": document})
    assert status == 403
    status, body, headers = form.post("/console/policies/validate", {"csrf": csrf,
                                                                     "document": document})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"valid": False, "error": "Invalid effect: Maybe"}


def test_repeated_failed_sign_ins_are_slowed_down(server, iam):
    name = console_user(server, iam)
    form = Form(server)
    statuses = [form.post("/console/signin", {"account": server.account_id, "user_name": name,
                                              "password": "wrong"})[0] for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    status, page, headers = form.post("/console/signin", {
        "account": server.account_id, "user_name": name, "password": GOOD_PASSWORD})
    assert status == 429 and int(headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in page


def test_create_and_get_login_profile(server, iam, make_user):
    user = make_user(with_key=False)
    expect_error(iam.get_login_profile, "NoSuchEntity", 404, UserName=user.name,
                 message=f"Login Profile for User {user.name} cannot be found.")
    expect_error(iam.create_login_profile, "PasswordPolicyViolation", 400,
                 UserName=user.name, Password="short1A",
                 message="Password should have a minimum length of 8.")
    expect_error(iam.create_login_profile, "PasswordPolicyViolation", 400,
                 UserName=user.name, Password="alllowercase")
    profile = iam.create_login_profile(UserName=user.name, Password=GOOD_PASSWORD,
                                       PasswordResetRequired=False)["LoginProfile"]
    assert profile["UserName"] == user.name and profile["PasswordResetRequired"] is False
    got = iam.get_login_profile(UserName=user.name)["LoginProfile"]
    assert got["CreateDate"] == profile["CreateDate"]
    expect_error(iam.create_login_profile, "EntityAlreadyExists", 409, UserName=user.name,
                 Password=GOOD_PASSWORD,
                 message=f"Login Profile for user {user.name} already exists.")
    expect_error(iam.create_login_profile, "NoSuchEntity", 404, UserName=unique("ghost"),
                 Password=GOOD_PASSWORD)
    # Deleting a user with console access needs the login profile gone first.
    expect_error(iam.delete_user, "DeleteConflict", 409, UserName=user.name)


# --- the access portal --------------------------------------------------------------------

READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def invitation_link(server, user_name: str) -> str:
    """The link of the invitation e-mail written to the outbox (no relay configured)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in (server.data_dir / "outbox").glob(f"*{user_name}*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            return re.search(r"(http://\S+/invitation\?token=\S+)",
                             message.get_content()).group(1)
        time.sleep(0.05)
    raise AssertionError(f"no invitation for {user_name} in the outbox")


def test_an_invited_person_sets_a_password_and_takes_credentials_from_the_portal(
        fresh_server, journey):
    server = fresh_server("portal")
    ids = server.client("identitystore")
    store = ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]
    name = unique("pat")
    user_id = ids.create_user(IdentityStoreId=store, UserName=name, DisplayName="Pat Portal",
                              Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"]
    group = ids.create_group(IdentityStoreId=store, DisplayName="Readers")["GroupId"]
    ids.create_group_membership(IdentityStoreId=store, GroupId=group,
                                MemberId={"UserId": user_id})
    account_name = "Workload"
    account = server.client("organizations").create_account(
        Email=f"{unique('acct')}@example.com",
        AccountName=account_name)["CreateAccountStatus"]["AccountId"]
    sso = server.client("sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    ps_name = "ReadOnly"
    ps = sso.create_permission_set(InstanceArn=instance, Name=ps_name,
                                   SessionDuration="PT1H")["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(InstanceArn=instance, PermissionSetArn=ps,
                                                ManagedPolicyArn=READ_ONLY)
    request = sso.create_account_assignment(
        InstanceArn=instance, PermissionSetArn=ps, TargetId=account, TargetType="AWS_ACCOUNT",
        PrincipalType="GROUP", PrincipalId=group)["AccountAssignmentCreationStatus"]["RequestId"]
    assert sso.describe_account_assignment_creation_status(
        InstanceArn=instance, AccountAssignmentCreationRequestId=request,
    )["AccountAssignmentCreationStatus"]["Status"] == "SUCCEEDED"

    j = journey()
    page = j.page
    # The person follows the e-mail's link and sets a password.
    page.goto(invitation_link(server, name))
    j.shot("invitation")
    page.get_by_label("Password", exact=True).fill(GOOD_PASSWORD)
    page.get_by_label("Confirm password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    # MFA is required (the default): the authenticator app is set up right away.
    expect(page.get_by_role("img", name="QR code of the secret key")).to_be_visible()
    seed = page.locator("#secret-key").inner_text()
    j.shot("enroll")
    step = now_step()
    page.get_by_label("MFA code 1").fill(totp(seed, step - 1))
    page.get_by_label("MFA code 2").fill(totp(seed, step))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading")).to_contain_text("Authenticator app set up")

    # Signs in to the access portal, with the MFA code, and sees the account with the
    # permission set.
    page.goto(f"{server.url}/start")
    expect(page).to_have_url(re.compile(r"/start/signin$"))
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("MFA code").fill(totp(seed, step + 1))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("AWS accounts"))).to_be_visible()
    expect(page.get_by_label("SSO start URL")).to_have_value(
        f"https://{store}.awsapps.com/start")
    j.shot("accounts")
    page.get_by_role("link", name=f"Access keys for {ps_name} in {account_name}").click()
    expect(page.get_by_role("heading", name=f"Get credentials for {ps_name}")).to_be_visible()
    j.shot("credentials")

    # The bash form of the credentials works, with exactly the permission set's rights.
    exports = dict(re.findall(r'export (\w+)="([^"]*)"', page.get_by_label(
        "macOS and Linux (bash, zsh)").input_value()))
    assert exports["AWS_ENDPOINT_URL"] == server.url
    profile = page.get_by_label("~/.aws/credentials").input_value()
    assert profile.startswith(f"[{account}_{ps_name}]\n")
    assert f"aws_session_token={exports['AWS_SESSION_TOKEN']}" in profile
    session = boto3.Session(aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=exports["AWS_SESSION_TOKEN"],
                            region_name="us-east-1")
    identity = session.client("sts", endpoint_url=exports["AWS_ENDPOINT_URL"])\
        .get_caller_identity()
    assert re.fullmatch(
        rf"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{ps_name}_[0-9a-f]{{16}}/{name}",
        identity["Arn"]), identity["Arn"]
    member_iam = session.client("iam", endpoint_url=server.url)
    member_iam.list_roles()
    expect_error(member_iam.create_user, "AccessDenied", 403, UserName=unique("nope"))

    # Leaving the group takes the account off the page at once; signing out ends the session.
    membership = ids.get_group_membership_id(IdentityStoreId=store, GroupId=group,
                                             MemberId={"UserId": user_id})["MembershipId"]
    ids.delete_group_membership(IdentityStoreId=store, MembershipId=membership)
    page.goto(f"{server.url}/start")
    expect(page.get_by_text("No account is assigned to you yet")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/start/signin$"))


def test_an_administrator_sets_up_identity_center_in_the_console(fresh_server, journey):
    """Add a person (invited by e-mail), resend the invitation, make a group with the person,
    a predefined permission set, and assign the group to an account: each step checked with
    boto3, and the person's portal shows the account."""
    # Authenticators are optional here: the portal's MFA step is the journey above.
    server = fresh_server("ic-console", env={"LATCHKEY_IDENTITY_CENTER_MFA": "optional"})
    account = server.client("organizations").create_account(
        Email=f"{unique('acct')}@example.com",
        AccountName="Sandbox")["CreateAccountStatus"]["AccountId"]
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.get_by_role("link", name="Identity Center").click()

    # A person, invited by e-mail; the resent invitation voids the first link.
    name = unique("riley")
    page.get_by_label("Username").fill(name)
    page.get_by_label("E-mail address").fill(f"{name}@example.com")
    page.get_by_label("First name").fill("Riley")
    page.get_by_label("Last name").fill("Reyes")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#ic-display_name-error")).to_have_text("Enter a display name.")
    page.get_by_label("Display name").fill("Riley Reyes")
    page.get_by_role("button", name="Add user").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Invitation sent")
    first_link = invitation_link(server, name)
    for path in (server.data_dir / "outbox").glob(f"*{name}*.eml"):
        path.unlink()
    page.get_by_role("button", name=f"Resend invitation to {name}").click()
    expect(page.get_by_role("status")).to_contain_text("The previous link no longer works")
    j.shot("people")
    second_link = invitation_link(server, name)
    assert second_link != first_link
    status, body = _get(first_link)
    assert status == 400, body
    # The resend is an event of the administrator's, naming the person.
    import json
    person_id = server.client("identitystore").list_users(
        IdentityStoreId=server.client("sso-admin").list_instances()["Instances"][0][
            "IdentityStoreId"],
        Filters=[{"AttributePath": "UserName", "AttributeValue": name}])["Users"][0]["UserId"]
    resends = [json.loads(e["CloudTrailEvent"]) for e in server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName",
                           "AttributeValue": "ResendInvitation"}])["Events"]]
    assert [(r["eventSource"], r["requestParameters"]["UserId"],
             r["userIdentity"]["userName"]) for r in resends] == [
        ("sso-directory.amazonaws.com", person_id, "admin")], resends

    # A group with the person in it.
    page.get_by_role("navigation", name="Identity Center").get_by_role(
        "link", name="Groups").click()
    page.get_by_label("Group name").fill("Engineers")
    page.get_by_role("button", name="Create group").click()
    page.get_by_label("Add a user to Engineers").select_option(label=name)
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("region", name="Engineers")).to_contain_text(name)
    j.shot("groups")

    # A predefined permission set.
    page.get_by_role("navigation", name="Identity Center").get_by_role(
        "link", name="Permission sets").click()
    page.get_by_label("Policy for predefined permission set").select_option("ReadOnlyAccess")
    page.get_by_role("button", name="Create permission set").click()
    expect(page.get_by_role("region", name="ReadOnlyAccess")).to_contain_text("ReadOnlyAccess")
    j.shot("permission-sets")

    # The group assigned to the account, provisioned.
    page.get_by_role("navigation", name="Identity Center").get_by_role(
        "link", name="AWS accounts").click()
    page.get_by_label("User or group to assign to Sandbox").select_option(label="Engineers")
    page.get_by_label("Permission set for Sandbox").select_option(label="ReadOnlyAccess")
    page.get_by_role("button", name="Assign to Sandbox").click()
    expect(page.locator("#provisioning")).to_have_text("Provisioning: SUCCEEDED.")
    expect(page.get_by_role("region", name="Sandbox")).to_contain_text(
        "Group Engineers with ReadOnlyAccess")
    j.shot("accounts")
    sso = server.client("sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    sets = sso.list_permission_sets_provisioned_to_account(
        InstanceArn=instance, AccountId=account)["PermissionSets"]
    assert len(sets) == 1

    # The person accepts the second link and sees the account in the portal.
    status, body = _get(second_link)
    assert status == 200, body
    token = re.search(r'name="token" value="([^"]+)"', body).group(1)
    status, _ = _post(f"{server.url}/invitation",
                      {"token": html.unescape(token), "password": GOOD_PASSWORD,
                       "confirm": GOOD_PASSWORD})
    assert status == 200
    person = journey()
    person.page.goto(f"{server.url}/start/signin")
    person.page.get_by_label("Username").fill(name)
    person.page.get_by_label("Password").fill(GOOD_PASSWORD)
    person.page.get_by_role("button", name="Sign in").click()
    expect(person.page.get_by_role("link", name="Access keys for ReadOnlyAccess in Sandbox"))\
        .to_be_visible()


def test_the_aws_accounts_page_shows_the_organization_tree(fresh_server, journey):
    """Root > OU "Engineering" > an account: the OU made and the account moved with the
    page's forms (CreateOrganizationalUnit, MoveAccount, checked with boto3), shown as
    nested lists under headings, without script and on a 320-pixel screen."""
    server = fresh_server("org-console")
    org = server.client("organizations")
    payments = org.create_account(Email=f"{unique('acct')}@example.com",
                                  AccountName="Payments")["CreateAccountStatus"]["AccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.get_by_role("link", name="Identity Center").click()
    page.get_by_role("navigation", name="Identity Center").get_by_role(
        "link", name="AWS accounts").click()
    root_list = page.get_by_role("list", name=f"Root {root}", exact=True)
    expect(root_list.get_by_role("region", name="Payments")).to_be_visible()
    j.shot("flat")

    page.get_by_label("Parent").select_option(label="Root")
    page.get_by_label("Organizational unit name").fill("Engineering")
    page.get_by_role("button", name="Create organizational unit").click()
    expect(page.get_by_role("status")).to_have_text("Organizational unit Engineering created.")
    ou = org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    assert [u["Name"] for u in ou] == ["Engineering"]
    engineering = ou[0]["Id"]
    expect(page.get_by_role("heading", name=f"Engineering {engineering}", level=4))\
        .to_be_visible()

    page.get_by_label("Move Payments to").select_option(label="Root / Engineering")
    page.get_by_role("button", name="Move Payments").click()
    expect(page.get_by_role("status")).to_have_text("Account moved.")
    assert org.list_parents(ChildId=payments)["Parents"] == [
        {"Id": engineering, "Type": "ORGANIZATIONAL_UNIT"}]
    ou_list = page.get_by_role("list", name=f"Engineering {engineering}", exact=True)
    expect(ou_list.get_by_role("region", name="Payments")).to_be_visible()
    expect(ou_list.get_by_role("heading", name=f"Payments {payments}", level=5)).to_be_visible()
    # The management account stays directly under the root.
    expect(root_list.locator(":scope > li > section")).to_have_count(1)
    j.shot("tree")

    # A move from a page that is out of date (the account was moved back meanwhile) is
    # refused next to the field, with the API's words.
    org.move_account(AccountId=payments, SourceParentId=engineering, DestinationParentId=root)
    page.get_by_label("Move Payments to").select_option(label="Root")
    page.get_by_role("button", name="Move Payments").click()
    expect(page.locator(f"#dest-{payments}-error")).to_have_text(re.compile(
        r"^We can't find an AWS account with the AccountId that you specified"))
    expect(root_list.locator(":scope > li > section")).to_have_count(2)
    j.shot("stale-move")
    org.move_account(AccountId=payments, SourceParentId=root, DestinationParentId=engineering)

    # A second OU of the same name is refused next to the field.
    page.get_by_label("Organizational unit name").fill("Engineering")
    page.get_by_role("button", name="Create organizational unit").click()
    expect(page.locator("#ou-name-error")).to_have_text("An OU with the same name already exists.")
    expect(page.get_by_label("Organizational unit name")).to_have_attribute("aria-invalid", "true")
    j.shot("duplicate")

    # Without script, on a 320-pixel screen: the same tree, nothing wider than the screen.
    small = journey(width=320, javascript=False)
    sign_in(small, server, server.account_id, "admin", server.admin["ConsolePassword"])
    small.page.goto(f"{server.url}/console/identity-center/accounts")
    expect(small.page.get_by_role("list", name=f"Engineering {engineering}", exact=True)
           .get_by_role("region", name="Payments")).to_be_visible()
    width = small.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the accounts page is {width}px wide on a 320px screen"
    small.shot("tree-320")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _post(url: str, fields: dict) -> tuple[int, str]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(),
                                     method="POST")
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_console_actions_are_in_the_audit_trail(server, iam):
    """A console write is the API call's event, a console denial is an AccessDenied event,
    and every sign-in attempt is a ConsoleLogin event (LookupEvents with boto3)."""
    import json
    trail = server.client("cloudtrail")

    def events(**attribute):
        (key, value), = attribute.items()
        found = trail.lookup_events(
            LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])["Events"]
        return [json.loads(e["CloudTrailEvent"]) for e in found]

    form = Form(server)
    status, page, _ = form.post("/console/signin", {
        "account": server.account_id, "user_name": "admin",
        "password": server.admin["ConsolePassword"]})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    name = unique("audited")
    status, _, _ = form.post("/console/users/new", {
        "csrf": csrf, "user_name": name, "console_access": "on", "password": GOOD_PASSWORD})
    assert status == 200
    # One page, two API calls: each is its own event, the password hidden.
    mine = [e for e in events(ResourceName=name) if not e["readOnly"]]
    assert sorted(e["eventName"] for e in mine) == ["CreateLoginProfile", "CreateUser"], mine
    created = next(e for e in mine if e["eventName"] == "CreateUser")
    assert created["userIdentity"]["arn"] == server.admin["UserArn"]
    assert created["requestParameters"] == {"userName": name}
    assert "errorCode" not in created
    assert GOOD_PASSWORD not in json.dumps(mine)

    denied_user = console_user(server, iam)
    other = Form(server)
    other.post("/console/signin", {"account": server.account_id, "user_name": denied_user,
                                   "password": GOOD_PASSWORD})
    status, _, _ = other.post("/console/signin", {"account": server.account_id,
                                                  "user_name": denied_user,
                                                  "password": "wrong"})
    assert status == 401
    request = urllib.request.Request(f"{server.url}/console/users")
    try:
        other.opener.open(request)
        raise AssertionError("the users page was shown")
    except urllib.error.HTTPError as e:
        assert e.code == 403
    mine = events(Username=denied_user)
    denials = [e for e in mine if e["eventName"] == "ListUsers"]
    assert denials and denials[0]["errorCode"] == "AccessDenied", mine
    logins = [e for e in mine if e["eventName"] == "ConsoleLogin"]
    assert sorted(e.get("errorMessage", "ok") for e in logins) == ["Failed authentication", "ok"]
    assert all(e["eventSource"] == "signin.amazonaws.com" for e in logins)


def test_the_root_user_creates_a_root_key_only_after_acknowledging_the_risk(
        fresh_server, journey):
    server = fresh_server("root-keys")
    j = journey()
    page = j.page
    page.goto(f"{server.url}/console/signin?as=root")
    page.get_by_label("Root user e-mail").fill(server.admin["RootEmail"])
    page.get_by_label("Password").fill(server.admin["RootPassword"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Root access keys").click()
    expect(page.get_by_role("note")).to_contain_text("Do not create root access keys")
    page.get_by_role("button", name="Create root access key").click()
    expect(page.locator("#root-key-error")).to_have_text(
        "Confirm that you understand the risk before creating a root access key.")
    page.get_by_label("I understand that creating a root access key is not a best practice")\
        .check()
    page.get_by_role("button", name="Create root access key").click()
    key_id = page.get_by_label("Access key ID").input_value()
    page.get_by_role("button", name="Show").click()
    secret = page.get_by_label("Secret access key").input_value()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .csv file").click()
    assert download.value.suggested_filename == "rootkey.csv"
    j.shot("root-key")

    # The key is the root user's, on the API too.
    root = boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                         region_name="us-east-1")
    assert root.client("sts", endpoint_url=server.url).get_caller_identity()["Arn"] == \
        f"arn:aws:iam::{server.account_id}:root"
    root_iam = root.client("iam", endpoint_url=server.url)
    listed = root_iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key_id] and "UserName" not in listed[0]
    second = root_iam.create_access_key()["AccessKey"]
    assert "UserName" not in second
    expect_error(root_iam.create_access_key, "LimitExceeded", 409)

    # The dashboard flags them; deleting needs the key id typed in.
    page.goto(f"{server.url}/console")
    expect(page.get_by_text("root access keys present")).to_be_visible()
    page.goto(f"{server.url}/console/root-keys")
    page.get_by_label(f"Type {second['AccessKeyId']} to delete it").fill(second["AccessKeyId"])
    page.get_by_role("button", name=f"Delete {second['AccessKeyId']}").click()
    expect(page.get_by_role("row").filter(has_text=second["AccessKeyId"])).to_have_count(0)
    page.get_by_role("button", name=f"Deactivate {key_id}").click()
    expect(page.get_by_role("row").filter(has_text=key_id)).to_contain_text("Inactive")
    expect_error(root.client("sts", endpoint_url=server.url).get_caller_identity,
                 "InvalidClientTokenId", 403)
    # An IAM user is refused the page.
    admin = journey()
    sign_in(admin, server, server.account_id, "admin", server.admin["ConsolePassword"])
    response = admin.page.goto(f"{server.url}/console/root-keys")
    assert response.status == 403


# --- Create user with groups, policies, a boundary and tags; removing MFA -----------------

def _trail_events(server, event_name: str) -> list[dict]:
    found = server.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": event_name}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in found]


def test_a_user_is_created_with_groups_a_policy_a_boundary_and_tags_at_once(
        server, iam, journey):
    groups = sorted([unique("dev"), unique("ops")])
    for group in groups:
        iam.create_group(GroupName=group)
    policy_name = unique("deploy")
    policy_arn = iam.create_policy(PolicyName=policy_name, PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}),
    )["Policy"]["Arn"]
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/new")
    name = unique("casey")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Key of tag 1").fill("team")
    page.get_by_label("Value of tag 1").fill("platform")
    # Another row, without script: the page comes back with everything typed so far.
    page.get_by_role("button", name="Add another tag").click()
    expect(page.get_by_label("User name")).to_have_value(name)
    expect(page.get_by_label("Key of tag 1")).to_have_value("team")
    page.get_by_label("Key of tag 2").fill("cost-center")
    page.get_by_label("Value of tag 2").fill("4711")
    for group in groups:
        page.get_by_label(group, exact=True).check()
    # The policy list narrows as you type; the policy chosen is sent.
    page.get_by_label("Search policies").fill(policy_name)
    expect(page.get_by_label("AdministratorAccess", exact=True)).to_be_hidden()
    page.get_by_label(policy_name, exact=True).check()
    page.get_by_label("Permissions boundary").select_option(READ_ONLY)
    page.get_by_label("Provide access to the console").check()
    page.get_by_label("Console password").fill(GOOD_PASSWORD)
    j.shot("create-user-all")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    j.shot("created")

    assert sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]) \
        == groups
    assert [p["PolicyArn"] for p in
            iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]] == [policy_arn]
    assert sorted(iam.list_user_tags(UserName=name)["Tags"], key=lambda t: t["Key"]) == [
        {"Key": "cost-center", "Value": "4711"}, {"Key": "team", "Value": "platform"}]
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"] == READ_ONLY
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"] == name
    # Each call is its own event, as the API's would be.
    for event_name, count in (("CreateUser", 1), ("AddUserToGroup", 2),
                              ("AttachUserPolicy", 1), ("CreateLoginProfile", 1)):
        mine = [e for e in _trail_events(server, event_name)
                if e["requestParameters"].get("userName") == name]
        assert len(mine) == count, (event_name, mine)
    [created] = [e for e in _trail_events(server, "CreateUser")
                 if e["requestParameters"].get("userName") == name]
    assert created["requestParameters"]["permissionsBoundary"] == READ_ONLY


def test_create_user_says_what_is_wrong_next_to_each_field(server, iam, journey):
    j = journey(javascript=False)
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/new")
    name = unique("tagged")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Key of tag 1").fill("cost#center")
    page.get_by_role("button", name="Add another tag").click()
    page.get_by_label("Key of tag 2").fill("Team")
    page.get_by_label("Value of tag 2").fill("plat#form")
    page.get_by_role("button", name="Add another tag").click()
    page.get_by_label("Key of tag 3").fill("team")
    page.get_by_role("button", name="Add another tag").click()
    page.get_by_label("Value of tag 4").fill("orphan")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#tag_key-1-error")).to_have_text(
        "A key can have only letters, digits, spaces and the characters _ . : / = + - @.")
    expect(page.get_by_label("Key of tag 1")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#tag_value-2-error")).to_contain_text("A value can have only")
    expect(page.locator("#tag_key-2-error")).to_have_count(0)
    expect(page.locator("#tag_key-3-error")).to_contain_text("already used above")
    expect(page.locator("#tag_key-4-error")).to_contain_text("Enter a key for this value")
    expect(page.get_by_label("Value of tag 2")).to_have_value("plat#form")
    j.shot("tags-refused")
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)

    # More managed policies than a user may have attached is said before anything is made.
    page.get_by_label("Key of tag 1").fill("")
    for row in range(2, 5):
        page.get_by_label(f"Key of tag {row}").fill("")
        page.get_by_label(f"Value of tag {row}").fill("")
    boxes = page.locator("input[name=policy]")
    for index in range(11):
        boxes.nth(index).check()
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#policies-error")).to_have_text(
        "A user can have at most 10 managed policies attached directly; 11 are chosen. "
        "Put the rest in a group's policies.")
    expect(page.locator("#tag_key-1-error")).to_have_count(0)
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)


def test_an_admin_who_may_not_attach_policies_is_refused_before_the_user_exists(
        server, iam, journey):
    policy = iam.create_policy(PolicyName=unique("no-attach"), PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": [
            "iam:CreateUser", "iam:TagUser", "iam:AddUserToGroup", "iam:CreateLoginProfile",
            "iam:GetUser", "iam:ListUsers", "iam:ListGroups"], "Resource": "*"}]}),
    )["Policy"]["Arn"]
    admin = console_user(server, iam, policies=[policy])
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, admin, GOOD_PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto(f"{server.url}/console/users/new")
    name = unique("halfmade")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Key of tag 1").fill("team")
    page.get_by_label("IAMReadOnlyAccess", exact=True).check()
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#refused")).to_contain_text("Nothing was created")
    expect(page.locator("#refused")).to_contain_text("iam:AttachUserPolicy")
    # The form is kept, the policy still chosen.
    expect(page.get_by_label("IAMReadOnlyAccess", exact=True)).to_be_checked()
    j.shot("refused")
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName=name)
    assert not [e for e in _trail_events(server, "CreateUser")
                if e["requestParameters"].get("userName") == name]


def test_an_mfa_device_is_removed_and_the_user_signs_in_without_it(server, iam, journey):
    name = console_user(server, iam)
    device = new_device(iam)
    enable(iam, name, device)
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    page.goto(f"{server.url}/console/users/{name}?tab=security_credentials")
    page.get_by_role("link", name=f"Remove MFA device {device.serial}").click()
    expect(page.get_by_role("heading", name="Remove MFA device?")).to_be_visible()
    j.shot("confirm")
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("No MFA device is assigned.")).to_be_visible()
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    assert device.serial not in [d["SerialNumber"] for d in
                                 iam.list_virtual_mfa_devices()["VirtualMFADevices"]]
    for event_name in ("DeactivateMFADevice", "DeleteVirtualMFADevice"):
        mine = [e for e in _trail_events(server, event_name)
                if e["requestParameters"].get("serialNumber") == device.serial]
        assert len(mine) == 1 and "errorCode" not in mine[0], (event_name, mine)

    person = journey()
    sign_in(person, server, server.account_id, name, GOOD_PASSWORD)
    expect(person.page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_person_s_authenticator_is_removed_and_the_next_sign_in_enrolls_again(
        server, journey):
    ids = server.client("identitystore")
    store = ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]
    name = unique("robin")
    user_id = ids.create_user(IdentityStoreId=store, UserName=name, DisplayName="Robin Reset",
                              Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"]
    person = journey()
    page = person.page
    page.goto(invitation_link(server, name))
    page.get_by_label("Password", exact=True).fill(GOOD_PASSWORD)
    page.get_by_label("Confirm password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    seed = page.locator("#secret-key").inner_text()
    step = now_step()
    page.get_by_label("MFA code 1").fill(totp(seed, step - 1))
    page.get_by_label("MFA code 2").fill(totp(seed, step))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading")).to_contain_text("Authenticator app set up")

    j = journey()
    admin = j.page
    sign_in(j, server, server.account_id, "admin", server.admin["ConsolePassword"])
    admin.goto(f"{server.url}/console/identity-center/users")
    expect(admin.get_by_role("row").filter(has_text=name)).to_contain_text("Registered")
    admin.get_by_role("link", name=f"Remove the authenticator app of {name}").click()
    expect(admin.get_by_role("heading", name=f"Authenticator app of {name}")).to_be_visible()
    j.shot("confirm")
    admin.get_by_role("button", name="Remove authenticator app").click()
    expect(admin.get_by_role("status")).to_contain_text(
        f"The authenticator app of {name} was removed")
    expect(admin.get_by_role("row").filter(has_text=name)).to_contain_text("None")
    j.shot("removed")
    [event] = [e for e in _trail_events(server, "DeleteMfaDeviceForUser")
               if e["requestParameters"].get("userId") == user_id]
    assert event["eventSource"] == "sso-directory.amazonaws.com"
    assert event["userIdentity"]["arn"] == server.admin["UserArn"]

    # MFA is required (the default): the next sign-in sets up a new authenticator app.
    page.goto(f"{server.url}/start")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("img", name="QR code of the secret key")).to_be_visible()
    person.shot("enroll-again")


def test_removing_an_authenticator_needs_sso_directory_permissions(server, iam, journey):
    """Without sso-directory:ListMfaDevicesForUser the column is not shown; without
    sso-directory:DeleteMfaDeviceForUser the removal is refused, and the refusal recorded."""
    ids = server.client("identitystore")
    store = ids.list_identity_stores()["IdentityStores"][0]["IdentityStoreId"]
    person = unique("sam")
    user_id = ids.create_user(IdentityStoreId=store, UserName=person, DisplayName="Sam",
                              Emails=[{"Value": f"{person}@example.com"}])["UserId"]
    policy = iam.create_policy(PolicyName=unique("ic-admin"), PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["identitystore:*", "sso:*"],
                       "Resource": "*"}]}))["Policy"]["Arn"]
    admin = console_user(server, iam, policies=[policy])
    j = journey()
    page = j.page
    sign_in(j, server, server.account_id, admin, GOOD_PASSWORD)
    page.goto(f"{server.url}/console/identity-center/users")
    expect(page.get_by_role("row").filter(has_text=person)).to_contain_text("Not shown")
    j.shot("not-shown")
    page.goto(f"{server.url}/console/identity-center/users/{user_id}/authenticator")
    expect(page.get_by_role("heading", name="Access denied")).to_be_visible()

    form = Form(server)
    _, signed_in, _ = form.post("/console/signin", {
        "account": server.account_id, "user_name": admin, "password": GOOD_PASSWORD})
    csrf = re.search(r'name="csrf" value="([^"]+)"', signed_in).group(1)
    status, answer, _ = form.post(f"/console/identity-center/users/{user_id}/authenticator",
                                  {"csrf": csrf})
    assert status == 403
    assert "sso-directory:DeleteMfaDeviceForUser" in html.unescape(answer)
    [event] = [e for e in _trail_events(server, "DeleteMfaDeviceForUser")
               if e["requestParameters"].get("userId") == user_id]
    assert event["errorCode"] == "AccessDenied"
    assert event["userIdentity"]["userName"] == admin


def _signed_in_form(server, user_name: str, password: str):
    form = Form(server)
    status, page, _ = form.post("/console/signin", {
        "account": server.account_id, "user_name": user_name, "password": password})
    assert status == 200 and "Dashboard" in page, page
    return form, re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_create_user_steps_are_decided_with_the_new_user_s_tags(server, iam):
    """Steps after CreateUser are decided once the user exists, as the API calls would be:
    a Deny on attaching policies to users tagged protected=true holds for a user this page
    creates with that tag."""
    read_only = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    policy = iam.create_policy(PolicyName=unique("protect"), PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [
                "iam:CreateUser", "iam:TagUser", "iam:AttachUserPolicy", "iam:GetUser",
                "iam:ListUsers", "iam:ListGroups", "iam:ListPolicies"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:AttachUserPolicy", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}}}]}),
    )["Policy"]["Arn"]
    admin = console_user(server, iam, policies=[policy])
    form, csrf = _signed_in_form(server, admin, GOOD_PASSWORD)
    name = unique("protected")
    status, page, _ = form.post("/console/users/new", {
        "csrf": csrf, "user_name": name, "policy": read_only,
        "tag_key": "protected", "tag_value": "true", "action": "create"})
    assert status == 200, page
    assert "Not done" in page and "iam:AttachUserPolicy" in page, page
    assert iam.get_user(UserName=name)["User"]["Tags"] == [
        {"Key": "protected", "Value": "true"}]
    assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == []


def test_a_key_description_is_tagging_with_the_key_s_tag(server, iam):
    """The description is TagUser with the tag keyed by the new key's id: a policy that
    allows only other tag keys creates the key but not its description."""
    policy = iam.create_policy(PolicyName=unique("keys-only"), PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [
                "iam:CreateAccessKey", "iam:GetUser", "iam:ListUsers",
                "iam:ListAccessKeys"], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:TagUser", "Resource": "*",
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}]}),
    )["Policy"]["Arn"]
    admin = console_user(server, iam, policies=[policy])
    owner = unique("owner")
    iam.create_user(UserName=owner)
    form, csrf = _signed_in_form(server, admin, GOOD_PASSWORD)
    status, page, _ = form.post(f"/console/users/{owner}/access-keys/new", {
        "csrf": csrf, "step": "2", "use_case": "cli", "understood": "on",
        "description": "laptop"})
    assert status == 200, page
    assert "its description was not saved" in page and "iam:TagUser" in page, page
    keys = iam.list_access_keys(UserName=owner)["AccessKeyMetadata"]
    assert len(keys) == 1
    assert iam.list_user_tags(UserName=owner)["Tags"] == []
