//! Clusters of nodes in one process, each with its own data directory and its own TLS cluster
//! port on loopback: what the log, the state machine and the network do together.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::*;

struct Node {
    storage: RaftStorage,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn rpc(
    State(s): State<RaftStorage>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Vec<u8>, StatusCode> {
    s.handle_rpc(&name, &body)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

/// A node serving its cluster port on a fresh loopback port.
async fn node(name: &str) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut config = RaftConfig::new(dir.path(), &addr, &format!("http://{name}"));
    config.node_id = Some(name.to_owned());
    config.performance_multiplier = 1;
    config.snapshot_threshold = 50;
    config.trailing_logs = 10;
    let storage = RaftStorage::open(config).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(storage.server_tls().unwrap());
    let app = axum::Router::new()
        .route("/raft/{name}", axum::routing::post(rpc))
        .with_state(storage.clone());
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Node {
        storage,
        _dir: dir,
        server,
    }
}

async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn value(s: &RaftStorage, key: &str) -> Option<Vec<u8>> {
    s.get(key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_meets_the_storage_contract() {
    let n = node("solo").await;
    n.storage.bootstrap().await.unwrap();
    assert!(n.storage.state().is_leader);
    tresor_storage::contract::check(&n.storage).await;
    assert_eq!(n.storage.kind(), "raft");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_before_the_cluster_runs_are_refused_and_change_nothing() {
    let n = node("cold").await;
    assert!(matches!(
        n.storage.put("k", b"v").await,
        Err(StorageError::ReadOnly)
    ));
    assert_eq!(value(&n.storage, "k").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_node_id_is_kept_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = RaftConfig::new(dir.path(), "127.0.0.1:1", "http://x");
    let first = RaftStorage::open(config.clone())
        .unwrap()
        .node_id()
        .to_owned();
    let again = RaftStorage::open(config).unwrap().node_id().to_owned();
    assert_eq!(first, again);
    assert_eq!(first.len(), 36, "a UUID: {first}");
    let kept = std::fs::read_to_string(dir.path().join("node-id")).unwrap();
    assert_eq!(kept, first);
}

/// Three nodes: replication to followers, followers refusing writes, a leader's death and a new
/// leader taking writes, the old leader coming back and catching up, and removal of a peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_fail_over_and_rejoin() {
    let a = node("node-a").await;
    let b = node("node-b").await;
    let c = node("node-c").await;
    let keyring = a.storage.bootstrap().await.unwrap();
    a.storage.put("before/join", b"1").await.unwrap();
    for n in [&b, &c] {
        n.storage.start(&keyring, None).await.unwrap();
        a.storage
            .add_peer(
                n.storage.node_id(),
                n.storage.cluster_addr(),
                n.storage.api_addr(),
                true,
            )
            .await
            .unwrap();
    }
    eventually("both joiners to be voters", || async {
        let peers = a.storage.peers().await.unwrap();
        peers.len() == 3 && peers.iter().all(|p| p.voter)
    })
    .await;
    // Enough writes to cross the snapshot threshold: the log gets purged behind a snapshot.
    for i in 0..120 {
        a.storage
            .put(&format!("k/{i:03}"), format!("v{i}").as_bytes())
            .await
            .unwrap();
    }
    for n in [&b, &c] {
        eventually("replication to a follower", || async {
            value(&n.storage, "k/119").await.as_deref() == Some(&b"v119"[..])
        })
        .await;
        assert_eq!(
            value(&n.storage, "before/join").await.as_deref(),
            Some(&b"1"[..])
        );
        assert!(matches!(
            n.storage.put("x", b"y").await,
            Err(StorageError::ReadOnly)
        ));
        let state = n.storage.state();
        assert!(!state.is_leader);
        assert_eq!(state.leader.unwrap().node_id, "node-a");
    }
    let mut changes = b.storage.changes();

    // The leader stops (as when sealed or killed): one of the others leads within seconds.
    a.storage.stop().await;
    let started = Instant::now();
    let mut new_leader = None;
    eventually("a new leader", || {
        let found = [&b, &c]
            .into_iter()
            .find(|n| n.storage.state().is_leader)
            .map(|n| n.storage.clone());
        let done = found.is_some();
        new_leader = found;
        async move { done }
    })
    .await;
    let leader = new_leader.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    leader.put("after/failover", b"2").await.unwrap();
    let reported = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match changes.recv().await {
                Ok(keys) if keys.iter().any(|k| k == "after/failover") => return true,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(
        reported,
        Ok(true),
        "the change feed reports the replicated key"
    );

    // The old leader comes back as a follower and catches up.
    a.storage.start(&keyring, None).await.unwrap();
    eventually("the old leader to catch up", || async {
        value(&a.storage, "after/failover").await.as_deref() == Some(&b"2"[..])
    })
    .await;
    assert!(!a.storage.state().is_leader);

    // Removing a peer leaves two members that still take writes.
    let gone = if leader.node_id() == "node-c" {
        "node-b"
    } else {
        "node-c"
    };
    leader.remove_peer(gone).await.unwrap();
    let peers = leader.peers().await.unwrap();
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p.node_id != gone));
    leader.put("after/remove", b"3").await.unwrap();
    eventually("the remaining follower to have it", || async {
        value(&a.storage, "after/remove").await.as_deref() == Some(&b"3"[..])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_restore_replaces_everything_on_every_node() {
    let a = node("snap-a").await;
    let b = node("snap-b").await;
    let keyring = a.storage.bootstrap().await.unwrap();
    b.storage.start(&keyring, None).await.unwrap();
    a.storage
        .add_peer("snap-b", b.storage.cluster_addr(), "http://b", true)
        .await
        .unwrap();
    a.storage.put("keep", b"old").await.unwrap();
    let archive = a.storage.snapshot().await.unwrap();
    a.storage.put("keep", b"new").await.unwrap();
    a.storage.put("extra", b"x").await.unwrap();
    a.storage.restore(&archive).await.unwrap();
    assert_eq!(
        value(&a.storage, "keep").await.as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(value(&a.storage, "extra").await, None);
    eventually("the follower to hold the restored state", || async {
        value(&b.storage, "keep").await.as_deref() == Some(&b"old"[..])
            && value(&b.storage, "extra").await.is_none()
    })
    .await;
    assert!(a.storage.restore(b"not a snapshot").await.is_err());
    assert_eq!(
        value(&a.storage, "keep").await.as_deref(),
        Some(&b"old"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_keyring_cannot_reach_the_cluster_port() {
    let a = node("tls-a").await;
    let keyring = a.storage.bootstrap().await.unwrap();
    // A keyring of another cluster: its certificate is not the pinned one.
    let stranger_ring = tls::Keyring::generate("other", "0").unwrap();
    let stranger = stranger_ring.load().unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(stranger.client_config())
        .build()
        .unwrap();
    let refused = client
        .post(format!("https://{}/raft/vote", a.storage.cluster_addr()))
        .body(vec![0u8])
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a stranger's certificate must fail the handshake"
    );
    // The cluster's own keyring gets through to the RPC handler.
    let own = tls::Keyring::from_bytes(&keyring).unwrap().load().unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(own.client_config())
        .build()
        .unwrap();
    let answered = client
        .post(format!("https://{}/raft/vote", a.storage.cluster_addr()))
        .body(vec![0u8])
        .send()
        .await
        .unwrap();
    assert_eq!(
        answered.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "malformed vote refused"
    );
}
