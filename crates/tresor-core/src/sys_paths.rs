//! The system backend, mounted at `sys/`: its path table, and handlers that hand each route to
//! the module that does the work (`sys.rs` for mounts and audit devices, `sys_policy.rs`,
//! `sys_leases.rs`, `wrapping.rs`, `rotation.rs`). Like the token store, it gets the core and
//! the caller with each request (a [`Builtin`] context). The unauthenticated routes (`init`,
//! `unseal`, `seal-status`, `health`, `leader`) are answered by the server before the core.

use tresor_sdk::framework::{Call, Field, Kind, Path, Paths};
use tresor_sdk::{handler, Response};

use crate::builtin::Builtin;
use crate::error::CoreError;
use crate::sys::{self, Caller, Table};

pub struct SystemBackend;

type Answer = tresor_sdk::Result<Option<Response>>;

const POLICY_NAME: Field = Field::new(
    "name",
    Kind::Str,
    "The name of the policy. Example: \"ops\"",
);
const POLICY_TEXT: [Field; 2] = [
    Field::new("policy", Kind::Str, "The rules of the policy."),
    Field::new(
        "rules",
        Kind::Str,
        "The rules of the policy (the old name of `policy`).",
    ),
];
const CAPABILITY_PATHS: [Field; 2] = [
    Field::new("path", Kind::Any, "Use 'paths' instead."),
    Field::new(
        "paths",
        Kind::Any,
        "Paths on which capabilities are being queried.",
    ),
];
const MOUNT_PATH: Field = Field::new(
    "path",
    Kind::Str,
    "The path to mount to. Example: \"aws/east\"",
);
const MOUNT_FIELDS: &[Field] = &[
    Field::new("type", Kind::Str, "The type of the backend. Example: \"passthrough\""),
    Field::new("description", Kind::Str, "User-friendly description for this mount."),
    Field::new("config", Kind::Map, "Configuration for this mount, such as default_lease_ttl and max_lease_ttl."),
    Field::new("options", Kind::KvPairs, "The options to pass into the backend. Should be a json object with string keys and values."),
    Field::new("local", Kind::Bool, "Mark the mount as a local mount, which is not replicated and is unaffected by replication."),
    Field::new("seal_wrap", Kind::Bool, "Whether to turn on seal wrapping for the mount."),
    Field::new("external_entropy_access", Kind::Bool, "Whether to give the mount access to Vault's external entropy."),
    Field::new("plugin_version", Kind::Str, "The semantic version of the plugin to use."),
];
const TUNE_FIELDS: &[Field] = &[
    Field::new("default_lease_ttl", Kind::Any, "The default lease TTL for this mount."),
    Field::new("max_lease_ttl", Kind::Any, "The max lease TTL for this mount."),
    Field::new("description", Kind::Str, "User-friendly description for this credential backend."),
    Field::new("options", Kind::KvPairs, "The options to pass into the backend. Should be a json object with string keys and values."),
    Field::new("audit_non_hmac_request_keys", Kind::CommaList, "The list of keys in the request data object that will not be HMAC'ed by audit devices."),
    Field::new("audit_non_hmac_response_keys", Kind::CommaList, "The list of keys in the response data object that will not be HMAC'ed by audit devices."),
    Field::new("listing_visibility", Kind::Str, "Determines the visibility of the mount in the UI-specific listing endpoint."),
    Field::new("passthrough_request_headers", Kind::CommaList, "A list of headers to whitelist and pass from the request to the plugin."),
    Field::new("allowed_response_headers", Kind::CommaList, "A list of headers to whitelist and allow a plugin to set on responses."),
    Field::new("token_type", Kind::Str, "The type of token to issue (service or batch)."),
    Field::new("plugin_version", Kind::Str, "The semantic version of the plugin to use."),
];
const LEASE_ID: Field = Field::new(
    "lease_id",
    Kind::Str,
    "The lease identifier to renew. This is included with a lease.",
);
const URL_LEASE_ID: Field = Field::new(
    "url_lease_id",
    Kind::Str,
    "The lease identifier to renew. This is included with a lease.",
);
const INCREMENT: Field = Field::new(
    "increment",
    Kind::Duration,
    "The desired increment in seconds to the lease",
);
const PREFIX: Field = Field::new(
    "prefix",
    Kind::Str,
    "The path to revoke keys under. Example: \"prod/aws/ops\"",
);
const TOKEN: Field = Field::new(
    "token",
    Kind::Str,
    "The token to act on; the caller's own if not given.",
);
const RANDOM: [Field; 5] = [
    Field::new(
        "urlbytes",
        Kind::Str,
        "The number of bytes to generate (POST URL parameter)",
    ),
    Field::new(
        "source",
        Kind::Str,
        "Which system to source random data from, \"platform\", \"seal\", or \"all\".",
    ),
    Field::new(
        "bytes",
        Kind::Int,
        "The number of bytes to generate (POST body parameter). Defaults to 32 (256 bits).",
    ),
    Field::new(
        "format",
        Kind::Str,
        "Encoding format to use. Can be \"hex\" or \"base64\". Defaults to \"base64\".",
    ),
    Field::new(
        "urlsource",
        Kind::Str,
        "Which system to source random data from (URL parameter).",
    ),
];
const HASH: [Field; 4] = [
    Field::new("input", Kind::Str, "The base64-encoded input data"),
    Field::new("algorithm", Kind::Str, "Algorithm to use (POST body parameter). Valid values are: sha2-224, sha2-256, sha2-384, sha2-512, sha3-224, sha3-256, sha3-384, sha3-512. Defaults to \"sha2-256\"."),
    Field::new("urlalgorithm", Kind::Str, "Algorithm to use (POST URL parameter)"),
    Field::new("format", Kind::Str, "Encoding format to use. Can be \"hex\" or \"base64\". Defaults to \"hex\"."),
];

