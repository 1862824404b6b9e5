//! Building a cell without cargo: evcxr's `cargo build` / `cargo check` of its cell crate
//! answered by one direct rustc run (≈ 20 ms of cargo's own CPU time saved on every cell, every
//! type probe and the start-up builds).
//!
//! evcxr runs every cargo command as `mold -run <cargo> <args>` when its linker setting is
//! `mold` (and picks that setting itself when a `mold` is on PATH). The kernel puts a folder
//! first on PATH holding a `mold` that is this very binary ([`install`]); started under that
//! name with [`BUILDER_ENV`] set, [`run_if_cell_builder`] takes over before anything else:
//!
//! - for the one shape it knows — evcxr 0.22's cell crate `ctx` (a cdylib without
//!   dependencies, the dev profile evcxr writes with `opt-level = 0`), `build` or `check` with
//!   `--target <triple> --message-format=json`, no `RUSTC_WRAPPER`, no cargo configuration
//!   that could change the build — it runs rustc with the arguments and environment cargo
//!   would give it, and prints on stdout the JSON messages evcxr reads from cargo (each
//!   diagnostic as a `compiler-message`, the library as a `compiler-artifact`, then
//!   `build-finished`);
//! - for anything else (`:dep` added dependencies, `:opt 2`, `cargo metadata`, a user's
//!   `[build]` config, …) it runs the real cargo with the same arguments, as evcxr would have
//!   without mold. The real mold is never used (the kernel links with the toolchain's default
//!   linker), so a broken mold install cannot stop a cell either.
//!
//! Each call notes which way it went in `target/rust-concurrency-build` (`direct`, `stored`: taken
//! from the build store, see `build_store.rs`, or `cargo: <why>`; read by the tests).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Set (to `1`) in the kernel's environment: a `mold` started with it is the cell builder.
pub const BUILDER_ENV: &str = "RUST_CONCURRENCY_CELL_BUILDER";
/// The name evcxr runs cargo through (see the module comment).
const PROGRAM: &str = "mold";
/// The crate evcxr compiles every cell into.
const CRATE: &str = "ctx";
/// File under the crate's `target/` naming the way the last build went.
pub const NOTE_FILE: &str = "rust-concurrency-build";
/// cargo's `-C metadata` for the crate: any fixed value does (cargo's is a hash of the
/// package id and profile, equally fixed from cell to cell).
const METADATA_BUILD: &str = "7263636b63656c6c";
const METADATA_CHECK: &str = "7263636b63686b30";

/// Folder put first on PATH: holds the `mold` link to this binary.
pub fn install(root: &Path) -> std::io::Result<PathBuf> {
    let dir = root.join("cell-builder");
    std::fs::create_dir_all(&dir)?;
    let link = dir.join(PROGRAM);
    let exe = std::env::current_exe()?;
    if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
        // A fresh link under a temporary name, renamed over the old one: another kernel
        // starting at the same moment never sees the name missing.
        let tmp = dir.join(format!(".{PROGRAM}-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&exe, &tmp)?;
        std::fs::rename(&tmp, &link)?;
    }
    Ok(dir)
}

/// If this process is evcxr's `mold -run <cargo> …` inside the kernel, builds and exits.
pub fn run_if_cell_builder() {
    let mut args = std::env::args_os();
    let named_mold = args.next().is_some_and(|a| Path::new(&a).file_name() == Some(OsStr::new(PROGRAM)));
    if !named_mold || std::env::var_os(BUILDER_ENV).is_none() {
        return;
    }
    let args: Vec<OsString> = args.collect();
    let code = match args.split_first() {
        Some((run, rest)) if run == "-run" && !rest.is_empty() => run_cargo_command(&rest[0], &rest[1..]),
        _ => {
            eprintln!("rust-concurrency-kernel: this `mold` only stands in for evcxr's cargo runs (`mold -run cargo …`)");
            127
        }
    };
    std::process::exit(code);
}

/// `cargo args…` in the current folder: directly when [`plan`] recognises it, else real cargo.
fn run_cargo_command(cargo: &OsStr, args: &[OsString]) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_default();
    let env = |name: &str| std::env::var_os(name);
    match plan(cargo, args, &cwd, &env) {
        Ok(plan) => {
            note(&cwd, "direct");
            match direct(&plan, &mut std::io::stdout().lock()) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("rust-concurrency-kernel: running rustc directly failed ({e}); running cargo");
                    exec_cargo(cargo, args)
                }
            }
        }
        Err(why) => {
            note(&cwd, &format!("cargo: {why}"));
            exec_cargo(cargo, args)
        }
    }
}

