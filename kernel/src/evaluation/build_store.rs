//! Finished cell builds kept on disk, so the same build is never compiled twice: the start-up
//! builds (evcxr's `42` twice, the preload) of every kernel and cache slot, and the cells of a
//! notebook run again after a restart.
//!
//! An entry is keyed by a SHA-256 of everything rustc reads for the cell crate ([`key`]): the
//! kernel's and rustc's identity, rustc's arguments and environment with the crate's folder
//! replaced by a placeholder (so the slots of one cache root share entries), each `--extern`
//! file's size and modification time, `RUSTC_BOOTSTRAP` and the loader paths, the `cc` PATH
//! finds, and the source. It holds what rustc wrote on stderr (diagnostics, replayed as they
//! came), whether it succeeded, and the library (or the check's `.rmeta`). A build is kept only
//! when rustc's dep-info lists `src/lib.rs` alone and no `# env-dep:` (a cell with
//! `include_str!` or `env!` reads more than the key covers, so it compiles every time).
//!
//! Entries live in `<cache root>/build-store/<key>/`, written in a temporary folder and renamed
//! into place, so a kernel never reads a half-written one. At most [`MAX_ENTRIES`] are kept,
//! the least recently used evicted. `RUST_CONCURRENCY_BUILD_STORE=0` turns the store off.
//! Each lookup appends one line (`hit`, `miss`, `kept`, `not kept`) to `build-store/log`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::cache_slot;

/// `0` turns the store off.
pub const STORE_ENV: &str = "RUST_CONCURRENCY_BUILD_STORE";
/// Set by the kernel at start: a hash of `rustc -vV` (no store without it).
pub const RUSTC_ID_ENV: &str = "RUST_CONCURRENCY_RUSTC_ID";
/// Entries kept before the least recently used go.
pub const MAX_ENTRIES: usize = 200;
/// The log of lookups, in the store's folder.
pub const LOG_FILE: &str = "log";
/// Stands for the cell crate's folder in the key and in stored diagnostics.
const PLACEHOLDER: &str = "\u{1}rust-concurrency-crate-dir\u{1}";
const STDERR: &str = "stderr";
const STATUS: &str = "status";
const LIBRARY: &str = "library";

/// A stored build.
pub struct Entry {
    pub success: bool,
    /// rustc's stderr, the crate's folder put back.
    pub stderr: String,
}

/// The store under the cache root, unless it is turned off or the kernel set no rustc identity.
pub fn open() -> Option<PathBuf> {
    if std::env::var_os(STORE_ENV).is_some_and(|v| v == "0") || std::env::var_os(RUSTC_ID_ENV).is_none() {
        return None;
    }
    Some(cache_slot::root().join("build-store"))
}

/// Hash of `rustc -vV`'s output (what the kernel puts in [`RUSTC_ID_ENV`]).
pub fn rustc_identity() -> Option<String> {
    super::toolchain::rustc_version_verbose().map(|v| hex::encode(Sha256::digest(v)))
}

/// The key of a build: `args` and `env` are rustc's, run in `crate_dir` by `rustc`.
pub fn key(rustc: &Path, crate_dir: &Path, args: &[String], env: &[(String, String)]) -> std::io::Result<String> {
    let dir = crate_dir.display().to_string();
    let mut hash = Sha256::new();
    let mut put = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    put(b"rust-concurrency build store 1");
    put(env!("CARGO_PKG_VERSION").as_bytes());
    put(file_identity(&std::env::current_exe()?).as_bytes());
    put(std::env::var(RUSTC_ID_ENV).unwrap_or_default().as_bytes());
    put(rustc.as_os_str().as_encoded_bytes());
    for arg in args {
        put(arg.replace(&dir, PLACEHOLDER).as_bytes());
    }
    for (k, v) in env {
        put(k.as_bytes());
        put(v.replace(&dir, PLACEHOLDER).as_bytes());
    }
    // What rustc and the linker read from the inherited environment.
    for name in ["RUSTC_BOOTSTRAP", "LD_LIBRARY_PATH", "LIBRARY_PATH"] {
        put(name.as_bytes());
        put(std::env::var_os(name).unwrap_or_default().as_encoded_bytes());
    }
    for file in args.windows(2).filter(|w| w[0] == "--extern").filter_map(|w| w[1].split_once('=')).map(|(_, f)| f) {
        put(file_identity(Path::new(file)).as_bytes());
    }
    put(file_identity(&on_path("cc").unwrap_or_default()).as_bytes());
    put(&std::fs::read(crate_dir.join("src/lib.rs"))?);
    Ok(hex::encode(hash.finalize()))
}

