//! `rust-concurrency-kernel`: a Jupyter kernel for learning concurrency in Rust.
//!
//! Layers, one folder each:
//! - [`wire`]: the Jupyter wire protocol (connection file, ZeroMQ sockets, signed messages,
//!   heartbeat, the IOPub publisher);
//! - [`handlers`]: one handler per request type (execute, complete, inspect, …);
//! - [`evaluation`]: compiling and running cells with evcxr, and the runtime process that
//!   loads them;
//! - [`supervision`]: every process a cell starts, its output, its exit, interrupts and cleanup.

mod evaluation;
mod handlers;
mod install;
mod supervision;
mod wire;

fn main() {
    // evcxr starts this same binary as the process that runs user code (and as a rustc
    // wrapper), the kernel as the cell builder evcxr runs cargo through (under the name
    // `mold`, see evaluation/cell_build.rs). Those roles are decided by the program's name and
    // environment variables and never return.
    evaluation::cell_build::run_if_cell_builder();
    evaluation::runtime::run_if_runtime();
    evcxr::runtime_hook();
    std::process::exit(match handlers::cli::run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rust-concurrency-kernel: {e:#}");
            1
        }
    });
}
