//! `kernel_info_request`: who this kernel is (on shell and control).

use serde_json::{Value, json};
use std::sync::OnceLock;

/// The version of `rustc` on PATH (`rustc --version`, asked once and cached).
pub fn rustc_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| parse_rustc_version(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or_default()
    })
}

/// `"1.95.0"` from `"rustc 1.95.0 (abc 2026-01-01)"`.
fn parse_rustc_version(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    (words.next()? == "rustc").then_some(())?;
    words.next().map(str::to_string)
}

/// The content of `kernel_info_reply`.
pub fn content() -> Value {
    let version = rustc_version();
    json!({
        "status": "ok",
        "protocol_version": crate::wire::message::PROTOCOL_VERSION,
        "implementation": "rust-concurrency",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rust",
            "version": version,
            "mimetype": "text/rust",
            "file_extension": ".rs",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
        },
        // Protocol 5.5's list of optional features: IOPub greets each new subscriber with
        // `iopub_welcome` (JEP 65; see `wire::iopub`).
        "supported_features": ["iopub_welcome"],
        "banner": format!(
            "Rust (concurrency lessons) {} on rustc {version}\n\
             multiproc (Process, Lock, Queue, Pipe, Value, ...) is preloaded: use multiproc::prelude::*;",
            env!("CARGO_PKG_VERSION")
        ),
        "help_links": [
            // The support crate's own documentation is not published anywhere yet (`cargo doc -p
            // multiproc --open` builds it); these links are to what the lessons build on.
            { "text": "CSinParallel (source of the lessons)", "url": "https://csinparallel.org/" },
            { "text": "The Rust book: concurrency", "url": "https://doc.rust-lang.org/book/ch16-00-concurrency.html" },
            { "text": "Rust std::process", "url": "https://doc.rust-lang.org/std/process/index.html" },
        ],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_rustc_version() {
        assert_eq!(
            super::parse_rustc_version("rustc 1.95.0 (a1b2 2026-01-01)\n").as_deref(),
            Some("1.95.0")
        );
        assert_eq!(super::parse_rustc_version("cargo 1.0"), None);
    }
}
