//! Key/value secrets, version 1 (plain) and version 2 (versioned, with metadata).

mod v1;
mod v2;

pub use v1::KvV1;
pub use v2::KvV2;

/// Vault refuses paths that climb out of the mount.
pub(crate) fn check_path(path: &str) -> tresor_sdk::Result<()> {
    if path.split('/').any(|seg| seg == "..") {
        return Err(tresor_sdk::Error::invalid("invalid path: contains \"..\""));
    }
    Ok(())
}
