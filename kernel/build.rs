//! Exports from the kernel binary the C library functions it defines itself, so that the cells'
//! shared libraries (their `libstd`, `nix`, `libc`), loaded later into the runtime process, bind
//! their calls to them ahead of libc's. Only these names: exporting everything (`-rdynamic`)
//! would also hand the cells this binary's allocator and Rust symbols.
//! - `write`, `writev`, `pthread_create`, `dup2`, `dup3`, `close`: a thread's output goes to the
//!   cell that started it (`supervision/thread_writer.rs`);
//! - `execv`, `execve`, `execvp`, `execvpe`, `fexecve`: a cell that execs in the notebook's own
//!   process is named in one clear error (`evaluation/exec_guard.rs`).
//!
//! `--export-dynamic-symbol` needs GNU ld 2.35 or later (Debian bookworm has 2.40), lld or mold.

const EXPORTED: [&str; 11] =
    ["write", "writev", "pthread_create", "dup2", "dup3", "close", "execv", "execve", "execvp", "execvpe", "fexecve"];

fn main() {
    let list: Vec<String> = EXPORTED.iter().map(|n| format!("--export-dynamic-symbol={n}")).collect();
    println!("cargo::rustc-link-arg-bin=rust-concurrency-kernel=-Wl,{}", list.join(","));
    println!("cargo::rerun-if-changed=build.rs");
}
