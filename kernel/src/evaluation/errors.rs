//! Turning evcxr's errors into one Jupyter `error`: rustc's messages pointing at the cell's own
//! lines, without terminal colour codes.
//!
//! evcxr's `build_report` renders through a colour-capable report library; we render the
//! spans ourselves as plain text (the frontend shows the traceback verbatim).

use evcxr::CompilationError;

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

/// Explanation for a cell whose last line is a value that cannot be shown.
const FINAL_VALUE_NOT_DEBUG: &str = "note: the last line of this cell has no `;`, so the notebook shows its value with `{:?}`, \
which needs the `Debug` trait. Put `#[derive(Debug)]` above the type's definition, or end the \
line with `;` if you do not want to see the value.";

/// Renders one compilation error like rustc does, with the cell's line numbers.
pub fn render(error: &CompilationError, code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = String::new();
    let head = match error.code() {
        Some(c) => format!("{}[{c}]: {}", error.level(), error.message()),
        None => format!("{}: {}", error.level(), error.message()),
    };
    out.push_str(&head);
    out.push('\n');
    let mut shown = false;
    for m in error.spanned_messages() {
        let Some(span) = m.span else { continue };
        shown = true;
        let width = span.end_line.to_string().len();
        out.push_str(&format!("{:width$}--> cell:{}:{}\n", "", span.start_line, span.start_column));
        for ln in span.start_line..=span.end_line {
            let text = lines.get(ln.wrapping_sub(1)).copied().unwrap_or("");
            out.push_str(&format!("{ln:>width$} | {text}\n"));
            if ln == span.start_line {
                let start = span.start_column.saturating_sub(1);
                let end = if span.end_line == span.start_line { span.end_column.saturating_sub(1).max(start + 1) } else { text.chars().count().max(start + 1) };
                let mark = if m.is_primary { '^' } else { '-' };
                out.push_str(&format!(
                    "{:width$} | {}{} {}\n",
                    "",
                    " ".repeat(start),
                    mark.to_string().repeat(end - start),
                    m.label
                ));
            }
        }
    }
    if !shown && error.code() == Some("E0277") && error.message().contains("doesn't implement `Debug`") {
        // The span is in evcxr's wrapper that formats the cell's value: rustc's rendering would
        // point at generated code the student never wrote.
        out.push_str(FINAL_VALUE_NOT_DEBUG);
        out.push('\n');
        return out;
    }
    if !shown {
        let rendered = strip_ansi(&error.rendered());
        if !rendered.trim().is_empty() {
            out.push_str(rendered.trim_end());
            out.push('\n');
        }
    }
    for h in error.help() {
        out.push_str(&format!("help: {}\n", h.trim_end()));
    }
    if let Some(hint) = error.evcxr_extra_hint() {
        out.push_str(&format!("note: {hint}\n"));
    }
    out
}
