//! The completion index: building it from raw items (resolving `use` re-exports and `impl`
//! blocks), writing it, and loading it.
//!
//! On disk, `items.postcard` holds what completion needs (names, kinds, members, implemented
//! traits) and `details.txt` the path, signature and docs of every entry; the kernel keeps only
//! the first in memory and reads an entry's details from the second when it is inspected.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::parse::{Kind, PRIMITIVES, Raw, type_path};

/// Bumped when the format changes: an index of another version is rebuilt.
pub const VERSION: u32 = 2;
const ITEMS: &str = "items.postcard";
const DETAILS: &str = "details.txt";

/// One indexed item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    /// Module: what it exports; type or trait: variants, fields and associated items.
    pub members: Vec<u32>,
    /// Traits the type implements (concrete `impl Trait for Type` only).
    pub traits: Vec<u32>,
    /// The type a `Deref` impl leads to (`String` to `str`, `Vec` to a slice).
    pub deref: Option<u32>,
    /// For functions: the type they return, when it is an indexed type.
    pub ret: Option<u32>,
    /// Byte range of "path\nsignature\n\ndocs" in `details.txt`.
    pub detail: (u32, u32),
}

/// The in-memory index.
#[derive(Debug, Serialize, Deserialize)]
pub struct Table {
    pub version: u32,
    pub entries: Vec<Entry>,
    /// Crate name and root module (`std`, `core`, `alloc`, `multiproc`).
    pub roots: Vec<(String, u32)>,
    /// The source files read and their modification times (seconds), to tell a stale index.
    pub sources: Vec<(PathBuf, u64)>,
    #[serde(skip)]
    pub details: PathBuf,
}

impl Table {
    /// True when no source file changed since the index was built.
    pub fn is_fresh(&self) -> bool {
        self.sources.iter().all(|(p, t)| modified(p) == Some(*t))
    }

    pub fn root(&self, name: &str) -> Option<u32> {
        self.roots.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    pub fn get(&self, id: u32) -> &Entry {
        &self.entries[id as usize]
    }

    /// "path\nsignature\n\ndocs" of an entry, read from disk.
    pub fn detail(&self, id: u32) -> Option<String> {
        let (off, len) = self.get(id).detail;
        let mut f = std::fs::File::open(&self.details).ok()?;
        f.seek(SeekFrom::Start(off as u64)).ok()?;
        let mut buf = vec![0; len as usize];
        f.read_exact(&mut buf).ok()?;
        String::from_utf8(buf).ok()
    }

    /// Members of `id` called `name`.
    pub fn member<'a>(&'a self, id: u32, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.get(id).members.iter().copied().filter(move |m| self.get(*m).name == name)
    }

    /// Resolves an absolute path (`std::sync::Arc`) from the crate roots.
    pub fn resolve(&self, segs: &[&str]) -> Vec<u32> {
        let Some((first, rest)) = segs.split_first() else { return vec![] };
        let mut cur: Vec<u32> = self.root(first).into_iter().collect();
        for s in rest {
            cur = cur.iter().flat_map(|c| self.member(*c, s).collect::<Vec<_>>()).collect();
        }
        cur
    }
}

/// Resolution state over the raw items.
struct Resolver<'a> {
    raw: &'a Raw,
    exports: HashMap<usize, Vec<(String, usize)>>,
    busy: HashSet<usize>,
    busy_lookup: HashSet<(usize, String)>,
    /// The implicit preludes: core's for core and alloc, std's for the others.
    preludes: Vec<(usize, usize)>,
    prims: HashMap<&'static str, usize>,
}

