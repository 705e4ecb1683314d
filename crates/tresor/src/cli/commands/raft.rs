//! `vault operator raft join|list-peers|remove-peer|snapshot save|snapshot restore`.

use serde_json::{json, Map, Value};

use crate::cli::output::{self, Format};
use crate::cli::{Ctx, Failure, Outcome};

/// A flag that takes PEM text inline or, as `@path`, from a file (as Vault's join flags do).
fn pem_flag(ctx: &Ctx, name: &str) -> Result<Option<String>, Failure> {
    match ctx.flags.value(name) {
        None | Some("") => Ok(None),
        Some(v) => match v.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map(Some)
                .map_err(|e| Failure::Local(format!("Error reading {path}: {e}"))),
            None => Ok(Some(v.to_owned())),
        },
    }
}

pub async fn join(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let leader = ctx.args()[0].clone();
    if leader.starts_with("provider=") {
        return Err(Failure::Local(
            "Error joining the node to the Raft cluster: auto-join by cloud provider metadata is not supported by Tresor".into(),
        ));
    }
    let mut body = Map::new();
    body.insert("leader_api_addr".into(), leader.into());
    for (flag, field) in [
        ("leader-ca-cert", "leader_ca_cert"),
        ("leader-client-cert", "leader_client_cert"),
        ("leader-client-key", "leader_client_key"),
    ] {
        if let Some(v) = pem_flag(ctx, flag)? {
            body.insert(field.into(), v.into());
        }
    }
    body.insert("retry".into(), ctx.flags.bool("retry").into());
    body.insert("non_voter".into(), ctx.flags.bool("non-voter").into());
    let resp = ctx
        .client
        .put("sys/storage/raft/join", &Value::Object(body))
        .await
        .map_err(|e| Failure::Remote(format!("Error joining the node to the Raft cluster: {e}")))?
        .unwrap_or(Value::Null);
    let joined = resp.get("joined").and_then(Value::as_bool).unwrap_or(false);
    if ctx.format != Format::Table {
        output::print_structured(ctx.format, &json!({ "joined": joined }));
    } else {
        print!(
            "{}",
            output::table(
                &["Key", "Value"],
                vec![vec!["Joined".into(), joined.to_string()]]
            )
        );
    }
    Ok(0)
}

