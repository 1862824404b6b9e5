//! evcxr's protocol lines in the runtime's stdout (see `docs/architecture.md`, "evcxr's
//! markers"): recognised only from the runtime process, kept out of the notebook and handed back
//! with the runtime's `Sync`.

pub(super) const EVCXR_MARKERS: [&str; 3] = ["EVCXR_PANIC_NOTIFICATION", "EVCXR_ERROR_OCCURRED", "EVCXR_INPUT_REQUEST"];

/// Where an evcxr marker starts inside a line of the runtime's stdout, when text the cell
/// printed without a newline comes before it: `print!("x")` as a cell's last line writes "x",
/// then the value's display block "EVCXR_BEGIN_CONTENT text/plain" lands right after it in the
/// same stdout buffer. Only a marker that runs to the end of the line counts (the line is
/// exactly what evcxr or the display trait writes after the user's text).
fn marker_start(line: &str) -> Option<usize> {
    let bare = line.strip_suffix('\n').unwrap_or(line);
    let mut from = 1;
    while let Some(i) = bare.get(from..).and_then(|rest| rest.find("EVCXR_")) {
        let at = from + i;
        let tail = &bare[at..];
        if tail.starts_with("EVCXR_BEGIN_CONTENT ") || EVCXR_MARKERS.contains(&tail) || tail.starts_with("EVCXR_VARIABLE_CHANGED_TYPE:") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `lines` with each line that ends in a marker cut in two: the user's text, then the marker.
pub(super) fn split_markers(lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        match marker_start(&line) {
            Some(at) => {
                out.push(line[..at].to_string());
                out.push(line[at..].to_string());
            }
            None => out.push(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_after_unfinished_user_text_is_found() {
        let line = "no newline at the endEVCXR_BEGIN_CONTENT text/plain\n";
        assert_eq!(marker_start(line), Some("no newline at the end".len()));
        assert_eq!(
            split_markers(vec![line.to_string()]),
            vec!["no newline at the end".to_string(), "EVCXR_BEGIN_CONTENT text/plain\n".to_string()]
        );
        assert_eq!(marker_start("xEVCXR_PANIC_NOTIFICATION\n"), Some(1));
    }

    #[test]
    fn ordinary_lines_and_lines_starting_with_a_marker_are_left_alone() {
        assert_eq!(marker_start("EVCXR_BEGIN_CONTENT text/plain\n"), None);
        assert_eq!(marker_start("plain text\n"), None);
        // A marker name in the middle of the user's text is not a marker.
        assert_eq!(marker_start("see EVCXR_PANIC_NOTIFICATION in the docs\n"), None);
        assert_eq!(marker_start("EVCXR_EVCXR_\n"), None);
        let lines = vec!["a\n".to_string(), "b\n".to_string()];
        assert_eq!(split_markers(lines.clone()), lines);
    }
}
