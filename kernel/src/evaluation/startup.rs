//! How long the evaluator takes to start, remembered from the last start in the cache root, so
//! that a cell waiting for it can say "about N s" (it depends on the machine and on whether the
//! support crate is compiled in the cache already).

use std::path::PathBuf;
use std::time::Duration;

use super::cache_slot;

/// Said when no start was measured yet with this cache (a typical start with a warm cache).
const FIRST_GUESS: Duration = Duration::from_secs(15);

fn file() -> PathBuf {
    cache_slot::root().join("last-start-up-seconds")
}

/// How long the last start took (or a first guess).
pub fn expected() -> Duration {
    std::fs::read_to_string(file())
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(FIRST_GUESS)
}

/// Remembers how long this start took (best effort: a read-only cache keeps the old value).
pub fn record(took: Duration) {
    let _ = std::fs::create_dir_all(cache_slot::root());
    let _ = std::fs::write(file(), format!("{:.1}\n", took.as_secs_f64()));
}

/// What a cell shows while it waits for the evaluator.
pub fn notice() -> String {
    format!("Starting the Rust compiler (about {} s, only once per kernel)…", expected().as_secs().max(1))
}
