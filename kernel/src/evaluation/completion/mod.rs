//! Completion and inspection from an index of the public items of std and the support crate.
//!
//! rust-analyzer (inside evcxr) no longer analyses std: a resident analysis costs hundreds of
//! MB. Instead `build_index` reads std's and the support crate's sources once (at install time,
//! or on first use into the cache) into a compact index; the kernel loads it on the first
//! completion or inspection and answers paths (`std::sync::`), names in scope (`Proc`),
//! associated items (`Process::ne`) and methods of a variable's type (`v.pu`) from it. The
//! student's own names come from the cell's code and from evcxr's record of earlier cells;
//! evcxr's completions are asked where the index cannot tell (methods of the student's types).

pub mod index;
pub mod parse;
pub mod query;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

pub use index::Table;
use parse::{Kind, Raw, type_path};
use query::{CellScope, Ctx, Step};

/// Reads std (`std_library`: the toolchain's `library/` folder with `core`, `alloc`, `std`) and
/// the support crate (`support_src`: its `src/`) and writes the index into `out_dir`.
pub fn build_index(out_dir: &Path, std_library: &Path, support_src: &Path) -> anyhow::Result<()> {
    let mut raw = Raw::default();
    for name in ["std", "core", "alloc"] {
        raw.add_crate(name, &std_library.join(name).join("src").join("lib.rs"))?;
    }
    raw.add_crate("multiproc", &support_src.join("lib.rs"))?;
    // The support crate's files are checked for changes when an index from the cache is
    // loaded (std's change only with the toolchain: their roots stand for them).
    let support = raw.files.iter().filter(|f| f.starts_with(support_src));
    let roots = ["std", "core", "alloc"].map(|c| std_library.join(c).join("src").join("lib.rs"));
    let sources = support.cloned().chain(roots).filter_map(|f| index::modified(&f).map(|t| (f, t))).collect();
    let (mut table, details) = index::resolve(raw);
    table.sources = sources;
    index::save(out_dir, &table, &details)
}

/// The toolchain's std sources (the `rust-src` component), if installed.
pub fn std_library_dir() -> Option<PathBuf> {
    let lib = crate::evaluation::toolchain::toolchain()?.sysroot.join("lib/rustlib/src/rust/library");
    lib.join("std/src/lib.rs").is_file().then_some(lib)
}

/// Where an index may be: the installed one, then the one built on first use.
fn index_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // The installed data folder's `index/` (written at install time), see toolchain::data_dir.
    if let Some(d) = super::toolchain::data_dir() {
        dirs.push(d.join("index"));
    }
    dirs.push(super::cache_slot::root().join("index"));
    dirs
}

static INDEX: OnceLock<Table> = OnceLock::new();
static BUILDING: AtomicBool = AtomicBool::new(false);

/// The index, loaded on first use. Without an installed one it is built into the cache by a
/// child process (`build-index`, so parsing std never grows the kernel's own memory), in the
/// background: until it is there (some seconds), completion is evcxr's alone.
fn table() -> Option<&'static Table> {
    if let Some(t) = INDEX.get() {
        return Some(t);
    }
    let dirs = index_dirs();
    let cache = dirs.last()?.clone();
    let found = dirs.iter().find_map(|d| index::load(d).map(|t| (d, t)));
    // One built on first use is rebuilt when the support crate's sources changed since (a
    // development checkout); the stale one answers until the next kernel start.
    let stale = found.as_ref().is_some_and(|(d, t)| **d == cache && !t.is_fresh());
    if (found.is_none() || stale) && !BUILDING.swap(true, Ordering::SeqCst) {
        std::thread::spawn(move || {
            let status = std::env::current_exe().and_then(|exe| {
                std::process::Command::new(exe).arg("build-index").arg("--out").arg(&cache).stdout(std::process::Stdio::null()).status()
            });
            // Ended by a signal: the kernel shut down meanwhile (its children are stopped).
            let stopped = status.as_ref().is_ok_and(|s| std::os::unix::process::ExitStatusExt::signal(s).is_some());
            if !stopped && !status.is_ok_and(|s| s.success()) {
                eprintln!("completion index: could not build one in {} (is the rust-src component installed?)", cache.display());
            }
        });
    }
    let (_, t) = found?;
    Some(INDEX.get_or_init(|| t))
}

/// What the evaluator knows about the session: persisted variables with their types, and the
/// names of the items and imports earlier cells defined.
#[derive(Default)]
pub struct Known {
    pub variables: Vec<(String, String)>,
    pub items: Vec<String>,
}

