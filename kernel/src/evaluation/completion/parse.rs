//! Reading a crate's sources into raw items (build time only): modules, public items with their
//! one-line signature and doc comment, `use` declarations and `impl` blocks, unresolved.
//!
//! rust-analyzer's parser (`ra_ap_syntax`) does the parsing: it is already compiled for evcxr
//! and recovers from the unstable syntax std uses. Nothing is expanded: items that macros
//! generate (the integer methods, for one) are not seen.

use std::path::{Path, PathBuf};

use ra_ap_syntax::ast::{self, HasAttrs, HasDocComments, HasModuleItem, HasName, HasVisibility};
use ra_ap_syntax::{AstNode, Edition, NodeOrToken, SourceFile, SyntaxKind, SyntaxNode};
use serde::{Deserialize, Serialize};

/// What an index entry is; completion and inspection show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Module,
    Struct,
    Enum,
    Union,
    Trait,
    Function,
    /// An associated function that takes `self`.
    Method,
    /// An associated function without `self` (`Vec::new`).
    AssocFn,
    Const,
    Static,
    TypeAlias,
    Macro,
    Variant,
    Field,
    Primitive,
}

impl Kind {
    /// True for kinds that name a type (completion after `Type::`, a variable's type).
    pub fn is_type(self) -> bool {
        matches!(self, Kind::Struct | Kind::Enum | Kind::Union | Kind::TypeAlias | Kind::Primitive | Kind::Trait)
    }
    /// The word JupyterLab shows beside a completion.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Struct => "struct",
            Kind::Enum => "enum",
            Kind::Union => "union",
            Kind::Trait => "trait",
            Kind::Function | Kind::AssocFn => "function",
            Kind::Method => "method",
            Kind::Const => "constant",
            Kind::Static => "static",
            Kind::TypeAlias => "type",
            Kind::Macro => "macro",
            Kind::Variant => "variant",
            Kind::Field => "field",
            Kind::Primitive => "type",
        }
    }
}

/// One `use` binding, flattened: `use a::{b, c as d}` gives two.
#[derive(Debug, Clone)]
pub struct UseDecl {
    pub path: Vec<String>,
    /// The name it binds (`None` for a glob).
    pub name: Option<String>,
    pub public: bool,
}

/// An item as written, before paths are resolved.
#[derive(Debug, Clone)]
pub struct RawDef {
    pub name: String,
    pub kind: Kind,
    /// Where it is defined (`core::option::Option`).
    pub path: String,
    pub sig: String,
    pub docs: String,
    pub public: bool,
    /// Module: declared items and submodules; type or trait: variants, fields, associated items.
    pub items: Vec<usize>,
    pub uses: Vec<UseDecl>,
    pub parent: Option<usize>,
    /// The crate root module.
    pub root: usize,
    /// A function's return type as written.
    pub ret: Option<String>,
}

/// An `impl` block: its self type and trait as written, in the module it is in.
#[derive(Debug, Clone)]
pub struct RawImpl {
    pub module: usize,
    pub self_ty: String,
    pub trait_: Option<String>,
    pub items: Vec<usize>,
    /// `type Target = ..` of a `Deref` impl.
    pub target: Option<String>,
}

/// Everything read from the crates.
#[derive(Default)]
pub struct Raw {
    pub defs: Vec<RawDef>,
    pub impls: Vec<RawImpl>,
    /// Crate name and root module.
    pub crates: Vec<(String, usize)>,
    /// Every file read.
    pub files: Vec<PathBuf>,
    /// The first rule's body of each `macro_rules!` of the crate being read.
    macros: std::collections::HashMap<String, Vec<String>>,
    /// Inherent impls that call a macro for their items (`impl i32 { int_impl! { .. } }`).
    macro_impls: Vec<(usize, String)>,
}

/// Attributes that keep an item out of the index: test-only, hidden or unstable.
fn excluded(attrs: impl Iterator<Item = ast::Attr>) -> bool {
    attrs.into_iter().any(|a| {
        let t: String = a.syntax().text().to_string().chars().filter(|c| !c.is_whitespace()).collect();
        t.contains("cfg(test)") || t.contains("doc(hidden)") || t.starts_with("#[unstable(") || t.starts_with("#![unstable(")
    })
}