/// Path, size and modification time of `file` (links followed), or its path alone if missing.
fn file_identity(file: &Path) -> String {
    let meta = std::fs::metadata(file).ok();
    let mtime = meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
    format!("{} {:?} {:?}", file.display(), meta.map(|m| m.len()), mtime)
}

/// The first `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The stored build `key`, its library copied to `output`; `None` if there is none (or it
/// went while being read: evicted by another kernel).
pub fn lookup(store: &Path, key: &str, crate_dir: &Path, output: &Path) -> Option<Entry> {
    let entry = store.join(key);
    let found = read_entry(&entry, crate_dir, output);
    log(store, if found.is_some() { "hit" } else { "miss" }, key);
    if found.is_some() {
        // Recently used: its status file's time is what eviction sorts by.
        let _ = std::fs::File::options().write(true).open(entry.join(STATUS)).and_then(|f| f.set_modified(SystemTime::now()));
    }
    found
}

fn read_entry(entry: &Path, crate_dir: &Path, output: &Path) -> Option<Entry> {
    let success = match std::fs::read_to_string(entry.join(STATUS)).ok()?.trim() {
        "ok" => true,
        "failed" => false,
        _ => return None,
    };
    let stderr = std::fs::read_to_string(entry.join(STDERR)).ok()?.replace(PLACEHOLDER, &crate_dir.display().to_string());
    if success {
        // A copy, never a link: the store's file must not change with what evcxr does to its own.
        let _ = std::fs::remove_file(output);
        std::fs::copy(entry.join(LIBRARY), output).ok()?;
    }
    Some(Entry { success, stderr })
}

/// Whether rustc's dep-info (`file`) says the build read `src/lib.rs` and nothing else.
pub fn reads_only_the_source(dep_info: &str) -> bool {
    dep_info.lines().filter(|l| !l.trim().is_empty()).all(|line| {
        !line.starts_with('#') && line.rsplit_once(':').is_some_and(|(_, deps)| deps.split_whitespace().all(|d| d == "src/lib.rs"))
    })
}

/// Keeps a finished build if its dep-info (`dep_info`, the file rustc wrote) allows it.
pub fn keep(store: &Path, key: &str, crate_dir: &Path, success: bool, stderr: &str, output: &Path, dep_info: &Path) {
    let allowed = std::fs::read_to_string(dep_info).is_ok_and(|d| reads_only_the_source(&d));
    if !allowed {
        log(store, "not kept", key);
        return;
    }
    if write_entry(store, key, crate_dir, success, stderr, output).is_ok() {
        log(store, "kept", key);
        evict(store, MAX_ENTRIES);
    }
}

