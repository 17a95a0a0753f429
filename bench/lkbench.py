"""Shared helpers for bench/multi_instance.py and bench/scale.py (not a benchmark itself).

Starting and stopping `latchkey` processes, fresh PostgreSQL databases, and raw SigV4-signed
HTTP requests (botocore's SigV4Auth + http.client keep-alive) for loops where a boto3 client's
own overhead (~1.3 ms a call) would swamp what is measured.
"""

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid

import botocore.auth
import botocore.awsrequest
import botocore.credentials

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/test")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def build_binary():
    """target/release/latchkey, built unless SKIP_BUILD=1; LATCHKEY_BIN overrides the path."""
    if os.environ.get("LATCHKEY_BIN"):
        return os.environ["LATCHKEY_BIN"]
    if os.environ.get("SKIP_BUILD", "0") != "1":
        log("building the release binary")
        subprocess.run(["cargo", "build", "--release", "-p", "latchkey-server", "--bin", "latchkey"],
                       cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "latchkey")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_note():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = open("/proc/loadavg").read().split()[:3]
    return f"nproc={os.cpu_count()} cpu={model!r} kernel={os.uname().release} loadavg={' '.join(load)}"


# --- PostgreSQL ----------------------------------------------------------------------------

def psql(sql, url=PG_ADMIN_URL):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def create_database(prefix):
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    psql(f'CREATE DATABASE "{name}"')
    return name, f"{PG_BASE}/{name}"


def drop_database(name):
    try:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except subprocess.CalledProcessError as e:
        log(f"could not drop database {name}: {e.stderr.strip()}")


def pg_settings():
    return {k: psql(f"SHOW {k}") for k in ("fsync", "synchronous_commit", "wal_sync_method")} | {
        "server_version": psql("SHOW server_version")}


# --- latchkey processes --------------------------------------------------------------------

def init(binary, data, store=None, cwd=None):
    """`latchkey init --json`; returns the parsed credentials."""
    cmd = [binary, "init", "--data", data, "--json"]
    if store:
        cmd += ["--store", store]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd)
    return json.loads(out.stdout)


class Server:
    """One `latchkey serve`; `start()` returns the seconds from spawn to the first /healthz 200."""

    def __init__(self, binary, data, store=None, port=None, log_path=None, cwd=None, config=None):
        self.binary, self.data, self.store, self.cwd = binary, data, store, cwd
        self.config = config
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(data, f"serve-{self.port}.log")
        self.proc = None

    def start(self, timeout=120.0):
        cmd = [self.binary, "serve", "--data", self.data, "--listen", self.host]
        if self.store:
            cmd += ["--store", self.store]
        if self.config:
            cmd += ["--config", self.config]
        env = dict(os.environ, LATCHKEY_LOG=os.environ.get("LATCHKEY_LOG", "warn"))
        self._log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"latchkey exited with {self.proc.returncode}; see {self.log_path}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    return time.perf_counter() - t0
            except OSError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"latchkey did not answer /healthz within {timeout}s")
            time.sleep(0.002)

    def status(self):
        """VmRSS and VmHWM in MiB, from /proc/<pid>/status."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) / 1024
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


# --- raw signed HTTP -------------------------------------------------------------------------

def sign(host, akid, secret, service, params):
    """Signs a POST / form request; returns (body, headers). The bytes may be replayed
    within the 15-minute skew window (SigV4 has no nonce), which the poll loops do."""
    version = "2011-06-15" if service == "sts" else "2010-05-08"
    body = "&".join(f"{k}={v}" for k, v in (dict(params) | {"Version": version}).items())
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"http://{host}/", data=body,
                                         headers={"Content-Type": FORM})
    creds = botocore.credentials.Credentials(akid, secret)
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    headers["Host"] = host
    return body, headers


class Conn:
    """A keep-alive connection that sends signed requests and returns (status, body)."""

    def __init__(self, host):
        self.host = host
        h, p = host.split(":")
        self.c = http.client.HTTPConnection(h, int(p), timeout=10)

    def send(self, body, headers):
        self.c.request("POST", "/", body, headers)
        r = self.c.getresponse()
        return r.status, r.read()

    def call(self, akid, secret, service, params):
        body, headers = sign(self.host, akid, secret, service, params)
        status, data = self.send(body, headers)
        if status != 200:
            raise RuntimeError(f"{params.get('Action')} answered {status}: {data[:300]!r}")
        return data.decode()

    def close(self):
        self.c.close()


def xml_field(text, name):
    m = re.search(rf"<{name}>([^<]*)</{name}>", text)
    if not m:
        raise ValueError(f"no <{name}> in {text[:300]!r}")
    return m.group(1)


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def median(values):
    return statistics.median(values)


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
