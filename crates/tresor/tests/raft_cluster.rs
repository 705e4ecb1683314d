//! Three-node clusters on integrated Raft storage, each node its own process and data directory
//! on loopback: forming (CLI join, the join API, `retry_join`), standbys answering reads and
//! forwarding writes, failover after `kill -9` of the active node with no acknowledged write
//! lost, the old node rejoining, removing a peer, and no secret in any data directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct NodeSpec {
    name: String,
    dir: PathBuf,
    api: u16,
    cluster: u16,
    retry_join: Option<String>,
    /// More configuration, appended as it is.
    extra: String,
}

impl NodeSpec {
    fn new(root: &Path, name: &str) -> Self {
        NodeSpec {
            name: name.to_owned(),
            dir: root.join(name),
            api: free_port(),
            cluster: free_port(),
            retry_join: None,
            extra: String::new(),
        }
    }

    fn api_addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.api)
    }

    fn config(&self) -> String {
        let retry = self
            .retry_join
            .as_ref()
            .map(|l| format!("  retry_join {{\n    leader_api_addr = \"{l}\"\n  }}\n"))
            .unwrap_or_default();
        format!(
            r#"storage "raft" {{
  path = "{data}"
  node_id = "{name}"
  performance_multiplier = 1
{retry}}}
listener "tcp" {{
  address = "127.0.0.1:{api}"
  cluster_address = "127.0.0.1:{cluster}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{api}"
cluster_addr = "https://127.0.0.1:{cluster}"
disable_mlock = true
{extra}"#,
            extra = self.extra,
            data = self.dir.join("data").display(),
            name = self.name,
            api = self.api,
            cluster = self.cluster,
        )
    }

    fn start(&self) -> Server {
        std::fs::create_dir_all(&self.dir).unwrap();
        common::with_config(&self.dir, "node.hcl", &self.config())
    }
}

async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn init(s: &Server) -> (Vec<String>, String) {
    let r = s
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 3, "secret_threshold": 2})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let keys = r.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    (keys, r.body["root_token"].as_str().unwrap().to_owned())
}

async fn unseal(s: &Server, keys: &[String]) {
    let mut last = Value::Null;
    for k in &keys[..2] {
        let r = s
            .call("PUT", "sys/unseal", None, Some(json!({ "key": k })))
            .await;
        if r.status != 200 {
            panic!("unsealing {}: {:?}\nits log:\n{}", s.addr, r.body, s.log());
        }
        last = r.body;
    }
    assert_eq!(last["sealed"], false, "{last:?}");
}

async fn is_active(s: &Server) -> bool {
    s.call("GET", "sys/leader", None, None).await.body["is_self"] == true
}

async fn read_secret(s: &common::Remote, token: &str, path: &str) -> Option<Value> {
    let r = s
        .call("GET", &format!("secret/data/{path}"), Some(token), None)
        .await;
    (r.status == 200).then(|| r.body["data"]["data"].clone())
}

