//! `rust-concurrency-kernel install`: kernelspec, logos, and a warmed compile cache.

use serde_json::json;
use std::path::{Path, PathBuf};

/// The kernelspec's directory name (what `--kernel rust-concurrency` selects).
pub const KERNEL_NAME: &str = "rust-concurrency";

/// Where a kernelspec goes.
pub enum Location {
    /// The user's Jupyter data directory.
    User,
    /// `sys.prefix` of the `python3` on PATH.
    SysPrefix,
    /// An explicit prefix: `<prefix>/share/jupyter`.
    Prefix(PathBuf),
}

/// The logos, compiled into the binary so an installed kernel needs no other files.
const LOGOS: [(&str, &[u8]); 3] = [
    ("logo-32x32.png", include_bytes!("../resources/logo-32x32.png")),
    ("logo-64x64.png", include_bytes!("../resources/logo-64x64.png")),
    ("logo-svg.svg", include_bytes!("../resources/logo-svg.svg")),
];

/// The Jupyter data directory for `location`.
pub fn data_dir(location: &Location) -> anyhow::Result<PathBuf> {
    Ok(match location {
        Location::Prefix(p) => std::path::absolute(p)?.join("share").join("jupyter"),
        Location::SysPrefix => {
            let out = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.prefix)"])
                .output()
                .map_err(|e| anyhow::anyhow!("--sys-prefix needs python3 on PATH: {e}"))?;
            anyhow::ensure!(out.status.success(), "python3 failed to print sys.prefix");
            PathBuf::from(String::from_utf8(out.stdout)?.trim())
                .join("share")
                .join("jupyter")
        }
        Location::User => {
            // The same rules as jupyter_core on Linux.
            if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR") {
                PathBuf::from(d)
            } else if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
                PathBuf::from(d).join("jupyter")
            } else {
                let home = std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("HOME is not set"))?;
                PathBuf::from(home).join(".local").join("share").join("jupyter")
            }
        }
    })
}

/// The kernel's own data folder for `location`: `rust-concurrency/` beside the Jupyter data
/// directory (`<prefix>/share/rust-concurrency`), never under the cache in `$HOME` (Binder and
/// JupyterHub mount an empty home). Holds `prebuilt/` (the support crate built for cells) and
/// other install-time data; the kernel finds it through kernel.json's
/// `RUST_CONCURRENCY_DATA` (see `evaluation::toolchain::data_dir`).
pub fn kernel_data_dir(location: &Location) -> anyhow::Result<PathBuf> {
    let jupyter = data_dir(location)?;
    Ok(jupyter.parent().unwrap_or(&jupyter).join("rust-concurrency"))
}

/// The support crate to preload: `$MULTIPROC_SUPPORT_CRATE`, else `support-crate/` of the
/// repository this binary was built in (`target/release/../../support-crate`).
pub fn default_support_crate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MULTIPROC_SUPPORT_CRATE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let candidate = exe.parent()?.parent()?.parent()?.join("support-crate");
    candidate.join("Cargo.toml").is_file().then_some(candidate)
}

/// Writes `kernel.json` and the logos, and builds the support crate for cells into the data
/// folder (cached, so a second install is instant); returns the kernelspec directory.
pub fn install(location: &Location, support_crate: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = data_dir(location)?.join("kernels").join(KERNEL_NAME);
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?.canonicalize()?;
    let mut env = serde_json::Map::new();
    let data = kernel_data_dir(location)?;
    env.insert(crate::evaluation::toolchain::DATA_ENV.into(), json!(data));
    match support_crate {
        Some(p) => {
            env.insert("MULTIPROC_SUPPORT_CRATE".into(), json!(std::path::absolute(p)?));
            if p.join("Cargo.toml").is_file() {
                crate::evaluation::prebuilt::install_into(p, &data.join("prebuilt"))?;
            } else {
                eprintln!("warning: no Cargo.toml in {}; the kernel will build the support crate when it starts", p.display());
            }
        }
        None => eprintln!("warning: support crate not found; set MULTIPROC_SUPPORT_CRATE or pass --support-crate"),
    }
    let spec = json!({
        "argv": [exe, "--connection-file", "{connection_file}"],
        "display_name": "Rust (concurrency lessons)",
        "language": "rust",
        "interrupt_mode": "message",
        "env": env,
        "metadata": { "debugger": false },
    });
    std::fs::write(dir.join("kernel.json"), serde_json::to_string_pretty(&spec)? + "\n")?;
    for (name, bytes) in LOGOS {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(dir)
}

/// Removes the kernelspec directory; returns it.
pub fn uninstall(location: &Location) -> anyhow::Result<PathBuf> {
    let dir = data_dir(location)?.join("kernels").join(KERNEL_NAME);
    anyhow::ensure!(dir.join("kernel.json").is_file(), "no kernelspec at {}", dir.display());
    std::fs::remove_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_and_uninstall_in_a_prefix() {
        let prefix = std::env::temp_dir().join(format!("rck-install-test-{}", std::process::id()));
        let loc = Location::Prefix(prefix.clone());
        let dir = install(&loc, Some(Path::new("/opt/support"))).unwrap();
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap()).unwrap();
        assert_eq!(spec["argv"][1], "--connection-file");
        assert_eq!(spec["interrupt_mode"], "message");
        assert_eq!(spec["env"]["MULTIPROC_SUPPORT_CRATE"], "/opt/support");
        assert_eq!(spec["env"]["RUST_CONCURRENCY_DATA"], json!(prefix.join("share").join("rust-concurrency")));
        assert!(dir.join("logo-64x64.png").is_file());
        uninstall(&loc).unwrap();
        assert!(!dir.exists());
        std::fs::remove_dir_all(prefix).unwrap();
    }
}