impl Known {
    pub fn of(ctx: &evcxr::CommandContext) -> Known {
        Known {
            variables: ctx.variables_and_types().map(|(n, t)| (n.to_string(), t.to_string())).collect(),
            items: ctx.defined_item_names().map(str::to_string).collect(),
        }
    }
}

/// Completions for the word before the cursor.
pub struct Suggestions {
    /// Byte range the matches replace.
    pub start: usize,
    pub end: usize,
    pub matches: Vec<String>,
    /// True when the index answered: evcxr's answer would add nothing.
    pub complete: bool,
}

/// Names that are the kernel's own plumbing or private, never offered.
fn hidden(name: &str) -> bool {
    name.starts_with('_') || name.contains("evcxr") || name == "KernelShowFinalValue" || name == super::runtime::FLUSH_SYMBOL
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match",
    "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while",
];

/// Looks things up in the index for one request.
struct Lookup<'a> {
    t: &'a Table,
    known: &'a Known,
    cell: CellScope,
}

impl<'a> Lookup<'a> {
    fn new(t: &'a Table, known: &'a Known, before: &str) -> Lookup<'a> {
        Lookup { t, known, cell: query::cell_scope(before) }
    }

    fn kind(&self, id: u32) -> Kind {
        self.t.get(id).kind
    }

    /// The modules whose members a cell sees unqualified: the support crate's prelude (the
    /// kernel's `use multiproc::prelude::*`) and std's.
    fn preludes(&self) -> Vec<u32> {
        let mut p = self.t.resolve(&["multiproc", "prelude"]);
        p.extend(self.t.resolve(&["std", "prelude", "rust_2024"]));
        p.extend(self.t.resolve(&["std", "prelude", "v1"]));
        p
    }

    /// Entries a bare name can mean: preludes, std's macros, the crates.
    fn in_scope(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for p in self.preludes() {
            out.extend(self.t.get(p).members.iter().copied());
        }
        if let Some(std) = self.t.root("std") {
            out.extend(self.t.get(std).members.iter().copied().filter(|m| self.kind(*m) == Kind::Macro));
        }
        out.extend(self.t.roots.iter().map(|(_, r)| *r));
        out
    }

    /// What the first segment of a path means.
    fn first(&self, name: &str) -> Vec<u32> {
        for u in self.cell.uses.iter().rev() {
            if u.name.as_deref() == Some(name) {
                let segs: Vec<&str> = u.path.iter().map(String::as_str).collect();
                let found = self.t.resolve(&segs);
                if !found.is_empty() {
                    return found;
                }
            }
        }
        let found: Vec<u32> = self.in_scope().into_iter().filter(|m| self.t.get(*m).name == name).collect();
        if !found.is_empty() {
            return found;
        }
        if let Some(std) = self.t.root("std") {
            let found: Vec<u32> = self.t.member(std, name).collect();
            if !found.is_empty() {
                return found;
            }
        }
        // An import from an earlier cell (evcxr keeps only its name): the first public item of
        // that name, in the index's breadth-first order (std paths before deeper ones).
        self.t
            .entries
            .iter()
            .position(|e| e.name == name && (e.kind.is_type() || e.kind == Kind::Module))
            .map(|i| i as u32)
            .into_iter()
            .collect()
    }

    fn path(&self, segs: &[String]) -> Vec<u32> {
        let Some((first, rest)) = segs.split_first() else { return vec![] };
        let mut cur = self.first(first);
        for s in rest {
            cur = cur.iter().flat_map(|c| self.children(*c)).filter(|m| self.t.get(*m).name == *s).collect();
        }
        cur
    }

    /// What `X::` offers: a module's exports, a type's associated items and its traits' items.
    fn children(&self, id: u32) -> Vec<u32> {
        let e = self.t.get(id);
        let mut out = e.members.clone();
        if e.kind.is_type() {
            for tr in &e.traits {
                out.extend(self.t.get(*tr).members.iter().copied());
            }
        }
        out
    }

    /// Methods and fields of a value of type `ty`, through `Deref` and common blanket impls.
    fn methods(&self, ty: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = Some(ty);
        let mut seen = Vec::new();
        while let Some(t) = cur.filter(|t| !seen.contains(t) && seen.len() < 4) {
            seen.push(t);
            let e = self.t.get(t);
            out.extend(e.members.iter().copied().filter(|m| matches!(self.kind(*m), Kind::Method | Kind::Field)));
            let mut traits = e.traits.clone();
            if e.kind == Kind::Trait {
                traits.push(t);
            }
            let has = |n: &str| traits.iter().any(|tr| self.t.get(*tr).name == n);
            let mut blanket: Vec<&[&str]> = vec![&["core", "convert", "Into"], &["core", "convert", "TryInto"]];
            if has("Display") {
                blanket.push(&["alloc", "string", "ToString"]);
            }
            if has("Clone") {
                blanket.push(&["alloc", "borrow", "ToOwned"]);
            }
            for b in blanket {
                traits.extend(self.t.resolve(b));
            }
            for tr in traits {
                out.extend(self.t.get(tr).members.iter().copied().filter(|m| self.kind(*m) == Kind::Method));
            }
            cur = e.deref;
        }
        out
    }

    fn type_of_text(&self, text: &str) -> Option<u32> {
        let segs = type_path(text)?;
        let found = self.path(&segs);
        found.into_iter().find(|d| self.kind(*d).is_type()).or_else(|| {
            let last = segs.last()?;
            self.t.entries.iter().position(|e| e.name == *last && e.kind.is_type()).map(|i| i as u32)
        })
    }

    /// The type of a variable: a `let` earlier in the cell, else a persisted variable.
    fn var_type(&self, name: &str, depth: u32) -> Option<u32> {
        if let Some((_, ty, init)) = self.cell.lets.iter().rev().find(|(n, _, _)| n == name) {
            if let Some(t) = ty.as_deref().and_then(|t| self.type_of_text(t)) {
                return Some(t);
            }
            if let Some(t) = init.as_deref().and_then(|i| self.infer(i, depth + 1)) {
                return Some(t);
            }
        }
        let (_, ty) = self.known.variables.iter().find(|(n, _)| n == name)?;
        self.type_of_text(ty)
    }

    /// The type of a simple expression: literals, variables, calls of indexed functions and
    /// methods, `vec![..]`, `format!(..)`.
    fn infer(&self, expr: &str, depth: u32) -> Option<u32> {
        if depth > 4 {
            return None;
        }
        let mut ty: Option<u32> = None;
        for step in query::steps(expr)? {
            ty = match step {
                Step::Str => self.t.resolve(&["str"]).first().copied(),
                Step::Num { float } => self.t.resolve(&[if float { "f64" } else { "i32" }]).first().copied(),
                Step::Macro(m) => match m.as_str() {
                    "vec" => self.t.resolve(&["alloc", "vec", "Vec"]).first().copied(),
                    "format" => self.t.resolve(&["alloc", "string", "String"]).first().copied(),
                    _ => None,
                },
                Step::Path { segs, call: false } if segs.len() == 1 => self.var_type(&segs[0], depth),
                Step::Path { segs, call } => {
                    let found = self.path(&segs);
                    let f = found.iter().find(|d| matches!(self.kind(**d), Kind::Function | Kind::AssocFn | Kind::Method));
                    match (f, call) {
                        (Some(f), true) => self.t.get(*f).ret,
                        _ => found.into_iter().find(|d| self.kind(*d).is_type() && call),
                    }
                }
                Step::Member { name, .. } => {
                    let cur = ty?;
                    self.methods(cur).into_iter().find(|m| self.t.get(*m).name == name).and_then(|m| self.t.get(m).ret)
                }
            };
            ty?;
        }
        ty
    }

    /// Candidates for the word in `ctx`; `None` when the index cannot tell.
    fn candidates(&self, ctx: &Ctx) -> Option<Vec<u32>> {
        match ctx {
            Ctx::Ident => Some(self.in_scope()),
            Ctx::Path(segs) => {
                let found = self.path(segs);
                (!found.is_empty()).then(|| found.iter().flat_map(|d| self.children(*d)).collect())
            }
            Ctx::Dot(recv) => self.infer(recv, 0).map(|t| self.methods(t)),
        }
    }

    /// The text a completion inserts.
    fn insert_text(&self, id: u32) -> String {
        let e = self.t.get(id);
        if e.kind == Kind::Macro { format!("{}!", e.name) } else { e.name.clone() }
    }
}