fn note(crate_dir: &Path, text: &str) {
    let _ = std::fs::write(crate_dir.join("target").join(NOTE_FILE), format!("{text}\n"));
}

/// Replaces this process with `cargo args…` (what evcxr runs without mold). Returns only on failure.
fn exec_cargo(cargo: &OsStr, args: &[OsString]) -> i32 {
    let err = Command::new(cargo).args(args).exec();
    eprintln!("rust-concurrency-kernel: could not run {}: {err}", Path::new(cargo).display());
    101
}

/// Build or check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Build,
    Check,
}

/// One recognised cargo command, as the rustc run that replaces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub mode: Mode,
    pub cargo: PathBuf,
    pub rustc: PathBuf,
    pub crate_dir: PathBuf,
    pub target: String,
    pub edition: String,
    pub version: String,
    /// From `CARGO_ENCODED_RUSTFLAGS`, else `RUSTFLAGS` (cargo's order of preference).
    pub rustflags: Vec<String>,
}

/// The rustc run for `cargo args…` in `crate_dir`, or why the command is left to cargo.
pub fn plan(cargo: &OsStr, args: &[OsString], crate_dir: &Path, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Plan, String> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str().ok_or("a non-UTF-8 argument")).collect::<Result<_, _>>()?;
    let args = match args.split_first() {
        Some((&"--offline", rest)) => rest,
        _ => &args[..],
    };
    let (mode, target) = match args {
        ["build", "--target", t, "--message-format=json"] => (Mode::Build, *t),
        ["check", "--target", t, "--message-format=json"] => (Mode::Check, *t),
        _ => return Err(format!("not a cell build: {}", args.join(" "))),
    };
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    for name in ["RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER", "CARGO_BUILD_TARGET_DIR"] {
        if set(name).is_some() {
            return Err(format!("{name} is set"));
        }
    }
    if env("CARGO_TARGET_DIR").as_deref() != Some(OsStr::new("target")) {
        return Err(String::from("CARGO_TARGET_DIR is not `target`"));
    }
    let rustc = PathBuf::from(set("RUSTC").ok_or("RUSTC is not set")?);
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    let (edition, version) = cell_manifest(&manifest)?;
    check_cargo_configs(crate_dir, env)?;
    let rustflags = match set("CARGO_ENCODED_RUSTFLAGS") {
        Some(f) => f.to_str().ok_or("non-UTF-8 rustflags")?.split('\u{1f}').map(String::from).collect(),
        None => set("RUSTFLAGS").map(|f| f.to_string_lossy().split_whitespace().map(String::from).collect()).unwrap_or_default(),
    };
    Ok(Plan { mode, cargo: PathBuf::from(cargo), rustc, crate_dir: crate_dir.to_path_buf(), target: target.to_string(), edition, version, rustflags })
}

