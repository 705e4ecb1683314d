//! Autopilot, as Vault's integrated storage has it: the cluster's health as the active node sees
//! it (`sys/storage/raft/autopilot/state`), its settings (`…/autopilot/configuration`), and
//! dead-server cleanup, which removes voters that have not answered for
//! `dead_server_last_contact_threshold` while at least `min_quorum` voters remain.
//!
//! Tresor promotes a joined node as soon as it has caught up; `server_stabilization_time` is
//! kept and shown for compatibility but waits for nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tresor_storage::cluster::MemberHealth;

use crate::core::Core;
use crate::error::CoreError;

/// Where the settings given by the operator are kept (only those given; the rest default).
const CONFIG_PATH: &str = "core/raft/autopilot/configuration";
/// How often the active node considers removing dead servers.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(10);

/// The settings as stored: only what the operator set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Stored {
    #[serde(skip_serializing_if = "Option::is_none")]
    cleanup_dead_servers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_contact_threshold: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_server_last_contact_threshold: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_trailing_logs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_quorum: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_stabilization_time: Option<u64>,
}

/// The effective settings: the stored ones over Vault's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Config {
    pub cleanup_dead_servers: bool,
    /// Seconds.
    pub last_contact_threshold: u64,
    pub dead_server_last_contact_threshold: u64,
    pub max_trailing_logs: u64,
    pub min_quorum: u64,
    pub server_stabilization_time: u64,
}

impl From<&Stored> for Config {
    fn from(s: &Stored) -> Self {
        Config {
            cleanup_dead_servers: s.cleanup_dead_servers.unwrap_or(false),
            last_contact_threshold: s.last_contact_threshold.unwrap_or(10),
            dead_server_last_contact_threshold: s
                .dead_server_last_contact_threshold
                .unwrap_or(24 * 3600),
            max_trailing_logs: s.max_trailing_logs.unwrap_or(1000),
            min_quorum: s.min_quorum.unwrap_or(0),
            server_stabilization_time: s.server_stabilization_time.unwrap_or(10),
        }
    }
}

/// Without integrated storage these paths do not exist (a 404, as OpenBao answers).
fn cluster(core: &Core) -> Result<&dyn tresor_storage::cluster::Cluster, CoreError> {
    core.ha()
        .ok_or(CoreError::Backend(tresor_sdk::Error::UnsupportedPath))
}

async fn stored(core: &Core) -> Result<Stored, CoreError> {
    Ok(core
        .barrier()
        .get_json(CONFIG_PATH)
        .await?
        .unwrap_or_default())
}

pub(crate) async fn config(core: &Core) -> Result<Config, CoreError> {
    Ok(Config::from(&stored(core).await?))
}

/// `GET sys/storage/raft/autopilot/configuration`.
pub(crate) async fn read_config(core: &Core) -> Result<Map<String, Value>, CoreError> {
    cluster(core)?;
    let c = config(core).await?;
    let go = tresor_sdk::ttl::format_go;
    Ok(json!({
        "cleanup_dead_servers": c.cleanup_dead_servers,
        "last_contact_threshold": go(c.last_contact_threshold),
        "dead_server_last_contact_threshold": go(c.dead_server_last_contact_threshold),
        "max_trailing_logs": c.max_trailing_logs,
        "min_quorum": c.min_quorum,
        "server_stabilization_time": go(c.server_stabilization_time),
        "disable_upgrade_migration": false,
    })
    .as_object()
    .cloned()
    .unwrap_or_default())
}

fn duration_field(data: &Map<String, Value>, name: &str) -> Result<Option<u64>, CoreError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => tresor_sdk::ttl::parse_value(v)
            .map(Some)
            .map_err(|e| CoreError::invalid(format!("error parsing {name}: {e}"))),
    }
}

