//! The one error of a cell that panicked or was stopped, in the cell's terms.

use multiproc::sys::report::{Note, stopped_in};

use super::CellOutcome;

/// The error for a cell whose code panicked (`runtime_stderr`: what the runtime wrote about
/// it, normally one [`Note`] line) or that the stop button ended (`interrupted`).
/// `terminated` is " Terminated: pid (name), …." or empty.
pub fn panicked(runtime_stderr: &str, interrupted: bool, runtime: i32, terminated: &str) -> CellOutcome {
    let text = runtime_stderr.trim();
    let note = Note::parse(text);
    let stopped = match &note {
        Some(Note::Stopped(what)) => Some(Some(what.clone())),
        // Without the notebook's hook (an older start-up cell): rustc's own panic report.
        None => text.lines().find_map(stopped_in).map(|w| Some(w.to_string())),
        Some(Note::Panicked(_)) => None,
    };
    let stopped = stopped.or(interrupted.then_some(None));
    if let Some(what) = stopped {
        let place = what.map(|w| format!(" while the cell was waiting in {w}")).unwrap_or_default();
        let evalue = format!("Stopped (you pressed ■){place}. Variables from earlier cells are kept.{terminated}");
        return CellOutcome::Error { ename: "Interrupted".into(), evalue: evalue.clone(), traceback: vec![evalue] };
    }
    let message = match note {
        Some(Note::Panicked(m)) => m,
        _ => text
            .lines()
            .filter(|l| !l.starts_with("thread '") && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let evalue = format!("the cell's code panicked in process {runtime} (the notebook's main process): {message}{terminated}");
    CellOutcome::Error { ename: "Panic".into(), evalue: evalue.clone(), traceback: vec![evalue] }
}
