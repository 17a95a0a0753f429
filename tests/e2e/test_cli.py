"""The AWS CLI v1 against latchkey (AWS_ENDPOINT_URL points it at the server)."""

from __future__ import annotations

import json

from helpers import ACCESS_KEY_ID_RE, SELF_SERVICE_KEYS_DOCUMENT, cli_ok as _ok, unique

# The `aws` fixture (conftest.py) runs .venv/bin/aws with --output json.


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

    # Without a policy the user may not even list her own keys...
    res = aws("iam", "list-access-keys", creds=k1)
    assert res.returncode == 255, (res.returncode, res.stderr)
    assert "(AccessDenied) when calling the ListAccessKeys operation" in res.stderr, res.stderr
    assert ("because no identity-based policy allows the iam:ListAccessKeys action"
            in res.stderr), res.stderr

    # ...with the self-service policy (inline, put with the CLI) she lists them
    # without --user-name.
    _ok(aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "OwnKeys",
            "--policy-document", json.dumps(SELF_SERVICE_KEYS_DOCUMENT)))
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
