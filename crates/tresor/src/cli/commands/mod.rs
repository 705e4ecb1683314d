//! The command table: every command's name, synopsis, usage and own flags, and the dispatch
//! from a name to its code.

mod audit;
mod generic;
mod kv;
mod lease;
mod login;
mod mounts;
mod operator;
mod policy;
mod raft;
mod token;
mod transit;

use super::{Command, Ctx, Failure, Outcome};
use crate::flags::Kind;

const FORCE: &[(&str, Kind)] = &[("force", Kind::Bool), ("f", Kind::Bool)];
const KV_MOUNT: &[(&str, Kind)] = &[("mount", Kind::Value)];
const KV_WRITE: &[(&str, Kind)] = &[("mount", Kind::Value), ("cas", Kind::Value)];
const KV_PATCH: &[(&str, Kind)] = &[
    ("mount", Kind::Value),
    ("cas", Kind::Value),
    ("method", Kind::Value),
];
const KV_VERSION: &[(&str, Kind)] = &[("mount", Kind::Value), ("version", Kind::Value)];
const KV_VERSIONS: &[(&str, Kind)] = &[("mount", Kind::Value), ("versions", Kind::Value)];
const KV_METADATA: &[(&str, Kind)] = &[
    ("mount", Kind::Value),
    ("max-versions", Kind::Value),
    ("cas-required", Kind::Bool),
    ("delete-version-after", Kind::Value),
    ("custom-metadata", Kind::Value),
    ("remove-custom-metadata", Kind::Value),
];
const LIST: &[(&str, Kind)] = &[("detailed", Kind::Bool)];
const INIT: &[(&str, Kind)] = &[
    ("key-shares", Kind::Value),
    ("key-threshold", Kind::Value),
    ("pgp-keys", Kind::Value),
    ("root-token-pgp-key", Kind::Value),
    ("status", Kind::Bool),
];
const UNSEAL: &[(&str, Kind)] = &[("reset", Kind::Bool), ("migrate", Kind::Bool)];
const AUTOPILOT_SET: &[(&str, Kind)] = &[
    ("cleanup-dead-servers", Kind::Value),
    ("last-contact-threshold", Kind::Value),
    ("dead-server-last-contact-threshold", Kind::Value),
    ("server-stabilization-time", Kind::Value),
    ("max-trailing-logs", Kind::Value),
    ("min-quorum", Kind::Value),
    ("disable-upgrade-migration", Kind::Value),
];
const RAFT_JOIN: &[(&str, Kind)] = &[
    ("leader-ca-cert", Kind::Value),
    ("leader-client-cert", Kind::Value),
    ("leader-client-key", Kind::Value),
    ("auto-join-scheme", Kind::Value),
    ("auto-join-port", Kind::Value),
    ("retry", Kind::Bool),
    ("non-voter", Kind::Bool),
];
const TOKEN_CREATE: &[(&str, Kind)] = &[
    ("id", Kind::Value),
    ("display-name", Kind::Value),
    ("ttl", Kind::Value),
    ("explicit-max-ttl", Kind::Value),
    ("period", Kind::Value),
    ("renewable", Kind::Bool),
    ("orphan", Kind::Bool),
    ("no-default-policy", Kind::Bool),
    ("use-limit", Kind::Value),
    ("role", Kind::Value),
    ("type", Kind::Value),
    ("policy", Kind::Value),
    ("metadata", Kind::Value),
    ("entity-alias", Kind::Value),
];
const ACCESSOR: &[(&str, Kind)] = &[("accessor", Kind::Bool)];
const TOKEN_RENEW: &[(&str, Kind)] = &[
    ("increment", Kind::Value),
    ("i", Kind::Value),
    ("accessor", Kind::Bool),
];
const TOKEN_REVOKE: &[(&str, Kind)] = &[
    ("accessor", Kind::Bool),
    ("self", Kind::Bool),
    ("mode", Kind::Value),
];
const MOUNT_ENABLE: &[(&str, Kind)] = &[
    ("path", Kind::Value),
    ("description", Kind::Value),
    ("default-lease-ttl", Kind::Value),
    ("max-lease-ttl", Kind::Value),
    ("force-no-cache", Kind::Bool),
    ("local", Kind::Bool),
    ("seal-wrap", Kind::Bool),
    ("external-entropy-access", Kind::Bool),
    ("options", Kind::Value),
    ("version", Kind::Value),
    ("plugin-name", Kind::Value),
    ("plugin-version", Kind::Value),
    ("audit-non-hmac-request-keys", Kind::Value),
    ("audit-non-hmac-response-keys", Kind::Value),
    ("passthrough-request-headers", Kind::Value),
    ("allowed-response-headers", Kind::Value),
    ("listing-visibility", Kind::Value),
];
const MOUNT_TUNE: &[(&str, Kind)] = &[
    ("description", Kind::Value),
    ("default-lease-ttl", Kind::Value),
    ("max-lease-ttl", Kind::Value),
    ("options", Kind::Value),
    ("version", Kind::Value),
    ("audit-non-hmac-request-keys", Kind::Value),
    ("audit-non-hmac-response-keys", Kind::Value),
    ("passthrough-request-headers", Kind::Value),
    ("allowed-response-headers", Kind::Value),
    ("listing-visibility", Kind::Value),
];
const AUDIT_ENABLE: &[(&str, Kind)] = &[
    ("path", Kind::Value),
    ("description", Kind::Value),
    ("local", Kind::Bool),
];
const LEASE_RENEW: &[(&str, Kind)] = &[("increment", Kind::Value), ("i", Kind::Value)];
const LEASE_REVOKE: &[(&str, Kind)] = &[
    ("force", Kind::Bool),
    ("f", Kind::Bool),
    ("prefix", Kind::Bool),
    ("sync", Kind::Bool),
];
const LOGIN: &[(&str, Kind)] = &[
    ("method", Kind::Value),
    ("path", Kind::Value),
    ("no-store", Kind::Bool),
    ("no-print", Kind::Bool),
    ("token-only", Kind::Bool),
];

