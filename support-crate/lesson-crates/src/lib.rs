//! Empty on purpose: see this package's `Cargo.toml`. Lessons use its dependencies directly.
//!
//! ```
//! // A cell writes the crate's own paths:
//! let _term = signal_hook::consts::SIGTERM;
//! ```
