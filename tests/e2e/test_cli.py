"""The AWS CLI v1 against latchkey (AWS_ENDPOINT_URL points it at the server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ACCESS_KEY_ID_RE, unique

AWS = Path(sys.executable).parent / "aws"


@pytest.fixture
def aws(server, tmp_path):
    """aws(*args, creds=None) -> CompletedProcess; JSON output, no config files."""
    if not AWS.exists():
        pytest.fail(f"AWS CLI not found at {AWS}; install tests/requirements.txt")

    def run(*args: str, creds: dict | None = None, region: str = "us-east-1"):
        creds = creds or server.admin
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "AWS_ENDPOINT_URL": server.url,
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": str(tmp_path / "no-such-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-such-credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        return subprocess.run([str(AWS), *args, "--output", "json"], env=env,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    return run


def _ok(res: subprocess.CompletedProcess) -> dict:
    assert res.returncode == 0, f"rc={res.returncode}\nstderr:\n{res.stderr}"
    return json.loads(res.stdout) if res.stdout.strip() else {}


def test_cli_creates_user_and_key_that_identifies_as_the_user(aws, account_id):
    name = unique("cli")
    user = _ok(aws("iam", "create-user", "--user-name", name))["User"]
    assert user["UserName"] == name
    assert user["Arn"] == f"arn:aws:iam::{account_id}:user/{name}"

    key = _ok(aws("iam", "create-access-key", "--user-name", name))["AccessKey"]
    assert ACCESS_KEY_ID_RE.match(key["AccessKeyId"])
    assert len(key["SecretAccessKey"]) == 40
    assert key["Status"] == "Active"

    ident = _ok(aws("sts", "get-caller-identity", creds=key, region="eu-west-1"))
    assert ident["Arn"] == user["Arn"]
    assert ident["Account"] == account_id
    assert ident["UserId"] == user["UserId"]


def test_cli_lists_access_keys(aws):
    name = unique("cli")
    _ok(aws("iam", "create-user", "--user-name", name))
    k1 = _ok(aws("iam", "create-access-key", "--user-name", name))["AccessKey"]
    k2 = _ok(aws("iam", "create-access-key", "--user-name", name))["AccessKey"]
    listed = _ok(aws("iam", "list-access-keys", "--user-name", name))["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {k1["AccessKeyId"], k2["AccessKeyId"]}
    assert all(k["Status"] == "Active" and "SecretAccessKey" not in k for k in listed)

    # The user lists her own keys without --user-name.
    own = _ok(aws("iam", "list-access-keys", creds=k1))["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in own} == {k1["AccessKeyId"], k2["AccessKeyId"]}


def test_cli_delete_user_with_keys_fails_with_delete_conflict(aws):
    name = unique("cli")
    _ok(aws("iam", "create-user", "--user-name", name))
    _ok(aws("iam", "create-access-key", "--user-name", name))
    res = aws("iam", "delete-user", "--user-name", name)
    # AWS CLI v1 exits 255 on a service error (v2 uses 254); checked against
    # awscli 1.46.3, whose clidriver maps every ClientError to 255.
    assert res.returncode == 255, (res.returncode, res.stderr)
    assert "DeleteConflict" in res.stderr, res.stderr
    assert "DeleteUser" in res.stderr, res.stderr
    # Still there.
    assert _ok(aws("iam", "get-user", "--user-name", name))["User"]["UserName"] == name


def test_cli_get_unknown_user_reports_no_such_entity(aws):
    name = unique("ghost")
    res = aws("iam", "get-user", "--user-name", name)
    assert res.returncode == 255, (res.returncode, res.stderr)
    assert "(NoSuchEntity)" in res.stderr
    assert f"The user with name {name} cannot be found." in res.stderr


def test_cli_list_users_paginates_across_pages(aws):
    path = f"/{unique('clipage')}/"
    base = unique("cp")
    names = [f"{base}-{i}" for i in range(5)]
    for n in names:
        _ok(aws("iam", "create-user", "--user-name", n, "--path", path))
    # --page-size 2 makes the CLI follow Marker across three requests.
    listed = _ok(aws("iam", "list-users", "--path-prefix", path, "--page-size", "2"))
    assert [u["UserName"] for u in listed["Users"]] == names
