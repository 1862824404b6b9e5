//! Exports the C library functions the runtime wraps (`supervision/thread_writer.rs`) from the
//! kernel binary, so that the cells' `libstd`, loaded later, binds its calls to them.
//! `--export-dynamic-symbol` needs GNU ld 2.35 or later (Debian bookworm has 2.40), lld or mold.

fn main() {
    for symbol in ["write", "writev", "pthread_create", "dup2", "dup3", "close"] {
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol={symbol}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
