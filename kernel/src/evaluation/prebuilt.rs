//! The support crate (`multiproc`) compiled once, as an rlib every cell links against.
//!
//! Cells reach it through rustc flags (`--extern multiproc=… -L dependency=…`, see
//! `toolchain.rs`) instead of evcxr's `:dep`, so rust-analyzer never loads its dependency
//! graph and no cache slot compiles it again. `rust-concurrency-kernel install` builds it into
//! `<data>/prebuilt/` (see `toolchain::data_dir`); a kernel that was not installed (a
//! development run) builds it on first start under the cache root. Both are keyed by a hash of
//! the crate's sources and the `rustc -vV` output, so a changed crate or toolchain never links
//! a stale library.
//!
//! A lesson may also `use` a few of the crate's own dependencies by name (`crossbeam_channel`,
//! …): the support crate lists them in its `Cargo.toml` under
//! `[package.metadata.rust-concurrency] cells-extern`, and each gets an `--extern` of its own,
//! pointing at the very rlib the support crate was built against (so their types are the same).
//! Packages listed under `cells-packages` (the `aio` crate of lesson 26, with tokio) are built in
//! the same cargo run but are not dependencies of the support crate: rustc loads an `--extern`
//! crate only when a cell names it, so the other lessons' cells never load tokio's metadata.

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
    /// The dependencies a cell may name: (crate name, rlib in `deps`).
    pub externs: Vec<(String, PathBuf)>,
}

/// File in a prebuilt folder: the key, the rlib's file name, then one `extern <name> <file>`
/// line per dependency a cell may name.
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
    let mut externs = Vec::new();
    for line in lines {
        let mut words = line.split(' ');
        let (Some("extern"), Some(name), Some(file)) = (words.next(), words.next(), words.next()) else { return None };
        let path = deps.join(file);
        if !path.is_file() {
            return None;
        }
        externs.push((name.to_string(), path));
    }
    rlib.is_file().then_some(Prebuilt { rlib, deps, externs })
}

/// `<cache>/prebuilt/<key>`, built with cargo into a shared target folder (so a changed crate
/// rebuilds only itself) and copied out (a running kernel keeps linking its own copy).
fn build_cached(support: &Path, key: &str) -> anyhow::Result<Prebuilt> {
    let root = cache_slot::root().join("prebuilt");
    let dir = root.join(key);
    if let Some(p) = read(&dir, key) {
        return Ok(p);
    }
    // One target folder per profile setting: `deps/` is copied out whole (below), so libraries
    // of a build with other settings (the debug-info build of earlier kernels) must not sit in
    // it; that earlier folder is removed once.
    let _ = std::fs::remove_dir_all(root.join("target"));
    let target = root.join(format!("target-debug{PROFILE_DEBUG}"));
    eprintln!("rust-concurrency-kernel: building the support crate for cells from {} (once; about a minute)", support.display());
    let meta = support_metadata(support)?;
    let mut packages = vec![String::from("multiproc")];
    packages.extend(package_names(&meta));
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "--lib", "--message-format=json-render-diagnostics"]);
    let features = features();
    if !features.is_empty() {
        // Several packages are built: each feature is named with the package that has it.
        cargo.args(["--features", &qualified_features(&meta, &packages, &features).join(",")]);
    }
    let out = cargo
        .arg("--manifest-path")
        .arg(support.join("Cargo.toml"))
        .args(packages.iter().flat_map(|p| ["-p", p.as_str()]))
        .arg("--target-dir")
        .arg(&target)
        // No debug info (rlibs ≈ 195 → 102 MB, and every cell's rustc reads less metadata);
        // panic messages keep their file and line, backtraces their function names.
        .env("CARGO_PROFILE_DEV_DEBUG", PROFILE_DEBUG)
        // The kernel's own rustflags name the library being built here.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| anyhow::anyhow!("running cargo to build the support crate: {e}"))?;
    let messages = String::from_utf8_lossy(&out.stdout);
    let rlib = messages.lines().find_map(|l| artifact_rlib(l, "multiproc"));
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
    let mut manifest = format!("{key}\n{name}\n");
    for wanted in extern_names(&meta) {
        let found = messages.lines().filter_map(|l| artifact_rlib(l, &wanted)).last();
        let file = found.as_deref().map(Path::new).and_then(Path::file_name).and_then(|n| n.to_str());
        let (Some(found), Some(file)) = (found.as_deref(), file) else {
            anyhow::bail!("the support crate lists `{wanted}` in cells-extern, but cargo built no rlib of that name");
        };
        // A package of `cells-packages` is a root of the build: cargo names its copy outside `deps/`.
        let into = staging.join("deps").join(file);
        if !into.is_file() {
            std::fs::copy(found, &into)?;
        }
        manifest.push_str(&format!("extern {wanted} {file}\n"));
    }
    std::fs::write(staging.join(MANIFEST), manifest)?;
    if std::fs::rename(&staging, &dir).is_err() {
        // Another kernel finished first; use its copy.
        let _ = std::fs::remove_dir_all(&staging);
    }
    read(&dir, key).ok_or_else(|| anyhow::anyhow!("prebuilt support crate missing in {}", dir.display()))
}

