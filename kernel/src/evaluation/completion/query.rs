//! Reading the code before the cursor: which word is being typed and after what (a path, a
//! receiver and a dot, or nothing), and the parts of a receiver expression.
//!
//! Hand-written scanning rather than a parse: the code before the cursor is usually
//! incomplete, and only the expression right before it matters. The cell's `let`s and `use`s,
//! which are complete, are read with rust-analyzer's parser.

use ra_ap_syntax::ast::{self, HasName};
use ra_ap_syntax::{AstNode, Edition, SourceFile};

use super::parse::{UseDecl, flatten_use};

/// What comes before the word being typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Ctx {
    /// A bare name (`Proc|`).
    Ident,
    /// After a path and `::` (`std::sync::|`).
    Path(Vec<String>),
    /// After an expression and `.` (`v.pu|`): the expression's text.
    Dot(String),
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte where the word ending at `end` starts.
pub fn word_start(code: &str, end: usize) -> usize {
    code[..end].char_indices().rev().take_while(|(_, c)| is_ident(*c)).last().map_or(end, |(i, _)| i)
}

/// The byte where the word containing `pos` ends.
pub fn word_end(code: &str, pos: usize) -> usize {
    pos + code[pos..].find(|c: char| !is_ident(c)).unwrap_or(code.len() - pos)
}

/// The context of the word that ends at `before.len()` and starts at `start`.
pub fn context(before: &str, start: usize) -> Ctx {
    let rest = &before[..start];
    if let Some(mut q) = rest.strip_suffix("::") {
        let mut segs = Vec::new();
        loop {
            let s = word_start(q, q.len());
            if s == q.len() {
                break;
            }
            segs.push(q[s..].to_string());
            match q[..s].strip_suffix("::") {
                Some(more) => q = more,
                None => break,
            }
        }
        segs.reverse();
        return if segs.is_empty() { Ctx::Ident } else { Ctx::Path(segs) };
    }
    if let Some(r) = rest.strip_suffix('.') {
        if r.ends_with('.') {
            return Ctx::Ident; // a range `a..`
        }
        let recv = receiver(r);
        if !recv.is_empty() && !recv.chars().all(|c| c.is_ascii_digit()) {
            return Ctx::Dot(recv.to_string());
        }
    }
    Ctx::Ident
}

/// Byte of the bracket that matches the one at `at` (searching backwards from a closing one,
/// forwards from an opening one), skipping strings.
fn matching(s: &str, at: usize) -> Option<usize> {
    let b = s.as_bytes();
    let forward = matches!(b.get(at)?, b'(' | b'[' | b'{');
    let mut depth = 0i32;
    let mut in_str = false;
    let mut i = at as isize;
    while i >= 0 && (i as usize) < b.len() {
        let c = b[i as usize];
        let escaped = i > 0 && b[i as usize - 1] == b'\\';
        if in_str {
            in_str = c != b'"' || escaped;
        } else {
            match c {
                b'"' => in_str = true,
                b'(' | b'[' | b'{' => depth += if forward { 1 } else { -1 },
                b')' | b']' | b'}' => depth += if forward { -1 } else { 1 },
                _ => {}
            }
            if depth == 0 {
                return Some(i as usize);
            }
        }
        i += if forward { 1 } else { -1 };
    }
    None
}

