//! The environment evcxr, cargo and rust-analyzer run in, set before evcxr starts.
//!
//! - `RUST_SRC_PATH` names an empty folder holding an empty `core/`: rust-analyzer takes std's
//!   sources from there (it only checks that `core` exists), so it analyses no std at all
//!   (≈ 3 s and ≈ 257 MB saved at every start). `RUST_CONCURRENCY_STD_ANALYSIS=1` switches std
//!   analysis back on (the regression test's baseline).
//! - `EVCXR_CONFIG_DIR` names a folder with the kernel's own `evcxr.toml` (`opt_level = "0"`),
//!   read before evcxr's first build. evcxr reads an `evcxr.toml` in the working directory
//!   first, so the context is created from inside the kernel's config folder (see
//!   [`in_config_dir`]) and the runtime goes back to the student's folder ([`CELL_DIR_ENV`]).
//! - `CARGO_ENCODED_RUSTFLAGS` (cargo prefers it to the `RUSTFLAGS` evcxr sets) adds the
//!   prebuilt support crate to every cell's compile (see `prebuilt.rs`).
//! - The toolchain's own `bin/` comes first on PATH ([`bypass_rustup`]): rust-analyzer's
//!   project loading, evcxr and the kernel run `cargo` and `rustc` some 25 times at every start,
//!   and each run through rustup's proxies cost ≈ 10 ms of CPU more (≈ 0.2 s of CPU a start,
//!   which three kernels started together share two cores for). One proxy run finds the
//!   folder, so the toolchain rustup picks is still the one used.
//! - A folder holding the kernel's cell builder under the name `mold` comes first on PATH
//!   (`cell_build.rs`): evcxr runs its cargo commands through it ([`LINKER_COMMAND`]), and it
//!   builds evcxr's cell crate with one direct rustc run. It never runs a real mold, so a
//!   broken mold install cannot stop the kernel either. The runtime takes the folder off its
//!   PATH again ([`leave_builder_env`]), so a cell's own `Command::new("mold")` finds the real one.
//! - Cells link with the toolchain's own lld ([`lld_flags`]), and the build store
//!   (`build_store.rs`) gets the compiler's identity (`build_store::RUSTC_ID_ENV`).

use std::ffi::OsString;
use std::path::PathBuf;

use super::cache_slot;
use super::prebuilt::Prebuilt;

/// Set to `1` to let rust-analyzer analyse std again (slow start, ≈ 300 MB more).
pub const STD_ANALYSIS_ENV: &str = "RUST_CONCURRENCY_STD_ANALYSIS";
/// The folder the runtime changes to when it starts (the kernel's working directory).
pub const CELL_DIR_ENV: &str = "RUST_CONCURRENCY_CELL_DIR";
/// The kernel's installed data folder (`<prefix>/share/rust-concurrency`, from kernel.json).
pub const DATA_ENV: &str = "RUST_CONCURRENCY_DATA";
/// evcxr command run after start-up: evcxr runs cargo as `mold -run cargo …`, which reaches
/// the kernel's cell builder (evcxr also picks this setting itself when it finds a `mold` on
/// PATH, as it does ours, so its very first builds go the same way). Cells link with the
/// toolchain's default linker either way (the builder never runs a real mold).
pub const LINKER_COMMAND: &str = ":linker mold";
/// The kernel's evcxr settings.
const EVCXR_TOML: &str = "# Written by rust-concurrency-kernel; the kernel's own evcxr settings.\n[evcxr]\nopt_level = \"0\"\n";

