//! Turning evcxr's errors into one Jupyter `error`: rustc's messages pointing at the cell's own
//! lines, without terminal colour codes.
//!
//! rustc's own layout is kept (the frontend shows the traceback verbatim, so it must be plain
//! text): [`remap`] moves rustc's rendered text to the cell's lines, [`spans`] draws the same
//! layout from evcxr's spans when rustc's text shows generated code.

use evcxr::CompilationError;

mod remap;
mod spans;

/// `text` without terminal escape sequences (CSI `ESC [ … final` and OSC `ESC ] … BEL/ST`).
///
/// Hand-written: the only escapes that reach the kernel are rustc's colours and links, and a dependency for
/// a ten-line state machine is not worth it. Used for evcxr's errors here and, once more, by
/// the execute handler on every `error` it sends (whatever produced the text).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '\u{1b}' {
            out.push(ch);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // Parameters and intermediates, then one final byte in '@'..='~'.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

/// Whether `error` is one of rustc's own diagnostics (an error or a warning) rather than a
/// note or help that evcxr lifted out of a diagnostic whose main span was in generated code.
pub fn is_main_message(error: &CompilationError) -> bool {
    matches!(error.level(), "error" | "warning")
}

/// The `evalue` and traceback of a cell that did not compile: its errors first (the first
/// one's message is the `evalue`), then warnings about the cell's own lines; warnings about
/// code of earlier cells (which evcxr compiles again) are left out.
pub fn failed_cell(errs: &[CompilationError], code: &str) -> (String, Vec<String>) {
    let is_error = |e: &&CompilationError| e.level() != "warning";
    let about_the_cell = |e: &&CompilationError| e.spanned_messages().iter().any(|m| m.span.is_some());
    let shown: Vec<&CompilationError> =
        errs.iter().filter(is_error).chain(errs.iter().filter(|e| !is_error(e) && about_the_cell(e))).collect();
    let evalue = shown.first().map(|e| e.message()).unwrap_or_else(|| "compilation failed".into());
    (evalue, shown.iter().map(|e| render(e, code)).collect())
}

/// Explanation for a cell whose last line is a value that cannot be shown.
const FINAL_VALUE_NOT_DEBUG: &str = "note: the last line of this cell has no `;`, so the notebook shows its value with `{:?}`, \
which needs the `Debug` trait. Put `#[derive(Debug)]` above the type's definition, or end the \
line with `;` if you do not want to see the value.";

/// Renders one compilation error like rustc does, with the cell's line numbers: rustc's own
/// text moved to the cell when every line it shows is the cell's (see [`remap`]), otherwise
/// drawn from the spans evcxr mapped to the cell (see [`spans`]).
pub fn render(error: &CompilationError, code: &str) -> String {
    let mut out = match remap::rustc_layout(error, code) {
        Some(text) => text,
        None => {
            if error.spanned_messages().iter().all(|m| m.span.is_none())
                && error.code() == Some("E0277")
                && error.message().contains("doesn't implement `Debug`")
            {
                // The span is in evcxr's wrapper that formats the cell's value: rustc's rendering
                // would point at generated code the student never wrote.
                return format!("{}\n{FINAL_VALUE_NOT_DEBUG}\n", spans::head(error));
            }
            spans::layout(error, code)
        }
    };
    if let Some(hint) = error.evcxr_extra_hint() {
        out.push_str(&format!("\n  = note: {hint}"));
    }
    out.push('\n');
    out
}