/// Ranks names by how they match `word`: exact-case prefix first, then any-case prefix;
/// shorter names first within each. Non-matching names are dropped.
fn rank(word: &str, names: Vec<String>) -> Vec<String> {
    let lower = word.to_lowercase();
    let mut scored: Vec<(u8, usize, String)> = names
        .into_iter()
        .filter(|n| !hidden(n))
        .filter_map(|n| {
            let score = if n.starts_with(word) {
                0
            } else if n.to_lowercase().starts_with(&lower) {
                1
            } else {
                return None;
            };
            Some((score, n.len(), n))
        })
        .collect();
    scored.sort();
    let mut seen = std::collections::HashSet::new();
    scored.into_iter().map(|(_, _, n)| n).filter(|n| seen.insert(n.clone())).collect()
}

/// Completions for the word before byte `cursor` of `code`.
pub fn complete(code: &str, cursor: usize, known: &Known) -> Suggestions {
    let none = || Suggestions { start: query::word_start(code, cursor), end: cursor, matches: Vec::new(), complete: false };
    let Some(t) = table() else { return none() };
    // A mistake here must cost one completion, not the kernel: evcxr answers instead.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| complete_in(t, code, cursor, known))).unwrap_or_else(|_| none())
}

fn complete_in(t: &Table, code: &str, cursor: usize, known: &Known) -> Suggestions {
    let before = &code[..cursor];
    let start = query::word_start(before, cursor);
    let word = &before[start..];
    let ctx = query::context(before, start);
    let mut out = Suggestions { start, end: cursor, matches: Vec::new(), complete: false };
    let look = Lookup::new(t, known, &before[..start]);
    let mut names: Vec<String> = Vec::new();
    if ctx == Ctx::Ident {
        names.extend(look.cell.names.iter().cloned());
        names.extend(known.variables.iter().map(|(n, _)| n.clone()));
        names.extend(known.items.iter().cloned());
    }
    match look.candidates(&ctx) {
        Some(ids) => {
            names.extend(ids.into_iter().map(|id| look.insert_text(id)));
            // A bare name: the cell's own names, the session's and the preludes are all
            // known here, so evcxr (slow while rust-analyzer holds std) is asked only when
            // nothing matched.
            out.complete = true;
        }
        None => return out,
    }
    if ctx == Ctx::Ident && !word.is_empty() {
        names.extend(KEYWORDS.iter().map(|k| k.to_string()));
    }
    out.matches = rank(word, names);
    if ctx == Ctx::Ident && out.matches.is_empty() {
        out.complete = false;
    }
    out
}

