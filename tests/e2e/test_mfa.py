"""Virtual MFA devices: the IAM API (create, enable with two consecutive codes, list,
resync, deactivate, delete), and MFA through STS: GetSessionToken and AssumeRole with
SerialNumber and TokenCode, aws:MultiFactorAuthPresent/Age in policies, each code once.

The codes are computed here from the seed the server returned, as an authenticator app
would (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time

import pytest
from botocore.exceptions import ClientError

from helpers import (IAM_READ_ONLY_ACCESS, allow, assumed_role_arn, client_error,
                     create_user, deny, expect_error, policy_document, trust_policy, unique)

INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
UNKNOWN_DEVICE = ("MultiFactorAuthentication failed, unable to validate MFA code.  Please "
                  "verify your MFA serial number is valid and associated with this user.")


def totp(seed_base32: str, step: int) -> str:
    padded = seed_base32 + "=" * (-len(seed_base32) % 8)
    key = base64.b32decode(padded)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def now_step() -> int:
    return int(time.time()) // 30


class Device:
    """A virtual MFA device as an authenticator app holds it."""

    def __init__(self, created: dict):
        self.serial = created["SerialNumber"]
        self.seed = created["Base32StringSeed"].decode("ascii")
        self.png = created["QRCodePNG"]

    def code(self, offset: int = 0) -> str:
        return totp(self.seed, now_step() + offset)


def new_device(iam, path: str = "/") -> Device:
    return Device(iam.create_virtual_mfa_device(
        VirtualMFADeviceName=unique("mfa"), Path=path)["VirtualMFADevice"])


def enable(iam, user_name: str, device: Device) -> tuple[str, str]:
    """Enables with the codes of the two steps before now, as a person who read two codes
    and then typed them; the codes of now and the next step stay unused for signing in.
    Returns the two codes."""
    codes = device.code(-2), device.code(-1)
    iam.enable_mfa_device(UserName=user_name, SerialNumber=device.serial,
                          AuthenticationCode1=codes[0], AuthenticationCode2=codes[1])
    return codes


# The AWS example policy "Allows MFA-authenticated IAM users to manage their own MFA
# device" and deny everything else without MFA (reduced to the statements tested here).
FORCE_MFA = policy_document(
    {"Sid": "AllowViewAccountInfo", "Effect": "Allow",
     "Action": "iam:ListVirtualMFADevices", "Resource": "*"},
    {"Sid": "AllowManageOwnVirtualMFADevice", "Effect": "Allow",
     "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
    {"Sid": "AllowManageOwnUserMFA", "Effect": "Allow",
     "Action": ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:GetUser",
                "iam:GetMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"],
     "Resource": "arn:aws:iam::*:user/${aws:username}"},
    {"Sid": "AllowReadWithMfa", "Effect": "Allow", "Action": "iam:List*", "Resource": "*"},
    {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
     "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser",
                   "iam:GetMFADevice", "iam:ListMFADevices", "iam:ListVirtualMFADevices",
                   "iam:ResyncMFADevice", "sts:GetSessionToken"],
     "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
)


def test_create_returns_the_seed_and_a_qr_code_once(iam, account_id):
    name = unique("mfa")
    created = iam.create_virtual_mfa_device(
        VirtualMFADeviceName=name, Path="/team/")["VirtualMFADevice"]
    assert created["SerialNumber"] == f"arn:aws:iam::{account_id}:mfa/team/{name}"
    seed = created["Base32StringSeed"].decode("ascii")
    assert len(base64.b32decode(seed + "=" * (-len(seed) % 8))) == 20
    assert created["QRCodePNG"].startswith(b"\x89PNG\r\n\x1a\n")
    assert "User" not in created
    # Listing never shows the seed again.
    listed = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    entry = next(d for d in listed if d["SerialNumber"] == created["SerialNumber"])
    assert set(entry) == {"SerialNumber"}
    expect_error(lambda: iam.create_virtual_mfa_device(VirtualMFADeviceName=name.upper()),
                 "EntityAlreadyExists", 409)
    expect_error(lambda: iam.create_virtual_mfa_device(VirtualMFADeviceName="bad name"),
                 "ValidationError", 400)


def test_enable_list_get_deactivate_delete(iam, make_user, account_id):
    user = make_user("mfauser")
    device = new_device(iam)
    expect_error(lambda: iam.enable_mfa_device(
        UserName=user.name, SerialNumber=device.serial,
        AuthenticationCode1=device.code(-1), AuthenticationCode2=device.code(-1)),
        "InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    expect_error(lambda: iam.enable_mfa_device(
        UserName=user.name, SerialNumber=device.serial,
        AuthenticationCode1="12345a", AuthenticationCode2="123456"),
        "ValidationError", 400)
    enable(iam, user.name, device)

    listed = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [device.serial]
    assert listed[0]["UserName"] == user.name and "EnableDate" in listed[0]
    got = iam.get_mfa_device(UserName=user.name, SerialNumber=device.serial)
    assert got["SerialNumber"] == device.serial and got["UserName"] == user.name
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    entry = next(d for d in assigned if d["SerialNumber"] == device.serial)
    assert entry["User"]["UserName"] == user.name
    assert entry["User"]["Arn"] == f"arn:aws:iam::{account_id}:user/{user.name}"
    assert "Base32StringSeed" not in entry and "QRCodePNG" not in entry

    # One device, one user.
    other = make_user("mfaother")
    expect_error(lambda: enable(iam, other.name, device), "EntityAlreadyExists", 409)
    # The user and the assigned device cannot be deleted.
    expect_error(lambda: iam.delete_virtual_mfa_device(SerialNumber=device.serial),
                 "DeleteConflict", 409)
    iam.delete_access_key(UserName=user.name, AccessKeyId=user.key["AccessKeyId"])
    expect_error(lambda: iam.delete_user(UserName=user.name), "DeleteConflict", 409,
                 "Cannot delete entity, must delete MFA device first.")
    # The credential report and the account summary see it.
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["MFADevicesInUse"] >= 1 and summary["MFADevices"] >= summary["MFADevicesInUse"]

    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=device.serial)
    assert iam.list_mfa_devices(UserName=user.name)["MFADevices"] == []
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert device.serial in [d["SerialNumber"] for d in unassigned]
    expect_error(lambda: iam.get_mfa_device(UserName=user.name, SerialNumber=device.serial),
                 "NoSuchEntity", 404)
    iam.delete_virtual_mfa_device(SerialNumber=device.serial)
    expect_error(lambda: iam.delete_virtual_mfa_device(SerialNumber=device.serial),
                 "NoSuchEntity", 404)
    iam.delete_user(UserName=user.name)


def test_resync_learns_a_drifting_clock(iam, make_user):
    user = make_user("drift")
    device = new_device(iam)
    enable(iam, user.name, device)
    # The device's clock runs six minutes (12 steps) fast: its codes are refused...
    sts = user.client("sts")
    expect_error(lambda: sts.get_session_token(SerialNumber=device.serial,
                                               TokenCode=device.code(12)),
                 "AccessDenied", 403, INVALID_CODE)
    # ...until a resync with two consecutive codes it shows.
    iam.resync_mfa_device(UserName=user.name, SerialNumber=device.serial,
                          AuthenticationCode1=device.code(12),
                          AuthenticationCode2=device.code(13))
    creds = sts.get_session_token(SerialNumber=device.serial,
                                  TokenCode=device.code(14))["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")


def test_force_mfa_policy_denies_until_the_user_signs_in_with_mfa(server, iam, make_user):
    user = make_user("forced", inline={"ForceMFA": FORCE_MFA})
    own = user.client("iam")
    # Without MFA: only the MFA self-service actions.
    with pytest.raises(ClientError) as excinfo:
        own.list_users()
    error = client_error(excinfo)
    assert error[0] == "AccessDenied" and "explicit deny" in error[2]
    device = Device(own.create_virtual_mfa_device(
        VirtualMFADeviceName=user.name)["VirtualMFADevice"])
    enable(own, user.name, device)

    creds = user.client("sts").get_session_token(
        SerialNumber=device.serial, TokenCode=device.code(0), DurationSeconds=900)["Credentials"]
    session_iam = server.client("iam", creds)
    names = [u["UserName"] for u in session_iam.list_users()["Users"]]
    assert user.name in names
    # The MFA session may call IAM at all (a session made without MFA may not).
    plain = server.client("iam", user.client("sts").get_session_token(
        DurationSeconds=900)["Credentials"])
    expect_error(plain.list_users, "InvalidClientTokenId", 403)


def test_each_code_is_accepted_once(iam, make_user):
    user = make_user("replay")
    device = new_device(iam)
    _, spent = enable(iam, user.name, device)
    sts = user.client("sts")
    # The codes that enabled the device are spent.
    expect_error(lambda: sts.get_session_token(SerialNumber=device.serial, TokenCode=spent),
                 "AccessDenied", 403, INVALID_CODE)
    code = device.code(0)
    sts.get_session_token(SerialNumber=device.serial, TokenCode=code)
    expect_error(lambda: sts.get_session_token(SerialNumber=device.serial, TokenCode=code),
                 "AccessDenied", 403, INVALID_CODE)
    # A code from far outside the window.
    expect_error(lambda: sts.get_session_token(SerialNumber=device.serial,
                                               TokenCode=device.code(5)),
                 "AccessDenied", 403, INVALID_CODE)


def test_a_device_of_another_user_or_unknown_serial_is_refused(iam, make_user, account_id):
    owner, other = make_user("owner"), make_user("intruder")
    device = new_device(iam)
    enable(iam, owner.name, device)
    for serial in (device.serial, f"arn:aws:iam::{account_id}:mfa/{unique('none')}"):
        expect_error(lambda: other.client("sts").get_session_token(
            SerialNumber=serial, TokenCode=device.code(0)), "AccessDenied", 403, UNKNOWN_DEVICE)
    expect_error(lambda: owner.client("sts").get_session_token(
        SerialNumber=device.serial, TokenCode="abcdef"), "ValidationError", 400)


def test_assume_role_trust_policy_requires_mfa(server, iam, make_user, make_role, account_id):
    user = make_user("assumemfa", inline={
        "AssumeRoles": policy_document(allow("sts:AssumeRole"))})
    role = make_role(trust_policy(
        user.arn, condition={"Bool": {"aws:MultiFactorAuthPresent": "true"},
                             "NumericLessThan": {"aws:MultiFactorAuthAge": "300"}}),
        policies=[IAM_READ_ONLY_ACCESS])
    device = new_device(iam)
    enable(iam, user.name, device)
    sts = user.client("sts")
    session = unique("s")
    expect_error(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName=session),
                 "AccessDenied", 403)
    wrong = "000000" if device.code(0) != "000000" else "111111"
    expect_error(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName=session,
                                         SerialNumber=device.serial, TokenCode=wrong),
                 "AccessDenied", 403, INVALID_CODE)
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=session,
                           SerialNumber=device.serial, TokenCode=device.code(0))
    assert resp["AssumedRoleUser"]["Arn"] == assumed_role_arn(account_id, role["RoleName"],
                                                              session)
    # The role session carries MFA: a policy that demands it lets the session through.
    role_iam = server.client("iam", resp["Credentials"])
    role_iam.list_users(MaxItems=1)
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="NeedMfa",
                        PolicyDocument=json.dumps(policy_document(
                            deny("iam:*", Condition={"BoolIfExists": {
                                "aws:MultiFactorAuthPresent": "false"}}))))
    role_iam.list_users(MaxItems=1)


def test_mfa_survives_a_restart(fresh_server):
    server = fresh_server()
    iam = server.client("iam")
    user = create_user(server, "persist")
    device = new_device(iam)
    enable(iam, user.name, device)
    server.stop()
    server.start()
    iam = server.client("iam")
    assert [d["SerialNumber"] for d in
            iam.list_mfa_devices(UserName=user.name)["MFADevices"]] == [device.serial]
    # The sealed seed opens after the restart: a fresh code proves MFA.
    creds = user.client("sts").get_session_token(
        SerialNumber=device.serial, TokenCode=device.code(0))["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    report_lines = _credential_report(iam).splitlines()
    header = report_lines[0].split(",")
    row = next(line.split(",") for line in report_lines if line.startswith(user.name + ","))
    assert row[header.index("mfa_active")] == "true"


def _credential_report(iam) -> str:
    for _ in range(50):
        if iam.generate_credential_report()["State"] == "COMPLETE":
            break
        time.sleep(0.1)
    return iam.get_credential_report()["Content"].decode()
