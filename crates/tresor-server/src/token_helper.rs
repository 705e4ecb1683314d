//! Vault's internal token helper: the file `~/.vault-token` where `vault login` (and the dev
//! server) leave the token the CLI uses when `VAULT_TOKEN` is not set. Shared with Vault's and
//! OpenBao's CLIs, so the format is theirs: the bare token, no newline, mode 0600.

use std::io::Write;
use std::path::PathBuf;

pub fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".vault-token"))
}

/// The stored token, whitespace trimmed; `None` when there is none.
pub fn read() -> Option<String> {
    let raw = std::fs::read_to_string(path()?).ok()?;
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Stores `token` through a temporary file renamed over the old one, so a reader never sees a
/// half-written token.
pub fn store(token: &str) -> std::io::Result<()> {
    let path = path().ok_or_else(|| std::io::Error::other("no home directory"))?;
    let tmp = path.with_extension("tmp");
    // A leftover (or planted) temporary file is removed, not reused: its mode or a symlink
    // there must not decide where the token goes.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)
}
