//! rustc's own text for an error, moved from the generated file to the cell.
//!
//! evcxr compiles a generated `src/lib.rs` that holds the cell's code among its own; rustc's
//! `rendered` text (the same layout the terminal shows: labels under the source line,
//! `= note:` lines, suggestions with `+++` markers) therefore names `src/lib.rs` lines. This
//! module rewrites its locations and gutter numbers to the cell's lines, but only for lines
//! whose text is verifiably the cell's own: every `src/lib.rs` line number is looked up through
//! the spans evcxr already mapped (line offsets) and the line's text is compared with the
//! cell's. When the main part of the error cannot be mapped this way, `None` tells the caller to
//! render from evcxr's spans instead.
//!
//! Hand-written: no crate rewrites rustc's rendered diagnostics; re-rendering from the spans
//! (e.g. with `annotate-snippets`) would need every child's replacement text in the cell's
//! coordinates, which is exactly the mapping done here, and would still only imitate rustc.

use std::collections::HashMap;

use evcxr::CompilationError;
use serde_json::Value;

use super::strip_ansi;

/// Where one `src/lib.rs` line is in the cell: its line number and how many characters of the
/// cell's line come before the generated copy (non-zero when a statement starts mid-line).
#[derive(Clone, Copy, Debug, PartialEq)]
struct CellLine {
    line: usize,
    shift: usize,
}

/// The cell's lines and the `src/lib.rs` → cell line mapping built from evcxr's spans.
struct LineMap<'a> {
    cell: Vec<&'a str>,
    /// Candidate differences "lib.rs line - cell line", most likely first.
    deltas: Vec<isize>,
    known: HashMap<usize, CellLine>,
}

impl<'a> LineMap<'a> {
    fn new(error: &CompilationError, code: &'a str) -> LineMap<'a> {
        let cell: Vec<&str> = code.lines().collect();
        let mut spans = Vec::new();
        collect_spans(&error.json, &mut spans);
        // The primary span and evcxr's primary message give the most likely offset; every
        // other (json line, mapped line) combination is a candidate for the other segments.
        let mut deltas: Vec<isize> = Vec::new();
        let json_primary = spans.iter().find(|s| s["is_primary"].as_bool() == Some(true)).and_then(|s| s["line_start"].as_u64());
        let mapped_primary = error.primary_spanned_message().and_then(|m| m.span).map(|s| s.start_line);
        if let (Some(j), Some(m)) = (json_primary, mapped_primary) {
            deltas.push(j as isize - m as isize);
        }
        let mapped: Vec<usize> = error
            .spanned_messages()
            .iter()
            .chain(error.help_spanned())
            .filter_map(|m| m.span)
            .flat_map(|s| [s.start_line, s.end_line])
            .collect();
        for s in &spans {
            for key in ["line_start", "line_end"] {
                let Some(j) = s[key].as_u64() else { continue };
                for &m in &mapped {
                    let d = j as isize - m as isize;
                    if !deltas.contains(&d) {
                        deltas.push(d);
                    }
                }
            }
        }
        let mut map = LineMap { cell, deltas, known: HashMap::new() };
        for s in &spans {
            let Some(start) = s["line_start"].as_u64() else { continue };
            for (i, t) in s["text"].as_array().into_iter().flatten().enumerate() {
                if let Some(text) = t["text"].as_str() {
                    map.resolve(start as usize + i, text);
                }
            }
        }
        map
    }

    /// The cell line that `lib_line` (whose generated text is `text`) copies, if any.
    fn resolve(&mut self, lib_line: usize, text: &str) -> Option<CellLine> {
        if let Some(found) = self.known.get(&lib_line) {
            return Some(*found);
        }
        for &d in &self.deltas {
            let line = lib_line as isize - d;
            if line < 1 || line as usize > self.cell.len() {
                continue;
            }
            let own = self.cell[line as usize - 1];
            if own == text || (!text.trim().is_empty() && own.ends_with(text)) {
                let shift = own[..own.len() - text.len()].chars().count();
                let found = CellLine { line: line as usize, shift };
                self.known.insert(lib_line, found);
                return Some(found);
            }
        }
        // Lines evcxr placed elsewhere (an item of the cell, such as a `fn`, named only in a
        // note it did not map): the one cell line with exactly this text, if there is one.
        let mut same = self.cell.iter().enumerate().filter(|(_, own)| **own == text && text.trim().len() > 3);
        if let (Some((i, _)), None) = (same.next(), same.next()) {
            let found = CellLine { line: i + 1, shift: 0 };
            self.known.insert(lib_line, found);
            return Some(found);
        }
        None
    }

    fn text(&self, line: usize) -> &str {
        self.cell.get(line - 1).copied().unwrap_or("")
    }
}

/// Every span of `diagnostic` and its children (and macro expansion sites) in `src/lib.rs`.
fn collect_spans<'v>(diagnostic: &'v Value, out: &mut Vec<&'v Value>) {
    fn span_and_expansions<'v>(span: &'v Value, out: &mut Vec<&'v Value>) {
        if span["file_name"].as_str().is_some_and(|f| f.ends_with("lib.rs")) {
            out.push(span);
        }
        if span["expansion"]["span"].is_object() {
            span_and_expansions(&span["expansion"]["span"], out);
        }
    }
    for span in diagnostic["spans"].as_array().into_iter().flatten() {
        span_and_expansions(span, out);
    }
    for child in diagnostic["children"].as_array().into_iter().flatten() {
        collect_spans(child, out);
    }
}