/// The rlib path in one of cargo's JSON messages, if it is the artifact of crate `name`.
fn artifact_rlib(line: &str, name: &str) -> Option<String> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" || msg["target"]["name"] != name {
        return None;
    }
    msg["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".rlib")).map(String::from)
}

/// The crate names listed in the support crate's `[package.metadata.rust-concurrency]
/// `cells-extern` (read through `cargo metadata`, which parses the manifest for us).
#[cfg(test)]
fn cells_extern(support: &Path) -> anyhow::Result<Vec<String>> {
    Ok(extern_names(&support_metadata(support)?))
}

/// `cargo metadata --no-deps` of the support crate's workspace.
fn support_metadata(support: &Path) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path"])
        .arg(support.join("Cargo.toml"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| anyhow::anyhow!("running cargo metadata on the support crate: {e}"))?;
    anyhow::ensure!(out.status.success(), "cargo metadata on the support crate failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// `cells-packages` of the `multiproc` package: workspace packages built beside it for cells
/// (the `aio` crate), which are not its dependencies, so cells that do not name them never load them.
fn package_names(meta: &serde_json::Value) -> Vec<String> {
    let packages = meta["packages"].as_array().into_iter().flatten();
    let support = packages.filter(|p| p["name"] == "multiproc");
    let names = support.flat_map(|p| p["metadata"]["rust-concurrency"]["cells-packages"].as_array().cloned().unwrap_or_default());
    names.filter_map(|n| n.as_str().map(String::from)).collect()
}

/// `cells-extern` of the `multiproc` package in `cargo metadata` output.
fn extern_names(meta: &serde_json::Value) -> Vec<String> {
    let packages = meta["packages"].as_array().into_iter().flatten();
    let support = packages.filter(|p| p["name"] == "multiproc");
    let names = support.flat_map(|p| p["metadata"]["rust-concurrency"]["cells-extern"].as_array().cloned().unwrap_or_default());
    names.filter_map(|n| n.as_str().map(|n| n.replace('-', "_"))).collect()
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

/// Cargo features of the support crate to build in, from `$MULTIPROC_FEATURES` (e.g. `cuda`
/// for lesson 30's GPU path, which is off by default because it slows every lesson's cells);
/// empty: the default features.
/// `features` (comma-separated, as in `MULTIPROC_FEATURES`) as `package/feature`, each with the
/// first of `packages` that declares it (`cuda` → `multiproc-gpu/cuda`); one already qualified,
/// or that no package declares, is passed on as it is (cargo then says what is wrong).
fn qualified_features(meta: &serde_json::Value, packages: &[String], features: &str) -> Vec<String> {
    let declared = |package: &str, feature: &str| {
        meta["packages"].as_array().into_iter().flatten().any(|p| p["name"] == package && p["features"].get(feature).is_some())
    };
    let one = |f: &str| match packages.iter().find(|p| !f.contains('/') && declared(p, f)) {
        Some(p) => format!("{p}/{f}"),
        None => f.to_string(),
    };
    features.split(',').map(str::trim).filter(|f| !f.is_empty()).map(one).collect()
}

fn features() -> String {
    std::env::var("MULTIPROC_FEATURES").unwrap_or_default().trim().to_string()
}

/// The dev profile's `debug` setting the library is built with.
const PROFILE_DEBUG: &str = "0";

/// Hash of the crate's sources, manifests, the workspace's lock file, `rustc -vV`, the
/// features asked for and the profile setting.
fn key(support: &Path) -> anyhow::Result<String> {
    let mut hash = Sha256::new();
    hash.update(features().as_bytes());
    hash.update(format!("debug={PROFILE_DEBUG}").as_bytes());
    let rustc = super::toolchain::rustc_version_verbose().ok_or_else(|| anyhow::anyhow!("running rustc -vV failed"))?;
    hash.update(rustc);
    let mut files = vec![support.join("Cargo.toml"), support.join("../Cargo.toml"), support.join("../Cargo.lock")];
    collect_files(&support.join("src"), &mut files)?;
    // Packages kept inside the support crate's folder (`aio/`, see `package_names`).
    for entry in std::fs::read_dir(support).map_err(|e| anyhow::anyhow!("reading {}: {e}", support.display()))? {
        let dir = entry?.path();
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            files.push(dir.join("Cargo.toml"));
            collect_files(&dir.join("src"), &mut files)?;
        }
    }
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
        assert_eq!(artifact_rlib(line, "multiproc").as_deref(), Some("/t/debug/deps/libmultiproc-ab.rlib"));
        let other = r#"{"reason":"compiler-artifact","target":{"name":"nix"},"filenames":["/t/libnix.rlib"]}"#;
        assert_eq!(artifact_rlib(other, "multiproc"), None);
        assert_eq!(artifact_rlib(other, "nix").as_deref(), Some("/t/libnix.rlib"));
        assert_eq!(artifact_rlib("not json", "multiproc"), None);
    }

    #[test]
    fn cells_extern_names_come_from_the_support_crates_metadata() {
        let meta = serde_json::json!({"packages": [
            {"name": "other", "metadata": {"rust-concurrency": {"cells-extern": ["nope"]}}},
            {"name": "multiproc", "metadata": {"rust-concurrency": {"cells-extern": ["crossbeam-channel", "nix"]}}}
        ]});
        assert_eq!(extern_names(&meta), ["crossbeam_channel", "nix"]);
        assert!(extern_names(&serde_json::json!({"packages": [{"name": "multiproc", "metadata": null}]})).is_empty());
    }

    #[test]
    fn a_feature_is_named_with_the_package_that_has_it() {
        let meta = serde_json::json!({"packages": [
            {"name": "multiproc", "features": {}},
            {"name": "multiproc-gpu", "features": {"cuda": ["dep:cudarc"]}}
        ]});
        let packages = ["multiproc".to_string(), "multiproc-gpu".to_string()];
        assert_eq!(qualified_features(&meta, &packages, "cuda"), ["multiproc-gpu/cuda"]);
        assert_eq!(qualified_features(&meta, &packages, "cuda, multiproc/x,nope"), ["multiproc-gpu/cuda", "multiproc/x", "nope"]);
    }

    #[test]
    fn cells_packages_come_from_the_support_crates_metadata() {
        let meta = serde_json::json!({"packages": [
            {"name": "multiproc", "metadata": {"rust-concurrency": {"cells-packages": ["multiproc-aio"]}}}
        ]});
        assert_eq!(package_names(&meta), ["multiproc-aio"]);
        assert!(package_names(&serde_json::json!({"packages": [{"name": "multiproc", "metadata": null}]})).is_empty());
    }

    #[test]
    fn the_real_support_crate_lists_crates_cargo_builds() {
        let support = Path::new(env!("CARGO_MANIFEST_DIR")).join("../support-crate");
        let names = cells_extern(&support).unwrap();
        assert!(names.iter().any(|n| n == "crossbeam_channel"), "{names:?}");
    }

    #[test]
    fn a_manifest_with_another_key_is_not_used() {
        let dir = std::env::temp_dir().join(format!("rck-prebuilt-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("deps")).unwrap();
        std::fs::write(dir.join("deps/libmultiproc-1.rlib"), b"").unwrap();
        std::fs::write(dir.join(MANIFEST), "k1\nlibmultiproc-1.rlib\n").unwrap();
        assert!(read(&dir, "k1").is_some());
        assert!(read(&dir, "k2").is_none());
        std::fs::write(dir.join("deps/libcrossbeam_channel-2.rlib"), b"").unwrap();
        std::fs::write(dir.join(MANIFEST), "k1\nlibmultiproc-1.rlib\nextern crossbeam_channel libcrossbeam_channel-2.rlib\n").unwrap();
        let p = read(&dir, "k1").unwrap();
        assert_eq!(p.externs, [("crossbeam_channel".to_string(), dir.join("deps/libcrossbeam_channel-2.rlib"))]);
        std::fs::write(dir.join(MANIFEST), "k1\nlibmultiproc-1.rlib\nextern gone libgone-3.rlib\n").unwrap();
        assert!(read(&dir, "k1").is_none(), "a manifest naming a missing rlib is not used");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