/// The receiver expression that ends `s`: `a.b(x)::<..>`, `"abc"`, `vec![1]`, `f()?`.
pub fn receiver(s: &str) -> &str {
    let mut i = s.len();
    loop {
        let head = &s[..i];
        let t = head.trim_end_matches('?');
        let mut j = t.len();
        if t.ends_with(')') || t.ends_with(']') {
            let Some(open) = matching(t, t.len() - 1) else { break };
            j = open;
            let before = &t[..j];
            if before.ends_with('!') {
                j -= 1;
            }
            if !t[..j].ends_with(is_ident) {
                // A parenthesised expression or a literal array: the receiver starts at the bracket.
                i = j;
                break;
            }
        } else if let Some(body) = t.strip_suffix('"') {
            let mut k = body.len();
            while let Some(q) = body[..k].rfind('"') {
                if q > 0 && body.as_bytes()[q - 1] == b'\\' {
                    k = q;
                    continue;
                }
                k = q;
                break;
            }
            i = k;
            break;
        }
        let w = word_start(t, j);
        if w == j {
            i = j.min(i);
            break;
        }
        i = w;
        let before = &s[..i];
        if let Some(b) = before.strip_suffix("::") {
            i = b.len();
        } else if before.ends_with('.') && !before.ends_with("..") {
            i = before.len() - 1;
        } else {
            break;
        }
    }
    s[i..].trim()
}

/// One step of a receiver expression.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Step {
    /// A path (`Process::new`, `v`), called when `call` is true.
    Path { segs: Vec<String>, call: bool },
    /// A macro call (`vec![..]`).
    Macro(String),
    /// A string literal.
    Str,
    /// A number literal (float when it has a dot).
    Num { float: bool },
    /// `.name` or `.name(..)`.
    Member { name: String, call: bool },
}

/// Splits a receiver expression into its steps; `None` when it is something else.
pub fn steps(expr: &str) -> Option<Vec<Step>> {
    let e = expr.trim().trim_start_matches(['&', '*']).trim_start_matches("mut ");
    let mut out = Vec::new();
    let mut rest = e;
    if let Some(r) = rest.strip_prefix('"') {
        let end = r.find('"')?;
        out.push(Step::Str);
        rest = &r[end + 1..];
    } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')).unwrap_or(rest.len());
        out.push(Step::Num { float: rest[..end].contains('.') });
        rest = &rest[end..];
    } else {
        let mut segs = Vec::new();
        loop {
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            segs.push(rest[..end].to_string());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        if let Some(r) = rest.strip_prefix('!') {
            rest = &r[matching(r, 0)? + 1..];
            out.push(Step::Macro(segs.pop()?));
        } else if rest.starts_with('(') {
            rest = &rest[matching(rest, 0)? + 1..];
            out.push(Step::Path { segs, call: true });
        } else {
            out.push(Step::Path { segs, call: false });
        }
    }
    loop {
        rest = rest.trim_start_matches('?');
        let Some(r) = rest.strip_prefix('.') else { break };
        let end = r.find(|c: char| !is_ident(c)).unwrap_or(r.len());
        if end == 0 {
            return None;
        }
        let name = r[..end].to_string();
        rest = &r[end..];
        if rest.starts_with("::<") {
            let close = rest.find('>')?;
            rest = &rest[close + 1..];
        }
        let call = rest.starts_with('(');
        if call {
            rest = &rest[matching(rest, 0)? + 1..];
        }
        out.push(Step::Member { name, call });
    }
    rest.trim().is_empty().then_some(out)
}

/// The callee before the innermost bracket `(` still open at the end of `before`: the byte where
/// the callee's name ends.
pub fn open_call(before: &str) -> Option<usize> {
    let b = before.as_bytes();
    let mut depth = 0;
    for i in (0..b.len()).rev() {
        match b[i] {
            b')' | b']' | b'}' => depth += 1,
            b'(' | b'[' | b'{' if depth > 0 => depth -= 1,
            b'(' => {
                let name_end = before[..i].trim_end().len();
                return (name_end > 0 && before[..name_end].ends_with(is_ident)).then_some(name_end);
            }
            b'{' | b'[' => return None,
            _ => {}
        }
    }
    None
}

/// The `let` bindings and `use` declarations of the cell's code.
#[derive(Debug, Default)]
pub struct CellScope {
    /// Name, written type, initializer (in order; a later one shadows an earlier one).
    pub lets: Vec<(String, Option<String>, Option<String>)>,
    pub uses: Vec<UseDecl>,
    /// Every name the cell defines: functions, parameters, closure and loop variables.
    pub names: Vec<String>,
}

