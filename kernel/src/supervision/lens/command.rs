//! The kernel's leading commands (`:labels on`, `:timeline`): a line of its own among a cell's
//! first lines, before any code (blank lines may come first). The line is blanked, not removed,
//! so the line numbers of error messages stay right.

/// Finds the command `name` (e.g. `":timeline"`) as the first non-blank line of `code`.
/// Returns its argument (trimmed, maybe empty) and the code with that line blanked; `None` when
/// the first non-blank line is something else (code, or a longer word such as `:timelines`).
///
/// ```
/// use rust_concurrency_kernel::supervision::lens::command::take_leading;
/// let (arg, rest) = take_leading("\n:labels on\nprintln!(\"hi\");", ":labels").unwrap();
/// assert_eq!((arg, rest.as_str()), ("on", "\n\nprintln!(\"hi\");"));
/// assert_eq!(take_leading(":timeline", ":timeline").unwrap().0, "");
/// assert!(take_leading("let x = 1;\n:labels on", ":labels").is_none());
/// assert!(take_leading(":timelines", ":timeline").is_none());
/// ```
pub fn take_leading<'a>(code: &'a str, name: &str) -> Option<(&'a str, String)> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let bare = line.trim();
        if bare.is_empty() {
            offset += line.len();
            continue;
        }
        let arg = bare.strip_prefix(name)?;
        if !arg.is_empty() && !arg.starts_with(char::is_whitespace) {
            return None;
        }
        let newline = if line.ends_with('\n') { "\n" } else { "" };
        let rest = format!("{}{newline}{}", &code[..offset], &code[offset + line.len()..]);
        return Some((arg.trim(), rest));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::take_leading;

    #[test]
    fn the_first_line_that_is_not_blank_is_the_command_or_nothing() {
        let (arg, rest) = take_leading("\n  :labels on \nprintln!(\"hi\");", ":labels").unwrap();
        assert_eq!((arg, rest.as_str()), ("on", "\n\nprintln!(\"hi\");"));
        assert_eq!(take_leading(":timeline", ":timeline").unwrap(), ("", String::new()));
        assert!(take_leading("let x = 1;\n:labels on", ":labels").is_none());
        assert!(take_leading(":timelines", ":timeline").is_none());
        assert!(take_leading("", ":timeline").is_none());
    }
}