/// The installed data folder, when the kernel was installed (`$RUST_CONCURRENCY_DATA`).
/// Holds `prebuilt/` (the support crate) and other install-time data (e.g. `index/`).
pub fn data_dir() -> Option<PathBuf> {
    std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// Sets the environment described in the module comment. Call before evcxr starts, while no
/// other thread reads the environment.
pub fn prepare(prebuilt: &Prebuilt) -> anyhow::Result<()> {
    let root = cache_slot::root();
    if std::env::var_os(STD_ANALYSIS_ENV).is_none_or(|v| v != "1") {
        let src = root.join("no-std-source");
        std::fs::create_dir_all(src.join("core"))?;
        set("RUST_SRC_PATH", src.into_os_string());
    }
    let config = config_dir();
    std::fs::create_dir_all(&config)?;
    let toml = config.join("evcxr.toml");
    if std::fs::read_to_string(&toml).ok().as_deref() != Some(EVCXR_TOML) {
        std::fs::write(&toml, EVCXR_TOML)?;
    }
    set("EVCXR_CONFIG_DIR", config.into_os_string());
    set("CARGO_ENCODED_RUSTFLAGS", encoded_rustflags(prebuilt).into());
    // The cache root is writable wherever the kernel runs (slots live there); a temporary
    // folder of this user's is the fallback, so the builder never stops the kernel's start.
    // SAFETY: getuid cannot fail.
    let fallback = std::env::temp_dir().join(format!("rust-concurrency-{}", unsafe { libc::getuid() }));
    let builder = super::cell_build::install(&root).or_else(|_| super::cell_build::install(&fallback))?;
    prepend_to_path(builder)?;
    set(super::cell_build::BUILDER_ENV, "1".into());
    // The build store's key names the compiler (one `rustc -vV` per start, not per build).
    if let Some(id) = super::build_store::rustc_identity() {
        set(super::build_store::RUSTC_ID_ENV, id.into());
    }
    Ok(())
}

/// Environment variable listing the folders the kernel put in front of PATH.
const PATH_ADDED_ENV: &str = "RUST_CONCURRENCY_PATH_ADDED";

/// The active toolchain's folders, from one `rustc --print sysroot --print target-libdir` run
/// (through rustup's proxy, so the toolchain rustup picks) in [`bypass_rustup`].
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub sysroot: PathBuf,
    /// `<sysroot>/lib/rustlib/<host>/lib`, where `libstd-*.so` is.
    pub target_libdir: PathBuf,
}

static TOOLCHAIN: std::sync::OnceLock<Option<Toolchain>> = std::sync::OnceLock::new();

/// The toolchain found by [`bypass_rustup`] (asked for then if not yet).
pub fn toolchain() -> Option<&'static Toolchain> {
    TOOLCHAIN.get_or_init(find_toolchain).as_ref()
}

fn find_toolchain() -> Option<Toolchain> {
    let out = std::process::Command::new("rustc").args(["--print", "sysroot", "--print", "target-libdir"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let (sysroot, target_libdir) = (lines.next()?, lines.next()?);
    Some(Toolchain { sysroot: PathBuf::from(sysroot), target_libdir: PathBuf::from(target_libdir) })
}

static VERSION: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();

/// `rustc -vV`'s output, run once per process: the build store's key and the prebuilt support
/// crate's key both name the compiler by it, and each rustc run is one more process loading
/// the compiler during a start (not timed on its own).
pub fn rustc_version_verbose() -> Option<&'static [u8]> {
    VERSION
        .get_or_init(|| {
            let out = std::process::Command::new("rustc").arg("-vV").output().ok()?;
            out.status.success().then_some(out.stdout)
        })
        .as_deref()
}

/// Puts the active toolchain's `bin/` (where rustup's proxies lead) first on PATH. Call first
/// thing in the evaluator, before anything runs rustc, while no other thread reads the
/// environment. Without rustup, or when the folder lacks `rustc` or `cargo`, PATH stays.
pub fn bypass_rustup() {
    let Some(tc) = toolchain() else { return };
    let bin = tc.sysroot.join("bin");
    if bin.join("rustc").is_file() && bin.join("cargo").is_file() {
        let _ = prepend_to_path(bin);
    }
}

fn prepend_to_path(dir: PathBuf) -> anyhow::Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir.clone()];
    dirs.extend(std::env::split_paths(&path));
    set("PATH", std::env::join_paths(dirs)?);
    let added = std::env::var_os(PATH_ADDED_ENV).unwrap_or_default();
    let mut list: Vec<PathBuf> = std::env::split_paths(&added).collect();
    list.push(dir);
    set(PATH_ADDED_ENV, std::env::join_paths(list)?);
    Ok(())
}

/// Where the kernel's `evcxr.toml` lives (never a folder the student works in).
fn config_dir() -> PathBuf {
    cache_slot::root().join("evcxr-config")
}

/// Runs `f` (evcxr's start) with the kernel's config folder as working directory, so that an
/// `evcxr.toml` in the student's folder is not read; the runtime evcxr starts meanwhile changes
/// back to the student's folder itself ([`enter_cell_dir`]).
pub fn in_config_dir<T>(f: impl FnOnce() -> T) -> T {
    let Ok(cwd) = std::env::current_dir() else { return f() };
    set(CELL_DIR_ENV, cwd.clone().into_os_string());
    if std::env::set_current_dir(config_dir()).is_err() {
        return f();
    }
    let out = f();
    let _ = std::env::set_current_dir(&cwd);
    out
}

/// In the runtime: back to the folder the kernel was started in.
pub fn enter_cell_dir() {
    if let Some(dir) = std::env::var_os(CELL_DIR_ENV) {
        let _ = std::env::set_current_dir(dir);
    }
}