/// Reads the complete statements of a cell (the code before the cursor).
pub fn cell_scope(code: &str) -> CellScope {
    let wrapped = format!("fn __cell() {{\n{code}\n}}");
    let file = SourceFile::parse(&wrapped, Edition::Edition2024).tree();
    let mut scope = CellScope::default();
    for node in file.syntax().descendants() {
        if let Some(n) = ast::Name::cast(node.clone()) {
            let text = n.text().to_string();
            if text != "__cell" && !scope.names.contains(&text) {
                scope.names.push(text);
            }
        }
        if let Some(l) = ast::LetStmt::cast(node.clone()) {
            if let Some(ast::Pat::IdentPat(p)) = l.pat()
                && let Some(name) = p.name() {
                    let ty = l.ty().map(|t| t.syntax().text().to_string());
                    let init = l.initializer().map(|e| e.syntax().text().to_string());
                    scope.lets.push((name.text().to_string(), ty, init));
                }
        } else if let Some(u) = ast::Use::cast(node)
            && let Some(tree) = u.use_tree() {
                flatten_use(&tree, &[], false, &mut scope.uses);
            }
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_of(before: &str) -> (String, Ctx) {
        let start = word_start(before, before.len());
        (before[start..].to_string(), context(before, start))
    }

    #[test]
    fn contexts() {
        assert_eq!(ctx_of("let p = Proc"), ("Proc".into(), Ctx::Ident));
        assert_eq!(ctx_of("Process::ne"), ("ne".into(), Ctx::Path(vec!["Process".into()])));
        assert_eq!(ctx_of("x = std::sync::"), ("".into(), Ctx::Path(vec!["std".into(), "sync".into()])));
        assert_eq!(ctx_of("v.pu"), ("pu".into(), Ctx::Dot("v".into())));
        assert_eq!(ctx_of("\"abc\".to_up"), ("to_up".into(), Ctx::Dot("\"abc\"".into())));
        assert_eq!(ctx_of("let i = current_process()."), ("".into(), Ctx::Dot("current_process()".into())));
        assert_eq!(ctx_of("f(a.b(1, (2)).c"), ("c".into(), Ctx::Dot("a.b(1, (2))".into())));
        assert_eq!(ctx_of("for i in 0..n"), ("n".into(), Ctx::Ident));
        assert_eq!(ctx_of("vec![1, 2].it"), ("it".into(), Ctx::Dot("vec![1, 2]".into())));
    }

    #[test]
    fn receiver_steps() {
        assert_eq!(
            steps("Queue::new().get()").unwrap(),
            vec![Step::Path { segs: vec!["Queue".into(), "new".into()], call: true }, Step::Member { name: "get".into(), call: true }]
        );
        assert_eq!(steps("\"a\"").unwrap(), vec![Step::Str]);
        assert_eq!(steps("vec![1]").unwrap(), vec![Step::Macro("vec".into())]);
        assert_eq!(steps("v.iter().map(|x| x + 1)").unwrap().len(), 3);
        assert!(steps("a + b").is_none());
    }

    #[test]
    fn calls_and_cells() {
        let code = "let p = Process::new(|| {}, ";
        assert_eq!(open_call(code), Some("let p = Process::new".len()));
        assert_eq!(open_call("let x = (1 + 2"), None);
        let s = cell_scope("use std::collections::HashMap;\nlet v = Vec::new();\nlet s: String = x;\nlet m = HashMap::");
        assert_eq!(s.lets[0], ("v".into(), None, Some("Vec::new()".into())));
        assert_eq!(s.lets[1].1.as_deref(), Some("String"));
        assert_eq!(s.uses[0].path, vec!["std", "collections", "HashMap"]);
        let s = cell_scope("fn area(width: u32) -> u32 {\n    for step in 0..width { let q = |item| item; }\n");
        for n in ["area", "width", "step", "q", "item"] {
            assert!(s.names.iter().any(|x| x == n), "{n} not in {:?}", s.names);
        }
    }
}
