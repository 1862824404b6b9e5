//! Command line: `rust-concurrency-kernel --connection-file F` runs the kernel;
//! `install` / `uninstall` manage its kernelspec.

use crate::evaluation::{EvalConfig, completion};
use crate::install::{self, Location};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "rust-concurrency-kernel",
    version,
    about = "A Jupyter kernel for learning concurrency in Rust"
)]
struct Cli {
    /// The connection file written by Jupyter (runs the kernel).
    #[arg(long = "connection-file", short = 'f', value_name = "FILE")]
    connection_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the kernelspec `rust-concurrency` and warms the compile cache.
    Install {
        #[command(flatten)]
        location: LocationArgs,
        /// The support crate to preload (default: $MULTIPROC_SUPPORT_CRATE, else the
        /// repository's support-crate/ next to this binary).
        #[arg(long, value_name = "PATH")]
        support_crate: Option<PathBuf>,
        /// Skip compiling the support crate and a first cell now.
        #[arg(long)]
        no_warm_up: bool,
    },
    /// Removes the kernelspec `rust-concurrency`.
    Uninstall {
        #[command(flatten)]
        location: LocationArgs,
    },
    /// Writes the completion index of std and the support crate into DIR (used by the
    /// installer, and by the kernel when no index is installed).
    #[command(hide = true)]
    BuildIndex {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The toolchain's `library/` folder (default: from `rustc --print sysroot`).
        #[arg(long, value_name = "DIR")]
        std_library: Option<PathBuf>,
        /// The support crate (default: as for `install`).
        #[arg(long, value_name = "PATH")]
        support_crate: Option<PathBuf>,
    },
}

#[derive(Args)]
#[group(multiple = false)]
struct LocationArgs {
    /// Install for this user (the default): ~/.local/share/jupyter.
    #[arg(long)]
    user: bool,
    /// Install into the prefix of the `python3` on PATH (a virtualenv or conda env).
    #[arg(long)]
    sys_prefix: bool,
    /// Install into DIR/share/jupyter.
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
}

impl LocationArgs {
    fn location(&self) -> Location {
        if let Some(p) = &self.prefix {
            Location::Prefix(p.clone())
        } else if self.sys_prefix {
            Location::SysPrefix
        } else {
            Location::User
        }
    }
}

/// Parses the command line and runs the kernel or the installer.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match (cli.command, cli.connection_file) {
        (
            Some(Command::Install {
                location,
                support_crate,
                no_warm_up,
            }),
            _,
        ) => {
            let support = match support_crate {
                Some(p) => Some(std::path::absolute(&p)?),
                None => install::default_support_crate(),
            };
            let dir = install::install(&location.location(), support.as_deref())?;
            println!("Installed kernelspec rust-concurrency in {}", dir.display());
            if !no_warm_up {
                // The completion index lives beside the prebuilt support crate, outside $HOME;
                // without it the kernel builds one into the cache on first use.
                let index = install::kernel_data_dir(&location.location())?.join("index");
                match (completion::std_library_dir(), support.as_ref()) {
                    (Some(std_library), Some(support)) => {
                        let started = std::time::Instant::now();
                        completion::build_index(&index, &std_library, &support.join("src"))?;
                        println!("Wrote the completion index to {} in {:.1?}", index.display(), started.elapsed());
                    }
                    _ => eprintln!("warning: no completion index written (std's sources or the support crate not found)"),
                }
                println!("Warming the compile cache (compiles the support crate once)...");
                crate::evaluation::warm_up(&EvalConfig { support_crate: support })?;
                // Lesson 28 builds its programs against rsmpi in the cache: build rsmpi now
                // (minutes) rather than in the lesson's first cell. Only where an MPI is installed.
                if which("mpiexec") {
                    println!("Building the MPI bindings for lesson 28 (once)...");
                    if let Err(e) = multiproc::mpi::warm() {
                        eprintln!("warning: the MPI bindings did not build; lesson 28's first cell will try again:\n{e}");
                    }
                }
                println!("Done.");
            }
            Ok(())
        }
        (Some(Command::Uninstall { location }), _) => {
            let dir = install::uninstall(&location.location())?;
            println!("Removed kernelspec {}", dir.display());
            Ok(())
        }
        (Some(Command::BuildIndex { out, std_library, support_crate }), _) => {
            let std_library = std_library
                .or_else(completion::std_library_dir)
                .ok_or_else(|| anyhow::anyhow!("std's sources not found: install them with `rustup component add rust-src`"))?;
            let support = support_crate
                .or_else(install::default_support_crate)
                .ok_or_else(|| anyhow::anyhow!("the support crate was not found: give --support-crate PATH"))?;
            let started = std::time::Instant::now();
            completion::build_index(&out, &std_library, &support.join("src"))?;
            println!("Wrote the completion index to {} in {:.1?}", out.display(), started.elapsed());
            Ok(())
        }
        (None, Some(file)) => super::shell::run(
            &file,
            EvalConfig {
                support_crate: install::default_support_crate(),
            },
        ),
        (None, None) => anyhow::bail!("give --connection-file FILE to run the kernel, or `install` (see --help)"),
    }
}

/// True if `program` is a file in one of `PATH`'s folders.
fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}
