"""Fixtures for the latchkey end-to-end suite.

* ``server``        - session-wide ``latchkey serve`` on a fresh data dir,
                      initialized with ``latchkey init --json``; ``server.admin``
                      holds the admin credentials.
* ``fresh_server``  - a factory: ``fresh_server()`` starts another, private
                      server (own data dir and log); stopped at test end.
                      ``config="...toml..."`` gives it a configuration file;
                      ``ca_file=`` says it serves TLS with a certificate of that CA.
* ``iam`` / ``sts`` - admin boto3 clients for the session server.
* ``make_user``     - factory creating a uniquely named user (and optionally an
                      access key) on the session server; returns a ``User``.
                      ``policies=[arn, ...]``, ``inline={name: doc}``,
                      ``groups=[name]``, ``boundary=arn`` and
                      ``self_service=True`` give it permissions (by default it
                      has none: everything but sts:GetCallerIdentity is denied).
* ``make_group`` / ``make_policy`` - uniquely named groups and customer managed
                      policies on the session server (as the admin).
* ``make_role``     - ``make_role(trust, prefix, policies=, inline=, **CreateRole
                      args)``: a uniquely named role (as the admin); returns the "Role".
* ``aws``           - runs the AWS CLI v1 against the session server.
"""

from __future__ import annotations

import os
import pytest

from helpers import (AWS_CLI, Server, User, create_group, create_policy, create_role,
                     create_user, init_data_dir, run_aws_cli)


def pytest_configure(config):
    # Never let the developer's AWS config, profile or endpoint leak into the
    # clients: every client here gets explicit credentials and endpoint.
    for var in list(os.environ):
        if var.startswith("AWS_"):
            del os.environ[var]
    os.environ["AWS_CONFIG_FILE"] = "/nonexistent/latchkey-e2e/config"
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/latchkey-e2e/credentials"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


class _ServerPool:
    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self._servers: list[Server] = []

    def new(self, name: str = "srv", init: bool = True, env: dict | None = None,
            config: str | None = None, ca_file=None) -> Server:
        base = self._tmp.mktemp(name)
        data_dir = base / "data"
        data_dir.mkdir()
        config_path = None
        if config is not None:
            config_path = base / "latchkey.toml"
            config_path.write_text(config)
        srv = Server(data_dir=data_dir, log_path=base / "serve.log", env=env or {},
                     config=config_path, ca_file=ca_file)
        if init:
            srv.admin = init_data_dir(data_dir)
        self._servers.append(srv)
        return srv.start()

    def stop_all(self) -> None:
        errors = []
        for srv in self._servers:
            if srv.proc is None or srv.stopped:
                srv.kill()  # no-op unless a test left it running after a stop
                continue
            if srv.proc.poll() is not None:
                errors.append(
                    f"server on {srv.data_dir} exited with {srv.proc.returncode} "
                    f"while tests were using it; log:\n{srv.log()[-4000:]}"
                )
                srv.kill()
                continue
            try:
                srv.stop()
            except AssertionError as e:
                errors.append(str(e))
        self._servers.clear()
        if errors:
            raise AssertionError("\n\n".join(errors))


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    pool = _ServerPool(tmp_path_factory)
    srv = pool.new("shared")
    yield srv
    pool.stop_all()


@pytest.fixture
def fresh_server(tmp_path_factory):
    pool = _ServerPool(tmp_path_factory)
    yield pool.new
    pool.stop_all()


@pytest.fixture(scope="module")
def module_server_pool(tmp_path_factory):
    """For modules that need their own server(s) shared by their tests."""
    pool = _ServerPool(tmp_path_factory)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def account_id(server) -> str:
    return server.account_id


@pytest.fixture(scope="session")
def iam(server):
    return server.client("iam")


@pytest.fixture(scope="session")
def sts(server):
    return server.client("sts")


@pytest.fixture
def make_user(server):
    def make(prefix: str = "user", **kwargs) -> User:
        return create_user(server, prefix, **kwargs)

    return make


@pytest.fixture
def make_group(server):
    def make(prefix: str = "grp", **kwargs) -> dict:
        return create_group(server, prefix, **kwargs)

    return make


@pytest.fixture
def make_policy(server):
    def make(document, prefix: str = "pol", **kwargs) -> dict:
        return create_policy(server, document, prefix, **kwargs)

    return make


@pytest.fixture
def make_role(server):
    def make(trust, prefix: str = "role", **kwargs) -> dict:
        return create_role(server, trust, prefix, **kwargs)

    return make


@pytest.fixture
def aws(server, tmp_path):
    """aws(*args, creds=None, region="us-east-1") -> CompletedProcess; the AWS
    CLI v1 with JSON output, the endpoint and credentials in its environment
    and no config files."""
    if not AWS_CLI.exists():
        pytest.fail(f"AWS CLI not found at {AWS_CLI}; install tests/requirements.txt")

    def run(*args: str, creds: dict | None = None, region: str = "us-east-1"):
        return run_aws_cli(server, tmp_path, *args, creds=creds, region=region)

    return run