/// Adds evcxr's matches (when they replace the same range) after ours, without duplicates or
/// hidden names.
pub fn merge(mut ours: Suggestions, theirs: Option<(usize, usize, Vec<String>)>) -> Suggestions {
    let Some((start, end, matches)) = theirs else { return ours };
    if ours.matches.is_empty() && !ours.complete {
        ours.start = start;
        ours.end = end;
    } else if start != ours.start {
        return ours;
    }
    let mut seen: std::collections::HashSet<String> = ours.matches.iter().cloned().collect();
    for m in matches {
        let name_end = m.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(m.len());
        if hidden(&m[..name_end]) || hidden(&m) {
            continue;
        }
        if seen.insert(m.clone()) {
            ours.matches.push(m);
        }
    }
    ours
}

/// Signature and docs of what is at byte `cursor`: the name under it, else the function whose
/// call's parentheses it is in.
pub fn inspect(code: &str, cursor: usize, known: &Known) -> Option<String> {
    let t = table()?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inspect_in(t, code, cursor, known))).ok().flatten()
}

fn inspect_in(t: &Table, code: &str, cursor: usize, known: &Known) -> Option<String> {
    let end = query::word_end(code, cursor);
    let start = query::word_start(code, end);
    if start < end
        && let Some(text) = describe(t, code, start, end, known) {
            return Some(text);
        }
    let callee_end = query::open_call(&code[..cursor])?;
    describe(t, code, query::word_start(code, callee_end), callee_end, known)
}

fn describe(t: &Table, code: &str, start: usize, end: usize, known: &Known) -> Option<String> {
    let word = &code[start..end];
    let look = Lookup::new(t, known, &code[..start]);
    let ctx = query::context(&code[..end], start);
    if ctx == Ctx::Ident
        && let Some(ty) = look.var_type(word, 0) {
            let written = known.variables.iter().find(|(n, _)| n == word).map(|(_, t)| t.clone());
            let head = match written {
                Some(w) => format!("{word}: {w}"),
                None => format!("{word}: {}", t.get(ty).name),
            };
            return Some(format!("{head}\n\n{}", t.detail(ty).unwrap_or_default()));
        }
    let ids = look.candidates(&ctx)?;
    let id = ids.into_iter().find(|id| t.get(*id).name == word)?;
    t.detail(id)
}

#[cfg(test)]
mod tests;
