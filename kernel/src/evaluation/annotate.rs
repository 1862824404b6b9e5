//! Types for a cell's untyped top-level `let`s, found by rustc instead of rust-analyzer.
//!
//! evcxr keeps a cell's top-level variables for later cells and needs each one's type; it asks
//! rust-analyzer, which (with no std to analyse, see `toolchain.rs`, and no view of the
//! prebuilt support crate) cannot name types such as `Vec<i32>` or `Queue<String>`. evcxr then
//! rejects the cell ("Couldn't automatically determine type of variable"). But it uses a
//! syntactically valid explicit type as given, so the kernel writes the types in first:
//!
//! 1. the cell is parsed (rust-analyzer's parser, the one evcxr splits cells with) and its
//!    untyped top-level `let`s found (a type with a `_` in it counts as none); only the last
//!    binding of a name is kept by evcxr;
//! 2. one compile-only probe through evcxr's `check` (nothing runs): the cell followed by
//!    `let _: () = (&x,);` per name. rustc reports each as mismatched types with a note
//!    "found tuple `(&T,)`", where `T` is fully qualified (the one-tuple matters: notes honour
//!    `-Ztrim-diagnostic-paths=no`, labels do not);
//! 3. the types are written into the cell (`let v: std::vec::Vec<i32> = …`; a tuple pattern
//!    becomes typed bindings and a destructuring assignment, on the same line) and evcxr runs
//!    that.
//!
//! Errors always point at the student's own columns: a cell with errors is answered from the
//! probe (the cell's own text), and an error that only the rewritten cell shows (borrow
//! checking, which rustc skips in the probe) is reported from a check of the original cell.

use evcxr::{CommandContext, CompilationError, EvalOutputs};
use ra_ap_syntax::ast::HasName;
use ra_ap_syntax::{AstNode, Edition, SourceFile, ast};

/// What the parse found: the untyped bindings that need a type, in cell order.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub lets: Vec<UntypedLet>,
    /// The cell ends with an expression (the probe must end it with `;`).
    pub tail_expr: bool,
}

/// One untyped top-level `let` whose bindings evcxr will keep.
#[derive(Debug, PartialEq)]
pub enum UntypedLet {
    /// `let [mut] x = …;` or `let x: Vec<_> = …;`: bytes `pat_end..ty_end` (empty, or the
    /// type with a `_` in it) become `: T`.
    Single { name: String, pat_end: usize, ty_end: usize },
    /// `let (a, mut b, _) = …;`: bytes `start..pat_end` (`let` up to the pattern's end) become
    /// typed bindings and a destructuring assignment.
    Tuple { fields: Vec<Option<(String, bool)>>, start: usize, pat_end: usize },
}

impl UntypedLet {
    fn names(&self) -> Vec<&str> {
        match self {
            UntypedLet::Single { name, .. } => vec![name.as_str()],
            UntypedLet::Tuple { fields, .. } => fields.iter().flatten().map(|(n, _)| n.as_str()).collect(),
        }
    }
}

const WRAP: &str = "fn f(){";

