//! rustc's layout drawn from the spans evcxr mapped to the cell, for errors whose rendered text
//! shows generated code (see `remap`) or that rustc reported on a child diagnostic.
//!
//! Hand-written rather than with `annotate-snippets`: the layout needed is small (one source
//! block, labels under their lines, children as `= note:` lines or suggestion blocks), and the
//! spans come from evcxr already in cell coordinates (another rewrite of a cell's lines, e.g.
//! type annotations added before compiling, plugs in by mapping these spans).

use evcxr::CompilationError;
use serde_json::Value;

/// `error[E0382]: borrow of moved value: `s``.
pub fn head(error: &CompilationError) -> String {
    match error.code() {
        Some(c) => format!("{}[{c}]: {}", error.level(), error.message()),
        None => format!("{}: {}", error.level(), error.message()),
    }
}

/// One child of the diagnostic (`note:` / `help:`), with its suggestion placed in the cell.
struct Child {
    level: String,
    message: String,
    span: Option<At>,
    replacement: Option<String>,
}

/// A span in the cell (evcxr's `Span`, which it does not export by name): 1-based lines and
/// columns, the end column exclusive.
#[derive(Clone, Copy)]
struct At {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

/// The children in rustc's order, each with the span evcxr mapped for it (evcxr maps a child
/// span only for one-span notes and helps, and every span of an `error` child).
fn children(error: &CompilationError) -> Vec<Child> {
    let mut mapped = error.help_spanned().iter();
    let mut out = Vec::new();
    for child in error.json["children"].as_array().into_iter().flatten() {
        let level = child["level"].as_str().unwrap_or("note").to_string();
        let message = child["message"].as_str().unwrap_or("").to_string();
        let spans: &[Value] = child["spans"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let taken = if level == "error" { spans.len() } else if spans.len() == 1 { 1 } else { 0 };
        let mine: Vec<_> = mapped.by_ref().take(taken).collect();
        let span = mine.into_iter().find_map(|m| m.span).map(|s| At {
            start_line: s.start_line,
            start_column: s.start_column,
            end_line: s.end_line,
            end_column: s.end_column,
        });
        let replacement = spans.first().and_then(|s| s["suggested_replacement"].as_str()).map(str::to_string);
        out.push(Child { level, message, span, replacement });
    }
    out
}

/// The cell's line `n` (1-based).
fn line<'c>(cell: &[&'c str], n: usize) -> &'c str {
    cell.get(n.wrapping_sub(1)).copied().unwrap_or("")
}

/// `^^^^` / `----` under `text` from column `start` to `end` (1-based, end exclusive).
fn marks(start: usize, end: usize, mark: char) -> String {
    let start = start.saturating_sub(1);
    let end = end.saturating_sub(1).max(start + 1);
    format!("{}{}", " ".repeat(start), mark.to_string().repeat(end - start))
}

/// rustc's layout from evcxr's spans.
pub fn layout(error: &CompilationError, code: &str) -> String {
    let cell: Vec<&str> = code.lines().collect();
    let own_label = format!("{}: {}", error.level(), error.message());
    let mut spans: Vec<_> = error.spanned_messages().iter().filter(|m| m.span.is_some()).collect();
    let kids = children(error);
    let width = spans
        .iter()
        .copied()
        .filter_map(|m| m.span)
        .map(|s| s.end_line)
        .chain(kids.iter().filter_map(|k| k.span).map(|s| s.end_line))
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    let mut out = vec![head(error)];
    let primary = spans.iter().find(|m| m.is_primary).or(spans.first()).and_then(|m| m.span);
    if let Some(p) = primary {
        out.push(format!("{pad}--> cell:{}:{}", p.start_line, p.start_column));
        out.push(format!("{pad} |"));
        spans.sort_by_key(|m| m.span.map(|s| (s.start_line, s.start_column)));
        let mut shown = 0;
        for m in &spans {
            let s = m.span.expect("filtered");
            if s.start_line != shown {
                out.push(format!("{:>width$} | {}", s.start_line, line(&cell, s.start_line)).trim_end().to_string());
                shown = s.start_line;
            }
            let end = if s.end_line == s.start_line { s.end_column } else { line(&cell, s.start_line).chars().count() + 1 };
            // evcxr labels a span without its own label with the error's message: said above.
            let label = if m.label == own_label { "" } else { m.label.as_str() };
            let mark = if m.is_primary { '^' } else { '-' };
            out.push(format!("{pad} | {} {label}", marks(s.start_column, end, mark)).trim_end().to_string());
        }
    }
    let mut plain = Vec::new();
    let mut blocks = Vec::new();
    for k in &kids {
        match (k.span, &k.replacement) {
            (Some(s), Some(new)) if s.start_line == s.end_line => {
                // The suggestion as rustc shows it: the changed line, the insertion marked.
                let old = line(&cell, s.start_line);
                let start = s.start_column.saturating_sub(1);
                let end = s.end_column.saturating_sub(1).max(start);
                let before: String = old.chars().take(start).collect();
                let removed: String = old.chars().skip(start).take(end - start).collect();
                let after: String = old.chars().skip(end).collect();
                blocks.push(format!("{}: {}", k.level, k.message));
                blocks.push(format!("{pad} |"));
                if removed.is_empty() {
                    blocks.push(format!("{:>width$} | {before}{new}{after}", s.start_line));
                    blocks.push(format!("{pad} | {}{}", " ".repeat(start), "+".repeat(new.chars().count())));
                } else {
                    blocks.push(format!("{:>width$} - {old}", s.start_line));
                    blocks.push(format!("{:>width$} + {before}{new}{after}", s.start_line));
                }
            }
            (Some(s), _) => {
                blocks.push(format!("{}: {}", k.level, k.message));
                blocks.push(format!("{pad}--> cell:{}:{}", s.start_line, s.start_column));
                blocks.push(format!("{pad} |"));
                blocks.push(format!("{:>width$} | {}", s.start_line, line(&cell, s.start_line)).trim_end().to_string());
                blocks.push(format!("{pad} | {}", marks(s.start_column, s.end_column, '-')));
            }
            (None, _) if k.message.is_empty() => {}
            (None, _) => {
                // rustc's `= note:` lines, continuation lines under the text.
                let lead = format!("{pad} = {}: ", k.level);
                let indent = " ".repeat(lead.chars().count());
                for (i, text) in k.message.lines().enumerate() {
                    plain.push(if i == 0 { format!("{lead}{text}") } else { format!("{indent}{text}") });
                }
            }
        }
    }
    if !plain.is_empty() {
        if primary.is_some() {
            out.push(format!("{pad} |"));
        }
        out.extend(plain);
    }
    out.extend(blocks);
    out.join("\n")
}
