//! The support crate (`multiproc`) compiled once, as an rlib every cell links against.
//!
//! Cells reach it through rustc flags (`--extern multiproc=… -L dependency=…`, see
//! `toolchain.rs`) instead of evcxr's `:dep`, so rust-analyzer never loads its dependency
//! graph and no cache slot compiles it again. `rust-concurrency-kernel install` builds it into
//! `<data>/prebuilt/` (see `toolchain::data_dir`); a kernel that was not installed (a
//! development run) builds it on first start under the cache root. Both are keyed by a hash of
//! the crate's sources and the `rustc -vV` output, so a changed crate or toolchain never links
//! a stale library.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::cache_slot;

/// Where the library and its dependencies are.
#[derive(Debug, Clone)]
pub struct Prebuilt {
    /// `…/deps/libmultiproc-<hash>.rlib`
    pub rlib: PathBuf,
    /// The folder holding it and every dependency's rlib.
    pub deps: PathBuf,
}

/// File in a prebuilt folder: the key, then the rlib's file name.
const MANIFEST: &str = "manifest";

/// The prebuilt library for `support`: the installed one when it matches, else one in the
/// cache (built now if missing, which takes about a minute on two cores).
pub fn locate_or_build(support: &Path) -> anyhow::Result<Prebuilt> {
    let key = key(support)?;
    if let Some(data) = super::toolchain::data_dir() {
        if let Some(p) = read(&data.join("prebuilt"), &key) {
            return Ok(p);
        }
        eprintln!("rust-concurrency-kernel: the installed support crate does not match its sources or rustc; building it once");
    }
    build_cached(support, &key)
}

/// Builds (or finds in the cache) the library and copies it to `dest` (the install step).
pub fn install_into(support: &Path, dest: &Path) -> anyhow::Result<Prebuilt> {
    let key = key(support)?;
    if let Some(p) = read(dest, &key) {
        return Ok(p);
    }
    let cached = build_cached(support, &key)?;
    let src = cached.deps.parent().expect("deps has a parent").to_path_buf();
    publish(&src, dest)?;
    read(dest, &key).ok_or_else(|| anyhow::anyhow!("prebuilt support crate missing in {} after copying", dest.display()))
}

/// The prebuilt folder `dir`, if its manifest names `key` and its rlib exists.
fn read(dir: &Path, key: &str) -> Option<Prebuilt> {
    let manifest = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let mut lines = manifest.lines();
    if lines.next()? != key {
        return None;
    }
    let deps = dir.join("deps");
    let rlib = deps.join(lines.next()?);
    rlib.is_file().then_some(Prebuilt { rlib, deps })
}

/// `<cache>/prebuilt/<key>`, built with cargo into a shared target folder (so a changed crate
/// rebuilds only itself) and copied out (a running kernel keeps linking its own copy).
fn build_cached(support: &Path, key: &str) -> anyhow::Result<Prebuilt> {
    let root = cache_slot::root().join("prebuilt");
    let dir = root.join(key);
    if let Some(p) = read(&dir, key) {
        return Ok(p);
    }
    let target = root.join("target");
    eprintln!("rust-concurrency-kernel: building the support crate for cells from {} (once; about a minute)", support.display());
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--lib", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(support.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        // The kernel's own rustflags name the library being built here.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| anyhow::anyhow!("running cargo to build the support crate: {e}"))?;
    let rlib = String::from_utf8_lossy(&out.stdout).lines().find_map(multiproc_rlib);
    let Some(rlib) = rlib.filter(|_| out.status.success()) else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::bail!("building the support crate from {} failed:\n{}", support.display(), tail.join("\n"));
    };
    let built = PathBuf::from(rlib);
    let name = built.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow::anyhow!("odd rlib path {}", built.display()))?;
    let staging = root.join(format!("{key}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    // Cargo names the copy it puts beside `deps/` for a workspace member; the dependencies
    // are in `deps/` (where its own hashed copy is left out: one `multiproc` only).
    let parent = built.parent().expect("rlib in a folder");
    let deps = if parent.ends_with("deps") { parent.to_path_buf() } else { parent.join("deps") };
    copy_libraries(&deps, &staging.join("deps"))?;
    std::fs::copy(&built, staging.join("deps").join(name))?;
    std::fs::write(staging.join(MANIFEST), format!("{key}\n{name}\n"))?;
    if std::fs::rename(&staging, &dir).is_err() {
        // Another kernel finished first; use its copy.
        let _ = std::fs::remove_dir_all(&staging);
    }
    read(&dir, key).ok_or_else(|| anyhow::anyhow!("prebuilt support crate missing in {}", dir.display()))
}

/// The rlib path in one of cargo's JSON messages, if it is the support crate's artifact.
fn multiproc_rlib(line: &str) -> Option<String> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" || msg["target"]["name"] != "multiproc" {
        return None;
    }
    msg["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".rlib")).map(String::from)
}

/// Copies the libraries (rlib, proc-macro .so) of cargo's `deps` folder (an rlib holds its metadata).
fn copy_libraries(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let own = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libmultiproc-"));
        let keep = !own && path.extension().is_some_and(|e| e == "rlib" || e == "so");
        if keep {
            std::fs::copy(&path, to.join(path.file_name().expect("file name")))?;
        }
    }
    Ok(())
}

/// Replaces `dest` with a copy of the prebuilt folder `src`.
fn publish(src: &Path, dest: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dest);
    copy_libraries(&src.join("deps"), &dest.join("deps"))?;
    std::fs::copy(src.join(MANIFEST), dest.join(MANIFEST))?;
    Ok(())
}

/// Hash of the crate's sources, manifests, the workspace's lock file and `rustc -vV`.
fn key(support: &Path) -> anyhow::Result<String> {
    let mut hash = Sha256::new();
    let rustc = Command::new("rustc").arg("-vV").output().map_err(|e| anyhow::anyhow!("running rustc -vV: {e}"))?;
    hash.update(&rustc.stdout);
    let mut files = vec![support.join("Cargo.toml"), support.join("../Cargo.toml"), support.join("../Cargo.lock")];
    collect_files(&support.join("src"), &mut files)?;
    files.sort();
    for f in files {
        if let Ok(bytes) = std::fs::read(&f) {
            hash.update(f.strip_prefix(support).unwrap_or(&f).to_string_lossy().as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
    }
    Ok(hex::encode(&hash.finalize()[..8]))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rlib_among_cargo_messages() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"multiproc"},"filenames":["/t/debug/deps/libmultiproc-ab.rmeta","/t/debug/deps/libmultiproc-ab.rlib"]}"#;
        assert_eq!(multiproc_rlib(line).as_deref(), Some("/t/debug/deps/libmultiproc-ab.rlib"));
        let other = r#"{"reason":"compiler-artifact","target":{"name":"nix"},"filenames":["/t/libnix.rlib"]}"#;
        assert_eq!(multiproc_rlib(other), None);
        assert_eq!(multiproc_rlib("not json"), None);
    }

    #[test]
    fn a_manifest_with_another_key_is_not_used() {
        let dir = std::env::temp_dir().join(format!("rck-prebuilt-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("deps")).unwrap();
        std::fs::write(dir.join("deps/libmultiproc-1.rlib"), b"").unwrap();
        std::fs::write(dir.join(MANIFEST), "k1\nlibmultiproc-1.rlib\n").unwrap();
        assert!(read(&dir, "k1").is_some());
        assert!(read(&dir, "k2").is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
