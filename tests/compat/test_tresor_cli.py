"""Tresor's own CLI, called through a link named `vault` as the seeds call it.

1. Parity: the same command sequence is run by OpenBao's `bao` and by Tresor's CLI, each against
   its own fresh Tresor dev server; stdout, stderr and exit code must match command for command
   (after masking ids, times and the few words where OpenBao says "OpenBao" and Vault "Vault").
2. The seeds' command sequences through `vault`, asserting their output and their effects.
"""

import json
import os
import pathlib
import re
import subprocess

import pytest

from conftest import ROOT, TOKEN, Server, bao_bin, dev_argv, free_port_pair, tresor_bin


@pytest.fixture(scope="module")
def vault_link(tmp_path_factory):
    """The Tresor binary under the name `vault`."""
    d = tmp_path_factory.mktemp("bin")
    link = d / "vault"
    link.symlink_to(pathlib.Path(tresor_bin()).resolve())
    return str(link)


def run(cli, addr, home, *args, token=TOKEN, stdin=None, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"VAULT_ADDR": addr, "BAO_ADDR": addr, "HOME": str(home)})
    if token:
        env.update({"VAULT_TOKEN": token, "BAO_TOKEN": token})
    env.update(extra_env or {})
    return subprocess.run([cli, *args], capture_output=True, text=True, env=env, input=stdin, timeout=60)


POLICY = 'path "secret/data/backend/*" {\n  capabilities = ["read"]\n}\n'

