//! A cell's `.await` outside any `async` block or function, answered before evcxr sees it.
//!
//! On rustc's E0728 ("`await` is only allowed inside `async` functions and blocks") evcxr adds
//! a cargo dependency on tokio and compiles it into the cache slot (minutes, and from the
//! network), then wraps every later cell in a tokio runtime. With the support crate's tokio
//! already linked into every cell (`cells-extern`), the two tokios then clash (E0464) and the
//! cell fails anyway. So the kernel looks for such an `.await` itself (rust-analyzer's parser,
//! no compile) and answers with rustc's error and the way our lessons run async code:
//! `aio::block_on(async { … })`. See docs/architecture.md, "Async cells".

use ra_ap_syntax::{AstNode, Edition, SourceFile, SyntaxKind, ast};

const WRAP: &str = "fn f(){";

/// Byte offset in `code` of the first `.await` that is not inside an `async` block, closure
/// or function; `None` when there is none (or the cell is an evcxr `:command`).
pub fn find(code: &str) -> Option<usize> {
    if code.trim_start().starts_with(':') || !code.contains("await") {
        return None;
    }
    let wrapped = format!("{WRAP}{code}\n}}");
    let file = SourceFile::parse(&wrapped, Edition::Edition2024).tree();
    file.syntax().descendants().filter_map(ast::AwaitExpr::cast).find(|a| !in_async(a.syntax())).map(|a| {
        let at = a.await_token().map_or(a.syntax().text_range().start(), |t| t.text_range().start());
        usize::from(at).saturating_sub(WRAP.len())
    })
}

fn in_async(node: &ra_ap_syntax::SyntaxNode) -> bool {
    for up in node.ancestors().skip(1) {
        match up.kind() {
            SyntaxKind::BLOCK_EXPR => {
                if ast::BlockExpr::cast(up).and_then(|b| b.async_token()).is_some() {
                    return true;
                }
            }
            SyntaxKind::CLOSURE_EXPR => {
                if ast::ClosureExpr::cast(up.clone()).and_then(|c| c.async_token()).is_some() {
                    return true;
                }
            }
            // The first enclosing function decides (the outermost is the wrapper, not async).
            SyntaxKind::FN => return ast::Fn::cast(up).and_then(|f| f.async_token()).is_some(),
            _ => {}
        }
    }
    false
}

/// The error shown for an `.await` at byte `at` of `code`: rustc's words, the cell's line and
/// column, and what to write instead.
pub fn message(code: &str, at: usize) -> (String, Vec<String>) {
    let before = &code[..at.min(code.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let evalue = String::from("`await` is only allowed inside `async` functions and blocks");
    let traceback = vec![
        format!("error[E0728]: {evalue}"),
        format!(" --> cell line {line}, column {column}"),
        String::from("  = help: a cell is not async: run async code with `aio::block_on`, e.g."),
        String::from("          `let v = aio::block_on(async { some_future().await });`"),
    ];
    (evalue, traceback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_await_outside_async_code() {
        assert_eq!(find("aio::sleep(1.0).await;"), Some(16));
        assert_eq!(find("let x = 1;\nfoo().await"), Some(17));
        assert_eq!(find("fn plain() { foo().await; }"), Some(19), "a plain fn is not async");
        assert_eq!(find("async fn f() { fn g() { x.await } }"), Some(26), "the nearest fn decides");
    }

    #[test]
    fn leaves_async_code_alone() {
        assert_eq!(find("aio::block_on(async { aio::sleep(1.0).await });"), None);
        assert_eq!(find("async fn f() -> u32 { g().await + 1 }"), None);
        assert_eq!(find("let c = async move || x.await;"), None);
        assert_eq!(find("let s = \"no .await here\";"), None);
        assert_eq!(find(":dep foo"), None);
        assert_eq!(find("1 + 1"), None);
    }

    #[test]
    fn the_message_names_the_cells_line_and_block_on() {
        let code = "let a = 1;\n  foo().await;";
        let at = find(code).unwrap();
        let (evalue, traceback) = message(code, at);
        assert!(evalue.contains("async"), "{evalue}");
        assert_eq!(traceback[1], " --> cell line 2, column 9");
        assert!(traceback.iter().any(|t| t.contains("aio::block_on")));
    }
}