fn policy_name(name: &str) -> String {
    crate::policy::normalize_name(name.trim_end_matches('/'))
}

fn trimmed(path: &str) -> String {
    path.trim_matches('/').to_owned()
}

impl Paths for SystemBackend {
    const HELP: &'static str = "The system backend is built in to Tresor and cannot be remounted or\nunmounted. It contains the paths that are used to configure Tresor itself\nas well as paths used to mount and unmount other backends.";

    fn paths() -> Vec<Path<Self>> {
        let lease = |p| Path::new(p).fields(&[LEASE_ID, URL_LEASE_ID]);
        vec![
            // Policies.
            Path::new("policy")
                .synopsis("List the configured access control policies.")
                .read(handler!(Self::policy_names))
                .list(handler!(Self::policy_names)),
            Path::new("policy/{name}")
                .synopsis("Read, Modify, or Delete an access control policy.")
                .canonical("name", policy_name)
                .field(POLICY_NAME)
                .fields(&POLICY_TEXT)
                .read(handler!(Self::old_policy))
                .write(handler!(Self::old_policy))
                .delete(handler!(Self::old_policy)),
            Path::new("policies/acl")
                .synopsis("List the configured access control policies.")
                .list(handler!(Self::acl_names)),
            Path::new("policies/acl/{name}")
                .synopsis("Read, Modify, or Delete an access control policy.")
                .canonical("name", policy_name)
                .field(POLICY_NAME)
                .fields(&POLICY_TEXT)
                .read(handler!(Self::acl_policy))
                .write(handler!(Self::acl_policy))
                .delete(handler!(Self::acl_policy)),
            Path::new("capabilities")
                .synopsis("Fetches the capabilities of the given token on the given path.")
                .fields(&CAPABILITY_PATHS)
                .field(Field::new("token", Kind::Str, "Token for which capabilities are being queried."))
                .write(handler!(Self::capabilities)),
            Path::new("capabilities-self")
                .synopsis("Fetches the capabilities of the given token on the given path.")
                .fields(&CAPABILITY_PATHS)
                .field(Field::new("token", Kind::Str, "Token for which capabilities are being queried."))
                .write(handler!(Self::capabilities_self)),
            Path::new("capabilities-accessor")
                .synopsis("Fetches the capabilities of the token associated with the given token, on the given path.")
                .fields(&CAPABILITY_PATHS)
                .field(Field::new("accessor", Kind::Str, "Accessor of the token for which capabilities are being queried."))
                .write(handler!(Self::capabilities_accessor)),
            // Tools.
            Path::new("tools/random")
                .synopsis("Generate random bytes")
                .fields(&RANDOM)
                .write(handler!(Self::random)),
            Path::new("tools/random/{urlbytes}")
                .synopsis("Generate random bytes")
                .fields(&RANDOM)
                .write(handler!(Self::random)),
            Path::new("tools/random/{source}/{urlbytes}")
                .synopsis("Generate random bytes")
                .fields(&RANDOM)
                .write(handler!(Self::random)),
            Path::new("tools/hash")
                .synopsis("Generate a hash sum for input data")
                .fields(&HASH)
                .write(handler!(Self::hash)),
            Path::new("tools/hash/{urlalgorithm}")
                .synopsis("Generate a hash sum for input data")
                .fields(&HASH)
                .write(handler!(Self::hash)),
            // Audit devices.
            Path::new("audit")
                .synopsis("List the enabled audit devices.")
                .sudo()
                .read(handler!(Self::list_audit)),
            Path::new("audit/{path*}")
                .synopsis("Enable or disable audit devices.")
                .sudo()
                .canonical("path", trimmed)
                .field(Field::new("path", Kind::Str, "The name of the backend. Cannot be delimited. Example: \"mysql\""))
                .field(Field::new("type", Kind::Str, "The type of the backend. Example: \"mysql\""))
                .field(Field::new("description", Kind::Str, "User-friendly description for this audit backend."))
                .field(Field::new("options", Kind::KvPairs, "Configuration options for the audit backend."))
                .field(Field::new("local", Kind::Bool, "Mark the mount as a local mount, which is not replicated and is unaffected by replication."))
                .write(handler!(Self::enable_audit))
                .delete(handler!(Self::disable_audit)),
            Path::new("audit-hash/{path*}")
                .synopsis("The hash of the given string via the given audit backend")
                .canonical("path", trimmed)
                .field(Field::new("input", Kind::Str, "The input to hash"))
                .write(handler!(Self::audit_hash)),
            // Response wrapping.
            Path::new("wrapping/wrap")
                .synopsis("Response-wraps an arbitrary JSON object.")
                .arbitrary_input()
                .requires_wrapping()
                .write(handler!(Self::wrap)),
            Path::new("wrapping/unwrap")
                .synopsis("Unwraps a response-wrapped token.")
                .wrapping_token()
                .field(TOKEN)
                .write(handler!(Self::unwrap)),
            Path::new("wrapping/lookup")
                .synopsis("Looks up the properties of a response-wrapped token.")
                .wrapping_token()
                .field(TOKEN)
                .write(handler!(Self::wrap_lookup)),
            Path::new("wrapping/rewrap")
                .synopsis("Rotates a response-wrapped token.")
                .wrapping_token()
                .field(TOKEN)
                .write(handler!(Self::rewrap)),
            // Leases, and their old spellings directly under `sys/`.
            lease("leases/lookup")
                .synopsis("View or list lease metadata.")
                .write(handler!(Self::lookup_lease)),
            Path::new("leases/lookup/{prefix*}")
                .synopsis("View or list lease metadata.")
                .sudo()
                .field(PREFIX)
                .list(handler!(Self::list_leases)),
            lease("leases/renew")
                .synopsis("Renews a lease, requesting to extend the lease.")
                .field(INCREMENT)
                .write(handler!(Self::renew_lease)),
            lease("leases/renew/{url_lease_id*}")
                .synopsis("Renews a lease, requesting to extend the lease.")
                .field(INCREMENT)
                .write(handler!(Self::renew_lease)),
            lease("renew")
                .synopsis("Renews a lease, requesting to extend the lease.")
                .field(INCREMENT)
                .write(handler!(Self::renew_lease)),
            lease("renew/{url_lease_id*}")
                .synopsis("Renews a lease, requesting to extend the lease.")
                .field(INCREMENT)
                .write(handler!(Self::renew_lease)),
            lease("leases/revoke")
                .synopsis("Revokes a lease immediately.")
                .write(handler!(Self::revoke_lease)),
            lease("leases/revoke/{url_lease_id*}")
                .synopsis("Revokes a lease immediately.")
                .write(handler!(Self::revoke_lease)),
            lease("revoke")
                .synopsis("Revokes a lease immediately.")
                .write(handler!(Self::revoke_lease)),
            lease("revoke/{url_lease_id*}")
                .synopsis("Revokes a lease immediately.")
                .write(handler!(Self::revoke_lease)),
            Path::new("leases/revoke-prefix/{prefix*}")
                .synopsis("Revokes all secrets (via a lease ID prefix) or tokens (via the tokens' path property) generated under a given prefix immediately.")
                .sudo()
                .field(PREFIX)
                .write(handler!(Self::revoke_prefix)),
            Path::new("revoke-prefix/{prefix*}")
                .synopsis("Revokes all secrets (via a lease ID prefix) or tokens (via the tokens' path property) generated under a given prefix immediately.")
                .sudo()
                .field(PREFIX)
                .write(handler!(Self::revoke_prefix)),
            Path::new("leases/revoke-force/{prefix*}")
                .synopsis("Revokes all secrets or tokens generated under a given prefix immediately, ignoring errors from the backends.")
                .sudo()
                .field(PREFIX)
                .write(handler!(Self::revoke_force)),
            Path::new("revoke-force/{prefix*}")
                .synopsis("Revokes all secrets or tokens generated under a given prefix immediately, ignoring errors from the backends.")
                .sudo()
                .field(PREFIX)
                .write(handler!(Self::revoke_force)),
            Path::new("leases/tidy")
                .synopsis("This endpoint performs cleanup tasks that can be run if certain error conditions have occurred.")
                .write(handler!(Self::tidy_leases)),
            // The keyring.
            Path::new("key-status")
                .synopsis("Provides information about the backend encryption key.")
                .read(handler!(Self::key_status)),
            Path::new("rotate/config")
                .synopsis("Configures settings related to the backend encryption key management.")
                .field(Field::new("enabled", Kind::Bool, "Whether automatic rotation is enabled."))
                .field(Field::new("max_operations", Kind::Int64, "The number of encryption operations performed before the barrier key is automatically rotated."))
                .field(Field::new("interval", Kind::Duration, "How long after installation of an active key term that the key will be automatically rotated."))
                .read(handler!(Self::read_rotation))
                .write(handler!(Self::write_rotation)),
            Path::new("rotate")
                .synopsis("Rotates the backend encryption key used to persist data.")
                .sudo()
                .write(handler!(Self::rotate)),
            // Mounts and auth methods.
            Path::new("mounts")
                .synopsis("List the currently mounted backends.")
                .read(handler!(Self::list_mounts)),
            Path::new("mounts/auth/{path*}/tune")
                .synopsis("Tune the configuration parameters for an auth method (sudo, as through sys/auth).")
                .sudo()
                .canonical("path", trimmed)
                .field(MOUNT_PATH)
                .fields(TUNE_FIELDS)
                .read(handler!(Self::read_auth_tune_via_mounts))
                .write(handler!(Self::tune_auth_via_mounts)),
            Path::new("mounts/{path*}/tune")
                .synopsis("Tune backend configuration parameters for this mount.")
                .canonical("path", trimmed)
                .field(MOUNT_PATH)
                .fields(TUNE_FIELDS)
                .read(handler!(Self::read_tune))
                .write(handler!(Self::tune)),
            Path::new("mounts/{path*}")
                .synopsis("Mount a new backend at a new path.")
                .canonical("path", trimmed)
                .field(MOUNT_PATH)
                .fields(MOUNT_FIELDS)
                .read(handler!(Self::read_mount))
                .write(handler!(Self::enable_mount))
                .delete(handler!(Self::disable_mount)),
            Path::new("remount")
                .synopsis("Move the mount point of an already-mounted backend, within or across namespaces")
                .sudo()
                .field(Field::new("from", Kind::Str, "The previous mount point."))
                .field(Field::new("to", Kind::Str, "The new mount point."))
                .write(handler!(Self::remount)),
            Path::new("remount/status/{migration_id}")
                .synopsis("Check status of a mount migration")
                .field(Field::new("migration_id", Kind::Str, "The ID of the migration operation"))
                .read(handler!(Self::remount_status)),
            Path::new("auth")
                .synopsis("List the currently enabled credential backends.")
                .read(handler!(Self::list_auth)),
            Path::new("auth/{path*}/tune")
                .synopsis("Tune the configuration parameters for an auth path.")
                .sudo()
                .canonical("path", trimmed)
                .field(MOUNT_PATH)
                .fields(TUNE_FIELDS)
                .read(handler!(Self::read_auth_tune))
                .write(handler!(Self::tune_auth)),
            Path::new("auth/{path*}")
                .synopsis("Enables a new auth method.")
                .sudo()
                .canonical("path", trimmed)
                .field(MOUNT_PATH)
                .fields(MOUNT_FIELDS)
                .read(handler!(Self::read_auth))
                .write(handler!(Self::enable_auth))
                .delete(handler!(Self::disable_auth)),
            Path::new("seal")
                .synopsis("Seals the Tresor server.")
                .sudo()
                .write(handler!(Self::seal)),
            // Integrated storage and HA.
            Path::new("storage/raft/configuration")
                .synopsis("Returns the configuration of the raft cluster.")
                .read(handler!(Self::raft_configuration)),
            Path::new("storage/raft/remove-peer")
                .synopsis("Removes a peer from the raft cluster.")
                .field(Field::new("server_id", Kind::Str, "The ID of the server to remove."))
                .write(handler!(Self::raft_remove_peer)),
            Path::new("storage/raft/snapshot")
                .synopsis("Returns a snapshot of the current state of vault, or installs one.")
                .field(Field::new("snapshot", Kind::Str, "The snapshot to install (its bytes are the request body)."))
                .read(handler!(Self::raft_snapshot))
                .write(handler!(Self::raft_restore)),
            Path::new("storage/raft/snapshot-force")
                .synopsis("Installs the provided snapshot, returning the cluster to the state defined in it. This bypasses checks ensuring the current Autounseal or Shamir keys are consistent with the snapshot data.")
                .field(Field::new("snapshot", Kind::Str, "The snapshot to install (its bytes are the request body)."))
                .write(handler!(Self::raft_restore_force)),
            Path::new("storage/raft/autopilot/state")
                .synopsis("Returns the state of the raft cluster under integrated storage as seen by autopilot.")
                .forward()
                .read(handler!(Self::autopilot_state)),
            Path::new("storage/raft/autopilot/configuration")
                .synopsis("Returns the configuration of the autopilot subsystem of Raft, or sets it.")
                .field(Field::new("cleanup_dead_servers", Kind::Bool, "Controls whether to remove dead servers from the Raft peer list periodically or when a new server joins."))
                .field(Field::new("last_contact_threshold", Kind::Duration, "Limit on the amount of time a server can go without leader contact before being considered unhealthy."))
                .field(Field::new("dead_server_last_contact_threshold", Kind::Duration, "Limit on the amount of time a server can go without leader contact before being considered failed. This takes effect only when cleanup_dead_servers is set."))
                .field(Field::new("max_trailing_logs", Kind::Int, "Amount of entries in the Raft Log that a server can be behind before being considered unhealthy."))
                .field(Field::new("min_quorum", Kind::Int, "Minimum number of servers allowed in a cluster before autopilot can prune dead servers. This should at least be 3."))
                .field(Field::new("server_stabilization_time", Kind::Duration, "Minimum amount of time a server must be in a stable, healthy state before it can be added to the cluster."))
                .field(Field::new("disable_upgrade_migration", Kind::Bool, "Whether or not to perform automated version upgrades."))
                .read(handler!(Self::autopilot_config))
                .write(handler!(Self::autopilot_set_config)),
            Path::new("ha-status")
                .synopsis("Check the HA status of a Vault cluster")
                .read(handler!(Self::ha_status)),
            // What a token may see, for clients and the UI.
            Path::new("internal/ui/mounts")
                .synopsis("Information about mounts returned according to their tuned visibility. Internal API; its location, inputs, and outputs may change.")
                .any_token()
                .read(handler!(Self::ui_mounts)),
            Path::new("internal/ui/mounts/{path*}")
                .synopsis("Information about mounts returned according to their tuned visibility. Internal API; its location, inputs, and outputs may change.")
                .any_token()
                .field(Field::new("path", Kind::Str, "The path of the mount."))
                .read(handler!(Self::ui_mount)),
            Path::new("internal/specs/openapi")
                .synopsis("Generate an OpenAPI 3 document of all mounted paths.")
                .any_token()
                .field(Field::new("context", Kind::Str, "Context string appended to every operationId"))
                .field(Field::new("generic_mount_paths", Kind::Bool, "Use generic mount paths"))
                .read(handler!(Self::openapi))
                .write(handler!(Self::openapi)),
        ]
    }
}

