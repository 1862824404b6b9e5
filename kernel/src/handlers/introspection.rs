//! `complete_request`, `inspect_request` (through the evaluator) and `is_complete_request`
//! (our own scanner).

use crate::evaluation::Evaluator;
use serde_json::{Value, json};

/// The `cursor_pos` of a request, clamped to the code's length in characters (code points).
fn cursor(content: &Value, code: &str) -> usize {
    let len = code.chars().count();
    content
        .get("cursor_pos")
        .and_then(Value::as_u64)
        .map_or(len, |c| (c as usize).min(len))
}

/// The content of `complete_reply`.
pub fn complete(evaluator: Option<&mut Evaluator>, content: &Value) -> Value {
    let code = content.get("code").and_then(Value::as_str).unwrap_or("");
    let pos = cursor(content, code);
    let (matches, start, end) = match evaluator {
        Some(ev) => {
            let c = ev.complete(code, pos);
            (c.matches, c.cursor_start, c.cursor_end)
        }
        None => (Vec::new(), pos, pos),
    };
    json!({ "status": "ok", "matches": matches, "cursor_start": start, "cursor_end": end, "metadata": {} })
}

/// The content of `inspect_reply`.
pub fn inspect(evaluator: Option<&mut Evaluator>, content: &Value) -> Value {
    let code = content.get("code").and_then(Value::as_str).unwrap_or("");
    let pos = cursor(content, code);
    let detail = content.get("detail_level").and_then(Value::as_u64).unwrap_or(0).min(1) as u8;
    match evaluator.and_then(|ev| ev.inspect(code, pos, detail)) {
        Some(text) => json!({ "status": "ok", "found": true, "data": { "text/plain": text }, "metadata": {} }),
        None => json!({ "status": "ok", "found": false, "data": {}, "metadata": {} }),
    }
}

/// The content of `is_complete_reply`.
pub fn is_complete(content: &Value) -> Value {
    let code = content.get("code").and_then(Value::as_str).unwrap_or("");
    match scan(code) {
        Completeness::Complete => json!({ "status": "complete" }),
        Completeness::Incomplete => json!({ "status": "incomplete", "indent": "    " }),
        Completeness::Invalid => json!({ "status": "invalid" }),
    }
}

/// Whether a piece of Rust could be run as it is.
#[derive(Debug, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// An open bracket, string or block comment: the person is still typing.
    Incomplete,
    /// A closing bracket without (or not matching) its opener.
    Invalid,
}

/// Scans brackets, strings, character literals and comments of Rust source.
///
/// Hand-written rather than using a Rust parser: the kernel must answer instantly while a
/// person types, and brackets, string ends and comment ends are all this needs to know.
pub fn scan(code: &str) -> Completeness {
    let c: Vec<char> = code.chars().collect();
    let n = c.len();
    let mut stack: Vec<char> = Vec::new();
    let mut i = 0;
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < n {
        let ch = c[i];
        match ch {
            '/' if i + 1 < n && c[i + 1] == '/' => {
                while i < n && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if i + 1 < n && c[i + 1] == '*' => {
                // Block comments nest in Rust.
                let mut depth = 1;
                i += 2;
                while i < n && depth > 0 {
                    if c[i] == '/' && i + 1 < n && c[i + 1] == '*' {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && i + 1 < n && c[i + 1] == '/' {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                if depth > 0 {
                    return Completeness::Incomplete;
                }
                continue;
            }
            '"' => match skip_string(&c, i + 1) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return Completeness::Incomplete,
            },
            '\'' => {
                // A character literal ('a', '\n', '\u{1F600}') or a lifetime/label ('a, 'static).
                if i + 1 < n && c[i + 1] == '\\' {
                    let mut j = i + 2;
                    while j < n && c[j] != '\'' && c[j] != '\n' {
                        j += 1;
                    }
                    if j >= n {
                        return Completeness::Incomplete;
                    }
                    i = j + 1;
                    continue;
                } else if i + 2 < n && c[i + 2] == '\'' {
                    i += 3;
                    continue;
                }
                i += 1;
                continue;
            }
            ch if is_ident(ch) => {
                let start = i;
                while i < n && is_ident(c[i]) {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let raw = matches!(word.as_str(), "r" | "br" | "cr");
                if raw && i < n && (c[i] == '#' || c[i] == '"') {
                    let mut hashes = 0;
                    while i < n && c[i] == '#' {
                        hashes += 1;
                        i += 1;
                    }
                    if i >= n || c[i] != '"' {
                        continue; // a raw identifier such as r#type
                    }
                    i += 1;
                    loop {
                        if i >= n {
                            return Completeness::Incomplete;
                        }
                        if c[i] == '"' && (1..=hashes).all(|k| i + k < n && c[i + k] == '#') {
                            i += 1 + hashes;
                            break;
                        }
                        i += 1;
                    }
                } else if matches!(word.as_str(), "b" | "c") && i < n && c[i] == '"' {
                    match skip_string(&c, i + 1) {
                        Some(end) => i = end,
                        None => return Completeness::Incomplete,
                    }
                }
                continue;
            }
            '(' | '[' | '{' => stack.push(ch),
            ')' | ']' | '}' => {
                let open = match ch {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Completeness::Invalid;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Completeness::Complete
    } else {
        Completeness::Incomplete
    }
}

/// The index after the closing quote of a string whose body starts at `i`, or `None` if open.
fn skip_string(c: &[char], mut i: usize) -> Option<usize> {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Completeness::*;
    use super::scan;

    #[test]
    fn scanner_cases() {
        assert_eq!(scan("let x = 1;"), Complete);
        assert_eq!(scan("fn f() {"), Incomplete);
        assert_eq!(scan("let v = vec![1, 2"), Incomplete);
        assert_eq!(scan("let s = \"abc"), Incomplete);
        assert_eq!(scan("/* open"), Incomplete);
        assert_eq!(scan("/* /* */ */ let a = 1;"), Complete);
        assert_eq!(scan("let x = 1; }"), Invalid);
        assert_eq!(scan("let x = (1];"), Invalid);
        assert_eq!(scan("let s = \"}\"; let c = '{';"), Complete);
        assert_eq!(scan("fn f<'a>(x: &'a str) -> &'a str { x }"), Complete);
        assert_eq!(scan("let r = r#\"a \" { \"#;"), Complete);
        assert_eq!(scan("let r = r#\"open"), Incomplete);
        assert_eq!(scan("let q = '\\''; // }"), Complete);
        assert_eq!(scan("let b = b\"{\";"), Complete);
        assert_eq!(scan("let r#type = 1;"), Complete);
        assert_eq!(scan("let s = \"a\\\"{\";"), Complete);
    }
}
