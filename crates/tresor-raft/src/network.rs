//! Node-to-node RPC over the cluster port: HTTPS with the cluster's pinned certificate on both
//! sides, one POST per Raft message, bodies in the compact binary encoding. The receiving side is
//! [`crate::RaftStorage::handle_rpc`], which the server mounts on its cluster listener.

use std::future::Future;
use std::sync::{Arc, RwLock};

use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{decode, encode, Member, NodeId, Snapshot, SnapshotMeta, TypeConfig, Vote};

/// The RPC names, the last segment of the cluster port's `/raft/<name>` paths.
pub const APPEND: &str = "append";
pub const VOTE: &str = "vote";
pub const SNAPSHOT: &str = "snapshot";
/// The leader's liveness probe of a member (for autopilot): answered with the member's term and
/// last applied index.
pub const PING: &str = "ping";

/// A snapshot as it travels: openraft's metadata and our body.
#[derive(Serialize, serde::Deserialize)]
pub(crate) struct SnapshotTransfer {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// The HTTP client every peer connection shares; rebuilt whenever the keyring changes, absent
/// while the node holds none.
#[derive(Clone, Default)]
pub struct Client(Arc<RwLock<Option<reqwest::Client>>>);

impl Client {
    pub fn set(&self, c: Option<reqwest::Client>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = c;
        }
    }

    pub fn get(&self) -> Option<reqwest::Client> {
        self.0.read().ok().and_then(|c| c.clone())
    }

    /// POSTs `body` to `https://<addr>/raft/<name>` and decodes the answer.
    pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        name: &str,
        req: &Req,
        timeout: std::time::Duration,
    ) -> Result<Resp, CallError> {
        let client = self
            .get()
            .ok_or_else(|| CallError::Unreachable("this node holds no cluster keyring".into()))?;
        let body = encode(req).map_err(|e| CallError::Network(format!("encoding: {e}")))?;
        let resp = client
            .post(format!("https://{addr}/raft/{name}"))
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(CallError::Network(format!(
                "{addr} answered {}",
                resp.status()
            )));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        decode(&bytes).map_err(|e| CallError::Network(format!("malformed answer: {e}")))
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Network(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl CallError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<NodeId, Member, E> {
        match self {
            CallError::Unreachable(m) => RPCError::Unreachable(Unreachable::new(&Message(m))),
            CallError::Network(m) => RPCError::Network(NetworkError::new(&Message(m))),
        }
    }
}

#[derive(Clone)]
pub struct Factory {
    pub client: Client,
}

impl RaftNetworkFactory<TypeConfig> for Factory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerConnection {
        PeerConnection {
            target,
            node: node.clone(),
            client: self.client.clone(),
        }
    }
}

pub struct PeerConnection {
    target: NodeId,
    node: Member,
    client: Client,
}

impl PeerConnection {
    async fn rpc<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        name: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Member, RaftError<NodeId>>> {
        let answer: Result<Resp, RaftError<NodeId>> = self
            .client
            .call(&self.node.cluster_addr, name, req, option.hard_ttl())
            .await
            .map_err(CallError::into_rpc)?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.rpc(APPEND, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.rpc(VOTE, &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let transfer = SnapshotTransfer {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        let call = self
            .client
            .call::<_, Result<SnapshotResponse<NodeId>, Fatal<NodeId>>>(
                &self.node.cluster_addr,
                SNAPSHOT,
                &transfer,
                option.hard_ttl(),
            );
        let answer = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            a = call => a,
        };
        match answer {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(fatal)) => Err(StreamingError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                fatal,
            ))),
            Err(CallError::Unreachable(m)) => {
                Err(StreamingError::Unreachable(Unreachable::new(&Message(m))))
            }
            Err(CallError::Network(m)) => {
                Err(StreamingError::Network(NetworkError::new(&Message(m))))
            }
        }
    }
}
