//! A persistent evcxr work directory per concurrently running kernel ("slot"), so that cargo's
//! target directory for the cell crate stays warm across kernel starts (the support crate
//! itself is prebuilt, see `prebuilt.rs`, and never compiled in a slot).
//! Each kernel takes the first slot whose lock file it can `flock`, and holds it for its life.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Environment variable overriding the cache root.
pub const CACHE_ENV: &str = "RUST_CONCURRENCY_CACHE";
/// Slots tried before giving up (then evcxr's own temporary directory is used).
const MAX_SLOTS: usize = 32;

/// A locked slot; unlocked when dropped (or when the process ends).
pub struct Slot {
    pub dir: PathBuf,
    _lock: File,
}

/// The cache root: `$RUST_CONCURRENCY_CACHE`, else `$XDG_CACHE_HOME/rust-concurrency`, else
/// `~/.cache/rust-concurrency`.
pub fn root() -> PathBuf {
    if let Some(p) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("rust-concurrency");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("rust-concurrency")
}

/// Locks the first free slot under [`root`].
pub fn acquire() -> Option<Slot> {
    let root = root();
    for i in 0..MAX_SLOTS {
        let dir = root.join(format!("slot-{i}"));
        if std::fs::create_dir_all(&dir).is_err() {
            return None;
        }
        let Ok(lock) = File::options().create(true).append(true).open(dir.join("lock")) else { return None };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            // The lock must not leak into the runtime or cargo (they would keep the slot locked).
            return Some(Slot { dir, _lock: lock });
        }
    }
    None
}
