//! Giving memory back to the system after a cell.
//!
//! evcxr's rust-analyzer allocates and frees hundreds of megabytes while it checks a cell (syntax
//! trees, type inference results that salsa later evicts). glibc's allocator keeps freed memory
//! in its arenas, so without help the kernel's resident size only ever grows: measured here, a
//! kernel idle after one trivial cell held ~577 MB resident of which ~170 MB was free heap.
//! `malloc_trim` returns that free heap to the system (it stays available to the next cell as
//! fresh pages). It walks every arena, which takes milliseconds, so it runs on its own thread
//! after the cell's reply is sent instead of delaying the reply.
//!
//! Nothing to depend on here: the call is one libc function, which the `libc` crate already
//! exposes.

use std::sync::OnceLock;

use crossbeam_channel::{Sender, bounded};

/// Asks the trimming thread to return free heap memory to the system.
///
/// Returns at once. Requests made while a trim is queued are merged into it, so calling this
/// after every request costs nothing when requests come quickly.
pub fn release_freed_memory() {
    static TRIMMER: OnceLock<Option<Sender<()>>> = OnceLock::new();
    let sender = TRIMMER.get_or_init(|| {
        let (tx, rx) = bounded::<()>(1);
        std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(move || {
                for () in rx {
                    trim_now();
                }
            })
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = sender {
        // Full: a trim is already queued and will cover this request too.
        let _ = tx.try_send(());
    }
}

/// Returns free heap memory to the system now, on the calling thread.
pub fn trim_now() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only reorganises the allocator's own free lists; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident set size of this process in bytes, from /proc/self/statm.
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: usize = statm.split_whitespace().nth(1).expect("resident field").parse().expect("number");
        pages * 4096
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trimming_returns_freed_small_allocations_to_the_system() {
        // Many small blocks (below glibc's mmap threshold) land in the heap, like the analyzer's
        // syntax nodes; keep every 64th alive so the heap cannot simply shrink from its top.
        let mut blocks: Vec<Vec<u8>> = (0..200_000).map(|i| vec![(i % 251) as u8; 1000]).collect();
        let mut kept = Vec::new();
        for (i, b) in blocks.drain(..).enumerate() {
            if i % 64 == 0 {
                kept.push(b);
            }
        }
        let before = resident_bytes();
        trim_now();
        let after = resident_bytes();
        assert!(
            before.saturating_sub(after) > 100 << 20,
            "expected over 100 MB back from ~200 MB freed, resident {before} -> {after} bytes"
        );
        assert_eq!(kept.len(), 3125);
        assert!(kept.iter().enumerate().all(|(j, b)| b[0] == ((j * 64) % 251) as u8));
    }
}
