//! Index and query tests on small crates written here, and on the toolchain's std when its
//! sources are installed.

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A miniature std (core, alloc, std) and support crate with the shapes the real ones use.
fn mini() -> (PathBuf, Table) {
    let dir = std::env::temp_dir().join(format!("rc-completion-test-{}", std::process::id()));
    let lib = dir.join("library");
    write(&lib, "core/src/lib.rs", "pub mod prelude;\npub mod clone;\npub mod fmt;\npub mod convert { pub trait Into<T> { fn into(self) -> T; } pub trait TryInto<T> { fn try_into(self) -> T; } }\n");
    write(&lib, "core/src/prelude/mod.rs", "pub mod v1 { pub use crate::clone::Clone; pub use crate::convert::{Into, TryInto}; }\n");
    write(&lib, "core/src/clone.rs", "/// Explicit copies.\npub trait Clone { /// Copies.\n fn clone(&self) -> Self; }\n");
    write(&lib, "core/src/fmt/mod.rs", "pub trait Display { fn fmt(&self); }\n");
    write(&lib, "core/src/str/mod.rs", "");
    write(&lib, "alloc/src/lib.rs", "pub mod vec;\npub mod string;\npub mod sync;\nmod borrow { pub trait ToOwned { fn to_owned(&self); } }\n");
    write(&lib, "alloc/src/vec/mod.rs", "/// A growable array.\npub struct Vec<T> { buf: T }\nimpl<T> Vec<T> {\n/// An empty vector.\npub const fn new() -> Self { loop {} }\npub fn with_capacity(n: usize) -> Vec<T> { loop {} }\npub fn push(&mut self, x: T) {}\nfn grow(&mut self) {}\n}\nimpl<T> core::ops::Deref for Vec<T> { type Target = [T]; }\nimpl<T: Clone> Clone for Vec<T> { fn clone(&self) -> Self { loop {} } }\nimpl<T> [T] { pub fn iter(&self) -> Iter<T> { loop {} } pub fn len(&self) -> usize { 0 } }\npub struct Iter<T>(T);\n");
    write(&lib, "alloc/src/string.rs", "pub struct String;\nimpl String { pub fn from(s: &str) -> String { String } }\nimpl core::fmt::Display for String { fn fmt(&self) {} }\nimpl core::ops::Deref for String { type Target = str; }\nimpl str { pub fn trim(&self) -> &str { self } pub fn to_uppercase(&self) -> String { String } }\npub trait ToString { fn to_string(&self) -> String; }\n");
    write(&lib, "alloc/src/sync.rs", "pub struct Arc<T>(T);\nimpl<T> Arc<T> { pub fn new(x: T) -> Arc<T> { loop {} } }\nimpl<T> Clone for Arc<T> { fn clone(&self) -> Self { loop {} } }\n");
    write(&lib, "std/src/lib.rs", "extern crate alloc as alloc_crate;\npub mod prelude;\npub mod sync;\npub mod thread;\npub mod collections;\npub use alloc_crate::{vec, string};\n#[macro_export]\n/// Prints a line.\nmacro_rules! println { () => {} }\n#[doc(hidden)] pub fn __private() {}\n");
    write(&lib, "std/src/prelude/mod.rs", "pub mod v1 { pub use core::prelude::v1::*; pub use alloc_crate::vec::Vec; pub use alloc_crate::string::{String, ToString}; }\npub mod rust_2024 { pub use super::v1::*; }\n");
    write(&lib, "std/src/sync/mod.rs", "pub use alloc_crate::sync::Arc;\npub mod mpsc { pub fn channel() {} }\n");
    write(&lib, "std/src/thread/mod.rs", "mod functions;\npub use functions::{spawn, sleep};\npub fn scope() {}\n");
    write(&lib, "std/src/thread/functions.rs", "/// Starts a thread.\npub fn spawn() {}\npub fn sleep() {}\n");
    write(&lib, "std/src/collections/mod.rs", "mod hash;\npub use self::hash_map::HashMap;\npub mod hash_map { pub use super::hash::map::*; }\n");
    write(&lib, "std/src/collections/hash/mod.rs", "pub mod map;\n");
    write(&lib, "std/src/collections/hash/map.rs", "pub struct HashMap<K, V>(K, V);\nimpl<K, V> HashMap<K, V> { pub fn new() -> HashMap<K, V> { loop {} } }\n");
    let sup = dir.join("support");
    write(&sup, "lib.rs", "mod process;\nmod queue;\npub mod prelude { pub use crate::process::*; pub use crate::queue::*; }\n");
    write(&sup, "process.rs", "/// A process.\npub struct Process { _items: u8 }\nimpl Process {\n/// Creates a process that will run `target`.\npub fn new<F: FnOnce()>(target: F) -> Process { loop {} }\npub fn start(&mut self) {}\n}\npub struct ProcessInfo;\nimpl ProcessInfo { pub fn name(&self) -> String { loop {} } }\npub fn current_process() -> ProcessInfo { ProcessInfo }\n");
    write(&sup, "queue.rs", "pub struct Queue<T> { ring: T }\nimpl<T> Queue<T> { pub fn new() -> Self { loop {} }\n/// Puts an item.\npub fn put(&self, x: T) {} pub fn get(&self) -> T { loop {} } }\n");
    let out = dir.join("index");
    build_index(&out, &lib, &sup).unwrap();
    let t = index::load(&out).unwrap();
    assert!(t.is_fresh() && t.sources.len() == 3 + 3, "{:?}", t.sources);
    (dir, t)
}

