//! The types openraft is instantiated with: what a log entry carries, and who a member is.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// One write to the replicated store: what `Storage::batch` was given, or a snapshot restore.
/// Values are the barrier's ciphertext.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    Batch(Vec<Op>),
    /// Replaces every entry (`operator raft snapshot restore`).
    Restore(Vec<(String, Vec<u8>)>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

/// A member as the Raft configuration records it: Vault names nodes by strings (`node_id`),
/// openraft by integers, so the integer is derived from the name ([`node_number`]) and the name
/// travels with the addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// `host:port` of the cluster port.
    pub cluster_addr: String,
    pub api_addr: String,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.cluster_addr)
    }
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Command,
        R = (),
        NodeId = u64,
        Node = Member,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Vote = openraft::Vote<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Member>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Member>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;

/// The integer openraft knows a node by: the first eight bytes of SHA-256 of its name, so every
/// node derives the same number for the same name without asking anyone.
pub fn node_number(name: &str) -> NodeId {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    u64::from_be_bytes(b)
}

/// Compact binary encoding of everything that is stored or sent between nodes.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(v)
}

pub fn decode<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(b)
}