const fn cmd(
    name: &'static str,
    synopsis: &'static str,
    usage: &'static str,
    flags: &'static [(&'static str, Kind)],
) -> Command {
    Command {
        name,
        synopsis,
        usage,
        flags,
    }
}

pub const ALL: &[Command] = &[
    cmd("read", "Read data and retrieves secrets", "  Reads data from Tresor at the given path.\n\n      $ vault read secret/my-secret", &[]),
    cmd("write", "Write data, configuration, and secrets", "  Writes data to Tresor at the given path. Data is key=value pairs, key=@file,\n  key=- (standard input), or - for a JSON object on standard input.\n\n      $ vault write secret/my-secret foo=bar", FORCE),
    cmd("delete", "Delete secrets and configuration", "  Deletes secrets and configuration from Tresor at the given path.", &[]),
    cmd("list", "List data or secrets", "  Lists data from Tresor at the given path.", LIST),
    cmd("patch", "Patch data, configuration, and secrets", "  Patches data at the given path with a JSON merge patch.", FORCE),
    cmd("path-help", "Retrieve API help for paths", "  Retrieves API help for paths.", &[]),
    cmd("status", "Print seal and HA status", "  Prints the current state of Tresor including whether it is sealed. The exit\n  code is 0 when unsealed, 2 when sealed, 1 on error.", &[]),
    cmd("version", "Prints the Tresor CLI version", "", &[]),
    cmd("unwrap", "Unwrap a wrapped secret", "  Unwraps a wrapped secret from Tresor by the given token. The result is the\n  same as the \"vault read\" operation on the non-wrapped secret. If no token\n  is given, the data in the currently authenticated token is unwrapped.", &[]),
    cmd("login", "Authenticate locally", "  Authenticates users or machines to Tresor using the provided arguments and\n  stores the token in ~/.vault-token.\n\n      $ vault login s.abc\n      $ vault login -method=userpass username=me\n      $ vault login -method=approle role_id=... secret_id=...", LOGIN),
    cmd("kv put", "Sets or updates data in the KV store", "  Writes the data to the given path in the key-value store.", KV_WRITE),
    cmd("kv get", "Retrieves data from the KV store", "  Retrieves the value from the key-value store at the given path.", KV_VERSION),
    cmd("kv patch", "Sets or updates data in the KV store without overwriting", "  Writes the data to the given path, merged with what is there (KV v2).", KV_PATCH),
    cmd("kv list", "List data or secrets", "  Lists data from the key-value store at the given path.", KV_MOUNT),
    cmd("kv delete", "Deletes versions in the KV store", "  Deletes the data for the given path (the latest version, or -versions).", KV_VERSIONS),
    cmd("kv undelete", "Undeletes versions in the KV store", "  Undeletes the given -versions of the secret at the given path.", KV_VERSIONS),
    cmd("kv destroy", "Permanently removes one or more versions in the KV store", "  Permanently removes the given -versions of the secret at the given path.", KV_VERSIONS),
    cmd("kv rollback", "Rolls back to a previous version of data", "  Writes the data of -version as the newest version.", KV_VERSION),
    cmd("kv enable-versioning", "Turns on versioning for a KV store", "  Upgrades a KV version 1 mount to version 2.", &[]),
    cmd("kv metadata get", "Retrieves key metadata from the KV store", "  Retrieves the metadata of the secret at the given path.", KV_MOUNT),
    cmd("kv metadata put", "Sets or updates key settings in the KV store", "  Writes the settings of the secret at the given path.", KV_METADATA),
    cmd("kv metadata patch", "Patches key settings in the KV store", "  Patches the settings of the secret at the given path.", KV_METADATA),
    cmd("kv metadata delete", "Deletes all versions and metadata for a key in the KV store", "  Deletes all versions and the metadata of the secret at the given path.", KV_MOUNT),
    cmd("operator init", "Initializes a server", "  Initializes a Tresor server: generates the unseal key shares and the root token.", INIT),
    cmd("operator unseal", "Unseals the server", "  Provides an unseal key share. Without an argument, the key is read from a\n  hidden prompt.", UNSEAL),
    cmd("operator seal", "Seals the server", "  Seals the server.", &[]),
    cmd("operator key-status", "Provides information about the active encryption key", "  Provides information about the active encryption key.", &[]),
    cmd("operator raft join", "Joins a node to the Raft cluster", "  Joins the node to a Raft cluster whose leader's API is at the given address;\n  unseal the node afterwards with the cluster's unseal keys.\n\n      $ vault operator raft join https://127.0.0.1:8200", RAFT_JOIN),
    cmd("operator raft list-peers", "Returns the Raft peer set", "  Provides the details of all the peers in the Raft cluster.", &[]),
    cmd("operator raft snapshot save", "Saves a snapshot of the current state of the Raft cluster into a file", "  Saves a snapshot of the cluster's (encrypted) storage into a file.\n\n      $ vault operator raft snapshot save raft.snap", &[]),
    cmd("operator raft snapshot restore", "Installs the provided snapshot, returning the cluster to the state defined in it", "  Installs a snapshot. With -force, one made under other unseal keys too.\n\n      $ vault operator raft snapshot restore raft.snap", FORCE),
    cmd("operator raft autopilot state", "Displays the state of the raft cluster under integrated storage as seen by autopilot", "  Displays the state of the raft cluster under integrated storage as seen by\n  autopilot.", &[]),
    cmd("operator raft autopilot get-config", "Returns the configuration of the autopilot subsystem under integrated storage", "  Returns the configuration of the autopilot subsystem under integrated storage.", &[]),
    cmd("operator raft autopilot set-config", "Modify the configuration of the autopilot subsystem under integrated storage", "  Modify the configuration of the autopilot subsystem under integrated storage.\n\n      $ vault operator raft autopilot set-config -cleanup-dead-servers=true -min-quorum=3", AUTOPILOT_SET),
    cmd("operator raft remove-peer", "Removes a node from the Raft cluster", "  Removes a node from the Raft cluster.\n\n      $ vault operator raft remove-peer node1", &[]),
    cmd("token create", "Create a new token", "  Creates a new token.\n\n      $ vault token create -policy=backend -period=24h", TOKEN_CREATE),
    cmd("token lookup", "Display information about a token", "  Displays information about a token, or the caller's own.", ACCESSOR),
    cmd("token renew", "Renew a token lease", "  Renews a token, or the caller's own.", TOKEN_RENEW),
    cmd("token revoke", "Revoke a token and its children", "  Revokes a token and all its children.", TOKEN_REVOKE),
    cmd("token capabilities", "Print capabilities of a token on a path", "  Prints the capabilities of a token (or the caller's) on a path.", ACCESSOR),
    cmd("policy list", "Lists the installed policies", "  Lists the names of the policies that are installed.", &[]),
    cmd("policy read", "Prints the contents of a policy", "  Prints the contents and metadata of the policy.", &[]),
    cmd("policy write", "Uploads a named policy from a file", "  Uploads a policy from a file, or - for standard input.\n\n      $ vault policy write my-policy /tmp/policy.hcl", &[]),
    cmd("policy delete", "Deletes a policy by name", "  Deletes the policy named NAME.", &[]),
    cmd("policy fmt", "Formats a policy on disk", "  Checks a policy file parses, and rewrites it formatted.", &[]),
    cmd("secrets enable", "Enable a secrets engine", "  Enables a secrets engine at a path (the type, unless -path).\n\n      $ vault secrets enable -path=secret -version=2 kv", MOUNT_ENABLE),
    cmd("secrets disable", "Disable a secrets engine", "  Disables the secrets engine at the given path, and removes its data.", &[]),
    cmd("secrets list", "List enabled secrets engines", "  Lists the enabled secrets engines.", LIST),
    cmd("secrets tune", "Tune a secrets engine configuration", "  Tunes the configuration options of the secrets engine at the given path.", MOUNT_TUNE),
    cmd("secrets move", "Move a secrets engine to a new path", "  Moves an existing secrets engine to a new path, with its data.", &[]),
    cmd("audit enable", "Enables an audit device", "  Enables an audit device of TYPE at a path (the type, unless -path), with its\n  options as key=value pairs.\n\n      $ vault audit enable file file_path=/var/log/vault_audit.log", AUDIT_ENABLE),
    cmd("audit disable", "Disables an audit device", "  Disables the audit device at the given path.", &[]),
    cmd("audit list", "Lists enabled audit devices", "  Lists the enabled audit devices.", LIST),
    cmd("lease lookup", "Lookup lease information by lease id", "  Looks up the issue time, expiry and TTL of a lease.", &[]),
    cmd("lease renew", "Renews the lease of a secret", "  Renews the lease of a secret, by -increment (or its own TTL).", LEASE_RENEW),
    cmd("lease revoke", "Revokes leases and secrets", "  Revokes a lease (or, with -prefix, every lease under a prefix; -force ignores\n  the backends' errors).", LEASE_REVOKE),
    cmd("transit import", "Import a key into the Transit secrets engines.", "  Imports base64 key material (raw for symmetric keys, PKCS#8 DER for asymmetric\n  ones) into a new transit key at PATH (MOUNT/keys/NAME), wrapped on this side.\n\n      $ vault transit import transit/keys/my-key $KEY type=aes256-gcm96", &[]),
    cmd("transit import-version", "Import key material into a new key version in the Transit secrets engines.", "  Imports base64 key material as a new version of an imported transit key.", &[]),
    cmd("auth enable", "Enables a new auth method", "  Enables an auth method at a path (the type, unless -path).", MOUNT_ENABLE),
    cmd("auth disable", "Disables an auth method", "  Disables the auth method at the given path, and revokes its tokens.", &[]),
    cmd("auth list", "Lists enabled auth methods", "  Lists the enabled auth methods.", LIST),
    cmd("auth tune", "Tunes an auth method configuration", "  Tunes the configuration options of the auth method at the given path.", MOUNT_TUNE),
];