/// Runs the CLI against `addr` with `token`.
fn cli(addr: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(common::binary());
    cmd.args(args).env("HOME", home.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("VAULT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir`, as bytes.
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                pending.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_serve_fail_over_and_rejoin() {
    let root = tempfile::tempdir().unwrap();
    let specs: Vec<NodeSpec> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| NodeSpec::new(root.path(), n))
        .collect();
    let mut nodes: Vec<Option<Server>> = specs.iter().map(|s| Some(s.start())).collect();

    // The first node is initialised and unsealed as any server.
    let n1 = nodes[0].as_ref().unwrap();
    let status = n1.call("GET", "sys/seal-status", None, None).await;
    assert_eq!(status.body["storage_type"], "raft");
    let (keys, root_token) = init(n1).await;
    unseal(n1, &keys).await;
    eventually("node1 to be active", 20, || is_active(n1)).await;
    let r = n1
        .call(
            "POST",
            "sys/mounts/secret",
            Some(&root_token),
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = n1
        .call(
            "PUT",
            "secret/data/app",
            Some(&root_token),
            Some(json!({"data": {"password": "s3cr3t-on-raft"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // node2 joins with the CLI, node3 with the API; both are then unsealed with the same keys.
    let n2 = nodes[1].as_ref().unwrap();
    let n3 = nodes[2].as_ref().unwrap();
    let (code, out, err) = cli(
        &specs[1].api_addr(),
        "",
        &["operator", "raft", "join", &specs[0].api_addr()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Joined") && out.contains("true"), "{out}");
    let r = n3
        .call(
            "PUT",
            "sys/storage/raft/join",
            None,
            Some(json!({ "leader_api_addr": specs[0].api_addr() })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({ "joined": true }));
    // A joined node shows the leader's seal configuration until it is unsealed.
    let s = n2.call("GET", "sys/seal-status", None, None).await;
    assert_eq!(
        (s.body["t"].clone(), s.body["n"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(s.body["sealed"], true);
    unseal(n2, &keys).await;
    unseal(n3, &keys).await;

    // list-peers from a standby: three voters, node1 leading.
    eventually("three voters", 30, || async {
        let r = n2
            .call(
                "GET",
                "sys/storage/raft/configuration",
                Some(&root_token),
                None,
            )
            .await;
        let servers = r.body["data"]["config"]["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        servers.len() == 3 && servers.iter().all(|s| s["voter"] == true)
    })
    .await;
    let (code, out, err) = cli(
        &specs[1].api_addr(),
        &root_token,
        &["operator", "raft", "list-peers"],
    );
    assert_eq!(code, 0, "{err}");
    let leader_line = out.lines().find(|l| l.contains("leader")).unwrap_or("");
    assert!(leader_line.starts_with("node1"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("follower")).count(),
        2,
        "{out}"
    );

    // Standbys: health 429 (200 with standbyok), sys/leader names node1, status says standby.
    for s in [n2, n3] {
        let h = s.call("GET", "sys/health", None, None).await;
        assert_eq!(h.status, 429);
        assert_eq!(h.body["standby"], true);
        let h = s.call("GET", "sys/health?standbyok=true", None, None).await;
        assert_eq!(h.status, 200);
        let l = s.call("GET", "sys/leader", None, None).await;
        assert_eq!(l.body["ha_enabled"], true);
        assert_eq!(l.body["is_self"], false);
        assert_eq!(l.body["leader_address"], specs[0].api_addr());
        assert!(l.body["raft_applied_index"].as_u64().unwrap() > 0);
    }
    let h = n1.call("GET", "sys/health", None, None).await;
    assert_eq!(
        (h.status.as_u16(), h.body["standby"].clone()),
        (200, json!(false))
    );
    let (_, out, _) = cli(&specs[2].api_addr(), &root_token, &["status"]);
    assert!(out.contains("HA Mode") && out.contains("standby"), "{out}");
    assert!(out.contains(&specs[0].api_addr()), "{out}");

    // Autopilot: Vault's defaults, its checks on new settings, and the cluster's health as the
    // active node sees it (asked of a standby, which forwards).
    let api2 = specs[1].api_addr();
    let (code, out, err) = cli(
        &api2,
        &root_token,
        &["operator", "raft", "autopilot", "get-config"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Cleanup Dead Servers") && out.contains("false"),
        "{out}"
    );
    assert!(out.contains("24h0m0s") && out.contains("10s"), "{out}");
    let (code, _, err) = cli(
        &api2,
        &root_token,
        &[
            "operator",
            "raft",
            "autopilot",
            "set-config",
            "-cleanup-dead-servers=true",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("min_quorum must be set when cleanup_dead_servers is set"),
        "{err}"
    );
    let (code, _, err) = cli(
        &api2,
        &root_token,
        &[
            "operator",
            "raft",
            "autopilot",
            "set-config",
            "-cleanup-dead-servers=true",
            "-min-quorum=3",
            "-dead-server-last-contact-threshold=30s",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("should not be set to less than 1m"), "{err}");
    let (code, _, err) = cli(
        &api2,
        &root_token,
        &[
            "operator",
            "raft",
            "autopilot",
            "set-config",
            "-cleanup-dead-servers=true",
            "-min-quorum=3",
            "-dead-server-last-contact-threshold=2m",
        ],
    );
    assert_eq!(code, 0, "{err}");
    eventually("the new autopilot settings on a standby", 20, || async {
        let (_, out, _) = cli(
            &specs[2].api_addr(),
            &root_token,
            &[
                "operator",
                "raft",
                "autopilot",
                "get-config",
                "-format=json",
            ],
        );
        out.contains("\"dead_server_last_contact_threshold\": \"2m0s\"")
            && out.contains("\"min_quorum\": 3")
    })
    .await;
    eventually("a healthy cluster in autopilot's eyes", 30, || async {
        let r = n3
            .call(
                "GET",
                "sys/storage/raft/autopilot/state",
                Some(&root_token),
                None,
            )
            .await;
        let d = &r.body["data"];
        d["healthy"] == true
            && d["failure_tolerance"] == 1
            && d["leader"] == "node1"
            && d["voters"].as_array().is_some_and(|v| v.len() == 3)
            && d["servers"]["node2"]["status"] == "voter"
            && d["servers"]["node2"]["node_status"] == "alive"
    })
    .await;
    let (code, out, err) = cli(
        &api2,
        &root_token,
        &["operator", "raft", "autopilot", "state"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Healthy:"), "{out}");
    assert!(out.contains("Leader:") && out.contains("node1"), "{out}");

    // A secret written on the active node is read on each standby.
    for s in [n2, n3] {
        eventually("the secret on a standby", 20, || async {
            read_secret(s, &root_token, "app").await == Some(json!({"password": "s3cr3t-on-raft"}))
        })
        .await;
    }
    // A write larger than any default HTTP body limit still replicates (Raft messages carry
    // whole batches).
    let big = "x".repeat(3 << 20);
    write_secret(n1, &root_token, "big", json!({ "blob": big })).await;
    for s in [n2, n3] {
        eventually("the 3 MiB secret on a standby", 30, || async {
            read_secret(s, &root_token, "big")
                .await
                .is_some_and(|d| d["blob"].as_str().map(str::len) == Some(3 << 20))
        })
        .await;
    }
    // A token made on the active node works on the standbys.
    let r = n1
        .call(
            "POST",
            "auth/token/create",
            Some(&root_token),
            Some(json!({"policies": ["default"], "ttl": "1h"})),
        )
        .await;
    let child = r.client_token();
    for s in [n2, n3] {
        eventually("the child token on a standby", 20, || async {
            s.call("GET", "auth/token/lookup-self", Some(&child), None)
                .await
                .status
                == 200
        })
        .await;
    }
    // A write through a standby lands on the active node, and a policy written there governs
    // the standby too.
    let r = n2
        .call(
            "PUT",
            "secret/data/through-standby",
            Some(&root_token),
            Some(json!({"data": {"v": "1"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        read_secret(n1, &root_token, "through-standby").await,
        Some(json!({"v": "1"}))
    );
    let r = n3
        .call(
            "PUT",
            "sys/policies/acl/reader",
            Some(&root_token),
            Some(json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let reader = n1
        .call(
            "POST",
            "auth/token/create",
            Some(&root_token),
            Some(json!({"policies": ["reader"]})),
        )
        .await
        .client_token();
    eventually("the policy on a standby", 20, || async {
        read_secret(n3, &reader, "app").await.is_some()
    })
    .await;
    let denied = n3
        .call("GET", "secret/data/through-standby", Some(&reader), None)
        .await;
    assert_eq!(denied.status, 403);
    // Revoked on the active node: refused on the standby once replicated.
    let r = n1
        .call(
            "POST",
            "auth/token/revoke",
            Some(&root_token),
            Some(json!({ "token": reader })),
        )
        .await;
    assert_eq!(r.status, 204);
    eventually("the revoked token refused on a standby", 20, || async {
        n3.call("GET", "auth/token/lookup-self", Some(&reader), None)
            .await
            .status
            == 403
    })
    .await;

    // Caches follow storage: a transit key rotated on the active node, and the barrier's own
    // keyring rotated there (entries written after it use the new term).
    let r = n1
        .call(
            "POST",
            "sys/mounts/transit",
            Some(&root_token),
            Some(json!({"type": "transit"})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = n1
        .call("POST", "transit/keys/k", Some(&root_token), Some(json!({})))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let latest = |s: &Server| {
        let remote = s.remote();
        let token = root_token.clone();
        async move {
            remote
                .call("GET", "transit/keys/k", Some(&token), None)
                .await
                .body["data"]["latest_version"]
                .as_u64()
        }
    };
    eventually("the key on a standby", 20, || async {
        latest(n2).await == Some(1)
    })
    .await;
    let r = n1
        .call(
            "POST",
            "transit/keys/k/rotate",
            Some(&root_token),
            Some(json!({})),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    eventually("the rotated key on a standby", 20, || async {
        latest(n2).await == Some(2)
    })
    .await;
    let r = n1
        .call("POST", "sys/rotate", Some(&root_token), Some(json!({})))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    write_secret(n1, &root_token, "after-rotate", json!({"v": "new term"})).await;
    eventually("an entry of the new term on a standby", 20, || async {
        read_secret(n2, &root_token, "after-rotate").await == Some(json!({"v": "new term"}))
    })
    .await;

    // kill -9 of the active node under a write load: a standby takes over, and every write
    // that was acknowledged is there afterwards.
    let writers: Vec<_> = [1usize, 2]
        .iter()
        .map(|&i| {
            let remote = nodes[i].as_ref().unwrap().remote();
            let token = root_token.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let started = Instant::now();
                let mut n = 0;
                while started.elapsed() < Duration::from_secs(8) {
                    let key = format!("load-{i}-{n}");
                    let r = remote
                        .call(
                            "PUT",
                            &format!("secret/data/{key}"),
                            Some(&token),
                            Some(json!({"data": {"n": n}})),
                        )
                        .await;
                    if r.status == 200 {
                        acked.push(key);
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    nodes[0].take().unwrap().kill();
    let mut new_leader = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while new_leader.is_none() && Instant::now() < deadline {
        for i in [1usize, 2] {
            if is_active(nodes[i].as_ref().unwrap()).await {
                new_leader = Some(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_leader = new_leader.expect("a new active node");
    let failover = killed_at.elapsed();
    assert!(
        failover < Duration::from_secs(15),
        "failover took {failover:?}"
    );
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(!acked.is_empty(), "writes resumed after the failover");
    let leader = nodes[new_leader].as_ref().unwrap().remote();
    for key in &acked {
        assert!(
            read_secret(&leader, &root_token, key).await.is_some(),
            "acknowledged write {key} lost"
        );
    }

    // The killed node comes back, is unsealed, and follows as a standby with everything.
    let n1 = specs[0].start();
    unseal(&n1, &keys).await;
    let last = acked.last().unwrap().clone();
    eventually("the old active node to catch up", 30, || async {
        read_secret(&n1, &root_token, &last).await.is_some()
    })
    .await;
    assert!(!is_active(&n1).await);
    nodes[0] = Some(n1);

    // remove-peer: the leader drops one follower; two members go on taking writes.
    let follower = (0..3).find(|&i| i != new_leader).unwrap();
    let (code, out, err) = cli(
        &specs[new_leader].api_addr(),
        &root_token,
        &["operator", "raft", "remove-peer", &specs[follower].name],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Peer removed successfully!"), "{out}");
    let r = leader
        .call(
            "GET",
            "sys/storage/raft/configuration",
            Some(&root_token),
            None,
        )
        .await;
    let servers = r.body["data"]["config"]["servers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(servers.len(), 2, "{servers:?}");
    assert!(servers
        .iter()
        .all(|s| s["node_id"] != specs[follower].name.as_str()));
    let r = leader
        .call(
            "PUT",
            "secret/data/after-remove",
            Some(&root_token),
            Some(json!({"data": {"v": "2"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Nothing plaintext on any node's disk: neither the secret nor a token.
    drop(nodes);
    for spec in &specs {
        for (path, bytes) in all_bytes(&spec.dir.join("data")) {
            for needle in ["s3cr3t-on-raft", root_token.as_str()] {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{needle} found in {}",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_join_forms_a_cluster_from_configuration() {
    let root = tempfile::tempdir().unwrap();
    let first = NodeSpec::new(root.path(), "a");
    let mut second = NodeSpec::new(root.path(), "b");
    second.retry_join = Some(first.api_addr());
    // The joiner starts first: it keeps asking until the leader is there and initialised.
    let b = second.start();
    let a = first.start();
    let (keys, root_token) = init(&a).await;
    unseal(&a, &keys).await;
    eventually("the joiner to receive a challenge", 30, || async {
        b.call("GET", "sys/seal-status", None, None).await.body["initialized"] == true
    })
    .await;
    unseal(&b, &keys).await;
    eventually("two peers", 30, || async {
        let r = a
            .call(
                "GET",
                "sys/storage/raft/configuration",
                Some(&root_token),
                None,
            )
            .await;
        r.body["data"]["config"]["servers"]
            .as_array()
            .is_some_and(|s| s.len() == 2)
    })
    .await;
    let l = b.call("GET", "sys/leader", None, None).await;
    assert_eq!(l.body["leader_address"], first.api_addr());
    // The join handshake goes through the active node's audit log (its secrets HMAC'd).
    let audit_log = root.path().join("audit.log");
    let r = a
        .call(
            "PUT",
            "sys/audit/file",
            Some(&root_token),
            Some(json!({"type": "file", "options": {"file_path": audit_log.to_str().unwrap()}})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    // A third node joins as a non-voter, and stays one.
    let third = NodeSpec::new(root.path(), "c");
    let c = third.start();
    let r = c
        .call(
            "PUT",
            "sys/storage/raft/join",
            None,
            Some(json!({ "leader_api_addr": first.api_addr(), "non_voter": true })),
        )
        .await;
    assert_eq!(r.body, json!({ "joined": true }));
    unseal(&c, &keys).await;
    eventually("the non-voter in the configuration", 30, || async {
        let r = a
            .call(
                "GET",
                "sys/storage/raft/configuration",
                Some(&root_token),
                None,
            )
            .await;
        r.body["data"]["config"]["servers"]
            .as_array()
            .is_some_and(|s| {
                s.len() == 3 && s.iter().any(|x| x["node_id"] == "c" && x["voter"] == false)
            })
    })
    .await;
    let state = a
        .call(
            "GET",
            "sys/storage/raft/autopilot/state",
            Some(&root_token),
            None,
        )
        .await;
    assert_eq!(state.body["data"]["non_voters"], json!(["c"]));
    assert_eq!(state.body["data"]["servers"]["c"]["status"], "non-voter");
    let entries: Vec<Value> = std::fs::read_to_string(&audit_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for path in [
        "sys/storage/raft/bootstrap/challenge",
        "sys/storage/raft/bootstrap/answer",
    ] {
        let of_path: Vec<&Value> = entries
            .iter()
            .filter(|e| e["request"]["path"] == path)
            .collect();
        assert!(of_path.iter().any(|e| e["type"] == "request"), "{path}");
        assert!(of_path.iter().any(|e| e["type"] == "response"), "{path}");
    }
    let keyring = entries
        .iter()
        .find_map(|e| e["response"]["data"]["tls_keyring"].as_str())
        .expect("the answer's keyring in the audit log");
    assert!(keyring.starts_with("hmac-sha256:"), "{keyring}");
    // A joining node cannot be initialised on its own, nor answer a challenge it did not get.
    let r = b
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = a
        .call(
            "PUT",
            "sys/storage/raft/bootstrap/answer",
            None,
            Some(json!({"server_id": "intruder", "answer": "AAAA", "cluster_addr": "127.0.0.1:1"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.errors(), vec!["invalid answer given".to_owned()]);
    // Unauthenticated challenges cannot fill the active node's memory: past 64 pending, refused.
    let ask = |i: usize| {
        a.call(
            "PUT",
            "sys/storage/raft/bootstrap/challenge",
            None,
            Some(json!({
                "server_id": format!("flood-{i}"),
                "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "cluster_addr": "127.0.0.1:1",
            })),
        )
    };
    let mut refused = None;
    for i in 0..70 {
        let r = ask(i).await;
        if r.status == 400 {
            refused = Some((i, r.errors()));
            break;
        }
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let (at, errors) = refused.expect("challenges past the cap are refused");
    assert!(at <= 64, "refused only after {at}");
    assert!(
        errors[0].contains("too many raft joins are pending"),
        "{errors:?}"
    );
    let r = a
        .call(
            "PUT",
            "sys/storage/raft/bootstrap/challenge",
            None,
            Some(json!({"server_id": "no-key", "cluster_addr": "127.0.0.1:1"})),
        )
        .await;
    assert_eq!(r.status, 400);
}

async fn write_secret(s: &Server, token: &str, path: &str, data: Value) {
    let r = s
        .call(
            "PUT",
            &format!("secret/data/{path}"),
            Some(token),
            Some(json!({ "data": data })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn mount_kv(s: &Server, token: &str) {
    let r = s
        .call(
            "POST",
            "sys/mounts/secret",
            Some(token),
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_restore_on_the_same_cluster_and_into_a_fresh_one() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let a1_spec = NodeSpec::new(root.path(), "a1");
    let mut a2_spec = NodeSpec::new(root.path(), "a2");
    a2_spec.retry_join = Some(a1_spec.api_addr());
    let a1 = a1_spec.start();
    let a2 = a2_spec.start();
    let (keys, token) = init(&a1).await;
    unseal(&a1, &keys).await;
    eventually("a1 active", 20, || is_active(&a1)).await;
    eventually("a2 to get its challenge", 30, || async {
        a2.call("GET", "sys/seal-status", None, None).await.body["initialized"] == true
    })
    .await;
    unseal(&a2, &keys).await;
    mount_kv(&a1, &token).await;
    write_secret(&a1, &token, "db", json!({"password": "before-snapshot"})).await;

    let snap = root.path().join("raft.snap");
    let (code, out, err) = cli(
        &a1_spec.api_addr(),
        &token,
        &[
            "operator",
            "raft",
            "snapshot",
            "save",
            snap.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let mode = std::fs::metadata(&snap).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let bytes = std::fs::read(&snap).unwrap();
    assert!(
        !contains(&bytes, b"before-snapshot"),
        "the snapshot holds ciphertext only"
    );

    // Later changes are undone by the restore, on the active node and on the standby.
    write_secret(&a1, &token, "db", json!({"password": "after-snapshot"})).await;
    write_secret(&a1, &token, "extra", json!({"x": "1"})).await;
    let (code, out, err) = cli(
        &a2_spec.api_addr(),
        &token,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            snap.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    for s in [&a1, &a2] {
        eventually("the restored state", 20, || async {
            read_secret(s, &token, "db").await == Some(json!({"password": "before-snapshot"}))
                && read_secret(s, &token, "extra").await.is_none()
        })
        .await;
    }

    // A fresh cluster with keys of its own: refused without -force; with it, the cluster takes
    // the snapshot's state, seals, and opens with the original cluster's keys and token.
    let b_spec = NodeSpec::new(root.path(), "b1");
    let b = b_spec.start();
    let (b_keys, b_token) = init(&b).await;
    unseal(&b, &b_keys).await;
    eventually("b1 active", 20, || is_active(&b)).await;
    let (code, _, err) = cli(
        &b_spec.api_addr(),
        &b_token,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            snap.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("could not verify hash file"), "{err}");
    let garbage = root.path().join("garbage.snap");
    std::fs::write(&garbage, b"not a snapshot").unwrap();
    let (code, _, err) = cli(
        &b_spec.api_addr(),
        &b_token,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            "-force",
            garbage.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        b.call("GET", "sys/seal-status", None, None).await.body["sealed"],
        false
    );
    let (code, out, err) = cli(
        &b_spec.api_addr(),
        &b_token,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            "-force",
            snap.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    eventually("the fresh node to seal itself", 20, || async {
        b.call("GET", "sys/seal-status", None, None).await.body["sealed"] == true
    })
    .await;
    unseal(&b, &keys).await;
    eventually("the original secret on the fresh cluster", 20, || async {
        read_secret(&b, &token, "db").await == Some(json!({"password": "before-snapshot"}))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_snapshots_are_written_kept_and_restorable() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let backups = root.path().join("backups");
    let mut spec = NodeSpec::new(root.path(), "s1");
    spec.extra = format!(
        "snapshot_auto \"often\" {{\n  interval = \"1s\"\n  retain = 2\n  path_prefix = \"{}\"\n  file_prefix = \"tresor\"\n}}\n",
        backups.display()
    );
    let s = spec.start();
    let (keys, token) = init(&s).await;
    unseal(&s, &keys).await;
    eventually("s1 active", 20, || is_active(&s)).await;
    mount_kv(&s, &token).await;
    write_secret(&s, &token, "kept", json!({"v": "scheduled"})).await;
    let snaps = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&backups)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    // Written every second, the newest two kept (and no partial file left behind).
    eventually("three rounds of snapshots", 20, || async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        snaps().len() == 2
            && snaps().iter().all(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("tresor-")
            })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let files = snaps();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!contains(&std::fs::read(f).unwrap(), b"scheduled"));
    }
    // The newest one restores (its MAC verifies with this cluster's keys).
    write_secret(&s, &token, "kept", json!({"v": "changed"})).await;
    let newest = files.last().unwrap().to_str().unwrap().to_owned();
    let (code, out, err) = cli(
        &spec.api_addr(),
        &token,
        &["operator", "raft", "snapshot", "restore", &newest],
    );
    assert_eq!(code, 0, "{out}{err}");
    eventually("the scheduled snapshot's state", 20, || async {
        read_secret(&s, &token, "kept").await == Some(json!({"v": "scheduled"}))
    })
    .await;
}