# (args, stdin). Every command of the seeds' stories, plus the error paths scripts depend on.
PARITY_SEQUENCE = [
    (["status"], None),
    (["kv", "put", "secret/app/db", "user=app", "password=p1"], None),
    (["kv", "put", "secret/app/db", "user=app", "password=p2", "n=5"], None),
    (["kv", "get", "secret/app/db"], None),
    (["kv", "get", "-field=user", "secret/app/db"], None),
    (["kv", "get", "-format=json", "secret/app/db"], None),
    (["kv", "get", "-format=yaml", "secret/app/db"], None),
    (["kv", "get", "-mount=secret", "app/db"], None),
    (["kv", "list", "secret/"], None),
    (["kv", "list", "-format=json", "secret/app"], None),
    (["kv", "metadata", "get", "secret/app/db"], None),
    (["kv", "patch", "secret/app/db", "extra=e"], None),
    (["kv", "patch", "-method=rw", "secret/app/db", "extra=f"], None),
    (["kv", "get", "-version=1", "secret/app/db"], None),
    (["kv", "get", "secret/nothere"], None),
    (["kv", "delete", "secret/app/db"], None),
    (["kv", "get", "secret/app/db"], None),
    (["kv", "undelete", "-versions=4", "secret/app/db"], None),
    (["kv", "destroy", "-versions=1", "secret/app/db"], None),
    (["kv", "rollback", "-version=2", "secret/app/db"], None),
    (["kv", "metadata", "put", "-max-versions=5", "-custom-metadata=team=a", "secret/app/db"], None),
    (["kv", "metadata", "patch", "-custom-metadata=owner=b", "secret/app/db"], None),
    (["kv", "metadata", "delete", "secret/app/db"], None),
    (["kv", "put", "secret/from-stdin", "-"], '{"a": "1", "b": "two"}'),
    (["kv", "get", "-format=json", "secret/from-stdin"], None),
    (["kv", "put", "secret/z", "a=b", "-cas=1"], None),
    (["secrets", "enable", "-path=kv1", "kv"], None),
    (["secrets", "enable", "-path=kv1", "kv"], None),
    (["kv", "put", "kv1/foo", "a=1"], None),
    (["kv", "get", "kv1/foo"], None),
    (["kv", "list", "kv1"], None),
    (["kv", "undelete", "-versions=1", "kv1/foo"], None),
    (["kv", "rollback", "-version=1", "kv1/foo"], None),
    (["read", "kv1/foo"], None),
    (["write", "kv1/bar", "x=1", "y=2", "x=3"], None),
    (["read", "-format=json", "kv1/bar"], None),
    (["read", "-field=y", "kv1/bar"], None),
    (["list", "kv1/"], None),
    (["list", "-format=json", "kv1/nothing"], None),
    (["delete", "kv1/bar"], None),
    (["read", "kv1/bar"], None),
    (["kv", "enable-versioning", "kv1"], None),
    (["secrets", "list"], None),
    (["secrets", "list", "-format=json"], None),
    (["secrets", "list", "-detailed"], None),
    (["secrets", "tune", "-default-lease-ttl=1h", "kv1"], None),
    (["secrets", "move", "kv1", "kv2"], None),
    (["secrets", "disable", "kv2"], None),
    (["auth", "list"], None),
    (["auth", "list", "-format=json"], None),
    (["auth", "enable", "approle"], None),
    (["auth", "enable", "approle"], None),
    (["auth", "enable", "-path=people", "userpass"], None),
    (["auth", "list"], None),
    (["auth", "tune", "-default-lease-ttl=30m", "approle"], None),
    (["write", "auth/approle/role/web", "token_policies=default,p1", "token_ttl=1h", "token_max_ttl=4h"], None),
    (["read", "auth/approle/role/web"], None),
    (["list", "auth/approle/role"], None),
    (["write", "auth/approle/login", "role_id=nope", "secret_id=nope"], None),
    (["write", "auth/approle/login", "role_id=nope"], None),
    (["write", "auth/people/users/bob", "password=pw", "token_policies=p1"], None),
    (["read", "auth/people/users/bob"], None),
    (["list", "auth/people/users"], None),
    (["login", "-method=userpass", "-path=people", "-no-store", "username=bob", "password=wrong"], None),
    (["auth", "disable", "people"], None),
    (["token", "lookup"], None),
    (["token", "lookup", "-format=json"], None),
    (["token", "create", "-policy=default", "-period=24h", "-field=token_policies"], None),
    (["token", "create", "-policy=default", "-ttl=1h", "-format=yaml", "-field=policies"], None),
    (["token", "capabilities", "secret/data/x"], None),
    (["token", "capabilities", "-format=json", "secret/data/x"], None),
    (["token", "lookup", "hvs.bogusbogusbogusbogusbogu"], None),
    (["token", "lookup", "-accessor"], None),
    (["token", "revoke"], None),
    (["token", "revoke", "-self", "-accessor"], None),
    (["token", "revoke", "hvs.bogusbogusbogusbogusbogu"], None),
    (["policy", "write", "backend", "-"], POLICY),
    (["policy", "list"], None),
    (["policy", "read", "backend"], None),
    (["policy", "read", "-format=json", "backend"], None),
    (["policy", "read", "nosuch"], None),
    (["policy", "delete", "backend"], None),
    (["write", "sys/tools/hash", "input=aGVsbG8="], None),
    (["write", "-field=sum", "sys/tools/hash", "input=aGVsbG8="], None),
    (["write", "-format=json", "sys/tools/hash/sha2-512", "input=aGVsbG8=", "format=base64"], None),
    (["read", "nomount/x"], None),
    (["path-help", "secret/"], None),
    (["path-help", "kv1/"], None),
    (["path-help", "nomount/"], None),
    (["read", "sys/tools/hash"], None),
    (["list", "secret/metadata/none"], None),
    (["kv", "put"], None),
    (["kv", "put", "secret/y"], None),
    (["write", "secret/data/y"], None),
    (["read", "-badflag", "x"], None),
    (["read"], None),
    (["delete"], None),
    (["kv", "patch"], None),
    (["read", "-format=xml", "secret/data/x"], None),
    (["kv", "undelete", "secret/app/db"], None),
    (["operator", "key-status", "-format=json"], None),
    (["write", "-wrap-ttl=5m", "sys/wrapping/wrap", "a=b"], None),
    (["write", "sys/wrapping/wrap", "a=b"], None),
    (["kv", "get", "-wrap-ttl=60s", "secret/from-stdin"], None),
    (["write", "-wrap-ttl=2m", "-format=json", "sys/wrapping/wrap", "a=b"], None),
    (["unwrap", "hvs.bogusbogusbogusbogusbogu"], None),
    (["lease", "lookup", "nosuch/lease"], None),
    (["lease", "renew", "nosuch/lease"], None),
    (["lease", "revoke", "nosuch/lease"], None),
    (["lease", "revoke", "-sync", "nosuch/lease"], None),
    (["lease", "revoke", "-force", "nosuch/"], None),
    (["lease", "revoke", "-prefix", "nosuch/"], None),
    (["lease", "revoke", "-prefix", "-sync", "nosuch/"], None),
    (["list", "sys/leases/lookup/nosuch/"], None),
]


