"""The latchkey binary itself: init, serve on a fresh dir, restarts, SIGKILL."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from helpers import (
    ACCESS_KEY_ID_RE,
    ACCOUNT_ID_RE,
    Server,
    expect_error,
    init_data_dir,
    run_latchkey,
)

SECRET_RE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
KEY_ID_RE = re.compile(r"AKIA[A-Z2-7]{16}")


def _snapshot(root) -> dict:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_init_json_prints_admin_credentials(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    creds = init_data_dir(data)
    assert ACCOUNT_ID_RE.match(creds["AccountId"]), creds["AccountId"]
    assert creds["UserName"] == "admin"
    assert ACCESS_KEY_ID_RE.match(creds["AccessKeyId"]), creds["AccessKeyId"]
    assert len(creds["SecretAccessKey"]) == 40
    assert isinstance(creds["ConsolePassword"], str) and len(creds["ConsolePassword"]) >= 8


def test_init_twice_fails_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    creds = init_data_dir(data)
    before = _snapshot(data)
    assert before, "init wrote no files"

    res = run_latchkey("init", "--data", str(data), "--json")
    assert res.returncode != 0, res.stdout
    assert "AccessKeyId" not in res.stdout, res.stdout
    assert re.search(r"already|initiali[sz]ed", res.stderr, re.I), res.stderr
    assert _snapshot(data) == before

    # And the original admin key still works.
    srv = Server(data_dir=data, log_path=tmp_path / "serve.log", admin=creds).start()
    try:
        ident = srv.client("sts").get_caller_identity()
        assert ident["Arn"] == f"arn:aws:iam::{creds['AccountId']}:user/admin"
    finally:
        srv.stop()


def test_serve_initializes_a_fresh_dir_and_prints_credentials_once(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    srv = Server(data_dir=data, log_path=tmp_path / "first.log").start()
    try:
        out = srv.log()
        key_ids = KEY_ID_RE.findall(out)
        assert key_ids, f"no AccessKeyId in serve's output:\n{out}"
        key_id = key_ids[0]
        candidates = SECRET_RE.findall(out)
        assert candidates, f"no secret access key in serve's output:\n{out}"
        admin = ident = None
        for secret in candidates:  # the first 40-char token that signs correctly
            try_admin = {"AccessKeyId": key_id, "SecretAccessKey": secret}
            try:
                ident = srv.client("sts", try_admin).get_caller_identity()
            except ClientError:
                continue
            admin = try_admin
            break
        assert admin is not None, f"no printed secret works with {key_id}:\n{out}"
        assert ident["Arn"].endswith(":user/admin"), ident
        srv.admin = dict(admin, AccountId=ident["Account"])
    finally:
        srv.stop()

    # A second start on the same dir neither re-initializes nor re-prints.
    srv.log_path = tmp_path / "second.log"
    srv.start()
    try:
        assert admin["SecretAccessKey"] not in srv.log()
        assert srv.client("sts").get_caller_identity()["Arn"].endswith(":user/admin")
    finally:
        srv.stop()


def test_sigterm_stops_the_server_cleanly(fresh_server):
    srv = fresh_server("sigterm")
    assert srv.client("sts").get_caller_identity()
    assert srv.stop(timeout=10) == 0, srv.log()


def test_committed_writes_survive_sigkill(fresh_server):
    srv = fresh_server("durable")
    iam = srv.client("iam")
    name = "durable-user"
    user = iam.create_user(UserName=name, Path="/dur/")["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    off = iam.create_access_key(UserName=name)["AccessKey"]
    iam.update_access_key(UserName=name, AccessKeyId=off["AccessKeyId"], Status="Inactive")
    gone = iam.create_user(UserName="deleted-user")["User"]
    iam.delete_user(UserName=gone["UserName"])

    srv.kill()  # SIGKILL: no graceful shutdown, no final checkpoint
    srv.start()

    iam = srv.client("iam")
    listed = iam.list_users(PathPrefix="/dur/")["Users"]
    assert [(u["UserName"], u["UserId"]) for u in listed] == [(name, user["UserId"])]
    ident = srv.client("sts", key).get_caller_identity()
    assert ident["Arn"] == user["Arn"]
    expect_error(srv.client("sts", off).get_caller_identity, "InvalidClientTokenId", 403)
    expect_error(iam.get_user, "NoSuchEntity", 404, UserName="deleted-user")
    assert srv.client("sts").get_caller_identity()["Arn"].endswith(":user/admin")


def test_serve_takes_its_settings_from_a_configuration_file(tmp_path):
    """`--config` names a TOML file with data, listen and store; a flag wins over it."""
    import subprocess
    import time
    import urllib.request

    from helpers import free_port, latchkey_bin

    port = free_port()
    data = tmp_path / "from-config"
    config = tmp_path / "latchkey.toml"
    config.write_text(f'data = "{data}"\nlisten = "127.0.0.1:{port}"\nstore = "sqlite"\n')
    proc = subprocess.Popen([str(latchkey_bin()), "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.time() < deadline, "the server did not come up on the configured port"
                time.sleep(0.1)
        assert (data / "latchkey.db").exists(), "the configured data directory was not used"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # An unknown setting is refused with a clear error, before anything is created.
    config.write_text('listne = "127.0.0.1:1"\n')
    result = subprocess.run([str(latchkey_bin()), "serve", "--config", str(config)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "not a valid configuration" in result.stderr
