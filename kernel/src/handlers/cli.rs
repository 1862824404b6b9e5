//! Command line: `rust-concurrency-kernel --connection-file F` or `rust-concurrency-kernel install`.

/// Parses the command line and runs the kernel or the installer.
pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