/// The core and the caller a system request brings along.
fn sys<'c>(c: &'c Call<'_>) -> tresor_sdk::Result<&'c Builtin> {
    c.req
        .system
        .as_ref()
        .and_then(|s| s.get::<Builtin>())
        .ok_or_else(|| tresor_sdk::Error::internal("the system backend needs the core's context"))
}

fn caller(b: &Builtin) -> Caller<'_> {
    Caller {
        entry: &b.entry,
        token: &b.token,
    }
}

/// `auth/<path>`: the auth method's mount path (the token method is built in and fixed).
fn auth_mount(path: &str) -> Result<String, CoreError> {
    let internal = format!("auth/{}", path.trim_matches('/'));
    if internal == "auth/token" {
        return Err(CoreError::invalid(
            "token credential backend cannot be changed",
        ));
    }
    Ok(internal)
}

impl SystemBackend {
    async fn policy_names(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_policy::names(&sys(c)?.active))
    }

    async fn acl_names(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_policy::acl_names(&sys(c)?.active))
    }

    /// `sys/policy/<name>`: read, write or delete, the text as `rules`.
    async fn old_policy(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_policy::policy(&sys(c)?.active, c.param("name"), c.req, "rules").await?)
    }

    /// `sys/policies/acl/<name>`: read, write or delete, the text as `policy`.
    async fn acl_policy(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_policy::policy(&sys(c)?.active, c.param("name"), c.req, "policy").await?)
    }

    async fn capabilities(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(crate::sys_policy::of_token(&*b.core()?, &b.active, c.req).await?)
    }

    async fn capabilities_self(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let core = b.core()?;
        Ok(crate::sys_policy::capabilities(
            &core,
            &b.active,
            &b.entry.policies,
            c.req,
        )?)
    }

    async fn capabilities_accessor(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(crate::sys_policy::of_accessor(&*b.core()?, &b.active, c.req).await?)
    }

    async fn random(&self, c: &Call<'_>) -> Answer {
        let url: Vec<&str> = [c.param("source"), c.param("urlbytes")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        Ok(crate::sys_policy::random(&url, c.req)?)
    }

    async fn hash(&self, c: &Call<'_>) -> Answer {
        let alg = Some(c.param("urlalgorithm")).filter(|a| !a.is_empty());
        Ok(crate::sys_policy::hash(alg, c.req)?)
    }

    async fn list_audit(&self, c: &Call<'_>) -> Answer {
        Ok(sys::list_audit(&sys(c)?.active))
    }

    async fn enable_audit(&self, c: &Call<'_>) -> Answer {
        Ok(sys::enable_audit(&sys(c)?.active, c.param("path"), c.req).await?)
    }

    async fn disable_audit(&self, c: &Call<'_>) -> Answer {
        Ok(sys::disable_audit(&sys(c)?.active, c.param("path")).await?)
    }

    async fn audit_hash(&self, c: &Call<'_>) -> Answer {
        Ok(sys::audit_hash(&sys(c)?.active, c.param("path"), c.req)?)
    }

    async fn wrap(&self, c: &Call<'_>) -> Answer {
        Ok(crate::wrapping::wrap_body(c.req)?)
    }

    async fn unwrap(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(crate::wrapping::unwrap(&*b.core()?, &b.active, c.req, &caller(b)).await?)
    }

    async fn wrap_lookup(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(crate::wrapping::lookup(&b.active, c.req, &caller(b)).await?)
    }

    async fn rewrap(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(crate::wrapping::rewrap(&*b.core()?, &b.active, c.req, &caller(b)).await?)
    }

    async fn list_leases(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_leases::list(&sys(c)?.active, c.param("prefix")).await?)
    }

    async fn lookup_lease(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_leases::lookup(&sys(c)?.active, c.req, c.param("prefix")).await?)
    }

    async fn renew_lease(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let id = c.param("url_lease_id");
        Ok(crate::sys_leases::renew_lease(&b.active, &b.config, c.req, id).await?)
    }

    async fn revoke_lease(&self, c: &Call<'_>) -> Answer {
        let id = c.param("url_lease_id");
        Ok(crate::sys_leases::revoke(&sys(c)?.active, c.req, id).await?)
    }

    async fn revoke_prefix(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_leases::revoke_prefix(&sys(c)?.active, c.param("prefix"), false).await?)
    }

    async fn revoke_force(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_leases::revoke_prefix(&sys(c)?.active, c.param("prefix"), true).await?)
    }

    async fn tidy_leases(&self, c: &Call<'_>) -> Answer {
        Ok(crate::sys_leases::tidy_leases(&sys(c)?.active).await?)
    }

    async fn key_status(&self, c: &Call<'_>) -> Answer {
        Ok(crate::rotation::key_status(sys(c)?.core()?.barrier())?)
    }

    async fn rotate(&self, c: &Call<'_>) -> Answer {
        Ok(crate::rotation::rotate(sys(c)?.core()?.barrier()).await?)
    }

    async fn read_rotation(&self, c: &Call<'_>) -> Answer {
        Ok(crate::rotation::read_config(&sys(c)?.active).await?)
    }

    async fn write_rotation(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let core = b.core()?;
        Ok(crate::rotation::write_config(core.barrier(), &b.active, &c.req.data).await?)
    }

    async fn list_mounts(&self, c: &Call<'_>) -> Answer {
        Ok(Some(sys::list_mounts(&sys(c)?.active)))
    }

    async fn read_mount(&self, c: &Call<'_>) -> Answer {
        Ok(sys::read_mount(&sys(c)?.active, c.param("path"))?)
    }

    async fn enable_mount(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let (core, path) = (b.core()?, c.param("path"));
        Ok(sys::enable(&core, &b.active, Table::Secrets, path, &c.req.data).await?)
    }

    async fn disable_mount(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let (core, path) = (b.core()?, c.param("path"));
        Ok(sys::disable(&core, &b.active, Table::Secrets, path).await?)
    }

    async fn read_tune(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(sys::read_tune(&*b.core()?, &b.active, c.param("path"))?)
    }

    async fn tune(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let core = b.core()?;
        Ok(sys::tune(&core, &b.active, c.param("path"), &c.req.data).await?)
    }

    async fn read_auth_tune_via_mounts(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let path = format!("auth/{}", c.param("path"));
        Ok(sys::read_tune(&*b.core()?, &b.active, &path)?)
    }

    async fn tune_auth_via_mounts(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let (core, path) = (b.core()?, format!("auth/{}", c.param("path")));
        Ok(sys::tune(&core, &b.active, &path, &c.req.data).await?)
    }

    async fn remount(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(sys::remount(&*b.core()?, &b.active, &c.req.data).await?)
    }

    async fn remount_status(&self, c: &Call<'_>) -> Answer {
        Ok(sys::remount_status(
            &sys(c)?.active,
            c.param("migration_id"),
        )?)
    }

    async fn list_auth(&self, c: &Call<'_>) -> Answer {
        Ok(Some(Response::data(sys::auth_mounts(&sys(c)?.active))))
    }

    async fn read_auth_tune(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let path = auth_mount(c.param("path"))?;
        Ok(sys::read_tune(&*b.core()?, &b.active, &path)?)
    }

    async fn tune_auth(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let (core, path) = (b.core()?, auth_mount(c.param("path"))?);
        Ok(sys::tune(&core, &b.active, &path, &c.req.data).await?)
    }

    async fn read_auth(&self, c: &Call<'_>) -> Answer {
        let path = auth_mount(c.param("path"))?;
        Ok(sys::read_mount(&sys(c)?.active, &path)?)
    }

    async fn enable_auth(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let (core, path) = (b.core()?, auth_mount(c.param("path"))?);
        Ok(sys::enable(&core, &b.active, Table::Auth, &path, &c.req.data).await?)
    }

    async fn disable_auth(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        let (core, path) = (b.core()?, auth_mount(c.param("path"))?);
        Ok(sys::disable(&core, &b.active, Table::Auth, &path).await?)
    }

    async fn raft_configuration(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        Ok(Some(crate::ha::raft_configuration(&core).await?))
    }

    async fn raft_remove_peer(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        crate::ha::raft_remove_peer(&core, c.req.data.get("server_id")).await?;
        Ok(None)
    }

    async fn raft_snapshot(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        Ok(Some(crate::ha::raft_snapshot(&core).await?))
    }

    async fn raft_restore(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        crate::ha::raft_restore(&core, c.req.data.get("snapshot"), false).await?;
        Ok(None)
    }

    async fn raft_restore_force(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        crate::ha::raft_restore(&core, c.req.data.get("snapshot"), true).await?;
        Ok(None)
    }

    async fn autopilot_state(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        Ok(Some(Response::data(crate::autopilot::state(&core).await?)))
    }

    async fn autopilot_config(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        Ok(Some(Response::data(
            crate::autopilot::read_config(&core).await?,
        )))
    }

    async fn autopilot_set_config(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        crate::autopilot::write_config(&core, &c.req.data).await?;
        Ok(None)
    }

    async fn ha_status(&self, c: &Call<'_>) -> Answer {
        let core = sys(c)?.core()?;
        Ok(Some(crate::ha::ha_status(&core).await?))
    }

    async fn seal(&self, c: &Call<'_>) -> Answer {
        sys(c)?.core()?.seal().await;
        Ok(None)
    }

    async fn ui_mounts(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(Some(sys::ui_mounts(&b.active, &caller(b))))
    }

    async fn ui_mount(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(sys::ui_mount(&b.active, c.param("path"), &caller(b))?)
    }

    async fn openapi(&self, c: &Call<'_>) -> Answer {
        let b = sys(c)?;
        Ok(Some(sys::openapi(&*b.core()?, &b.active, &caller(b))))
    }
}