/// Finds the untyped top-level `let`s of `code` that are the last binding of their names.
/// `None` when there is nothing to do (no such `let`, a syntax error, an evcxr `:command`).
pub fn plan(code: &str) -> Option<Plan> {
    if code.lines().any(|l| l.trim_start().starts_with(':')) {
        return None;
    }
    let parsed = SourceFile::parse(&format!("{WRAP}{code}\n}}"), Edition::Edition2024);
    if !parsed.errors().is_empty() {
        return None;
    }
    let body = parsed.tree().syntax().children().find_map(ast::Fn::cast)?.body()?.stmt_list()?;
    let off = |n: &dyn AstNode| usize::from(n.syntax().text_range().start()) - WRAP.len();
    let end = |n: &dyn AstNode| usize::from(n.syntax().text_range().end()) - WRAP.len();
    // Every top-level let, typed or not (a later typed one makes an earlier binding irrelevant).
    let mut all: Vec<(Vec<String>, Option<UntypedLet>)> = Vec::new();
    for stmt in body.statements() {
        let ast::Stmt::LetStmt(l) = stmt else { continue };
        let Some(pat) = l.pat() else { continue };
        let names = bound_names(&pat);
        // `Vec<_>` leaves evcxr the same inference to do as no type at all.
        let placeholder = l.ty().is_some_and(|t| t.syntax().descendants().any(|n| ast::InferType::can_cast(n.kind())));
        let untyped = (l.ty().is_none() || placeholder) && l.initializer().is_some() && l.let_else().is_none();
        let ty_end = l.ty().map(|t| end(&t)).unwrap_or_else(|| end(&pat));
        let candidate = match &pat {
            _ if !untyped => None,
            ast::Pat::IdentPat(p) => simple_ident(p).map(|(name, _)| UntypedLet::Single { name, pat_end: end(&pat), ty_end }),
            _ if placeholder => None,
            ast::Pat::TuplePat(t) => {
                let fields: Option<Vec<_>> = t
                    .fields()
                    .map(|f| match f {
                        ast::Pat::WildcardPat(_) => Some(None),
                        ast::Pat::IdentPat(p) => simple_ident(&p).map(Some),
                        _ => None,
                    })
                    .collect();
                let start = l.let_token().map(|t| usize::from(t.text_range().start()) - WRAP.len()).unwrap_or_else(|| off(&l));
                fields.map(|fields| UntypedLet::Tuple { fields, start, pat_end: end(&pat) })
            }
            _ => None,
        };
        all.push((names, candidate));
    }
    let names: Vec<Vec<String>> = all.iter().map(|(n, _)| n.clone()).collect();
    let is_last = |i: usize, name: &str| !names[i + 1..].iter().any(|later| later.iter().any(|n| n == name));
    let mut lets = Vec::new();
    for (i, (_, candidate)) in all.into_iter().enumerate() {
        let Some(c) = candidate else { continue };
        if !c.names().is_empty() && c.names().iter().all(|n| is_last(i, n)) {
            lets.push(c);
        }
    }
    if lets.is_empty() {
        return None;
    }
    Some(Plan { lets, tail_expr: body.tail_expr().is_some() })
}

/// `x` or `mut x` (no `ref`, no `x @ pat`): the name and whether it is `mut`.
fn simple_ident(p: &ast::IdentPat) -> Option<(String, bool)> {
    if p.ref_token().is_some() || p.pat().is_some() {
        return None;
    }
    Some((p.name()?.text().to_string(), p.mut_token().is_some()))
}

/// Every name a pattern binds (for shadowing).
fn bound_names(pat: &ast::Pat) -> Vec<String> {
    pat.syntax().descendants().filter_map(ast::IdentPat::cast).filter_map(|p| p.name()).map(|n| n.text().to_string()).collect()
}

/// The probe: the cell, then one `let _: () = (&name,);` per name. Returns it and the 1-based
/// line of each name's probe.
pub fn probe_code(code: &str, plan: &Plan) -> (String, Vec<(usize, String)>) {
    let mut out = code.trim_end().to_string();
    if plan.tail_expr {
        out.push_str("\n;");
    }
    let mut lines = Vec::new();
    for name in plan.lets.iter().flat_map(|l| l.names()) {
        out.push_str(&format!("\nlet _: () = (&{name},);"));
        lines.push((out.lines().count(), name.to_string()));
    }
    (out, lines)
}

/// The `T` of rustc's note "found tuple `(&T,)`" in a rendered mismatched-types error.
pub fn found_type(rendered: &str) -> Option<String> {
    const FOUND: &str = "found tuple `(&";
    let start = rendered.find(FOUND)? + FOUND.len();
    let rest = &rendered[start..];
    let ty = rest[..rest.find('`')?].strip_suffix(",)")?;
    Some(ty.trim().to_string())
}