impl<'a> Resolver<'a> {
    fn new(raw: &'a Raw, prims: &HashMap<&'static str, usize>) -> Resolver<'a> {
        let find = |path: &str| raw.defs.iter().position(|d| d.kind == Kind::Module && d.path == path);
        let mut preludes = Vec::new();
        for (name, root) in &raw.crates {
            let p = if name == "core" || name == "alloc" { find("core::prelude::v1") } else { find("std::prelude::v1") };
            if let Some(p) = p.or_else(|| find("core::prelude::v1")) {
                preludes.push((*root, p));
            }
        }
        Resolver { raw, exports: HashMap::new(), busy: HashSet::new(), busy_lookup: HashSet::new(), preludes, prims: prims.clone() }
    }

    fn is_module(&self, id: usize) -> bool {
        self.raw.defs[id].kind == Kind::Module
    }

    fn crate_root(&self, name: &str) -> Option<usize> {
        let name = if name == "alloc_crate" { "alloc" } else { name };
        self.raw.crates.iter().find(|(n, _)| n == name).map(|(_, r)| *r)
    }

    /// What a module exports (its public items and public `use`s), or a type's members.
    fn exports(&mut self, id: usize) -> Vec<(String, usize)> {
        let def = &self.raw.defs[id];
        if !self.is_module(id) {
            return def.items.iter().map(|i| (self.raw.defs[*i].name.clone(), *i)).collect();
        }
        if let Some(e) = self.exports.get(&id) {
            return e.clone();
        }
        if !self.busy.insert(id) {
            return Vec::new();
        }
        let mut out: Vec<(String, usize)> =
            def.items.iter().filter(|i| self.raw.defs[**i].public).map(|i| (self.raw.defs[*i].name.clone(), *i)).collect();
        for u in def.uses.clone() {
            if !u.public {
                continue;
            }
            let segs: Vec<&str> = u.path.iter().map(String::as_str).collect();
            match &u.name {
                Some(name) => {
                    for t in self.resolve(id, &segs) {
                        out.push((name.clone(), t));
                    }
                }
                None => {
                    for t in self.resolve(id, &segs) {
                        out.extend(self.exports(t));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        self.busy.remove(&id);
        self.exports.insert(id, out.clone());
        out
    }

    /// Everything a name means inside module `m` (its own items, any `use`, glob imports).
    fn lookup(&mut self, m: usize, name: &str) -> Vec<usize> {
        let def = &self.raw.defs[m];
        let mut out: Vec<usize> = def.items.iter().copied().filter(|i| self.raw.defs[*i].name == name).collect();
        if !out.is_empty() {
            return out;
        }
        if !self.busy_lookup.insert((m, name.to_string())) {
            return out;
        }
        for u in def.uses.clone() {
            let segs: Vec<&str> = u.path.iter().map(String::as_str).collect();
            match &u.name {
                Some(n) if n == name => out.extend(self.resolve(m, &segs)),
                None => {
                    for t in self.resolve(m, &segs) {
                        out.extend(self.exports(t).into_iter().filter(|(n, _)| n == name).map(|(_, i)| i));
                    }
                }
                _ => {}
            }
        }
        self.busy_lookup.remove(&(m, name.to_string()));
        out
    }

    fn module_of(&self, id: usize) -> usize {
        let mut m = id;
        while !self.is_module(m) {
            m = self.raw.defs[m].parent.unwrap_or(self.raw.defs[m].root);
        }
        m
    }

    /// Resolves a path as written in module `m`.
    fn resolve(&mut self, m: usize, segs: &[&str]) -> Vec<usize> {
        let Some((first, rest)) = segs.split_first() else { return vec![m] };
        let mut cur: Vec<usize> = match *first {
            "" => rest.first().and_then(|c| self.crate_root(c)).into_iter().collect(),
            "crate" => vec![self.raw.defs[m].root],
            "self" => vec![m],
            "super" => self.raw.defs[m].parent.map(|p| self.module_of(p)).into_iter().collect(),
            name => {
                let local = self.lookup(m, name);
                if !local.is_empty() {
                    local
                } else if let Some(r) = self.crate_root(name) {
                    vec![r]
                } else if let Some(p) = self.prims.get(name) {
                    vec![*p]
                } else {
                    let root = self.raw.defs[m].root;
                    match self.preludes.iter().find(|(r, _)| *r == root).map(|(_, p)| *p) {
                        Some(p) if p != m => self.exports(p).into_iter().filter(|(n, _)| n == name).map(|(_, i)| i).collect(),
                        _ => vec![],
                    }
                }
            }
        };
        let rest = if first.is_empty() { rest.get(1..).unwrap_or(&[]) } else { rest };
        for (i, s) in rest.iter().enumerate() {
            let mut next = Vec::new();
            for c in cur {
                if *s == "super" {
                    next.extend(self.raw.defs[c].parent.map(|p| self.module_of(p)));
                    continue;
                }
                let found: Vec<usize> = self.exports(c).into_iter().filter(|(n, _)| n == s).map(|(_, id)| id).collect();
                next.extend(found);
                // Inside a crate its private modules are reachable too.
                if self.is_module(c) {
                    let private = self.raw.defs[c].items.iter().copied().filter(|i| self.is_module(*i) && self.raw.defs[*i].name == *s);
                    next.extend(private.collect::<Vec<_>>());
                }
            }
            // A middle segment names a module or a type, never a function.
            if i + 1 < rest.len() {
                next.retain(|d| self.raw.defs[*d].kind == Kind::Module || self.raw.defs[*d].kind.is_type());
            }
            next.sort();
            next.dedup();
            cur = next;
        }
        cur
    }

    /// The type a type expression written in module `m` names (`Self` is `self_ty`).
    fn resolve_type(&mut self, m: usize, text: &str, self_ty: Option<usize>) -> Option<usize> {
        let segs = type_path(text)?;
        if segs.len() == 1 && segs[0] == "Self" {
            return self_ty;
        }
        if segs.len() == 1
            && let Some(p) = self.prims.get(segs[0].as_str()) {
                return Some(*p);
            }
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.resolve(m, &segs).into_iter().find(|d| self.raw.defs[*d].kind.is_type())
    }
}

/// Turns raw items into the table, keeping what is reachable from the crate roots.
pub fn resolve(mut raw: Raw) -> (Table, String) {
    // Primitive types get entries of their own for `impl str { .. }` and friends.
    let mut prims = HashMap::new();
    for p in PRIMITIVES {
        let root = raw.crates.first().map(|(_, r)| *r).unwrap_or(0);
        raw.defs.push(super::parse::RawDef {
            name: p.to_string(),
            kind: Kind::Primitive,
            path: p.to_string(),
            sig: format!("primitive type {p}"),
            docs: String::new(),
            public: true,
            items: vec![],
            uses: vec![],
            parent: None,
            root,
            ret: None,
        });
        prims.insert(*p, raw.defs.len() - 1);
    }
    let impls = std::mem::take(&mut raw.impls);
    let mut traits: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut deref: HashMap<usize, usize> = HashMap::new();
    let mut assoc: Vec<(usize, usize)> = Vec::new();
    let mut ret_self: HashMap<usize, usize> = HashMap::new();
    {
        let mut r = Resolver::new(&raw, &prims);
        for imp in &impls {
            let Some(ty) = r.resolve_type(imp.module, &imp.self_ty, None) else { continue };
            for i in &imp.items {
                assoc.push((ty, *i));
                ret_self.insert(*i, ty);
            }
            if let Some(t) = &imp.trait_
                && let Some(tr) = r.resolve_type(imp.module, t, None) {
                    traits.entry(ty).or_default().push(tr);
                }
            if let Some(target) = &imp.target
                && let Some(t) = r.resolve_type(imp.module, target, None) {
                    deref.insert(ty, t);
                }
        }
    }
    // The primitive types' trait impls are written by macros: give them the common ones.
    let find = |path: &str| raw.defs.iter().position(|d| d.kind == Kind::Trait && d.path == path);
    let common: Vec<usize> = ["core::clone::Clone", "core::marker::Copy", "core::fmt::Debug", "core::fmt::Display", "core::default::Default", "core::hash::Hash", "core::cmp::PartialEq", "core::cmp::PartialOrd"]
        .iter()
        .filter_map(|p| find(p))
        .collect();
    let ord = find("core::cmp::Ord");
    for p in PRIMITIVES.iter().filter(|p| !matches!(**p, "str" | "slice" | "array")) {
        let list = traits.entry(prims[p]).or_default();
        list.extend(&common);
        if !p.starts_with('f') {
            list.extend(ord);
        }
    }
    for list in traits.values_mut() {
        list.sort();
        list.dedup();
    }
    for (ty, item) in assoc {
        raw.defs[item].parent = Some(ty);
        raw.defs[ty].items.push(item);
    }
    let mut r = Resolver::new(&raw, &prims);
    // Breadth first from the roots: the first path that reaches an item is the one shown.
    let mut new_id: HashMap<usize, u32> = HashMap::new();
    let mut order: Vec<(usize, String)> = Vec::new();
    let mut members: Vec<Vec<(String, usize)>> = Vec::new();
    let mut queue: VecDeque<(usize, String)> = VecDeque::new();
    let roots: Vec<(String, usize)> = raw.crates.clone();
    for (name, root) in &roots {
        queue.push_back((*root, name.clone()));
    }
    for p in PRIMITIVES {
        queue.push_back((prims[p], p.to_string()));
    }
    while let Some((id, path)) = queue.pop_front() {
        if new_id.contains_key(&id) {
            continue;
        }
        new_id.insert(id, order.len() as u32);
        let ex = r.exports(id);
        for (name, m) in &ex {
            if !new_id.contains_key(m) {
                queue.push_back((*m, format!("{path}::{name}")));
            }
        }
        for t in traits.get(&id).into_iter().flatten().chain(deref.get(&id)) {
            queue.push_back((*t, raw.defs[*t].path.clone()));
        }
        order.push((id, path));
        members.push(ex);
    }
    // Return types, resolved where the function is defined.
    let mut ret: HashMap<usize, usize> = HashMap::new();
    for (id, _) in &order {
        if let Some(text) = &raw.defs[*id].ret {
            let m = r.module_of(*id);
            if let Some(t) = r.resolve_type(m, text, ret_self.get(id).copied())
                && new_id.contains_key(&t) {
                    ret.insert(*id, t);
                }
        }
    }
    let mut details = String::new();
    let mut entries = Vec::with_capacity(order.len());
    for ((id, path), ex) in order.iter().zip(members) {
        let d = &raw.defs[*id];
        let start = details.len();
        details.push_str(&format!("{path}\n{}\n\n{}", d.sig, d.docs));
        let mut mem: Vec<u32> = Vec::new();
        for (name, m) in ex {
            let Some(nid) = new_id.get(&m) else { continue };
            if name == raw.defs[m].name {
                mem.push(*nid);
            }
        }
        entries.push(Entry {
            name: d.name.clone(),
            kind: d.kind,
            members: mem,
            traits: traits.get(id).into_iter().flatten().filter_map(|t| new_id.get(t).copied()).collect(),
            deref: deref.get(id).and_then(|t| new_id.get(t).copied()),
            ret: ret.get(id).and_then(|t| new_id.get(t).copied()),
            detail: (start as u32, (details.len() - start) as u32),
        });
    }
    // Renamed re-exports (`pub use a::B as C`) get an entry of their own under the new name.
    for (i, (id, _)) in order.iter().enumerate() {
        for (name, m) in r.exports(*id) {
            let Some(nid) = new_id.get(&m) else { continue };
            if name != raw.defs[m].name {
                let mut e = entries[*nid as usize].clone();
                e.name = name;
                entries.push(e);
                let last = (entries.len() - 1) as u32;
                entries[i].members.push(last);
            }
        }
    }
    // Primitive types are roots too: `str`, `i32` and their methods are found by name.
    let prim_roots = PRIMITIVES.iter().map(|p| (p.to_string(), prims[p]));
    let roots = roots.into_iter().chain(prim_roots).filter_map(|(n, r)| new_id.get(&r).map(|id| (n, *id))).collect();
    (Table { version: VERSION, entries, roots, sources: Vec::new(), details: PathBuf::new() }, details)
}

/// A file's modification time in seconds.
pub fn modified(path: &Path) -> Option<u64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

/// Writes the index files into `dir`.
pub fn save(dir: &Path, table: &Table, details: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = postcard::to_allocvec(table)?;
    // Written under temporary names and renamed, so a reader never sees half an index.
    let tmp_items = dir.join(format!("{ITEMS}.{}", std::process::id()));
    let tmp_details = dir.join(format!("{DETAILS}.{}", std::process::id()));
    std::fs::write(&tmp_details, details)?;
    std::fs::write(&tmp_items, bytes)?;
    std::fs::rename(&tmp_details, dir.join(DETAILS))?;
    std::fs::rename(&tmp_items, dir.join(ITEMS))?;
    Ok(())
}

/// Loads the index in `dir`; `None` when it is missing or of another version.
pub fn load(dir: &Path) -> Option<Table> {
    let bytes = std::fs::read(dir.join(ITEMS)).ok()?;
    let mut table: Table = postcard::from_bytes(&bytes).ok()?;
    if table.version != VERSION || !dir.join(DETAILS).is_file() {
        return None;
    }
    table.details = dir.join(DETAILS);
    Some(table)
}