/// Runs the command named `name`.
pub async fn run(name: &str, ctx: &mut Ctx) -> Outcome {
    match name {
        "read" => generic::read(ctx).await,
        "write" => generic::write(ctx).await,
        "delete" => generic::delete(ctx).await,
        "list" => generic::list(ctx).await,
        "patch" => generic::patch(ctx).await,
        "path-help" => generic::path_help(ctx).await,
        "status" => generic::status(ctx).await,
        "version" => generic::version(ctx).await,
        "unwrap" => generic::unwrap(ctx).await,
        "login" => login::login(ctx).await,
        "kv put" => kv::put(ctx).await,
        "kv get" => kv::get(ctx).await,
        "kv patch" => kv::patch(ctx).await,
        "kv list" => kv::list(ctx).await,
        "kv delete" => kv::delete(ctx).await,
        "kv undelete" => kv::undelete(ctx).await,
        "kv destroy" => kv::destroy(ctx).await,
        "kv rollback" => kv::rollback(ctx).await,
        "kv enable-versioning" => kv::enable_versioning(ctx).await,
        "kv metadata get" => kv::metadata_get(ctx).await,
        "kv metadata put" => kv::metadata_put(ctx).await,
        "kv metadata patch" => kv::metadata_patch(ctx).await,
        "kv metadata delete" => kv::metadata_delete(ctx).await,
        "operator init" => operator::init(ctx).await,
        "operator unseal" => operator::unseal(ctx).await,
        "operator seal" => operator::seal(ctx).await,
        "operator key-status" => operator::key_status(ctx).await,
        "operator raft join" => raft::join(ctx).await,
        "operator raft list-peers" => raft::list_peers(ctx).await,
        "operator raft remove-peer" => raft::remove_peer(ctx).await,
        "operator raft autopilot state" => raft::autopilot_state(ctx).await,
        "operator raft autopilot get-config" => raft::autopilot_get_config(ctx).await,
        "operator raft autopilot set-config" => raft::autopilot_set_config(ctx).await,
        "operator raft snapshot save" => raft::snapshot_save(ctx).await,
        "operator raft snapshot restore" => raft::snapshot_restore(ctx).await,
        "token create" => token::create(ctx).await,
        "token lookup" => token::lookup(ctx).await,
        "token renew" => token::renew(ctx).await,
        "token revoke" => token::revoke(ctx).await,
        "token capabilities" => token::capabilities(ctx).await,
        "policy list" => policy::list(ctx).await,
        "policy read" => policy::read(ctx).await,
        "policy write" => policy::write(ctx).await,
        "policy delete" => policy::delete(ctx).await,
        "policy fmt" => policy::fmt(ctx).await,
        "secrets enable" => mounts::secrets_enable(ctx).await,
        "secrets disable" => mounts::secrets_disable(ctx).await,
        "secrets list" => mounts::secrets_list(ctx).await,
        "secrets tune" => mounts::secrets_tune(ctx).await,
        "secrets move" => mounts::secrets_move(ctx).await,
        "audit enable" => audit::enable(ctx).await,
        "audit disable" => audit::disable(ctx).await,
        "audit list" => audit::list(ctx).await,
        "lease lookup" => lease::lookup(ctx).await,
        "lease renew" => lease::renew(ctx).await,
        "lease revoke" => lease::revoke(ctx).await,
        "transit import" => transit::import_key(ctx).await,
        "transit import-version" => transit::import_version(ctx).await,
        "auth enable" => mounts::auth_enable(ctx).await,
        "auth disable" => mounts::auth_disable(ctx).await,
        "auth list" => mounts::auth_list(ctx).await,
        "auth tune" => mounts::auth_tune(ctx).await,
        other => Err(Failure::Local(format!("Unknown command: {other}"))),
    }
}