/// A type rustc reported, as a type the student could write: `{integer}` and `{float}` become
/// rustc's fallbacks `i32` and `f64`. A type argument still open when the probe runs (`_`, or
/// the never type `!`, unstable to write) is what a closure that only panics leaves
/// (`JoinHandle<_>`): it becomes `()`, which `!` coerces to. `Err` with an explanation for types
/// that have no name.
pub fn nameable(name: &str, ty: &str, line: usize) -> Result<String, String> {
    let mut ty = ty.replace("{integer}", "i32").replace("{float}", "f64");
    for open in ["_", "!"] {
        for (from, to) in [("<{}>", "<()>"), ("<{},", "<(),"), (", {}>", ", ()>"), (", {},", ", (),")] {
            ty = ty.replace(&from.replace("{}", open), to);
        }
    }
    let closure = ty.contains("{closure") || ty.contains("{async closure");
    if !(closure || ty.contains('{') || ty.contains("impl ")) {
        return Ok(ty);
    }
    let what = if ty.starts_with("{closure") {
        format!("`{name}` is a closure")
    } else if closure {
        format!("`{name}` holds a closure (its type is `{}`)", short_closures(&ty))
    } else {
        format!("the type of `{name}` (`{ty}`) has no name that can be written down")
    };
    Err(format!(
        "line {line}: {what}, so the notebook cannot keep `{name}` for later cells.\n\
         Either put the code that uses `{name}` inside braces `{{ … }}` in this cell, so it is not kept, \
         or give it a type that can be written, e.g. a boxed closure: \
         `let {name}: Box<dyn Fn(i32) -> i32> = Box::new(|x: i32| x + 1);`"
    ))
}

