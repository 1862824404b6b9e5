//! `history_request`: the inputs of this kernel session, kept in memory.

use serde_json::{Value, json};

/// The session number reported for this kernel's history (one in-memory session per process).
pub const SESSION: i64 = 1;

/// The cells run with `store_history`, in order: `(execution_count, code)`.
#[derive(Default)]
pub struct History {
    entries: Vec<(u32, String)>,
}

impl History {
    /// Records the input of cell `count`.
    pub fn record(&mut self, count: u32, code: &str) {
        self.entries.push((count, code.to_string()));
    }

    /// The content of `history_reply` for the request `content`.
    pub fn reply(&self, content: &Value) -> Value {
        let output = content.get("output").and_then(Value::as_bool).unwrap_or(false);
        let kind = content
            .get("hist_access_type")
            .and_then(Value::as_str)
            .unwrap_or("tail");
        let int = |k: &str| content.get(k).and_then(Value::as_i64);
        let selected: Vec<&(u32, String)> = match kind {
            "tail" => {
                let n = int("n").unwrap_or(10).max(0) as usize;
                let skip = self.entries.len().saturating_sub(n);
                self.entries[skip..].iter().collect()
            }
            "range" => {
                let session = int("session").unwrap_or(0);
                if session != 0 && session != SESSION {
                    Vec::new()
                } else {
                    let start = int("start").unwrap_or(0);
                    let stop = int("stop").filter(|s| *s > 0);
                    self.entries
                        .iter()
                        .filter(|(line, _)| i64::from(*line) >= start && stop.is_none_or(|s| i64::from(*line) < s))
                        .collect()
                }
            }
            "search" => {
                let pattern = content.get("pattern").and_then(Value::as_str).unwrap_or("*");
                let unique = content.get("unique").and_then(Value::as_bool).unwrap_or(false);
                let mut found: Vec<&(u32, String)> = self
                    .entries
                    .iter()
                    .filter(|(_, code)| glob_match(pattern, code))
                    .collect();
                if unique {
                    let mut seen = std::collections::HashSet::new();
                    // Keep the latest occurrence of each input.
                    found.reverse();
                    found.retain(|(_, code)| seen.insert(code.as_str()));
                    found.reverse();
                }
                if let Some(n) = int("n").filter(|n| *n > 0) {
                    let skip = found.len().saturating_sub(n as usize);
                    found.drain(..skip);
                }
                found
            }
            _ => Vec::new(),
        };
        let history: Vec<Value> = selected
            .into_iter()
            .map(|(line, code)| {
                if output {
                    json!([SESSION, line, [code, Value::Null]])
                } else {
                    json!([SESSION, line, code])
                }
            })
            .collect();
        json!({ "status": "ok", "history": history })
    }
}

/// Shell-style glob matching (`*` any run, `?` one character) over the whole text.
/// Hand-written because it is twenty lines and the only glob this kernel needs.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_range_search() {
        let mut h = History::default();
        for (i, code) in ["let a = 1;", "println!(\"{a}\");", "let a = 1;", "a + 1"]
            .iter()
            .enumerate()
        {
            h.record(i as u32 + 1, code);
        }
        let tail = h.reply(&json!({"hist_access_type": "tail", "n": 2}));
        assert_eq!(tail["history"], json!([[1, 3, "let a = 1;"], [1, 4, "a + 1"]]));
        let range = h.reply(&json!({"hist_access_type": "range", "session": 0, "start": 2, "stop": 4}));
        assert_eq!(range["history"].as_array().unwrap().len(), 2);
        let search = h.reply(&json!({"hist_access_type": "search", "pattern": "let*", "unique": true}));
        assert_eq!(search["history"], json!([[1, 3, "let a = 1;"]]));
        let with_output = h.reply(&json!({"hist_access_type": "tail", "n": 1, "output": true}));
        assert_eq!(with_output["history"], json!([[1, 4, ["a + 1", null]]]));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("a?c", "abcd"));
    }
}
