//! Errors of a cell that `annotate` rewrote, shown in the student's own text and columns.
//!
//! A compile error found only in the rewritten cell (borrow checking runs only once the types
//! check, so the probe cannot see it) is rendered by `errors` against the rewritten text, whose
//! lines it can verify. This module then puts the student's text back: on every line that the
//! rewrite changed (`let v = …` → `let v: T = …`, same line count), the source line shown is the
//! student's, and columns to the right of the change (labels, `-->` locations) move left by the
//! length of what was written in. Lines the rewrite did not touch are left as they are.

/// One changed line: the part both texts share at the start (`keep`) and how the middle
/// differs (`old_mid` characters in the student's line, `new_mid` in the rewritten one).
struct Change {
    student: String,
    rewritten: String,
    keep: usize,
    old_mid: usize,
    new_mid: usize,
}

impl Change {
    fn new(student: &str, rewritten: &str) -> Change {
        let (a, b): (Vec<char>, Vec<char>) = (student.chars().collect(), rewritten.chars().collect());
        let keep = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let tail = a[keep..].iter().rev().zip(b[keep..].iter().rev()).take_while(|(x, y)| x == y).count();
        Change { student: student.into(), rewritten: rewritten.into(), keep, old_mid: a.len() - keep - tail, new_mid: b.len() - keep - tail }
    }

    /// A 1-based column of the rewritten line as a column of the student's line.
    fn column(&self, col: usize) -> usize {
        let at = col.saturating_sub(1);
        if at < self.keep {
            col
        } else if at >= self.keep + self.new_mid {
            col + self.old_mid - self.new_mid
        } else {
            self.keep + self.old_mid.min(at - self.keep) + 1
        }
    }

    /// A shown source line (the rewritten line, or a suggestion that changes it elsewhere) as
    /// the student's: the written-in part swapped back. Also where that part starts in `body`.
    fn source(&self, body: &str) -> Option<(String, usize)> {
        let (b, r): (Vec<char>, Vec<char>) = (body.chars().collect(), self.rewritten.chars().collect());
        let written = &r[self.keep..self.keep + self.new_mid];
        let student: Vec<char> = self.student.chars().collect();
        let was = &student[self.keep..self.keep + self.old_mid];
        if written.is_empty() {
            return None;
        }
        let at = (0..=b.len().saturating_sub(written.len())).find(|&i| &b[i..i + written.len()] == written)?;
        Some((b[..at].iter().chain(was).chain(&b[at + written.len()..]).collect(), at))
    }

    /// A label line (marks such as `^^^ -- |`, then the label's text) under a line whose
    /// written-in part started at `at`, moved to the student's columns: the columns that part
    /// took are taken out of the marks. A label whose text starts before the end of that part
    /// belongs to a mark left of it and stays as it is.
    fn marks(&self, line: &str, at: usize) -> String {
        let m: Vec<char> = line.chars().collect();
        let text = m.iter().position(|c| !" ^-|_+~".contains(*c)).unwrap_or(m.len());
        let (from, to) = (at + self.old_mid.min(self.new_mid), at + self.new_mid);
        if text < to || from >= m.len() {
            return line.to_string();
        }
        m[..from].iter().chain(&m[to..]).collect()
    }
}