/// `{closure@src/lib.rs:12:5: 12:20}` → `{closure}` (the location is in generated code).
fn short_closures(ty: &str) -> String {
    let mut out = String::new();
    let mut rest = ty;
    while let Some(i) = rest.find("{closure@") {
        out.push_str(&rest[..i]);
        out.push_str("{closure}");
        rest = rest[i..].find('}').map(|j| &rest[i + j + 1..]).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// `code` with the types written in (`types` gives each name's type).
pub fn rewrite(code: &str, plan: &Plan, types: &[(String, String)]) -> String {
    let ty = |n: &str| types.iter().find(|(name, _)| name == n).map(|(_, t)| t.as_str());
    // (byte range replaced, replacement), applied back to front.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for l in &plan.lets {
        match l {
            UntypedLet::Single { name, pat_end, ty_end } => {
                if let Some(t) = ty(name) {
                    edits.push((*pat_end, *ty_end, format!(": {t}")));
                }
            }
            UntypedLet::Tuple { fields, start, pat_end } => {
                let typed: Option<Vec<String>> = fields
                    .iter()
                    .flatten()
                    .map(|(n, m)| ty(n).map(|t| format!("let {}{n}: {t}; ", if *m { "mut " } else { "" })))
                    .collect();
                let Some(typed) = typed else { continue };
                let names: Vec<&str> = fields.iter().map(|f| f.as_ref().map(|(n, _)| n.as_str()).unwrap_or("_")).collect();
                edits.push((*start, *pat_end, format!("{}({})", typed.concat(), names.join(", "))));
            }
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = code.to_string();
    for (from, to, text) in edits {
        out.replace_range(from..to, &text);
    }
    out
}

/// 1-based line of `error`'s primary span, if it has one.
fn error_line(error: &CompilationError) -> Option<usize> {
    error.primary_spanned_message().and_then(|m| m.span).map(|s| s.start_line)
}

/// What the probe decided.
enum Probe {
    /// Run this code (the cell, possibly with types written in).
    Run(String),
    /// The cell has compile errors (reported at the student's own positions).
    Failed(Vec<CompilationError>),
    /// A variable's type cannot be written down.
    Unnameable(String),
}

/// Runs the probe for `code` (see the module comment).
fn probe(ctx: &mut CommandContext, code: &str, plan: &Plan) -> Probe {
    let (probe, lines) = probe_code(code, plan);
    let original_lines = code.trim_end().lines().count();
    let errors = match with_untrimmed_paths(|| ctx.check(&probe)) {
        Ok(e) => e,
        Err(_) => return Probe::Run(code.to_string()),
    };
    let mut types = Vec::new();
    let mut own = Vec::new();
    for e in errors {
        let line = error_line(&e);
        match line.and_then(|l| lines.iter().find(|(pl, _)| *pl == l)) {
            Some((_, name)) => {
                if let Some(t) = found_type(&e.rendered()) {
                    types.push((name.clone(), t));
                }
            }
            // Warnings about the probe's own lines (and the `;` it may add) are not the cell's.
            None if line.is_some_and(|l| l > original_lines) => {}
            None => own.push(e),
        }
    }
    if own.iter().any(|e| e.level() == "error") {
        return Probe::Failed(own);
    }
    let mut named = Vec::new();
    for (name, ty) in types {
        let line = plan_line(code, plan, &name);
        match nameable(&name, &ty, line) {
            Ok(t) => named.push((name, t)),
            Err(msg) => return Probe::Unnameable(msg),
        }
    }
    Probe::Run(rewrite(code, plan, &named))
}

/// 1-based line of the `let` binding `name` in the cell.
fn plan_line(code: &str, plan: &Plan, name: &str) -> usize {
    let at = plan
        .lets
        .iter()
        .find(|l| l.names().contains(&name))
        .map(|l| match l {
            UntypedLet::Single { pat_end, .. } => *pat_end,
            UntypedLet::Tuple { start, .. } => *start,
        })
        .unwrap_or(0);
    code[..at.min(code.len())].matches('\n').count() + 1
}

/// Runs `f` (the probe's `check`) with rustc printing full paths in notes.
///
/// `-Ztrim-diagnostic-paths=no` is an unstable flag: stable rustc takes it only with
/// `RUSTC_BOOTSTRAP=1`. Both are set just for the probe's build, which only type-checks and
/// produces nothing that runs, and are taken away before the cell itself is built, so the
/// student's code never compiles with unstable features enabled.
fn with_untrimmed_paths<T>(f: impl FnOnce() -> T) -> T {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let probe_flags = if flags.is_empty() { "-Ztrim-diagnostic-paths=no".to_string() } else { format!("{flags}\u{1f}-Ztrim-diagnostic-paths=no") };
    // SAFETY: the evaluator thread is the only one that changes the environment, and the
    // variables matter only to the cargo process `f` starts.
    unsafe {
        std::env::set_var("CARGO_ENCODED_RUSTFLAGS", &probe_flags);
        std::env::set_var("RUSTC_BOOTSTRAP", "1");
    }
    let out = f();
    unsafe {
        std::env::set_var("CARGO_ENCODED_RUSTFLAGS", &flags);
        std::env::remove_var("RUSTC_BOOTSTRAP");
    }
    out
}

/// Runs a cell through evcxr with the types of its untyped `let`s written in. The second value
/// is the rewritten cell when the errors came from it (their positions are in its text: see
/// `annotated_errors::restore`).
pub fn execute(ctx: &mut CommandContext, code: &str) -> (Result<EvalOutputs, evcxr::Error>, Option<String>) {
    let Some(plan) = plan(code) else { return (ctx.execute(code), None) };
    let started = std::time::Instant::now();
    let decided = probe(ctx, code, &plan);
    if super::timing_enabled() {
        eprintln!("[timing] type probe {:?}", started.elapsed());
    }
    let run = match decided {
        // The probe checked the student's own text followed by probe lines: positions are theirs.
        Probe::Failed(errors) => return (Err(evcxr::Error::CompilationErrors(errors)), None),
        Probe::Unnameable(msg) => return (Err(evcxr::Error::Message(msg)), None),
        Probe::Run(run) => run,
    };
    if run == code {
        return (ctx.execute(code), None);
    }
    match ctx.execute(&run) {
        // Found only in the rewritten cell (borrow checking runs once the types check): rendered
        // against its text, then shown in the student's (annotated_errors).
        Err(e @ evcxr::Error::CompilationErrors(_)) => (Err(e), Some(run)),
        other => (other, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(code: &str) -> Vec<String> {
        plan(code).map(|p| p.lets.iter().flat_map(|l| l.names().into_iter().map(String::from)).collect()).unwrap_or_default()
    }

    #[test]
    fn finds_untyped_top_level_lets_only() {
        assert_eq!(single("let v = vec![1, 2, 3];\nlet n: i32 = 1;\n{ let inner = 2; }"), ["v"]);
        assert_eq!(single("let x;\nlet Some(y) = None::<i32> else { return };"), Vec::<String>::new());
        assert!(plan(":dep foo\nlet a = 1;").is_none());
        assert!(plan("let a = (;").is_none());
    }

    #[test]
    fn only_the_last_binding_of_a_name_counts() {
        assert_eq!(single("let x = 1;\nlet x = x.to_string();"), ["x"]);
        let p = plan("let x = 1;\nlet x = x.to_string();").unwrap();
        assert_eq!(p.lets, [UntypedLet::Single { name: "x".into(), pat_end: 16, ty_end: 16 }]);
        // A typed later binding needs nothing.
        assert!(plan("let x = 1;\nlet x: String = x.to_string();").is_none());
    }

    #[test]
    fn probe_lines_follow_the_cell() {
        let p = plan("let v = vec![1];\nv.len()").unwrap();
        assert!(p.tail_expr);
        let (code, lines) = probe_code("let v = vec![1];\nv.len()", &p);
        assert_eq!(code, "let v = vec![1];\nv.len()\n;\nlet _: () = (&v,);");
        assert_eq!(lines, [(4, "v".to_string())]);
    }

    #[test]
    fn reads_the_type_from_rustcs_note() {
        let rendered = "error[E0308]: mismatched types\n --> src/lib.rs:9:13\n  |\n  = note: expected unit type `()`\n            found tuple `(&std::vec::Vec<i32>,)`\n";
        assert_eq!(found_type(rendered).as_deref(), Some("std::vec::Vec<i32>"));
        let nested = "found tuple `(&(i32, std::string::String),)`";
        assert_eq!(found_type(nested).as_deref(), Some("(i32, std::string::String)"));
        assert_eq!(found_type("expected `i32`, found `u8`"), None);
    }

    #[test]
    fn literal_types_get_rustcs_fallbacks_and_closures_a_message() {
        assert_eq!(nameable("v", "std::vec::Vec<{integer}>", 1).unwrap(), "std::vec::Vec<i32>");
        assert_eq!(nameable("x", "{float}", 1).unwrap(), "f64");
        assert_eq!(nameable("h", "std::thread::JoinHandle<_>", 1).unwrap(), "std::thread::JoinHandle<()>");
        assert_eq!(nameable("h", "std::thread::JoinHandle<!>", 1).unwrap(), "std::thread::JoinHandle<()>");
        let msg = nameable("f", "{closure@src/lib.rs:3:9: 3:17}", 2).unwrap_err();
        assert!(msg.starts_with("line 2: `f` is a closure"), "{msg}");
        let msg = nameable("it", "std::iter::Map<std::ops::Range<i32>, {closure@src/lib.rs:3:9: 3:17}>", 1).unwrap_err();
        assert!(msg.contains("holds a closure (its type is `std::iter::Map<std::ops::Range<i32>, {closure}>`)"), "{msg}");
    }

    #[test]
    fn writes_types_into_single_and_tuple_lets() {
        let code = "let mut v = vec![1];\nlet (a, mut b, _) = (1, \"x\".to_string(), 2);\nv.push(a);";
        let p = plan(code).unwrap();
        let types = [("v".to_string(), "std::vec::Vec<i32>".to_string()), ("a".into(), "i32".into()), ("b".into(), "std::string::String".into())];
        assert_eq!(
            rewrite(code, &p, &types),
            "let mut v: std::vec::Vec<i32> = vec![1];\nlet a: i32; let mut b: std::string::String; (a, b, _) = (1, \"x\".to_string(), 2);\nv.push(a);"
        );
    }

    #[test]
    fn a_type_with_a_placeholder_is_replaced() {
        let code = "let hs: Vec<_> = (0..2).map(|_| 1).collect();";
        let p = plan(code).unwrap();
        let types = [("hs".to_string(), "std::vec::Vec<i32>".to_string())];
        assert_eq!(rewrite(code, &p, &types), "let hs: std::vec::Vec<i32> = (0..2).map(|_| 1).collect();");
        assert!(plan("let hs: Vec<i32> = Vec::new();").is_none());
    }

    #[test]
    fn names_without_a_type_stay_as_written() {
        let code = "let q = Queue::<String>::new();";
        let p = plan(code).unwrap();
        assert_eq!(rewrite(code, &p, &[]), code);
    }

    #[test]
    fn the_line_of_a_binding() {
        let code = "let a = 1;\n\nlet f = |x: i32| x + 1;";
        assert_eq!(plan_line(code, &plan(code).unwrap(), "f"), 3);
    }
}