fn names(t: &Table, code: &str, known: &Known) -> Vec<String> {
    complete_in(t, code, code.len(), known).matches
}

#[test]
fn paths_methods_and_scope_from_a_mini_std() {
    let (dir, t) = mini();
    let none = Known::default();
    let has = |code: &str, want: &str, known: &Known| {
        let got = names(&t, code, known);
        assert!(got.iter().any(|n| n == want), "{code:?}: {want} not in {got:?}");
        assert!(!got.iter().any(|n| n.starts_with('_') || n == "ring" || n == "grow"), "{code:?}: private name in {got:?}");
        got
    };
    assert_eq!(has("Proc", "Process", &none)[0], "Process");
    has("Process::ne", "new", &none);
    has("Queue::ne", "new", &none);
    has("std::sync::", "Arc", &none);
    has("std::sync::", "mpsc", &none);
    has("std::thread::sp", "spawn", &none);
    has("std::collections::Hash", "HashMap", &none);
    has("use std::collections::HashMap;\nlet m = HashMap::ne", "new", &none);
    has("Vec::with_", "with_capacity", &none);
    has("Arc::cl", "clone", &none);
    has("println", "println!", &none);
    has("let v = Vec::new();\nv.pu", "push", &none);
    has("let v = Vec::new();\nv.it", "iter", &none);
    has("let s = String::from(\"a\");\ns.tri", "trim", &none);
    has("let s = String::from(\"a\");\ns.to_s", "to_string", &none);
    has("\"abc\".to_up", "to_uppercase", &none);
    has("current_process().na", "name", &none);
    let known = Known { variables: vec![("q".into(), "multiproc::queue::Queue<i32>".into()), ("v".into(), "Vec<i32>".into())], items: vec![] };
    has("q.ge", "get", &known);
    has("v.pu", "push", &known);
    has("v.cl", "clone", &known);
    has("q", "q", &known);
    let ctx = query::context("q.ri", 2);
    assert!(complete_in(&t, "q.ri", 4, &known).matches.is_empty(), "{ctx:?}");
    // Inspection: a path, a method of a variable, the callee of an open call.
    let doc = inspect_in(&t, "Process::new", 10, &none).unwrap();
    assert!(doc.contains("pub fn new<F: FnOnce()>(target: F) -> Process") && doc.contains("Creates a process"), "{doc}");
    let doc = inspect_in(&t, "q.put(1)", 3, &known).unwrap();
    assert!(doc.contains("Puts an item"), "{doc}");
    let doc = inspect_in(&t, "let p = Process::new(", 21, &none).unwrap();
    assert!(doc.contains("Creates a process"), "{doc}");
    let doc = inspect_in(&t, "std::thread::spawn", 15, &none).unwrap();
    assert!(doc.starts_with("std::thread::spawn\n"), "{doc}");
    // A changed support-crate file makes the index stale.
    let changed = std::fs::File::options().write(true).open(dir.join("support/queue.rs")).unwrap();
    changed.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1)).unwrap();
    assert!(!t.is_fresh());
    // Every cursor position of a cell with non-ASCII text, strings and brackets answers.
    let cell = "let s = \"héllo ({[\";\nlet v = vec![1, 2];\nfor x in v.iter().map(|y| y * 2) { println!(\"{x} ü\"); }\nq.put(s.len()).";
    for (i, _) in cell.char_indices().chain([(cell.len(), ' ')]) {
        let _ = complete_in(&t, cell, i, &known);
        let _ = inspect_in(&t, cell, i, &known);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real std, when the toolchain has its sources: the paths students write are found.
#[test]
fn real_std_index() {
    let Some(lib) = std_library_dir() else { return };
    let dir = std::env::temp_dir().join(format!("rc-completion-std-{}", std::process::id()));
    let sup = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../support-crate/src");
    build_index(&dir, &lib, &sup).unwrap();
    let t = index::load(&dir).unwrap();
    let known = Known {
        variables: vec![("v".into(), "alloc::vec::Vec<i32>".into()), ("s".into(), "String".into()), ("n".into(), "u64".into())],
        items: vec!["thread".into()],
    };
    for (code, want) in [
        ("std::sync::", "Arc"),
        ("std::sync::", "Mutex"),
        ("std::collections::", "HashMap"),
        ("std::thread::sp", "spawn"),
        ("std::time::Dur", "Duration"),
        ("HashMap::ne", "new"),
        ("String::fr", "from"),
        ("Vec::with_", "with_capacity"),
        ("Arc::cl", "clone"),
        ("v.pu", "push"),
        ("v.it", "iter"),
        ("s.tri", "trim"),
        ("\"abc\".to_up", "to_uppercase"),
        ("println", "println!"),
        ("Proc", "Process"),
        ("Process::ne", "new"),
        ("sle", "sleep"),
        ("thread::sc", "scope"),
        ("Lo", "Lock"),
        ("current_process().", "name"),
        ("n.po", "pow"),
        ("n.to_st", "to_string"),
        ("n.ma", "max"),
        ("u32::MA", "MAX"),
        ("2.0f64.sq", "sqrt"),
    ] {
        let got = names(&t, code, &known);
        assert!(got.iter().take(10).any(|n| n == want), "{code:?}: {want} not in top 10 of {got:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}