/// Checks that `Cargo.toml` is evcxr's cell crate with nothing our rustc run would miss;
/// returns its edition and version.
fn cell_manifest(text: &str) -> Result<(String, String), String> {
    let doc: toml::Table = text.parse().map_err(|e| format!("Cargo.toml does not parse: {e}"))?;
    let keys = |t: &toml::Table| t.keys().cloned().collect::<Vec<_>>().join(",");
    if keys(&doc) != "dependencies,lib,package,profile" {
        return Err(format!("Cargo.toml has sections {}", keys(&doc)));
    }
    if doc["dependencies"].as_table().is_none_or(|d| !d.is_empty()) {
        return Err(String::from("the cell crate has dependencies"));
    }
    let package = doc["package"].as_table().ok_or("no [package]")?;
    let str_of = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(String::from);
    if keys(package) != "edition,name,version" || str_of(package, "name").as_deref() != Some(CRATE) {
        return Err(format!("[package] is not evcxr's: {package:?}"));
    }
    let lib = doc["lib"].as_table().ok_or("no [lib]")?;
    let cdylib = lib.get("crate-type").and_then(|v| v.as_array()).is_some_and(|a| a.len() == 1 && a[0].as_str() == Some("cdylib"));
    if keys(lib) != "crate-type,path" || !cdylib || str_of(lib, "path").as_deref() != Some("src/lib.rs") {
        return Err(format!("[lib] is not evcxr's: {lib:?}"));
    }
    // The dev profile whose flags `rustc_args` passes; any other value goes to cargo.
    let expected: toml::Table = "opt-level = 0\ndebug = false\nstrip = \"debuginfo\"\nrpath = true\nlto = false\n\
        debug-assertions = true\ncodegen-units = 16\npanic = \"unwind\"\nincremental = true\noverflow-checks = true\n"
        .parse()
        .expect("valid TOML");
    let profile = doc["profile"].as_table().ok_or("no [profile]")?;
    if keys(profile) != "dev" || profile["dev"].as_table() != Some(&expected) {
        return Err(format!("the profile is not the one the kernel knows: {profile:?}"));
    }
    let edition = str_of(package, "edition").ok_or("no edition")?;
    let version = str_of(package, "version").ok_or("no version")?;
    Ok((edition, version))
}