fn uint_field(data: &Map<String, Value>, name: &str) -> Result<Option<u64>, CoreError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| CoreError::invalid(format!("{name} must be a non-negative integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| CoreError::invalid(format!("{name} must be a non-negative integer"))),
        Some(_) => Err(CoreError::invalid(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

fn bool_field(data: &Map<String, Value>, name: &str) -> Result<Option<bool>, CoreError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| CoreError::invalid(format!("{name} must be a boolean"))),
        Some(_) => Err(CoreError::invalid(format!("{name} must be a boolean"))),
    }
}

/// `POST sys/storage/raft/autopilot/configuration`: the fields given replace the stored ones;
/// the result is checked as Vault checks it before anything is stored.
pub(crate) async fn write_config(core: &Core, data: &Map<String, Value>) -> Result<(), CoreError> {
    cluster(core)?;
    let mut s = stored(core).await?;
    if let Some(v) = bool_field(data, "cleanup_dead_servers")? {
        s.cleanup_dead_servers = Some(v);
    }
    if let Some(v) = duration_field(data, "last_contact_threshold")? {
        s.last_contact_threshold = Some(v);
    }
    if let Some(v) = duration_field(data, "dead_server_last_contact_threshold")? {
        s.dead_server_last_contact_threshold = Some(v);
    }
    if let Some(v) = uint_field(data, "max_trailing_logs")? {
        s.max_trailing_logs = Some(v);
    }
    if let Some(v) = uint_field(data, "min_quorum")? {
        s.min_quorum = Some(v);
    }
    if let Some(v) = duration_field(data, "server_stabilization_time")? {
        s.server_stabilization_time = Some(v);
    }
    let c = Config::from(&s);
    if c.cleanup_dead_servers && c.min_quorum < 3 {
        return Err(CoreError::invalid(format!(
            "min_quorum must be set when cleanup_dead_servers is set and it should at least be 3; cleanup_dead_servers: {}, min_quorum: {}",
            c.cleanup_dead_servers, c.min_quorum
        )));
    }
    if s.dead_server_last_contact_threshold.is_some() && c.dead_server_last_contact_threshold < 60 {
        return Err(CoreError::invalid(format!(
            "dead_server_last_contact_threshold should not be set to less than 1m; received: {}",
            tresor_sdk::ttl::format_go(c.dead_server_last_contact_threshold)
        )));
    }
    core.barrier().put_json(CONFIG_PATH, &s).await
}

/// A duration as Go prints it, to the millisecond (`678ms`, `1.5s`).
fn go_ms(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) || ms >= 60_000 {
        tresor_sdk::ttl::format_go((ms / 1000) as u64)
    } else {
        let fraction = format!("{:03}", ms % 1000);
        format!("{}.{}s", ms / 1000, fraction.trim_end_matches('0'))
    }
}

/// Whether a member is healthy by the settings: heard from recently, and not far behind.
fn healthy(m: &MemberHealth, leader: Option<&MemberHealth>, c: &Config) -> bool {
    let alive = m
        .last_contact
        .is_some_and(|d| d <= Duration::from_secs(c.last_contact_threshold));
    let caught_up = leader.is_none_or(|l| {
        m.last_term == l.last_term && m.last_index + c.max_trailing_logs >= l.last_index
    });
    alive && caught_up
}

/// `GET sys/storage/raft/autopilot/state`, on the active node.
pub(crate) async fn state(core: &Core) -> Result<Map<String, Value>, CoreError> {
    let cluster = cluster(core)?;
    let c = config(core).await?;
    let members = cluster.health().await?;
    let leader = members.iter().find(|m| m.peer.leader);
    let now = tresor_sdk::clock::rfc3339(core.config().clock.now());
    let mut servers = Map::new();
    let (mut voters, mut non_voters) = (Vec::new(), Vec::new());
    let mut healthy_voters = 0usize;
    for m in &members {
        let ok = healthy(m, leader, &c);
        let id = m.peer.node_id.clone();
        if m.peer.voter {
            voters.push(id.clone());
            healthy_voters += usize::from(ok);
        } else {
            non_voters.push(id.clone());
        }
        let status = if m.peer.leader {
            "leader"
        } else if m.peer.voter {
            "voter"
        } else {
            "non-voter"
        };
        servers.insert(
            id.clone(),
            json!({
                "id": id,
                "name": id,
                "address": m.peer.cluster_addr,
                "node_status": if m.last_contact.is_some_and(|d| d <= Duration::from_secs(c.last_contact_threshold)) { "alive" } else { "left" },
                "last_contact": m.last_contact.map(go_ms).unwrap_or_else(|| "0s".into()),
                "last_term": m.last_term,
                "last_index": m.last_index,
                "healthy": ok,
                "stable_since": now,
                "status": status,
                "version": crate::VAULT_VERSION,
                "node_type": "voter",
            }),
        );
    }
    let quorum = voters.len() / 2 + 1;
    let mut out = json!({
        "healthy": members.iter().all(|m| healthy(m, leader, &c)),
        "failure_tolerance": healthy_voters.saturating_sub(quorum),
        "leader": leader.map(|l| l.peer.node_id.clone()).unwrap_or_default(),
        "voters": voters,
        "servers": servers,
        "optimistic_failure_tolerance": healthy_voters.saturating_sub(quorum),
    });
    if !non_voters.is_empty() {
        out["non_voters"] = json!(non_voters);
    }
    Ok(out.as_object().cloned().unwrap_or_default())
}

