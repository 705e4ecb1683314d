"""The seeds' first story, command for command, with a real Vault-API CLI (OpenBao's `bao`)
driving Tresor: start, take the root token, enable KV, put, get, list, version, delete, undelete."""

import json


def test_dev_kv_story(tresor):
    assert tresor.cli("status").returncode == 0
    tresor.cli("kv", "put", "secret/test", "message=Hello Vault")
    out = tresor.cli("kv", "get", "secret/test").stdout
    assert "message" in out and "Hello Vault" in out
    assert tresor.cli("kv", "get", "-field=message", "secret/test").stdout == "Hello Vault"
    doc = json.loads(tresor.cli("kv", "get", "-format=json", "secret/test").stdout)
    assert doc["data"]["data"] == {"message": "Hello Vault"}
    assert doc["data"]["metadata"]["version"] == 1

    tresor.cli("kv", "put", "secret/backend/api", "jwt_secret=abc", "api_key=k1")
    tresor.cli("kv", "patch", "secret/backend/api", "api_key=k2")
    doc = json.loads(tresor.cli("kv", "get", "-format=json", "secret/backend/api").stdout)
    assert doc["data"]["data"] == {"jwt_secret": "abc", "api_key": "k2"}
    assert doc["data"]["metadata"]["version"] == 2
    old = json.loads(tresor.cli("kv", "get", "-version=1", "-format=json", "secret/backend/api").stdout)
    assert old["data"]["data"]["api_key"] == "k1"

    listing = json.loads(tresor.cli("kv", "list", "-format=json", "secret/").stdout)
    assert listing == ["backend/", "test"]
    assert json.loads(tresor.cli("kv", "list", "-format=json", "secret/backend").stdout) == ["api"]

    # A deleted version still shows its metadata (exit 0, no data), as OpenBao and Vault do.
    tresor.cli("kv", "delete", "secret/test")
    gone = tresor.cli("kv", "get", "secret/test").stdout
    assert "deletion_time" in gone and "Hello Vault" not in gone
    tresor.cli("kv", "undelete", "-versions=1", "secret/test")
    assert tresor.cli("kv", "get", "-field=message", "secret/test").stdout == "Hello Vault"
    tresor.cli("kv", "destroy", "-versions=1", "secret/test")
    destroyed = tresor.cli("kv", "get", "secret/test").stdout
    assert "destroyed          true" in destroyed and "Hello Vault" not in destroyed
    assert tresor.cli("kv", "get", "secret/never-written", check=False).returncode == 2

    meta = json.loads(tresor.cli("kv", "metadata", "get", "-format=json", "secret/backend/api").stdout)
    assert meta["data"]["current_version"] == 2
    tresor.cli("kv", "metadata", "put", "-max-versions=5", "-custom-metadata=owner=platform", "secret/backend/api")
    meta = json.loads(tresor.cli("kv", "metadata", "get", "-format=json", "secret/backend/api").stdout)
    assert meta["data"]["max_versions"] == 5
    assert meta["data"]["custom_metadata"] == {"owner": "platform"}
    tresor.cli("kv", "metadata", "delete", "secret/backend/api")
    assert tresor.cli("kv", "get", "secret/backend/api", check=False).returncode == 2


def test_mounts_story(tresor):
    tresor.cli("secrets", "enable", "-path=aurora", "kv-v2")
    tresor.cli("kv", "put", "aurora/users/test-secret", "value=hello")
    assert tresor.cli("kv", "get", "-field=value", "aurora/users/test-secret").stdout == "hello"
    assert json.loads(tresor.cli("kv", "list", "-format=json", "aurora/users/").stdout) == ["test-secret"]

    mounts = json.loads(tresor.cli("secrets", "list", "-format=json").stdout)
    assert mounts["aurora/"]["type"] == "kv"
    assert mounts["aurora/"]["options"]["version"] == "2"

    tresor.cli("secrets", "enable", "-path=legacy", "-version=1", "-description=old", "kv")
    tresor.cli("kv", "put", "legacy/app", "password=p")
    assert tresor.cli("kv", "get", "-field=password", "legacy/app").stdout == "p"
    tresor.cli("kv", "enable-versioning", "legacy/")
    doc = json.loads(tresor.cli("kv", "get", "-format=json", "legacy/app").stdout)
    assert doc["data"]["data"] == {"password": "p"}

    tresor.cli("secrets", "tune", "-default-lease-ttl=1h", "-max-lease-ttl=2h", "aurora/")
    tune = json.loads(tresor.cli("read", "-format=json", "sys/mounts/aurora/tune").stdout)
    assert tune["data"]["default_lease_ttl"] == 3600

    tresor.cli("secrets", "move", "aurora/", "moved/")
    assert tresor.cli("kv", "get", "-field=value", "moved/users/test-secret").stdout == "hello"
    tresor.cli("secrets", "disable", "moved/")
    mounts = json.loads(tresor.cli("secrets", "list", "-format=json").stdout)
    assert "moved/" not in mounts


def test_init_unseal_story(tresor_config):
    s = tresor_config
    st = s.cli("status", check=False)
    assert st.returncode == 2, st.stdout
    init = json.loads(s.cli("operator", "init", "-key-shares=5", "-key-threshold=3", "-format=json").stdout)
    keys = init["unseal_keys_b64"]
    assert len(keys) == 5 and init["root_token"].startswith("hvs.")
    assert s.cli("status", check=False).returncode == 2
    for i, k in enumerate(keys[:3]):
        out = s.cli("operator", "unseal", "-format=json", k, check=False)
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        assert status["sealed"] == (i < 2)
        assert status["progress"] == (i + 1 if i < 2 else 0)
    root = {"BAO_TOKEN": init["root_token"]}
    assert s.cli("status", env=root).returncode == 0
    s.cli("secrets", "enable", "-path=secret", "kv-v2", env=root)
    s.cli("kv", "put", "secret/platform/iam/jwt-keys", "private=pk", env=root)
    assert s.cli("kv", "get", "-field=private", "secret/platform/iam/jwt-keys", env=root).stdout == "pk"
    s.cli("operator", "seal", env=root)
    assert s.cli("status", check=False).returncode == 2