/// cargo also reads `.cargo/config.toml` in every folder above the crate and in `CARGO_HOME`:
/// only settings that cannot change this build (evcxr's own `[net] offline`, registries,
/// aliases, …) may be there.
fn check_cargo_configs(crate_dir: &Path, env: &dyn Fn(&str) -> Option<OsString>) -> Result<(), String> {
    const HARMLESS: [&str; 9] = ["net", "http", "source", "registry", "registries", "alias", "term", "cargo-new", "credential-alias"];
    let home = env("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut dirs: Vec<PathBuf> = crate_dir.ancestors().map(|d| d.join(".cargo")).collect();
    dirs.extend(home);
    for dir in dirs {
        for name in ["config.toml", "config"] {
            let file = dir.join(name);
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            let doc: toml::Table = text.parse().map_err(|e| format!("{} does not parse: {e}", file.display()))?;
            if let Some(k) = doc.keys().find(|k| !HARMLESS.contains(&k.as_str())) {
                return Err(format!("{} sets [{k}]", file.display()));
            }
        }
    }
    // Settings cargo takes from the environment that would change the build.
    // (evcxr itself sets `CARGO_BUILD_BUILD_DIR=target`, cargo's default.)
    let changes_build = |k: &str, v: &OsStr| {
        let evcxrs = k == "CARGO_BUILD_BUILD_DIR" && v == "target";
        !evcxrs && (k.starts_with("CARGO_PROFILE_") || k.starts_with("CARGO_TARGET_X86") || k.starts_with("CARGO_BUILD_") || k == "CARGO_INCREMENTAL")
    };
    if let Some((k, _)) = std::env::vars_os().find(|(k, v)| k.to_str().is_some_and(|k| changes_build(k, v))) {
        return Err(format!("{} is set", k.to_string_lossy()));
    }
    Ok(())
}

impl Plan {
    /// `target/<triple>/debug`, cargo's output folder for the crate.
    fn out_dir(&self) -> PathBuf {
        self.crate_dir.join("target").join(&self.target).join("debug")
    }

    /// The arguments cargo 1.95 passes to rustc for this crate and profile (`cargo build -v`).
    pub fn rustc_args(&self) -> Vec<String> {
        let out = self.out_dir();
        let (emit, metadata) = match self.mode {
            Mode::Build => ("--emit=dep-info,link", METADATA_BUILD),
            Mode::Check => ("--emit=dep-info,metadata", METADATA_CHECK),
        };
        let mut args: Vec<String> = [
            "--crate-name", CRATE, &format!("--edition={}", self.edition), "src/lib.rs",
            "--error-format=json", "--json=diagnostic-rendered-ansi,artifacts,future-incompat",
            "--crate-type", "cdylib", emit, "-C", "embed-bitcode=no", "-C", "codegen-units=16",
            "--check-cfg", "cfg(docsrs,test)", "--check-cfg", "cfg(feature, values())",
            "-C", &format!("metadata={metadata}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.mode == Mode::Check {
            args.extend(["-C".to_string(), format!("extra-filename=-{metadata}")]);
        }
        args.extend(["-C".to_string(), "rpath".to_string(), "--out-dir".to_string(), out.join("deps").display().to_string()]);
        args.extend(["--target".to_string(), self.target.clone()]);
        args.extend(["-C".to_string(), format!("incremental={}", out.join("incremental").display())]);
        args.extend(["-C".to_string(), "strip=debuginfo".to_string()]);
        args.extend(["-L".to_string(), format!("dependency={}", out.join("deps").display())]);
        args.extend(["-L".to_string(), format!("dependency={}", self.crate_dir.join("target/debug/deps").display())]);
        args.extend(self.rustflags.iter().cloned());
        args
    }

    /// The environment cargo gives rustc for the package (what `env!("CARGO_…")` reads).
    pub fn rustc_env(&self) -> Vec<(String, String)> {
        let dir = self.crate_dir.display().to_string();
        let mut parts = self.version.splitn(3, '.').map(String::from).chain(std::iter::repeat(String::from("0")));
        let (major, minor, patch) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let patch_pre: Vec<&str> = patch.splitn(2, '-').collect();
        let mut env = vec![
            ("CARGO".to_string(), self.cargo.display().to_string()),
            ("CARGO_CRATE_NAME".to_string(), CRATE.to_string()),
            ("CARGO_MANIFEST_DIR".to_string(), dir.clone()),
            ("CARGO_MANIFEST_PATH".to_string(), format!("{dir}/Cargo.toml")),
            ("CARGO_PKG_NAME".to_string(), CRATE.to_string()),
            ("CARGO_PKG_VERSION".to_string(), self.version.clone()),
            ("CARGO_PKG_VERSION_MAJOR".to_string(), major),
            ("CARGO_PKG_VERSION_MINOR".to_string(), minor),
            ("CARGO_PKG_VERSION_PATCH".to_string(), patch_pre[0].to_string()),
            ("CARGO_PKG_VERSION_PRE".to_string(), patch_pre.get(1).unwrap_or(&"").to_string()),
            ("CARGO_PRIMARY_PACKAGE".to_string(), "1".to_string()),
        ];
        for empty in ["AUTHORS", "DESCRIPTION", "HOMEPAGE", "LICENSE", "LICENSE_FILE", "README", "REPOSITORY", "RUST_VERSION"] {
            env.push((format!("CARGO_PKG_{empty}"), String::new()));
        }
        env
    }

    /// The library rustc writes (`deps/libctx.so`, or the check's `.rmeta`).
    fn output(&self) -> PathBuf {
        match self.mode {
            Mode::Build => self.out_dir().join("deps").join(format!("lib{CRATE}.so")),
            Mode::Check => self.out_dir().join("deps").join(format!("lib{CRATE}-{METADATA_CHECK}.rmeta")),
        }
    }

    /// rustc's dep-info file for the crate (`--emit=dep-info` into `deps/`).
    fn dep_info(&self) -> PathBuf {
        match self.mode {
            Mode::Build => self.out_dir().join("deps").join(format!("{CRATE}.d")),
            Mode::Check => self.out_dir().join("deps").join(format!("{CRATE}-{METADATA_CHECK}.d")),
        }
    }

    /// cargo's `compiler-artifact` message for the crate, naming `file`.
    fn artifact_message(&self, file: &Path) -> Value {
        let dir = self.crate_dir.display();
        json!({
            "reason": "compiler-artifact",
            "package_id": format!("path+file://{dir}#{CRATE}@{}", self.version),
            "manifest_path": format!("{dir}/Cargo.toml"),
            "target": self.target_json(),
            "profile": {"opt_level": "0", "debuginfo": 0, "debug_assertions": true, "overflow_checks": true, "test": false},
            "features": [],
            "filenames": [file.display().to_string()],
            "executable": null,
            "fresh": false,
        })
    }

    fn target_json(&self) -> Value {
        json!({
            "kind": ["cdylib"], "crate_types": ["cdylib"], "name": CRATE,
            "src_path": self.crate_dir.join("src/lib.rs").display().to_string(),
            "edition": self.edition, "doc": true, "doctest": false, "test": true,
        })
    }

    /// A rustc diagnostic as cargo's `compiler-message`.
    fn compiler_message(&self, diagnostic: Value) -> Value {
        let dir = self.crate_dir.display();
        json!({
            "reason": "compiler-message",
            "package_id": format!("path+file://{dir}#{CRATE}@{}", self.version),
            "manifest_path": format!("{dir}/Cargo.toml"),
            "target": self.target_json(),
            "message": diagnostic,
        })
    }
}

/// Runs rustc for `plan` (or takes the build from the store, `build_store.rs`), printing
/// cargo's JSON messages; returns cargo's exit status.
fn direct(plan: &Plan, out: &mut dyn Write) -> std::io::Result<i32> {
    std::fs::create_dir_all(plan.out_dir().join("deps"))?;
    let (args, env) = (plan.rustc_args(), plan.rustc_env());
    let store = super::build_store::open();
    let key = match &store {
        Some(_) => super::build_store::key(&plan.rustc, &plan.crate_dir, &args, &env).ok(),
        None => None,
    };
    if let (Some(store), Some(key)) = (&store, &key) {
        if let Some(hit) = super::build_store::lookup(store, key, &plan.crate_dir, &plan.output()) {
            note(&plan.crate_dir, "stored");
            return report(plan, hit.success, &hit.stderr, out);
        }
    }
    // A dep-info left from an earlier build must not be taken for this one's.
    let _ = std::fs::remove_file(plan.dep_info());
    let child = Command::new(&plan.rustc)
        .args(&args)
        .envs(env)
        .current_dir(&plan.crate_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let stderr = String::from_utf8_lossy(&child.stderr);
    let success = child.status.success();
    if let (Some(store), Some(key)) = (&store, &key) {
        // Lines that are not rustc's JSON (a crash, a linker's complaint) are never replayed.
        let all_json = stderr.lines().all(|l| l.starts_with('{'));
        if all_json {
            super::build_store::keep(store, key, &plan.crate_dir, success, &stderr, &plan.output(), &plan.dep_info());
        }
    }
    report(plan, success, &stderr, out)
}

/// Prints cargo's messages for a finished rustc run (`stderr` as rustc wrote it).
fn report(plan: &Plan, success: bool, stderr: &str, out: &mut dyn Write) -> std::io::Result<i32> {
    let mut errors = 0usize;
    for line in stderr.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(mut msg) if msg["$message_type"] == "diagnostic" => {
                // cargo drops rustc's closing summaries ("aborting due to …", "2 warnings
                // emitted") and, for `--message-format=json`, strips the colours from the
                // rendered text (rustc is asked for them, as cargo asks).
                let summary = |m: &str| m.starts_with("aborting due to") || m.ends_with("warning emitted") || m.ends_with("warnings emitted");
                if msg["message"].as_str().is_some_and(summary) {
                    continue;
                }
                errors += usize::from(msg["level"] == "error");
                if let Some(text) = msg["rendered"].as_str() {
                    msg["rendered"] = Value::String(super::errors::strip_ansi(text));
                }
                writeln!(out, "{}", plan.compiler_message(msg))?;
            }
            // Artifact notices and future-incompatibility reports: cargo keeps them to itself.
            Ok(msg) if msg.get("$message_type").is_some() => {}
            _ => eprintln!("{line}"),
        }
    }
    if !success {
        writeln!(out, "{}", json!({"reason": "build-finished", "success": false}))?;
        out.flush()?;
        let plural = if errors == 1 { "" } else { "s" };
        eprintln!("error: could not compile `{CRATE}` (lib) due to {errors} previous error{plural}");
        return Ok(101);
    }
    let file = match plan.mode {
        // cargo hard-links the library one folder up ("uplifting") and names that copy.
        Mode::Build => {
            let up = plan.out_dir().join(format!("lib{CRATE}.so"));
            let _ = std::fs::remove_file(&up);
            if std::fs::hard_link(plan.output(), &up).is_err() {
                std::fs::copy(plan.output(), &up)?;
            }
            up
        }
        Mode::Check => plan.output(),
    };
    writeln!(out, "{}", plan.artifact_message(&file))?;
    writeln!(out, "{}", json!({"reason": "build-finished", "success": true}))?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest evcxr 0.22 writes for cells (its `get_cargo_toml_contents`, opt-level 0,
    /// no dependencies), as test data.
    const EVCXR_MANIFEST: &str = "\n[package]\nname = \"ctx\"\nversion = \"1.0.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\npath = \"src/lib.rs\"\n\n[profile.dev]\nopt-level = 0\ndebug = false\nstrip = \"debuginfo\"\nrpath = true\nlto = false\ndebug-assertions = true\ncodegen-units = 16\npanic = 'unwind'\nincremental = true\noverflow-checks = true\n\n[dependencies]\n\n";

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    fn crate_dir(name: &str, manifest: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rck-cell-build-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        std::fs::write(dir.join(".cargo/config.toml"), "\n[net]\noffline = false\n").unwrap();
        dir
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| OsString::from(v))
    }

    const ENV: &[(&str, &str)] = &[("CARGO_TARGET_DIR", "target"), ("RUSTC", "/tc/rustc"), ("RUSTFLAGS", "-Cprefer-dynamic"), ("HOME", "/nonexistent")];

    #[test]
    fn evcxrs_cell_build_is_recognised() {
        let dir = crate_dir("ok", EVCXR_MANIFEST);
        let p = plan(OsStr::new("/tc/cargo"), &args("build --target x86_64-unknown-linux-gnu --message-format=json"), &dir, &env_of(ENV)).unwrap();
        assert_eq!((p.mode, p.edition.as_str(), p.rustflags.clone()), (Mode::Build, "2024", vec!["-Cprefer-dynamic".to_string()]));
        let c = plan(OsStr::new("/tc/cargo"), &args("--offline check --target x86_64-unknown-linux-gnu --message-format=json"), &dir, &env_of(ENV)).unwrap();
        assert_eq!(c.mode, Mode::Check);
        let a = p.rustc_args();
        assert!(a.windows(2).any(|w| w == ["--emit=dep-info,link", "-C"]), "{a:?}");
        assert_eq!(a.last().map(String::as_str), Some("-Cprefer-dynamic"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn encoded_rustflags_win_over_rustflags() {
        let dir = crate_dir("flags", EVCXR_MANIFEST);
        let mut env = ENV.to_vec();
        env.push(("CARGO_ENCODED_RUSTFLAGS", "-Cprefer-dynamic\u{1f}--extern\u{1f}multiproc=/p/lib multiproc.rlib"));
        let p = plan(OsStr::new("cargo"), &args("build --target t --message-format=json"), &dir, &env_of(&env)).unwrap();
        assert_eq!(p.rustflags, ["-Cprefer-dynamic", "--extern", "multiproc=/p/lib multiproc.rlib"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn anything_else_goes_to_cargo() {
        let dir = crate_dir("other", EVCXR_MANIFEST);
        let env = env_of(ENV);
        for cmd in ["metadata --format-version 1", "clean", "build --target t", "build --target t --message-format=json -v"] {
            assert!(plan(OsStr::new("cargo"), &args(cmd), &dir, &env).is_err(), "{cmd}");
        }
        let mut wrapped = ENV.to_vec();
        wrapped.push(("RUSTC_WRAPPER", "/usr/bin/sccache"));
        assert!(plan(OsStr::new("cargo"), &args("build --target t --message-format=json"), &dir, &env_of(&wrapped)).unwrap_err().contains("RUSTC_WRAPPER"));
        std::fs::write(dir.join(".cargo/config.toml"), "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n").unwrap();
        assert!(plan(OsStr::new("cargo"), &args("build --target t --message-format=json"), &dir, &env).unwrap_err().contains("[target"));
        std::fs::remove_dir_all(dir).unwrap();
        let changed = [
            EVCXR_MANIFEST.replace("[dependencies]\n", "[dependencies]\nrand = \"0.8\"\n"),
            EVCXR_MANIFEST.replace("opt-level = 0", "opt-level = 2"),
            EVCXR_MANIFEST.replace("name = \"ctx\"", "name = \"other\""),
            EVCXR_MANIFEST.replace("[dependencies]", "[features]\nx = []\n[dependencies]"),
        ];
        for (i, manifest) in changed.iter().enumerate() {
            let dir = crate_dir(&format!("m{i}"), manifest);
            assert!(plan(OsStr::new("cargo"), &args("build --target t --message-format=json"), &dir, &env).is_err(), "{manifest}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    /// The same crate built by real cargo and by the direct run: same outcome, same diagnostics,
    /// an artifact message naming a library that exists.
    #[test]
    fn the_direct_run_reports_what_cargo_reports() {
        let real_cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let target = String::from_utf8(Command::new(&rustc).args(["--print", "host-tuple"]).output().unwrap().stdout).unwrap().trim().to_string();
        let sources = [
            "#[unsafe(no_mangle)]\npub extern \"C\" fn f() -> i32 { let unused = 1; env!(\"CARGO_PKG_NAME\").len() as i32 }\n",
            "pub fn f() -> i32 { \"not a number\" }\n",
        ];
        for (i, src, sub) in sources.iter().enumerate().flat_map(|(i, s)| [(i, s, "build"), (i, s, "check")]) {
            let mut seen = Vec::new();
            for way in ["cargo", "direct"] {
                let dir = crate_dir(&format!("{way}{i}{sub}"), EVCXR_MANIFEST);
                std::fs::write(dir.join("src/lib.rs"), src).unwrap();
                let cmd = args(&format!("{sub} --target {target} --message-format=json"));
                let (code, stdout) = if way == "cargo" {
                    let out = Command::new(&real_cargo).args(&cmd).current_dir(&dir).env("CARGO_TARGET_DIR", "target").env("RUSTC", &rustc).env("RUSTFLAGS", "-Cprefer-dynamic").env_remove("CARGO_ENCODED_RUSTFLAGS").output().unwrap();
                    (out.status.code(), out.stdout)
                } else {
                    let mut env = ENV.to_vec();
                    let rustc = rustc.to_str().unwrap();
                    env.retain(|(k, _)| *k != "RUSTC");
                    env.push(("RUSTC", rustc));
                    let plan = plan(&real_cargo, &cmd, &dir, &env_of(&env)).unwrap();
                    let mut stdout = Vec::new();
                    let code = direct(&plan, &mut stdout).unwrap();
                    (Some(code), stdout)
                };
                let stdout = String::from_utf8_lossy(&stdout).to_string();
                let messages: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
                let diagnostics: Vec<(String, String)> = messages
                    .iter()
                    .filter(|m| m["reason"] == "compiler-message")
                    .map(|m| (m["message"]["level"].as_str().unwrap_or("").to_string(), m["message"]["rendered"].as_str().unwrap_or("").to_string()))
                    .collect();
                let artifact = messages.iter().find(|m| m["reason"] == "compiler-artifact").map(|m| PathBuf::from(m["filenames"][0].as_str().unwrap()));
                if let Some(a) = &artifact {
                    assert!(a.is_file(), "{way}: {a:?} missing");
                    let name = a.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if sub == "build" {
                        assert_eq!(name, "libctx.so");
                    } else {
                        assert!(name.starts_with("libctx-") && name.ends_with(".rmeta"), "{name}");
                    }
                }
                seen.push((code, diagnostics, artifact.is_some(), messages.last().map(|m| m["success"].clone())));
                std::fs::remove_dir_all(dir).unwrap();
            }
            assert_eq!(seen[0], seen[1], "cargo vs direct, {sub} of source {i}");
            assert!(!seen[0].1.is_empty(), "each source has a warning or an error");
        }
    }
}