fn has_attr(node: &impl HasAttrs, needle: &str) -> bool {
    node.attrs().any(|a| a.syntax().text().to_string().contains(needle))
}

fn is_pub(node: &impl HasVisibility) -> bool {
    node.visibility().is_some_and(|v| v.syntax().text() == "pub")
}

/// The doc comment: `///` lines joined, rustdoc's hidden `# ` lines in code blocks left out.
fn docs(node: &impl HasDocComments) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in node.doc_comments() {
        let Some((text, _)) = c.doc_comment() else { continue };
        for line in text.split('\n') {
            let line = line.strip_prefix(' ').unwrap_or(line);
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            } else if in_code && (line.trim() == "#" || line.trim_start().starts_with("# ")) {
                continue;
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out.trim().to_string()
}

/// The item's header on one line: its text without attributes, comments and body.
fn signature(node: &SyntaxNode) -> String {
    let mut out = String::new();
    for el in node.children_with_tokens() {
        match &el {
            NodeOrToken::Node(n) => {
                if matches!(
                    n.kind(),
                    SyntaxKind::ATTR
                        | SyntaxKind::BLOCK_EXPR
                        | SyntaxKind::RECORD_FIELD_LIST
                        | SyntaxKind::ASSOC_ITEM_LIST
                        | SyntaxKind::VARIANT_LIST
                        | SyntaxKind::ITEM_LIST
                        | SyntaxKind::TOKEN_TREE
                ) {
                    if n.kind() == SyntaxKind::ATTR {
                        continue;
                    }
                    break;
                }
                out.push_str(&n.text().to_string());
            }
            NodeOrToken::Token(t) => match t.kind() {
                SyntaxKind::COMMENT => {}
                SyntaxKind::EQ | SyntaxKind::SEMICOLON if node.kind() != SyntaxKind::TYPE_ALIAS => break,
                SyntaxKind::SEMICOLON => break,
                _ => out.push_str(t.text()),
            },
        }
    }
    let one_line: Vec<&str> = out.split_whitespace().collect();
    one_line.join(" ").replace("( ", "(").replace(" )", ")").replace(",)", ")")
}

fn ret_type(f: &ast::Fn) -> Option<String> {
    f.ret_type()?.ty().map(|t| t.syntax().text().to_string())
}

/// Flattens a use tree into its bindings.
pub fn flatten_use(tree: &ast::UseTree, prefix: &[String], public: bool, out: &mut Vec<UseDecl>) {
    let mut path = prefix.to_vec();
    if let Some(p) = tree.path() {
        let text: String = p.syntax().text().to_string().chars().filter(|c| !c.is_whitespace()).collect();
        path.extend(text.split("::").map(str::to_string));
    }
    if tree.star_token().is_some() {
        out.push(UseDecl { path, name: None, public });
    } else if let Some(list) = tree.use_tree_list() {
        for sub in list.use_trees() {
            flatten_use(&sub, &path, public, out);
        }
    } else {
        if path.last().is_some_and(|s| s == "self") {
            path.pop();
        }
        let alias = tree.rename().map(|r| r.syntax().text().to_string().trim_start_matches("as").trim().to_string());
        let name = alias.or_else(|| path.last().cloned());
        if let Some(name) = name.filter(|n| n != "_" && !n.is_empty()) {
            out.push(UseDecl { path, name: Some(name), public });
        }
    }
}

impl Raw {
    fn push(&mut self, def: RawDef) -> usize {
        self.defs.push(def);
        self.defs.len() - 1
    }

    fn new_def(&self, name: &str, kind: Kind, parent: usize, node: &SyntaxNode, doc: String) -> RawDef {
        let p = &self.defs[parent];
        RawDef {
            name: name.to_string(),
            kind,
            path: format!("{}::{name}", p.path),
            sig: signature(node),
            docs: doc,
            public: true,
            items: Vec::new(),
            uses: Vec::new(),
            parent: Some(parent),
            root: p.root,
            ret: None,
        }
    }

    /// Reads the crate whose root file is `lib_rs` under the name `name`.
    pub fn add_crate(&mut self, name: &str, lib_rs: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(lib_rs).map_err(|e| anyhow::anyhow!("reading {}: {e}", lib_rs.display()))?;
        self.files.push(lib_rs.to_path_buf());
        let file = SourceFile::parse(&text, Edition::Edition2024).tree();
        let root = self.defs.len();
        let doc = docs(&file);
        self.push(RawDef {
            name: name.to_string(),
            kind: Kind::Module,
            path: name.to_string(),
            sig: format!("crate {name}"),
            docs: doc,
            public: true,
            items: Vec::new(),
            uses: Vec::new(),
            parent: None,
            root,
            ret: None,
        });
        self.crates.push((name.to_string(), root));
        let dir = lib_rs.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.module_items(file.items(), root, &dir, &dir);
        self.expand_macro_impls();
        Ok(())
    }

    /// Reads the items that macros write into inherent impls (the integer types' methods come
    /// from `int_impl!` and `uint_impl!`): the macro's body, its `$SelfT` and `$ActualT` read
    /// as the impl's type, parsed as the impl's items.
    fn expand_macro_impls(&mut self) {
        for (i, name) in std::mem::take(&mut self.macro_impls) {
            let ty = self.impls[i].self_ty.clone();
            // Macros are scoped by position in the source, which is not tracked here: of the
            // macros of that name, the one that writes the most items is taken.
            let Some(items) = self.macros.get(&name).into_iter().flatten().map(|body| expanded(body, &ty)).max_by_key(Vec::len) else { continue };
            let m = self.impls[i].module;
            for a in items {
                if let Some(id) = self.assoc_item(&a, m, false) {
                    self.impls[i].items.push(id);
                }
            }
        }
        self.macros.clear();
    }

    /// Reads the items of module `m`; `child_dir` is where its out-of-line submodules live,
    /// `file_dir` the folder of the file it is written in (for `#[path]`).
    fn module_items(&mut self, items: impl Iterator<Item = ast::Item>, m: usize, child_dir: &Path, file_dir: &Path) {
        for item in items {
            if let ast::Item::Module(it) = &item {
                // A hidden or unstable module is still read: stable items inside it are
                // re-exported elsewhere (`std::sync::Mutex` lives in the unstable `poison`).
                if !item.attrs().any(|a| a.syntax().text().to_string().contains("cfg(test)")) {
                    self.module(it, m, child_dir, file_dir, !excluded(item.attrs()));
                }
                continue;
            }
            if excluded(item.attrs()) {
                continue;
            }
            match item {
                ast::Item::Module(_) => {}
                ast::Item::Use(it) => {
                    if let Some(tree) = it.use_tree() {
                        let mut uses = Vec::new();
                        flatten_use(&tree, &[], is_pub(&it), &mut uses);
                        self.defs[m].uses.extend(uses);
                    }
                }
                ast::Item::Impl(it) => self.impl_block(&it, m),
                ast::Item::MacroRules(it) => {
                    if let (Some(name), Some(body)) = (it.name(), first_rule_body(&it)) {
                        self.macros.entry(name.text().to_string()).or_default().push(body);
                    }
                    if has_attr(&it, "macro_export")
                        && let Some(name) = it.name() {
                            let root = self.defs[m].root;
                            let mut d = self.new_def(name.text(), Kind::Macro, root, it.syntax(), docs(&it));
                            d.sig = format!("macro_rules! {}", name.text());
                            let id = self.push(d);
                            self.defs[root].items.push(id);
                        }
                }
                other => {
                    if let Some(id) = self.item(&other, m) {
                        self.defs[m].items.push(id);
                    }
                }
            }
        }
    }

    fn module(&mut self, it: &ast::Module, m: usize, child_dir: &Path, file_dir: &Path, shown: bool) {
        let Some(name) = it.name() else { return };
        let name = name.text().to_string();
        let mut def = self.new_def(&name, Kind::Module, m, it.syntax(), docs(it));
        def.public = shown && is_pub(it);
        def.sig = format!("mod {name}");
        if let Some(list) = it.item_list() {
            let id = self.push(def);
            self.defs[m].items.push(id);
            let sub = child_dir.join(&name);
            self.module_items(list.items(), id, &sub, file_dir);
            return;
        }
        let path_attr = it.attrs().find_map(|a| {
            let t = a.syntax().text().to_string();
            let rest = t.strip_prefix("#[path")?.trim_start().strip_prefix('=')?;
            Some(rest.trim().trim_end_matches(']').trim().trim_matches('"').to_string())
        });
        let (file, own_dir) = match path_attr {
            Some(p) => {
                let f = file_dir.join(p);
                let d = if f.file_name().is_some_and(|n| n == "mod.rs") { f.parent().map(Path::to_path_buf) } else { None };
                let d = d.unwrap_or_else(|| f.with_extension(""));
                (f, d)
            }
            None => {
                let flat = child_dir.join(format!("{name}.rs"));
                if flat.is_file() { (flat, child_dir.join(&name)) } else { (child_dir.join(&name).join("mod.rs"), child_dir.join(&name)) }
            }
        };
        let Ok(text) = std::fs::read_to_string(&file) else { return };
        self.files.push(file.clone());
        let parsed = SourceFile::parse(&text, Edition::Edition2024).tree();
        if excluded(parsed.attrs()) {
            def.public = false;
        }
        if def.docs.is_empty() {
            def.docs = docs(&parsed);
        }
        let id = self.push(def);
        self.defs[m].items.push(id);
        let fdir: PathBuf = file.parent().map(Path::to_path_buf).unwrap_or_default();
        self.module_items(parsed.items(), id, &own_dir, &fdir);
    }

    /// A public item other than a module, `use`, `impl` or macro: its entry.
    fn item(&mut self, item: &ast::Item, m: usize) -> Option<usize> {
        let (name, kind, public) = match item {
            ast::Item::Struct(it) => (it.name()?, Kind::Struct, is_pub(it)),
            ast::Item::Enum(it) => (it.name()?, Kind::Enum, is_pub(it)),
            ast::Item::Union(it) => (it.name()?, Kind::Union, is_pub(it)),
            ast::Item::Trait(it) => (it.name()?, Kind::Trait, is_pub(it)),
            ast::Item::Fn(it) => (it.name()?, Kind::Function, is_pub(it)),
            ast::Item::Const(it) => (it.name()?, Kind::Const, is_pub(it)),
            ast::Item::Static(it) => (it.name()?, Kind::Static, is_pub(it)),
            ast::Item::TypeAlias(it) => (it.name()?, Kind::TypeAlias, is_pub(it)),
            ast::Item::MacroDef(it) => (it.name()?, Kind::Macro, is_pub(it)),
            _ => return None,
        };
        if !public {
            return None;
        }
        let name = name.text().to_string();
        let doc = match item {
            ast::Item::Struct(it) => docs(it),
            ast::Item::Enum(it) => docs(it),
            ast::Item::Union(it) => docs(it),
            ast::Item::Trait(it) => docs(it),
            ast::Item::Fn(it) => docs(it),
            ast::Item::Const(it) => docs(it),
            ast::Item::Static(it) => docs(it),
            ast::Item::TypeAlias(it) => docs(it),
            ast::Item::MacroDef(it) => docs(it),
            _ => String::new(),
        };
        let mut def = self.new_def(&name, kind, m, item.syntax(), doc);
        if let ast::Item::Fn(f) = item {
            def.ret = ret_type(f);
        }
        if let ast::Item::MacroDef(_) = item {
            def.sig = format!("macro {name}");
        }
        let id = self.push(def);
        match item {
            ast::Item::Enum(it) => {
                for v in it.variant_list().into_iter().flat_map(|l| l.variants()) {
                    if excluded(v.attrs()) {
                        continue;
                    }
                    let Some(vn) = v.name() else { continue };
                    let d = self.new_def(vn.text(), Kind::Variant, id, v.syntax(), docs(&v));
                    let vid = self.push(d);
                    self.defs[id].items.push(vid);
                }
            }
            ast::Item::Struct(it) => {
                if let Some(ast::FieldList::RecordFieldList(list)) = it.field_list() {
                    for f in list.fields() {
                        if !is_pub(&f) || excluded(f.attrs()) {
                            continue;
                        }
                        let Some(fname) = f.name() else { continue };
                        let mut d = self.new_def(fname.text(), Kind::Field, id, f.syntax(), docs(&f));
                        d.ret = f.ty().map(|t| t.syntax().text().to_string());
                        let fid = self.push(d);
                        self.defs[id].items.push(fid);
                    }
                }
            }
            ast::Item::Trait(it) => {
                let items: Vec<ast::AssocItem> = it.assoc_item_list().into_iter().flat_map(|l| l.assoc_items()).collect();
                for a in items {
                    if let Some(aid) = self.assoc_item(&a, id, true) {
                        self.defs[id].items.push(aid);
                    }
                }
            }
            _ => {}
        }
        Some(id)
    }

    /// An associated function or constant of a trait (always public) or inherent impl.
    fn assoc_item(&mut self, a: &ast::AssocItem, owner: usize, in_trait: bool) -> Option<usize> {
        if excluded(a.attrs()) {
            return None;
        }
        let def = match a {
            ast::AssocItem::Fn(f) => {
                if !in_trait && !is_pub(f) {
                    return None;
                }
                let kind = if f.param_list().and_then(|p| p.self_param()).is_some() { Kind::Method } else { Kind::AssocFn };
                let mut d = self.new_def(f.name()?.text(), kind, owner, f.syntax(), docs(f));
                d.ret = ret_type(f);
                d
            }
            ast::AssocItem::Const(c) => {
                if !in_trait && !is_pub(c) {
                    return None;
                }
                self.new_def(c.name()?.text(), Kind::Const, owner, c.syntax(), docs(c))
            }
            _ => return None,
        };
        Some(self.push(def))
    }

    fn impl_block(&mut self, it: &ast::Impl, m: usize) {
        let Some(self_ty) = it.self_ty() else { return };
        let trait_ = it.trait_().map(|t| t.syntax().text().to_string());
        if it.excl_token().is_some() {
            return; // `impl !Send for ..`
        }
        let mut raw = RawImpl { module: m, self_ty: self_ty.syntax().text().to_string(), trait_: trait_.clone(), items: Vec::new(), target: None };
        let assoc: Vec<ast::AssocItem> = it.assoc_item_list().into_iter().flat_map(|l| l.assoc_items()).collect();
        for a in assoc {
            if let (None, ast::AssocItem::MacroCall(call)) = (&trait_, &a) {
                if let Some(name) = call.path().map(|p| p.syntax().text().to_string()) {
                    self.macro_impls.push((self.impls.len(), name));
                }
                continue;
            }
            match (&trait_, &a) {
                (None, _) => {
                    // Owned by the module for now; the resolver re-parents it to the type.
                    if let Some(id) = self.assoc_item(&a, m, false) {
                        raw.items.push(id);
                    }
                }
                (Some(_), ast::AssocItem::TypeAlias(t)) if t.name().is_some_and(|n| n.text() == "Target") => {
                    raw.target = t.ty().map(|ty| ty.syntax().text().to_string());
                }
                _ => {}
            }
        }
        self.impls.push(raw);
    }
}

/// The items a macro body writes into `impl ty { .. }`, with `$SelfT` and `$ActualT` as `ty`.
fn expanded(body: &str, ty: &str) -> Vec<ast::AssocItem> {
    let text = body.replace("$SelfT", ty).replace("$ActualT", ty).replace('$', "");
    let file = SourceFile::parse(&format!("impl {ty} {{\n{text}\n}}"), Edition::Edition2024).tree();
    let Some(ast::Item::Impl(imp)) = file.items().next() else { return Vec::new() };
    imp.assoc_item_list().into_iter().flat_map(|l| l.assoc_items()).collect()
}

/// The body of a `macro_rules!`'s first rule, without its brackets.
fn first_rule_body(it: &ast::MacroRules) -> Option<String> {
    let tt = it.token_tree()?;
    // Inside a token tree `=>` is two tokens: the body is the rule's second bracketed group.
    let body = tt.syntax().children().filter(|n| n.kind() == SyntaxKind::TOKEN_TREE).nth(1)?;
    let text = body.text().to_string();
    Some(text.get(1..text.len().saturating_sub(1))?.to_string())
}

/// Splits a type as written into the path of its outer type, or a primitive's name:
/// `&'a mut Vec<T>` gives `["Vec"]`, `[T]` gives `["slice"]`, `io::Result<()>` gives `["io", "Result"]`.
pub fn type_path(text: &str) -> Option<Vec<String>> {
    let mut t = text.trim();
    loop {
        let before = t;
        t = t.trim_start_matches('&').trim_start();
        if let Some(rest) = t.strip_prefix('\'') {
            t = rest.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_').trim_start();
        }
        for kw in ["mut ", "dyn ", "impl ", "const "] {
            if let Some(rest) = t.strip_prefix(kw) {
                t = rest.trim_start();
            }
        }
        if t == before {
            break;
        }
    }
    if t.starts_with('[') {
        return Some(vec![if t.contains(';') { "array".into() } else { "slice".into() }]);
    }
    let end = t.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(t.len());
    let path = t[..end].trim_start_matches("::");
    if path.is_empty() {
        return None;
    }
    Some(path.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect())
}

/// Names of the primitive types whose methods std defines in `impl str { .. }` and the like.
pub const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "slice", "array", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64",
    "u128", "usize",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_paths() {
        assert_eq!(type_path("&'a mut Vec<T>").unwrap(), vec!["Vec"]);
        assert_eq!(type_path("[T]").unwrap(), vec!["slice"]);
        assert_eq!(type_path("io::Result<()>").unwrap(), vec!["io", "Result"]);
        assert_eq!(type_path("impl Iterator<Item = T>").unwrap(), vec!["Iterator"]);
        assert_eq!(type_path("&str").unwrap(), vec!["str"]);
    }

    #[test]
    fn reads_public_items_only() {
        let dir = std::env::temp_dir().join(format!("rc-parse-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = "//! Root docs.\n\
            pub mod a { \n\
              /// A thing.\n\
              ///\n\
              /// More.\n\
              pub struct Thing { pub x: i32, ring: u8 }\n\
              struct Private;\n\
              #[doc(hidden)] pub fn hidden() {}\n\
              #[unstable(feature = \"x\", issue = \"1\")] pub fn unstable() {}\n\
              impl Thing {\n\
                /// Makes one.\n\
                pub fn new() -> Self { Thing { x: 1, ring: 0 } }\n\
                pub fn get(&self) -> i32 { self.x }\n\
                fn secret(&self) {}\n\
              }\n\
            }\n\
            pub use a::Thing as Renamed;\n\
            #[macro_export] macro_rules! say { () => {} }\n";
        std::fs::write(dir.join("lib.rs"), src).unwrap();
        let mut raw = Raw::default();
        raw.add_crate("demo", &dir.join("lib.rs")).unwrap();
        let names: Vec<&str> = raw.defs.iter().map(|d| d.name.as_str()).collect();
        assert!(names.contains(&"Thing") && names.contains(&"new") && names.contains(&"get") && names.contains(&"say"));
        assert!(names.contains(&"x"));
        for absent in ["Private", "hidden", "unstable", "secret", "ring"] {
            assert!(!names.contains(&absent), "{absent} leaked: {names:?}");
        }
        let thing = raw.defs.iter().find(|d| d.name == "Thing").unwrap();
        assert_eq!(thing.docs, "A thing.\n\nMore.");
        assert_eq!(thing.sig, "pub struct Thing");
        let new = raw.defs.iter().find(|d| d.name == "new").unwrap();
        assert_eq!(new.sig, "pub fn new() -> Self");
        assert_eq!(new.kind, Kind::AssocFn);
        assert_eq!(raw.defs[0].uses[0].name.as_deref(), Some("Renamed"));
        assert_eq!(raw.impls.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
