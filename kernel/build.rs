//! Exports the exec functions the kernel defines (`src/evaluation/exec_guard.rs`) from the
//! binary, so that the cells' shared libraries, loaded into the runtime process, link to them
//! ahead of libc's. Only these names: exporting everything (`-rdynamic`) would also hand the
//! cells this binary's allocator and Rust symbols.
fn main() {
    let names = ["execv", "execve", "execvp", "execvpe", "fexecve"];
    let list: Vec<String> = names.iter().map(|n| format!("--export-dynamic-symbol={n}")).collect();
    println!("cargo::rustc-link-arg-bin=rust-concurrency-kernel=-Wl,{}", list.join(","));
    println!("cargo::rerun-if-changed=build.rs");
}
