//! How a panic in the notebook's own process (the kernel's runtime, where cells run) reaches
//! the student: once, in the cell's terms.
//!
//! Rust's default panic hook prints `thread '<unnamed>' panicked at src/lib.rs:13:5:`, the
//! message, and advice about `RUST_BACKTRACE`: a generated file the student never wrote, and
//! then the kernel's error repeats it. In the notebook, the hook installed here instead
//! - for a panic on the cell's own thread (the cell fails): writes one line for the kernel
//!   only (it starts with [`NOTE`]; the kernel keeps it out of the cell's output and words its
//!   one error from it: "Stopped (you pressed ■) while the cell was waiting in sleep", or the
//!   panic's message);
//! - for a panic on another thread the cell started: prints `thread 'name' panicked: message`
//!   without the location or the backtrace advice (the cell goes on, so the student must see
//!   it), and nothing when the stop button ended that thread's wait.

use std::panic::{self, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};

use super::wait::INTERRUPTED_MESSAGE;

/// Start of a line the runtime writes on stderr for the kernel only.
pub const NOTE: &str = "\u{1}multiproc-note ";

/// What a [`NOTE`] line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The stop button ended the cell's wait in this call (`Queue::get`, `sleep`, …).
    Stopped(String),
    /// The cell's code panicked with this message.
    Panicked(String),
    /// The cell's code exec'd this program in the notebook's own process, which the program
    /// replaces (written by the kernel's runtime, not by this crate).
    Exec(String),
}

impl Note {
    /// The line for the kernel (one line: the text is JSON-quoted).
    pub fn line(&self) -> String {
        let (kind, text) = match self {
            Note::Stopped(what) => ("stopped", what),
            Note::Panicked(message) => ("panicked", message),
            Note::Exec(program) => ("exec", program),
        };
        format!("{NOTE}{kind} {}\n", serde_json::Value::String(text.clone()))
    }

    /// Reads a line written by [`Note::line`].
    pub fn parse(line: &str) -> Option<Note> {
        let (kind, text) = line.strip_prefix(NOTE)?.split_once(' ')?;
        let text: String = serde_json::from_str(text.trim_end()).ok()?;
        match kind {
            "stopped" => Some(Note::Stopped(text)),
            "panicked" => Some(Note::Panicked(text)),
            "exec" => Some(Note::Exec(text)),
            _ => None,
        }
    }
}

/// Where the stop button ended a wait, from the message [`super::wait::check`] panics with.
pub fn stopped_in(message: &str) -> Option<&str> {
    let rest = message.strip_prefix(INTERRUPTED_MESSAGE)?;
    Some(rest.trim_start_matches(" while this cell was waiting in ").trim_end_matches('.'))
}

fn message<'a>(info: &'a PanicHookInfo<'_>) -> &'a str {
    info.payload_as_str().unwrap_or("(a panic without a message)")
}

/// Installs the notebook's panic hook, once per process; the kernel's runtime calls it before
/// every cell, on the thread the cells run on. Outside the kernel it does nothing.
pub fn install_for_notebook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if crate::kernel_link::control_page().is_none() || INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    let cell_thread = std::thread::current().id();
    let runtime = std::process::id();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if std::process::id() != runtime {
            // A process forked without `Process::start` keeps Rust's own report.
            return previous(info);
        }
        let text = message(info);
        let line = if std::thread::current().id() == cell_thread {
            match stopped_in(text) {
                Some(what) => Note::Stopped(what.to_string()).line(),
                None => Note::Panicked(text.to_string()).line(),
            }
        } else if stopped_in(text).is_some() {
            return;
        } else {
            let name = std::thread::current().name().unwrap_or("<unnamed>").to_string();
            format!("thread '{name}' panicked: {text}\n")
        };
        crate::process::write_fd(2, line.as_bytes());
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_on_one_line() {
        for note in [Note::Stopped("Queue::get".into()), Note::Panicked("two\nlines \"quoted\"".into()), Note::Exec("/bin/ls".into())] {
            let line = note.line();
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            assert_eq!(Note::parse(&line), Some(note));
        }
        assert_eq!(Note::parse("thread 'main' panicked"), None);
    }

    #[test]
    fn where_the_stop_button_ended_the_wait() {
        let m = format!("{INTERRUPTED_MESSAGE} while this cell was waiting in Queue::get.");
        assert_eq!(stopped_in(&m), Some("Queue::get"));
        assert_eq!(stopped_in("boom"), None);
    }
}