/// `rendered` (errors of `rewritten`, in the cell's line numbers) as they read for `student`.
pub fn restore(rendered: &str, student: &str, rewritten: &str) -> String {
    let changes: Vec<Option<Change>> = student
        .lines()
        .zip(rewritten.lines())
        .map(|(s, r)| (s != r).then(|| Change::new(s, r)))
        .collect();
    let changed = |line: usize| changes.get(line.wrapping_sub(1)).and_then(Option::as_ref);
    let mut out = Vec::new();
    // The cell line whose source was shown last: label lines under it follow its columns.
    let mut under: Option<(&Change, usize)> = None;
    for text in rendered.lines() {
        out.push(restore_line(text, &changed, &mut under));
    }
    let mut joined = out.join("\n");
    if rendered.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

fn restore_line<'c>(text: &str, changed: &dyn Fn(usize) -> Option<&'c Change>, under: &mut Option<(&'c Change, usize)>) -> String {
    // ` --> cell:L:C`
    if let Some((head, rest)) = text.split_once("--> cell:") {
        if let Some((line, col)) = rest.split_once(':') {
            if let (Ok(l), Ok(c)) = (line.parse::<usize>(), col.trim().parse::<usize>()) {
                *under = None;
                let c = changed(l).map_or(c, |ch| ch.column(c));
                return format!("{head}--> cell:{l}:{c}");
            }
        }
        return text.to_string();
    }
    // The gutter: `NN | source`, `   | marks`, `NN ~ suggestion`, `NN + added`.
    let Some(bar) = text.find(" | ").or_else(|| text.strip_suffix(" |").map(|t| t.len())) else {
        *under = None;
        return text.to_string();
    };
    let gutter = &text[..bar];
    let body = text.get(bar + 3..).unwrap_or("");
    match gutter.trim() {
        "" => match under {
            Some((ch, at)) if !body.is_empty() => format!("{gutter} | {}", ch.marks(body, *at)),
            _ => text.to_string(),
        },
        n => match n.parse::<usize>().ok().and_then(changed).and_then(|ch| ch.source(body).map(|b| (ch, b))) {
            Some((ch, (student, at))) => {
                *under = Some((ch, at));
                format!("{gutter} | {student}")
            }
            None => {
                *under = None;
                text.to_string()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_in_type_is_taken_out_of_lines_labels_and_locations() {
        let student = "let m = vec![1];\nlet n = m;\nlet o = m;";
        let rewritten = "let m: std::vec::Vec<i32> = vec![1];\nlet n: std::vec::Vec<i32> = m;\nlet o: std::vec::Vec<i32> = m;";
        let rendered = "error[E0382]: use of moved value: `m`\n --> cell:3:29\n  |\n1 | let m: std::vec::Vec<i32> = vec![1];\n  |     - move occurs because `m` has type `Vec<i32>`\n2 | let n: std::vec::Vec<i32> = m;\n  |                             - value moved here\n3 | let o: std::vec::Vec<i32> = m;\n  |                             ^ value used here after move\n";
        let want = "error[E0382]: use of moved value: `m`\n --> cell:3:9\n  |\n1 | let m = vec![1];\n  |     - move occurs because `m` has type `Vec<i32>`\n2 | let n = m;\n  |         - value moved here\n3 | let o = m;\n  |         ^ value used here after move\n";
        assert_eq!(restore(rendered, student, rewritten), want);
    }

    #[test]
    fn untouched_lines_and_suggestions_stay_as_they_are() {
        let student = "let a = String::new();\nlet b = a;\nprintln!(\"{a}\");";
        let rewritten = "let a: std::string::String = String::new();\nlet b = a;\nprintln!(\"{a}\");";
        let rendered = "  |\n2 | let b = a.clone();\n  |          ++++++++\n3 | println!(\"{a}\");\n  |           ^ value borrowed here after move";
        assert_eq!(restore(rendered, student, rewritten), rendered);
        // A suggestion on a rewritten line: the student's text, the markers moved with it.
        let shown = "1 | let a: std::string::String = String::new().clone();\n  |                                           ++++++++";
        assert_eq!(restore(shown, student, rewritten), "1 | let a = String::new().clone();\n  |                      ++++++++");
    }

    #[test]
    fn columns_inside_and_around_the_change() {
        let ch = Change::new("let v = 1;", "let v: i32 = 1;");
        assert_eq!((ch.keep, ch.old_mid, ch.new_mid), (5, 0, 5));
        assert_eq!(ch.column(5), 5); // `v`
        assert_eq!(ch.column(14), 9); // `1`
        assert_eq!(ch.column(8), 6); // inside `: i32` → just after `v`
    }
}