/// The voters dead-server cleanup removes now: those not heard from for the threshold, as long as
/// `min_quorum` voters remain, the longest silent first. Never the leader.
pub(crate) fn dead_to_remove(members: &[MemberHealth], c: &Config) -> Vec<String> {
    if !c.cleanup_dead_servers || c.min_quorum < 3 {
        return Vec::new();
    }
    let threshold = Duration::from_secs(c.dead_server_last_contact_threshold);
    let mut voters = members.iter().filter(|m| m.peer.voter).count() as u64;
    let mut dead: Vec<&MemberHealth> = members
        .iter()
        .filter(|m| m.peer.voter && !m.peer.leader)
        .filter(|m| m.last_contact.is_some_and(|d| d > threshold))
        .collect();
    dead.sort_by_key(|m| std::cmp::Reverse(m.last_contact));
    let mut out = Vec::new();
    for m in dead {
        if voters <= c.min_quorum {
            break;
        }
        out.push(m.peer.node_id.clone());
        voters -= 1;
    }
    out
}

/// The active node's dead-server cleanup, every few seconds while it leads.
pub(crate) async fn run(core: std::sync::Weak<Core>) {
    loop {
        tokio::time::sleep(RECONCILE_INTERVAL).await;
        let Some(core) = core.upgrade() else { return };
        let Some(cluster) = core.ha() else { return };
        let Ok(c) = config(&core).await else { continue };
        let Ok(members) = cluster.health().await else {
            continue;
        };
        for id in dead_to_remove(&members, &c) {
            match cluster.remove_peer(&id).await {
                Ok(()) => tracing::info!(node = %id, "autopilot: removed a dead server"),
                Err(e) => {
                    tracing::warn!(node = %id, error = %e, "autopilot: removing a dead server failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_storage::cluster::Peer;

    fn member(id: &str, leader: bool, voter: bool, silent: Option<u64>) -> MemberHealth {
        MemberHealth {
            peer: Peer {
                node_id: id.into(),
                cluster_addr: format!("{id}:8201"),
                api_addr: format!("http://{id}:8200"),
                leader,
                voter,
            },
            last_contact: silent.map(Duration::from_secs),
            last_term: 2,
            last_index: 100,
        }
    }

    fn cleanup(min_quorum: u64) -> Config {
        Config {
            cleanup_dead_servers: true,
            min_quorum,
            dead_server_last_contact_threshold: 60,
            ..Config::from(&Stored::default())
        }
    }

    #[test]
    fn dead_voters_go_while_min_quorum_remains() {
        let members = [
            member("a", true, true, Some(0)),
            member("b", false, true, Some(1)),
            member("c", false, true, Some(61)),
            member("d", false, true, Some(600)),
            member("e", false, true, Some(2)),
        ];
        // Five voters, two dead: with min_quorum 3 both go, the longest silent first.
        assert_eq!(dead_to_remove(&members, &cleanup(3)), vec!["d", "c"]);
        // With min_quorum 4 only one may go.
        assert_eq!(dead_to_remove(&members, &cleanup(4)), vec!["d"]);
        // Off, or min_quorum below 3 (refused on write anyway): nothing.
        assert!(dead_to_remove(&members, &Config::from(&Stored::default())).is_empty());
        assert!(dead_to_remove(&members, &cleanup(2)).is_empty());
    }

    #[test]
    fn the_leader_non_voters_and_unknown_members_stay() {
        let members = [
            member("a", true, true, Some(1000)),
            member("b", false, false, Some(1000)),
            member("c", false, true, None),
            member("d", false, true, Some(0)),
            member("e", false, true, Some(0)),
        ];
        assert!(dead_to_remove(&members, &cleanup(3)).is_empty());
    }

    #[test]
    fn health_needs_contact_and_a_log_close_to_the_leaders() {
        let c = Config::from(&Stored::default());
        let leader = member("a", true, true, Some(0));
        assert!(healthy(
            &member("b", false, true, Some(3)),
            Some(&leader),
            &c
        ));
        assert!(!healthy(
            &member("b", false, true, Some(11)),
            Some(&leader),
            &c
        ));
        assert!(!healthy(&member("b", false, true, None), Some(&leader), &c));
        let mut behind = member("b", false, true, Some(1));
        behind.last_index = 100u64.saturating_sub(c.max_trailing_logs + 1);
        behind.last_index = 0;
        let mut far_leader = leader.clone();
        far_leader.last_index = 5000;
        assert!(!healthy(&behind, Some(&far_leader), &c));
    }

    #[test]
    fn go_durations_to_the_millisecond() {
        assert_eq!(go_ms(Duration::from_millis(678)), "678ms");
        assert_eq!(go_ms(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_ms(Duration::from_secs(90)), "1m30s");
    }
}