/// The flags every cell's rustc gets. They replace evcxr's `RUSTFLAGS` (`-Cprefer-dynamic`,
/// plus `-Clink-arg=-fuse-ld=lld` only when lld is its linker, which [`LINKER_COMMAND`] rules
/// out), add the support crate, then link with the toolchain's own lld ([`lld_flags`]).
pub fn rustflags(prebuilt: &Prebuilt) -> Vec<String> {
    let mut flags = vec![
        "-Cprefer-dynamic".to_string(),
        "--extern".to_string(),
        format!("multiproc={}", prebuilt.rlib.display()),
        "-L".to_string(),
        format!("dependency={}", prebuilt.deps.display()),
    ];
    for (name, rlib) in &prebuilt.externs {
        flags.push("--extern".to_string());
        flags.push(format!("{name}={}", rlib.display()));
    }
    flags.extend(toolchain().map(lld_flags).unwrap_or_default());
    flags
}

/// Linking a cell with the toolchain's `rust-lld` rather than the system's `ld` (≈ 11 ms of
/// the ≈ 39 ms link saved per cell): `cc` finds the `ld.lld` of the toolchain's `gcc-ld/`
/// folder through `-B` (stable rustc; `-Zgcc-ld` and `-Clink-self-contained=+linker` are
/// nightly-only), and one linker thread is faster for a library this small. Nothing when the
/// toolchain has no lld (today's linker then).
pub fn lld_flags(tc: &Toolchain) -> Vec<String> {
    let gcc_ld = tc.target_libdir.parent().map(|host| host.join("bin").join("gcc-ld"));
    match gcc_ld.filter(|d| d.join("ld.lld").is_file()) {
        Some(dir) => ["-B".to_string() + &dir.display().to_string(), "-fuse-ld=lld".to_string(), "-Wl,--threads=1".to_string()]
            .into_iter()
            .map(|a| format!("-Clink-arg={a}"))
            .collect(),
        None => Vec::new(),
    }
}

/// [`rustflags`] in cargo's encoding (separated by 0x1f).
fn encoded_rustflags(prebuilt: &Prebuilt) -> String {
    rustflags(prebuilt).join("\u{1f}")
}

/// In the runtime: the folders the kernel put on PATH (the cell builder's, the toolchain's)
/// off it again and the builder's marker out of the environment, so that what a cell runs
/// sees the PATH the kernel was started with.
pub fn leave_builder_env() {
    let added: Vec<PathBuf> = std::env::var_os(PATH_ADDED_ENV).map(|a| std::env::split_paths(&a).collect()).unwrap_or_default();
    if let Some(path) = std::env::var_os("PATH") {
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        // Each was put first, once.
        for dir in added.iter().rev() {
            if dirs.first() == Some(dir) {
                dirs.remove(0);
            }
        }
        if let Ok(joined) = std::env::join_paths(dirs) {
            set("PATH", joined);
        }
    }
    // SAFETY: called at the runtime's start, before it starts any thread.
    unsafe {
        std::env::remove_var(super::cell_build::BUILDER_ENV);
        std::env::remove_var(PATH_ADDED_ENV);
    }
}

fn set(name: &str, value: OsString) {
    // SAFETY: called before evcxr starts, while no other thread reads the environment.
    unsafe { std::env::set_var(name, value) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_keep_evcxrs_flag_and_add_the_support_crate() {
        let p = Prebuilt { rlib: PathBuf::from("/d/libmultiproc-1.rlib"), deps: PathBuf::from("/d/deps"), externs: vec![] };
        assert_eq!(
            encoded_rustflags(&p),
            ["-Cprefer-dynamic\u{1f}--extern\u{1f}multiproc=/d/libmultiproc-1.rlib\u{1f}-L\u{1f}dependency=/d/deps"]
                .into_iter()
                .chain(toolchain().map(lld_flags).unwrap_or_default().iter().map(|f| f.as_str()))
                .collect::<Vec<_>>()
                .join("\u{1f}")
        );
    }

    #[test]
    fn cells_link_with_the_toolchains_lld_when_it_has_one() {
        let tc = toolchain().expect("rustc on PATH");
        let flags = lld_flags(tc);
        let host = tc.target_libdir.parent().unwrap();
        assert_eq!(flags.len(), 3, "this toolchain ships gcc-ld/ld.lld: {flags:?}");
        assert_eq!(flags[0], format!("-Clink-arg=-B{}", host.join("bin/gcc-ld").display()));
        let none = Toolchain { sysroot: PathBuf::from("/none"), target_libdir: PathBuf::from("/none/lib/rustlib/x/lib") };
        assert!(lld_flags(&none).is_empty(), "no lld: today's linker");
    }
}
