"""Temporary credentials stop working at their expiry, through the real server and CLI.

The shortest session AWS allows lasts 15 minutes. Rather than wait, the test restarts the
same data directory under libfaketime 16 minutes in the future and runs the AWS CLI under
the same offset, so requests are signed at the time the server sees: long-term keys still
work, the session is refused with ExpiredToken.
"""

from __future__ import annotations

import shutil

import pytest

from helpers import (IAM_READ_ONLY_ACCESS, allow, cli_ok, create_role, create_user,
                     policy_document, run_aws_cli, trust_policy, unique)

LATER = ["faketime", "-f", "+16m"]


@pytest.fixture
def faketime():
    if shutil.which("faketime") is None:
        pytest.fail("faketime is not installed; scripts/test installs it (Debian: faketime)")


def test_an_expired_session_is_refused(faketime, fresh_server, tmp_path):
    server = fresh_server()
    user = create_user(server, "expiring", inline={
        "AssumeRoles": policy_document(allow("sts:AssumeRole"))})
    role = create_role(server, trust_policy(user.arn), policies=[IAM_READ_ONLY_ACCESS])
    sts = user.client("sts")
    role_creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=unique("s"),
                                 DurationSeconds=900)["Credentials"]
    user_creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    for creds in (role_creds, user_creds):
        cli_ok(run_aws_cli(server, tmp_path, "sts", "get-caller-identity", creds=creds))

    server.stop()
    server.wrapper = LATER
    server.start()
    # Sixteen minutes later the user's own key still signs...
    later = cli_ok(run_aws_cli(server, tmp_path, "sts", "get-caller-identity",
                               creds=user.key, wrapper=LATER))
    assert later["Arn"] == user.arn
    # ...and both 15-minute sessions are over.
    for creds in (role_creds, user_creds):
        res = run_aws_cli(server, tmp_path, "sts", "get-caller-identity", creds=creds,
                          wrapper=LATER)
        assert res.returncode != 0
        assert "(ExpiredToken)" in res.stderr, res.stderr
        assert "The security token included in the request is expired" in res.stderr