/// One line of rustc's rendered text, split at its gutter.
enum Line<'t> {
    /// `error[E…]: …`, `note: …`, `help: …` at the left edge: a new section.
    Header(&'t str),
    /// ` --> src/lib.rs:L:C`.
    Location { line: usize, column: usize },
    /// ` ::: some/other/file.rs:L:C` (another file: the support crate, the standard library).
    Elsewhere,
    /// `L | source`, `L + added`, `L - removed`, `L ~ changed`: `mark` is `|`, `+`, `-` or `~`.
    Numbered { number: usize, mark: char, text: &'t str },
    /// Gutter-only lines (` | ^^^ label`, ` = note: …`): `rest` follows the gutter.
    Gutter { rest: &'t str },
    /// Anything else (`...` between elided lines, blank lines), kept as it is.
    Other(&'t str),
}

fn classify(line: &str, width: usize) -> Line<'_> {
    let Some((gutter, rest)) = line.split_at_checked(width) else { return header_or_other(line) };
    let number = gutter.trim_start();
    let mut chars = rest.chars();
    if let (false, Ok(number), Some(' '), Some(mark)) = (number.is_empty(), number.parse::<usize>(), chars.next(), chars.next()) {
        if "|+-~".contains(mark) {
            let text = rest[2..].strip_prefix(' ').unwrap_or(&rest[2..]);
            return Line::Numbered { number, mark, text };
        }
    }
    if !gutter.starts_with(' ') {
        return header_or_other(line);
    }
    if let Some(place) = rest.strip_prefix("--> ") {
        let mut parts = place.rsplitn(3, ':');
        let column = parts.next().and_then(|c| c.parse().ok());
        let lnum = parts.next().and_then(|l| l.parse().ok());
        let file = parts.next().unwrap_or("");
        return match (file.ends_with("lib.rs"), lnum, column) {
            (true, Some(line), Some(column)) => Line::Location { line, column },
            _ => Line::Elsewhere,
        };
    }
    if rest.starts_with("::: ") {
        return Line::Elsewhere;
    }
    if gutter.trim().is_empty() {
        return Line::Gutter { rest };
    }
    Line::Other(line)
}

fn header_or_other(line: &str) -> Line<'_> {
    if !line.is_empty() && !line.starts_with(' ') && line != "..." { Line::Header(line) } else { Line::Other(line) }
}

/// rustc's rendered `error` with the cell's line numbers, or `None` when its main part shows
/// lines that are not verifiably the cell's own.
pub fn rustc_layout(error: &CompilationError, code: &str) -> Option<String> {
    let rendered = strip_ansi(&error.rendered());
    let rendered = rendered.trim_end();
    if rendered.is_empty() {
        return None;
    }
    // The gutter's width: the spaces before the first `-->`.
    let width = rendered.lines().find_map(|l| {
        let at = l.find("--> ")?;
        l[..at].chars().all(|c| c == ' ').then_some(at)
    });
    let Some(width) = width else {
        // No source shown at all (a message with notes only): nothing to map.
        return Some(rendered.to_string());
    };
    let mut map = LineMap::new(error, code);
    let lines: Vec<Line> = rendered.lines().map(|l| classify(l, width)).collect();

    // First pass: where each numbered line is in the cell (None: not the cell's), and which
    // sections cannot be mapped. Lines shown after `:::` belong to another file.
    let mut places: Vec<Option<CellLine>> = vec![None; lines.len()];
    let mut section_of = vec![0usize; lines.len()];
    // Per section: whether it is a `help:` and whether a line of it is not the cell's.
    let mut sections: Vec<(bool, bool)> = vec![(false, false)];
    let mut foreign = false;
    // The last numbered line mapped (its `src/lib.rs` number and cell line): a suggestion's
    // added lines (`+`, `~`) number on from it.
    let mut last: Option<(usize, usize)> = None;
    for (i, line) in lines.iter().enumerate() {
        match line {
            Line::Header(h) => {
                if i > 0 {
                    sections.push((h.starts_with("help"), false));
                }
                foreign = false;
            }
            Line::Location { .. } => foreign = false,
            Line::Elsewhere => foreign = true,
            Line::Numbered { number, mark, text } if !foreign => {
                places[i] = match mark {
                    // A suggestion's changed line differs from the cell's: the spans' copies
                    // of the original line mapped it already, or it was added after the
                    // previous one.
                    '+' | '~' => map.known.get(number).copied().or_else(|| {
                        let (lib, cell) = last?;
                        (*number > lib).then(|| CellLine { line: cell + (number - lib), shift: 0 })
                    }),
                    _ => map.resolve(*number, text),
                };
                if let Some(p) = places[i] {
                    last = Some((*number, p.line));
                }
                if places[i].is_none() {
                    sections.last_mut().expect("a section").1 = true;
                }
            }
            _ => {}
        }
        section_of[i] = sections.len() - 1;
    }
    if sections[0].1 {
        return None;
    }
    let new_width = places.iter().flatten().map(|p| p.line.to_string().len()).max().unwrap_or(1);
    let pad = " ".repeat(new_width);

    let mut out: Vec<String> = Vec::new();
    // Shift of the last numbered line: its annotation lines move right with it.
    let mut shift = 0usize;
    for (i, line) in lines.iter().enumerate() {
        let (is_help, unmapped) = sections[section_of[i]];
        if unmapped && is_help {
            // A suggestion for code the student cannot see would only confuse.
            continue;
        }
        match line {
            Line::Header(h) => {
                shift = 0;
                out.push(h.to_string());
            }
            Line::Location { line, column } => {
                // The location's line is the next numbered line with the same number.
                let place = map.known.get(line).copied().or_else(|| {
                    (i + 1..lines.len()).find_map(|j| match lines[j] {
                        Line::Numbered { number, .. } if number == *line => places[j],
                        _ => None,
                    })
                });
                match place {
                    Some(p) => out.push(format!("{pad}--> cell:{}:{}", p.line, column + p.shift)),
                    None if unmapped => {}
                    None => return None,
                }
            }
            Line::Elsewhere => {}
            Line::Numbered { mark, text, .. } => match places[i] {
                Some(p) => {
                    shift = p.shift;
                    let prefix: String = map.text(p.line).chars().take(p.shift).collect();
                    out.push(format!("{:>new_width$} {mark} {prefix}{text}", p.line).trim_end().to_string());
                }
                None => {
                    shift = 0;
                    out.push(format!("{pad} {mark} {text}").trim_end().to_string());
                }
            },
            Line::Gutter { rest } => {
                let moved = match rest.strip_prefix(" | ") {
                    Some(marks) if shift > 0 && !marks.is_empty() => format!(" | {}{marks}", " ".repeat(shift)),
                    _ => rest.to_string(),
                };
                out.push(format!("{pad}{moved}"));
            }
            Line::Other("...") => {
                // rustc's mark for lines left out; in the cell those lines may be adjacent
                // (the lines between were generated code).
                let before = places[..i].iter().rev().flatten().next();
                let after = places[i + 1..].iter().flatten().next();
                if !matches!((before, after), (Some(b), Some(a)) if a.line <= b.line + 1) {
                    out.push(String::from("..."));
                }
            }
            Line::Other(text) => out.push(text.to_string()),
        }
    }
    Some(out.join("\n"))
}