fn write_entry(store: &Path, key: &str, crate_dir: &Path, success: bool, stderr: &str, output: &Path) -> std::io::Result<()> {
    let tmp = store.join(format!(".tmp-{}-{key}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let written = (|| {
        std::fs::write(tmp.join(STDERR), stderr.replace(&crate_dir.display().to_string(), PLACEHOLDER))?;
        if success {
            std::fs::copy(output, tmp.join(LIBRARY))?;
        }
        std::fs::write(tmp.join(STATUS), if success { "ok\n" } else { "failed\n" })?;
        // Into place whole; if another kernel kept the same build first, its entry stays.
        std::fs::rename(&tmp, store.join(key))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Removes the least recently used entries beyond `max`.
pub fn evict(store: &Path, max: usize) {
    let Ok(dir) = std::fs::read_dir(store) else { return };
    let mut entries: Vec<(SystemTime, PathBuf)> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.')) && p.is_dir())
        .map(|p| (std::fs::metadata(p.join(STATUS)).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH), p))
        .collect();
    if entries.len() <= max {
        return;
    }
    entries.sort();
    for (_, path) in &entries[..entries.len() - max] {
        let _ = std::fs::remove_dir_all(path);
    }
}

fn log(store: &Path, what: &str, key: &str) {
    let line = format!("{} {what} {}\n", std::process::id(), &key[..key.len().min(16)]);
    let _ = std::fs::create_dir_all(store);
    // One short append: lines of kernels writing at once do not interleave.
    let _ = std::fs::File::options().create(true).append(true).open(store.join(LOG_FILE)).and_then(|mut f| f.write_all(line.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_builds_reading_the_source_alone_are_kept() {
        let plain = "/c/target/t/debug/deps/ctx.d: src/lib.rs\n\n/c/target/t/debug/deps/libctx.so: src/lib.rs\n\nsrc/lib.rs:\n";
        assert!(reads_only_the_source(plain));
        let included = "/c/deps/ctx.d: src/lib.rs /home/s/data.txt\n\nsrc/lib.rs:\n/home/s/data.txt:\n";
        assert!(!reads_only_the_source(included));
        let env_dep = "/c/deps/ctx.d: src/lib.rs\n\nsrc/lib.rs:\n\n# env-dep:HOME=/root\n";
        assert!(!reads_only_the_source(env_dep));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rck-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("crate/src")).unwrap();
        dir
    }

    #[test]
    fn a_kept_build_comes_back_for_another_crate_folder() {
        let dir = scratch("keep");
        let (store, a, b) = (dir.join("store"), dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("libctx.so"), b"library").unwrap();
        std::fs::write(a.join("ctx.d"), "x: src/lib.rs\n").unwrap();
        let stderr = format!("{{\"message\":\"at {}/src/lib.rs\"}}\n", a.display());
        keep(&store, "k1", &a, true, &stderr, &a.join("libctx.so"), &a.join("ctx.d"));
        let hit = lookup(&store, "k1", &b, &b.join("libctx.so")).expect("kept");
        assert!(hit.success);
        assert_eq!(hit.stderr, format!("{{\"message\":\"at {}/src/lib.rs\"}}\n", b.display()));
        assert_eq!(std::fs::read(b.join("libctx.so")).unwrap(), b"library");
        assert!(lookup(&store, "k2", &b, &b.join("libctx.so")).is_none());
        std::fs::write(a.join("ctx.d"), "x: src/lib.rs data.txt\n").unwrap();
        keep(&store, "k3", &a, true, "", &a.join("libctx.so"), &a.join("ctx.d"));
        assert!(lookup(&store, "k3", &b, &b.join("libctx.so")).is_none(), "a build reading another file is not kept");
        let log = std::fs::read_to_string(store.join(LOG_FILE)).unwrap();
        let words: Vec<&str> = log.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(words, ["kept k1", "hit k1", "miss k2", "not kept k3", "miss k3"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_least_recently_used_go_first() {
        let dir = scratch("evict");
        let store = dir.join("store");
        let crate_dir = dir.join("crate");
        std::fs::write(crate_dir.join("ctx.d"), "x: src/lib.rs\n").unwrap();
        for k in ["k1", "k2", "k3"] {
            keep(&store, k, &crate_dir, false, "", Path::new("/nonexistent"), &crate_dir.join("ctx.d"));
        }
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for (i, k) in ["k2", "k1", "k3"].iter().enumerate() {
            let f = std::fs::File::options().write(true).open(store.join(k).join(STATUS)).unwrap();
            f.set_modified(old + std::time::Duration::from_secs(i as u64)).unwrap();
        }
        evict(&store, 2);
        let left: Vec<bool> = ["k1", "k2", "k3"].iter().map(|k| store.join(k).is_dir()).collect();
        assert_eq!(left, [true, false, true]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_key_follows_the_source_but_not_the_crate_folder() {
        let dir = scratch("key");
        let (a, b) = (dir.join("a"), dir.join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("src")).unwrap();
            std::fs::write(d.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
        }
        let args = |d: &Path| vec![format!("--out-dir={}/target", d.display())];
        let env = |d: &Path| vec![("CARGO_MANIFEST_DIR".to_string(), d.display().to_string())];
        let rustc = Path::new("/tc/rustc");
        let ka = key(rustc, &a, &args(&a), &env(&a)).unwrap();
        assert_eq!(ka, key(rustc, &b, &args(&b), &env(&b)).unwrap());
        std::fs::write(b.join("src/lib.rs"), "pub fn g() {}\n").unwrap();
        assert_ne!(ka, key(rustc, &b, &args(&b), &env(&b)).unwrap());
        assert_ne!(ka, key(rustc, &a, &[String::from("-Copt-level=1")], &env(&a)).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