def normalise(text):
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+ \+0000 UTC", "<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "<addr>", text)
    text = re.sub(r"hvs\.[A-Za-z0-9]{24}", "<token>", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    text = re.sub(r"\b[A-Za-z0-9]{24}\b", "<accessor>", text)
    text = re.sub(r"(kv|system|cubbyhole|auth_[a-z]+)_[0-9a-f]{8}", r"\1_<id>", text)
    text = re.sub(r"vault-cluster-[0-9a-f]{8}", "vault-cluster-<id>", text)
    text = re.sub(r"\b1[789]\d{8}\b", "<unix>", text)
    # Where OpenBao's words differ from Vault's, Tresor speaks as Vault.
    return text.replace("OpenBao", "Vault").replace("BAO_", "VAULT_").replace('"bao ', '"vault ')


def drop_build_rows(text):
    # OpenBao prints its own `Commit Date`, Vault (and Tresor) `Build Date`.
    return "\n".join(l for l in text.splitlines() if not l.startswith(("Build Date", "Commit Date")))


def test_same_output_as_openbaos_cli(vault_link, tmp_path):
    ports = [free_port_pair(), free_port_pair()]
    servers = [Server(f"tresor{i}", dev_argv(tresor_bin(), p), f"http://127.0.0.1:{p}") for i, p in enumerate(ports)]
    try:
        mismatches = []
        for args, stdin in PARITY_SEQUENCE:
            outs = []
            for cli, server, home in ((bao_bin(), servers[0], tmp_path / "b"), (vault_link, servers[1], tmp_path / "t")):
                home.mkdir(exist_ok=True)
                r = run(cli, server.addr, home, *args, stdin=stdin)
                outs.append((r.returncode, drop_build_rows(normalise(r.stdout)), normalise(r.stderr)))
            if outs[0] != outs[1]:
                mismatches.append(f"$ vault {' '.join(args)}\n  bao:    {outs[0]!r}\n  tresor: {outs[1]!r}")
        assert not mismatches, "\n".join(mismatches)
    finally:
        for s in servers:
            s.stop()


def test_help_and_usage_errors(vault_link, tmp_path):
    addr = "http://127.0.0.1:1"
    r = run(vault_link, addr, tmp_path)
    assert r.returncode == 127 and "Usage: vault <command> [args]" in r.stderr and "Common commands:" in r.stderr
    r = run(vault_link, addr, tmp_path, "-h")
    assert r.returncode == 0 and "Other commands:" in r.stdout
    r = run(vault_link, addr, tmp_path, "kv")
    assert r.returncode == 1 and "metadata get" in r.stderr
    r = run(vault_link, addr, tmp_path, "kv", "get", "-h")
    assert r.returncode == 0 and "Usage: vault kv get" in r.stdout
    r = run(vault_link, addr, tmp_path, "-address=x", "status")
    assert r.returncode == 1 and "Invalid flags before the subcommand" in r.stderr
    # A server that is not there: Go's words, and exit 2 (1 for status, as Vault).
    r = run(vault_link, addr, tmp_path, "kv", "get", "secret/x")
    assert r.returncode == 2 and "connection refused" in r.stderr
    r = run(vault_link, addr, tmp_path, "status")
    assert r.returncode == 1 and r.stderr.startswith("Error checking seal status: Get \"http://127.0.0.1:1/v1/sys/seal-status\"")
    # Through the link, Vault's version line, whose second word scripts (hvac's suite) parse.
    r = run(vault_link, addr, tmp_path, "version")
    assert r.returncode == 0 and r.stdout.strip() == "Vault v1.17.0+tresor.0.1.0", r.stdout
    r = run(vault_link, addr, tmp_path, "-version")
    assert r.returncode == 0 and r.stdout.startswith("Vault v1.17.0+"), r.stdout
    r = subprocess.run([tresor_bin(), "version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("Tresor v0.1.0 (Vault API 1.17.0+tresor."), r.stdout


def test_seed_sequences_through_the_vault_link(vault_link, tresor_config, tmp_path):
    addr = tresor_config.addr
    home = tmp_path / "home"
    home.mkdir()

    def vault(*args, stdin=None, token=None, code=0):
        r = run(vault_link, addr, home, *args, token=token, stdin=stdin)
        assert r.returncode == code, f"vault {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    # Seed 002: initialise and unseal a durable server with five shares, threshold three.
    assert "Sealed" in vault("status", code=2)
    init = json.loads(vault("operator", "init", "-key-shares=5", "-key-threshold=3", "-format=json"))
    assert len(init["unseal_keys_b64"]) == 5 and init["unseal_threshold"] == 3
    root = init["root_token"]
    assert "Vault is already initialized" in run(vault_link, addr, home, "operator", "init").stderr
    for i, key in enumerate(init["unseal_keys_b64"][:3]):
        out = vault("operator", "unseal", key)
        assert ("Sealed             true" in out) == (i < 2), out
        if i < 2:
            assert f"Unseal Progress    {i + 1}/3" in out
    assert "Sealed          false" in vault("status")

    # `vault login` stores the token; later commands use it without VAULT_TOKEN.
    out = vault("login", root)
    assert "Success! You are now authenticated." in out and "token_policies       [\"root\"]" in out
    assert (home / ".vault-token").read_text() == root
    assert oct((home / ".vault-token").stat().st_mode & 0o777) == "0o600"

    # Seed 003: KV v2 at secret/, put, get a field, JSON for jq, patch keeps the other fields.
    assert vault("secrets", "enable", "-path=secret", "kv-v2") == "Success! Enabled the kv-v2 secrets engine at: secret/\n"
    vault("kv", "put", "secret/backend/api", "jwt_secret=new-secret-key", "encryption_key=new-encryption-key")
    assert vault("kv", "get", "-field=jwt_secret", "secret/backend/api") == "new-secret-key"
    vault("kv", "patch", "secret/backend/api", "jwt_secret=updated-secret")
    doc = json.loads(vault("kv", "get", "-format=json", "secret/backend/api"))
    assert doc["data"]["data"] == {"jwt_secret": "updated-secret", "encryption_key": "new-encryption-key"}
    assert doc["data"]["metadata"]["version"] == 2
    table = vault("kv", "get", "secret/backend/api")
    assert table.startswith("===== Secret Path =====\nsecret/data/backend/api\n")
    assert "encryption_key    new-encryption-key" in table

    # The backend policy and a periodic service token bound to it.
    assert vault("policy", "write", "backend", "-", stdin=POLICY) == "Success! Uploaded policy: backend\n"
    assert vault("policy", "list").split() == ["backend", "default", "root"]
    created = json.loads(vault("token", "create", "-policy=backend", "-period=24h", "-format=json"))
    service = created["auth"]["client_token"]
    assert created["auth"]["lease_duration"] == 86400 and created["auth"]["policies"] == ["backend", "default"]
    assert vault("token", "capabilities", service, "secret/data/backend/api") == "read\n"
    assert vault("token", "capabilities", service, "secret/data/other") == "deny\n"
    assert created["auth"]["accessor"] in vault("list", "auth/token/accessors")
    # The service token reads its secret and nothing else.
    assert vault("kv", "get", "-field=encryption_key", "secret/backend/api", token=service) == "new-encryption-key"
    denied = run(vault_link, addr, home, "kv", "put", "secret/backend/api", "x=y", token=service)
    assert denied.returncode == 2 and "permission denied" in denied.stderr
    lookup = vault("token", "lookup", token=service)
    assert re.search(r"^period\s+24h$", lookup, re.M) and re.search(r"^policies\s+\[backend default\]$", lookup, re.M)
    renewed = json.loads(vault("token", "renew", "-format=json", token=service))
    assert renewed["auth"]["lease_duration"] == 86400

    # Seed 003's audit device, and a wrapped secret handed over and unwrapped once.
    log = tmp_path / "audit.log"
    assert vault("audit", "enable", "file", f"file_path={log}") == "Success! Enabled the file audit device at: file/\n"
    assert re.search(r"^file/\s+file\s+n/a$", vault("audit", "list"), re.M)
    wrapped = json.loads(vault("kv", "get", "-wrap-ttl=5m", "-format=json", "secret/backend/api"))
    wrapping_token = wrapped["wrap_info"]["token"]
    unwrapped = json.loads(vault("unwrap", "-format=json", wrapping_token))
    assert unwrapped["data"]["data"]["jwt_secret"] == "updated-secret"
    again = run(vault_link, addr, home, "unwrap", wrapping_token, token=None)
    assert again.returncode == 2 and "wrapping token is not valid or does not exist" in again.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["request"]["path"] == "sys/wrapping/unwrap" for e in entries)
    assert "updated-secret" not in log.read_text()

    # Seed 000: secrets under aurora/users/.
    vault("secrets", "enable", "-path=aurora", "-version=2", "kv")
    vault("kv", "put", "aurora/users/test-secret", "value=hello")
    assert "value    hello" in vault("kv", "get", "aurora/users/test-secret")
    assert vault("kv", "list", "aurora/users/") == "Keys\n----\ntest-secret\n"
    assert vault("token", "capabilities", "aurora/users/") == "root\n"

    # Seed 002: an AppRole for a service, its login, and what its token may read.
    assert vault("auth", "enable", "approle") == "Success! Enabled approle auth method at: approle/\n"
    vault("policy", "write", "platform-iam", "-",
          stdin='path "secret/data/platform/iam/*" {\n  capabilities = ["read"]\n}\n')
    vault("write", "auth/approle/role/platform-iam", "token_policies=platform-iam", "token_ttl=1h",
          "token_max_ttl=4h", "secret_id_ttl=0")
    iam_role_id = vault("read", "-field=role_id", "auth/approle/role/platform-iam/role-id")
    iam_secret_id = vault("write", "-f", "-field=secret_id", "auth/approle/role/platform-iam/secret-id")
    vault("kv", "put", "secret/platform/iam/jwt-keys", "private=k1")
    logged_in = json.loads(vault("write", "-format=json", "auth/approle/login", f"role_id={iam_role_id}",
                                 f"secret_id={iam_secret_id}", token=None))
    assert logged_in["auth"]["lease_duration"] == 3600 and logged_in["auth"]["renewable"] is True
    assert logged_in["auth"]["policies"] == ["default", "platform-iam"]
    iam = logged_in["auth"]["client_token"]
    assert vault("kv", "get", "-field=private", "secret/platform/iam/jwt-keys", token=iam) == "k1"
    assert run(vault_link, addr, home, "kv", "put", "secret/platform/iam/jwt-keys", "x=y", token=iam).returncode == 2
    # Seed 001: the secret ID handed over wrapped, and the role bound to the server's network.
    wrapped_sid = json.loads(vault("write", "-wrap-ttl=60s", "-format=json", "-f",
                                   "auth/approle/role/platform-iam/secret-id"))["wrap_info"]["token"]
    fresh_sid = json.loads(vault("unwrap", "-format=json", wrapped_sid))["data"]["secret_id"]
    assert json.loads(vault("write", "-format=json", "auth/approle/login", f"role_id={iam_role_id}",
                            f"secret_id={fresh_sid}", token=None))["auth"]["client_token"]
    vault("write", "auth/approle/role/hoodcloud-control-plane", "secret_id_num_uses=0", "secret_id_ttl=0",
          "secret_id_bound_cidrs=127.0.0.0/8", "token_bound_cidrs=127.0.0.0/8", "token_policies=platform-iam")
    role_text = vault("read", "auth/approle/role/hoodcloud-control-plane")
    assert re.search(r"^secret_id_bound_cidrs\s+\[127.0.0.0/8\]$", role_text, re.M), role_text
    # Seed 004: people with passwords.
    vault("auth", "enable", "userpass")
    vault("write", "auth/userpass/users/alice", "password=correct horse", "token_policies=platform-iam")
    out = vault("login", "-method=userpass", "-no-store", "username=alice", "password=correct horse", token=None)
    assert "token_meta_username    alice" in out and "token_policies         [\"default\" \"platform-iam\"]" in out
    bad = run(vault_link, addr, home, "login", "-method=userpass", "-no-store", "username=alice", "password=nope",
              token=None)
    assert bad.returncode == 2 and "invalid username or password" in bad.stderr
    assert re.search(r"^userpass/\s+userpass\s+auth_userpass_", vault("auth", "list"), re.M)

    # The service token (periodic, so it has a TTL) is a lease.
    keys = vault("list", "sys/leases/lookup/auth/token/create/").split("\n")[2:-1]
    assert len(keys) >= 1
    lease_id = f"auth/token/create/{keys[0]}"
    looked = vault("lease", "lookup", lease_id)
    assert re.search(r"^renewable\s+true$", looked, re.M) and re.search(r"^id\s+" + re.escape(lease_id), looked, re.M)
    refused = run(vault_link, addr, home, "lease", "renew", lease_id, token=None)
    assert refused.returncode == 2 and "tokens cannot be renewed through this endpoint" in refused.stderr

    # Revoking the service token ends it; sealing stops everything.
    assert vault("token", "revoke", service) == "Success! Revoked token (if it existed)\n"
    assert run(vault_link, addr, home, "token", "lookup", token=service).returncode == 2
    other = json.loads(vault("token", "create", "-policy=backend", "-ttl=1h", "-format=json"))["auth"]["client_token"]
    assert vault("lease", "revoke", "-prefix", "-sync", "auth/token/create") == "Success! Revoked any leases with prefix: auth/token/create\n"
    assert run(vault_link, addr, home, "token", "lookup", token=other).returncode == 2
    assert vault("operator", "seal") == "Success! Vault is sealed.\n"
    assert vault("status", code=2)
