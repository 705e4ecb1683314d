//! What the server process does to itself before it holds any key: no core dumps (a dump of
//! an unsealed server holds the keyring), and memory locked so that keys are never swapped
//! to disk, unless the operator turns that off with `disable_mlock`, as Vault allows.

use std::io;

/// No core file, and no attaching by other processes of the same user (`PR_SET_DUMPABLE`).
pub fn forbid_core_dumps() -> io::Result<()> {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit and prctl read only the arguments given here.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Locks every page the process has and will have in memory. Pages are locked as they are
/// first touched (`MCL_ONFAULT`), so memory reserved but unused costs nothing.
pub fn lock_memory() -> io::Result<()> {
    // SAFETY: mlockall takes flags only.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    // Kernels before 4.4 know no MCL_ONFAULT: lock everything at once.
    // SAFETY: as above.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Vault's advice when memory cannot be locked.
pub const MLOCK_ADVICE: &str = "This usually means that the mlock syscall is not available.
Tresor uses mlock to prevent memory from being swapped to
disk. This requires root privileges (or CAP_IPC_LOCK) as well as a
machine that supports mlock. Please enable mlock on your system or
disable Tresor from using it. To disable Tresor from using it,
set the `disable_mlock` configuration option in your configuration
file.";
