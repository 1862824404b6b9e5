//! `:dep` lines for crates every cell already has.
//!
//! Cells get the support crate and a few of its dependencies (`rayon`, `crossbeam-channel`,
//! `tokio`, …; `cells-extern` in its `Cargo.toml`) through the kernel's rustc flags
//! (`prebuilt.rs`, `toolchain.rs`). A student who also writes `:dep rayon = "1"`, as a Rust
//! tutorial says to, would make evcxr hand rustc a second `--extern rayon=…`, and rustc stops
//! with "multiple candidates for `rlib` dependency `rayon` found", which says nothing about why.
//! Such a line is left out of what evcxr sees (an empty line keeps the cell's line numbers) and
//! the cell says so in one note; `:dep` of any other crate goes to evcxr as before.

/// What [`strip`] found: the cell without those lines, and the crates they named.
#[derive(Debug, PartialEq)]
pub struct Stripped {
    pub code: String,
    pub names: Vec<String>,
}

/// The crate a `:dep` line names, as Rust code spells it (`crossbeam-channel` → `crossbeam_channel`).
fn dep_name(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(":dep")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let name: String = rest.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_').collect();
    (!name.is_empty()).then(|| name.replace('-', "_"))
}

/// Blanks the `:dep` lines of `code` that name one of `provided`; `None` when there are none.
pub fn strip(code: &str, provided: &[String]) -> Option<Stripped> {
    let mut names = Vec::new();
    let lines: Vec<&str> = code
        .split('\n')
        .map(|line| match dep_name(line) {
            Some(name) if provided.contains(&name) => {
                names.push(name);
                ""
            }
            _ => line,
        })
        .collect();
    (!names.is_empty()).then(|| Stripped { code: lines.join("\n"), names })
}

/// The cell's note, e.g. "note: `rayon` is already in every cell …".
pub fn note(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let (what, verb) = if names.len() == 1 { (list[0].clone(), "is") } else { (list.join(", "), "are") };
    format!(
        "note: {what} {verb} already in every cell of this kernel (built with the support crate), so the `:dep` line was skipped; \
         use it as it is, e.g. `use {}::…;`\n",
        names[0]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provided() -> Vec<String> {
        ["multiproc", "rayon", "crossbeam_channel"].map(String::from).to_vec()
    }

    #[test]
    fn blanks_the_lines_of_provided_crates_and_keeps_line_numbers() {
        let code = ":dep rayon = \"1\"\n:dep crossbeam-channel = { version = \"0.5\" }\n:dep itertools = \"0.13\"\nlet x = 1;";
        let s = strip(code, &provided()).unwrap();
        assert_eq!(s.code, "\n\n:dep itertools = \"0.13\"\nlet x = 1;");
        assert_eq!(s.names, ["rayon", "crossbeam_channel"]);
    }

    #[test]
    fn leaves_other_code_alone() {
        assert_eq!(strip(":dep itertools\nlet a = 1;", &provided()), None);
        assert_eq!(strip("let dep = 1; // :dep rayon", &provided()), None, "not at a line's start");
        assert_eq!(strip(":depends rayon", &provided()), None);
        assert_eq!(strip("1 + 1", &provided()), None);
    }

    #[test]
    fn the_note_names_each_crate() {
        assert!(note(&["rayon".into()]).starts_with("note: `rayon` is already in every cell"));
        let two = note(&["rayon".into(), "tokio".into()]);
        assert!(two.contains("`rayon`, `tokio` are already"), "{two}");
    }
}
