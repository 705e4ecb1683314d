"""hvac, the Python client the seeds' services use, against Tresor."""

import hvac
import pytest


@pytest.fixture
def client(tresor):
    return hvac.Client(url=tresor.addr, token="root")


def test_kv_v2_with_hvac(client):
    assert client.sys.is_initialized()
    assert not client.sys.is_sealed()
    kv = client.secrets.kv.v2
    w = kv.create_or_update_secret(path="backend/database", secret={"url": "postgres://x"})
    assert w["data"]["version"] == 1
    kv.create_or_update_secret(path="backend/database", secret={"url": "postgres://y"}, cas=1)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        kv.create_or_update_secret(path="backend/database", secret={"url": "z"}, cas=1)
    r = kv.read_secret_version(path="backend/database", raise_on_deleted_version=True)
    assert r["data"]["data"] == {"url": "postgres://y"}
    assert kv.read_secret_version(path="backend/database", version=1, raise_on_deleted_version=True)["data"]["data"]["url"] == "postgres://x"
    kv.patch(path="backend/database", secret={"pool": "10"})
    assert kv.read_secret_version(path="backend/database", raise_on_deleted_version=True)["data"]["data"] == {"url": "postgres://y", "pool": "10"}
    assert kv.list_secrets(path="backend")["data"]["keys"] == ["database"]
    meta = kv.read_secret_metadata(path="backend/database")
    assert meta["data"]["current_version"] == 3
    kv.update_metadata(path="backend/database", max_versions=2, custom_metadata={"team": "api"})
    assert kv.read_secret_metadata(path="backend/database")["data"]["max_versions"] == 2
    kv.delete_latest_version_of_secret(path="backend/database")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path="backend/database", raise_on_deleted_version=True)
    kv.undelete_secret_versions(path="backend/database", versions=[3])
    kv.destroy_secret_versions(path="backend/database", versions=[2])
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path="backend/database", version=2, raise_on_deleted_version=True)
    kv.delete_metadata_and_all_versions(path="backend/database")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata(path="backend/database")
    kv.configure(max_versions=7, cas_required=False)
    assert kv.read_configuration()["data"]["max_versions"] == 7


def test_mounts_and_kv_v1_with_hvac(client):
    client.sys.enable_secrets_engine("kv", path="plain", options={"version": "1"})
    assert "plain/" in client.sys.list_mounted_secrets_engines()["data"]
    kv1 = client.secrets.kv.v1
    kv1.create_or_update_secret(path="app", secret={"k": "v"}, mount_point="plain")
    assert kv1.read_secret(path="app", mount_point="plain")["data"] == {"k": "v"}
    assert kv1.list_secrets(path="", mount_point="plain")["data"]["keys"] == ["app"]
    kv1.delete_secret(path="app", mount_point="plain")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv1.read_secret(path="app", mount_point="plain")
    client.sys.tune_mount_configuration(path="plain", default_lease_ttl="30m")
    assert client.sys.read_mount_configuration(path="plain")["data"]["default_lease_ttl"] == 1800
    client.sys.disable_secrets_engine(path="plain")
    assert "plain/" not in client.sys.list_mounted_secrets_engines()["data"]
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=client.url, token="hvs.nope").secrets.kv.v2.read_secret_version(path="x", raise_on_deleted_version=True)