pub async fn list_peers(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .get("sys/storage/raft/configuration")
        .await
        .map_err(|e| Failure::Remote(format!("Error reading the raft cluster configuration: {e}")))?
        .unwrap_or(Value::Null);
    if ctx.format != Format::Table {
        output::print_structured(ctx.format, &resp);
        return Ok(0);
    }
    let servers = resp
        .pointer("/data/config/servers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let rows = servers
        .iter()
        .map(|s| {
            let leader = s.get("leader").and_then(Value::as_bool).unwrap_or(false);
            vec![
                s.get("node_id").map(output::go_value).unwrap_or_default(),
                s.get("address").map(output::go_value).unwrap_or_default(),
                if leader { "leader" } else { "follower" }.to_owned(),
                s.get("voter").map(output::go_value).unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["Node", "Address", "State", "Voter"], rows)
    );
    Ok(0)
}

pub async fn remove_peer(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let id = ctx.args()[0].clone();
    ctx.client
        .put("sys/storage/raft/remove-peer", &json!({ "server_id": id }))
        .await
        .map_err(|e| Failure::Remote(format!("Error removing the peer from raft cluster: {e}")))?;
    println!("Peer removed successfully!");
    Ok(0)
}

pub async fn snapshot_save(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = ctx.args()[0].clone();
    let bytes = ctx
        .client
        .bytes("GET", "sys/storage/raft/snapshot", None)
        .await
        .map_err(|e| Failure::Remote(format!("Error taking the snapshot: {e}")))?;
    write_private(&path, &bytes)
        .map_err(|e| Failure::Local(format!("Error writing the snapshot to {path}: {e}")))?;
    Ok(0)
}

/// The snapshot file is the whole (encrypted) store: made readable by its owner only.
fn write_private(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub async fn snapshot_restore(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(1, Some(1))?;
    let path = ctx.args()[0].clone();
    let bytes = std::fs::read(&path)
        .map_err(|e| Failure::Local(format!("Error opening the snapshot file: {e}")))?;
    let endpoint = if ctx.flags.bool("force") {
        "sys/storage/raft/snapshot-force"
    } else {
        "sys/storage/raft/snapshot"
    };
    ctx.client
        .bytes("POST", endpoint, Some(bytes))
        .await
        .map_err(|e| Failure::Remote(format!("Error installing the snapshot: {e}")))?;
    Ok(0)
}

pub async fn autopilot_state(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .get("sys/storage/raft/autopilot/state")
        .await
        .map_err(|e| Failure::Remote(format!("Error checking autopilot state: {e}")))?
        .unwrap_or(Value::Null);
    let state = resp.get("data").cloned().unwrap_or(Value::Null);
    if ctx.format != Format::Table {
        output::print_structured(ctx.format, &state);
        return Ok(0);
    }
    // Vault's "pretty" layout: a few headline lines, then every server.
    let v = |o: &Value, k: &str| o.get(k).map(output::go_value).unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!("{:<30}{}\n", "Healthy:", v(&state, "healthy")));
    out.push_str(&format!(
        "{:<30}{}\n",
        "Failure Tolerance:",
        v(&state, "failure_tolerance")
    ));
    out.push_str(&format!("{:<30}{}\n", "Leader:", v(&state, "leader")));
    for (title, key) in [("Voters:", "voters"), ("Non Voters:", "non_voters")] {
        if let Some(list) = state.get(key).and_then(Value::as_array) {
            out.push_str(title);
            out.push('\n');
            for id in list {
                out.push_str(&format!("   {}\n", output::go_value(id)));
            }
        }
    }
    out.push_str("Servers:\n");
    if let Some(servers) = state.get("servers").and_then(Value::as_object) {
        for (id, s) in servers {
            out.push_str(&format!("   {id}\n"));
            for (label, key) in [
                ("Name", "name"),
                ("Address", "address"),
                ("Status", "status"),
                ("Node Status", "node_status"),
                ("Healthy", "healthy"),
                ("Last Contact", "last_contact"),
                ("Last Term", "last_term"),
                ("Last Index", "last_index"),
                ("Version", "version"),
                ("Node Type", "node_type"),
            ] {
                out.push_str(&format!("      {:<19}{}\n", format!("{label}:"), v(s, key)));
            }
        }
    }
    print!("{out}");
    Ok(0)
}

pub async fn autopilot_get_config(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    let resp = ctx
        .client
        .get("sys/storage/raft/autopilot/configuration")
        .await
        .map_err(|e| Failure::Remote(format!("Error reading the autopilot configuration: {e}")))?
        .unwrap_or(Value::Null);
    let c = resp.get("data").cloned().unwrap_or(Value::Null);
    if ctx.format != Format::Table {
        output::print_structured(ctx.format, &c);
        return Ok(0);
    }
    let rows = [
        ("Cleanup Dead Servers", "cleanup_dead_servers"),
        ("Last Contact Threshold", "last_contact_threshold"),
        (
            "Dead Server Last Contact Threshold",
            "dead_server_last_contact_threshold",
        ),
        ("Server Stabilization Time", "server_stabilization_time"),
        ("Min Quorum", "min_quorum"),
        ("Max Trailing Logs", "max_trailing_logs"),
    ]
    .iter()
    .map(|(label, key)| {
        vec![
            (*label).to_owned(),
            c.get(*key).map(output::go_value).unwrap_or_default(),
        ]
    })
    .collect();
    print!("{}", output::table(&["Key", "Value"], rows));
    Ok(0)
}

pub async fn autopilot_set_config(ctx: &mut Ctx) -> Outcome {
    ctx.expect_args(0, Some(0))?;
    // As Vault's CLI: only the settings given are sent.
    let mut body = Map::new();
    if let Some(v) = ctx.flags.value("cleanup-dead-servers") {
        let b = v.parse::<bool>().map_err(|_| {
            Failure::Local(format!(
                "invalid boolean value \"{v}\" for -cleanup-dead-servers"
            ))
        })?;
        body.insert("cleanup_dead_servers".into(), b.into());
    }
    for (flag, field) in [
        ("last-contact-threshold", "last_contact_threshold"),
        (
            "dead-server-last-contact-threshold",
            "dead_server_last_contact_threshold",
        ),
        ("server-stabilization-time", "server_stabilization_time"),
        ("max-trailing-logs", "max_trailing_logs"),
        ("min-quorum", "min_quorum"),
    ] {
        if let Some(v) = ctx.flags.value(flag).filter(|v| !v.is_empty()) {
            body.insert(field.into(), v.into());
        }
    }
    ctx.client
        .put(
            "sys/storage/raft/autopilot/configuration",
            &Value::Object(body),
        )
        .await
        .map_err(|e| Failure::Remote(format!("Error setting the autopilot configuration: {e}")))?;
    Ok(0)
}
