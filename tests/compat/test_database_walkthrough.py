"""Seed 003's dynamic database credentials walkthrough, command for command, with OpenBao's
`bao` CLI and with Tresor's own driving Tresor, and `psql` logging in with what it hands out. The machine's
PostgreSQL checks passwords for members of `tresor_password_login` (scripts/services.sh)."""

import os
import re
import subprocess
import uuid

import pytest

from conftest import tresor_bin

PSQL_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]


def admin_sql(sql, db="postgres"):
    return subprocess.run([*PSQL_ADMIN, "-d", db, "-c", sql], check=True, capture_output=True, text=True).stdout


def login(db, user, password):
    """Logs in as `user` and reads; the exit code says whether the password was accepted."""
    env = {**os.environ, "PGPASSWORD": password}
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", user, "-d", db, "-qAtc", "SELECT count(*) FROM backend_settings"],
        env=env, capture_output=True, text=True,
    )


def table(out):
    """`bao read` output: key → value."""
    rows = {}
    for line in out.splitlines()[2:]:
        key, _, value = line.partition(" ")
        rows[key] = value.strip()
    return rows


@pytest.fixture
def toolboxai_db():
    suffix = uuid.uuid4().hex[:8]
    db, admin = f"toolboxai_{suffix}", f"vault_admin_{suffix}"
    admin_sql(f"CREATE DATABASE {db}")
    admin_sql("CREATE TABLE backend_settings (k text); INSERT INTO backend_settings VALUES ('x')", db)
    admin_sql(f"CREATE ROLE {admin} LOGIN SUPERUSER PASSWORD 'admin-pw' IN ROLE tresor_password_login")
    yield db, admin
    admin_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    leftovers = admin_sql("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-token-toolboxa-%'")
    for role in leftovers.split():
        admin_sql(f'DROP ROLE IF EXISTS "{role}"')
    admin_sql(f"DROP ROLE IF EXISTS {admin}")


@pytest.mark.parametrize("client", ["bao", "tresor"])
def test_seed_003_dynamic_database_credentials(tresor, toolboxai_db, client):
    db, admin = toolboxai_db
    program = tresor_bin() if client == "tresor" else None

    class Cli:
        def cli(self, *args, **kw):
            return tresor.cli(*args, program=program, **kw)

    vault = Cli()
    # init-vault.sh: enable the engine, configure PostgreSQL, create the role (TTL 1h, max 24h).
    vault.cli("secrets", "enable", "database")
    vault.cli(
        "write", "database/config/toolboxai",
        "plugin_name=postgresql-database-plugin",
        f"connection_url=postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{db}?sslmode=disable",
        "allowed_roles=toolboxai", f"username={admin}", "password=admin-pw",
    )
    vault.cli(
        "write", "database/roles/toolboxai", "db_name=toolboxai",
        "creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
        "VALID UNTIL '{{expiration}}' IN ROLE tresor_password_login; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";",
        "default_ttl=1h", "max_ttl=24h",
    )

    # Troubleshooting step 1: the engine is configured (and the root password is not shown).
    config = vault.cli("read", "database/config/toolboxai").stdout
    assert "postgresql-database-plugin" in config and "admin-pw" not in config
    assert table(config)["allowed_roles"] == "[toolboxai]"

    # The backend asks with its own policy-bound token (display name `token`), not root.
    vault.cli("policy", "write", "backend", "-", input_text='path "database/creds/toolboxai" { capabilities = ["read"] }')
    backend = vault.cli("token", "create", "-policy=backend", "-field=token").stdout.strip()
    as_backend = {"BAO_TOKEN": backend, "VAULT_TOKEN": backend}

    # Request credentials: Vault's table, with the lease first.
    out = vault.cli("read", "database/creds/toolboxai", env=as_backend).stdout
    keys = [line.split()[0] for line in out.splitlines()[2:]]
    assert keys == ["lease_id", "lease_duration", "lease_renewable", "password", "username"]
    creds = table(out)
    assert creds["lease_id"].startswith("database/creds/toolboxai/")
    assert creds["lease_duration"] == "1h"
    assert creds["lease_renewable"] == "true"
    assert re.fullmatch(r"v-token-toolboxa-[A-Za-z0-9]{20}-\d+", creds["username"])

    # Step 3: connect with the generated credentials.
    ok = login(db, creds["username"], creds["password"])
    assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
    assert login(db, creds["username"], "not-the-password").returncode != 0

    # Manual rotation as the seed writes it: toolboxai is a dynamic role, so (as in Vault)
    # there is no static password to rotate; new credentials come from reading creds again.
    rotate = vault.cli("write", "-f", "database/rotate-role/toolboxai", check=False)
    assert rotate.returncode == 2 and "no static role found for role name" in rotate.stderr
    fresh = table(vault.cli("read", "database/creds/toolboxai", env=as_backend).stdout)
    assert fresh["username"] != creds["username"]
    assert login(db, fresh["username"], fresh["password"]).returncode == 0

    # After the lease ends the credentials are useless and the users are gone.
    vault.cli("lease", "revoke", "-prefix", "database/creds/toolboxai")
    for c in (creds, fresh):
        assert login(db, c["username"], c["password"]).returncode != 0
        assert admin_sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{c['username']}'").strip() == "0"
