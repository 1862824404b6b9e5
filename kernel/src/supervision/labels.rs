//! Labelled output: with `:labels on` (a line of its own at the top of a cell), every line a
//! cell's processes and threads print starts with the writer's name, `[Process-1] hello`,
//! coloured with ANSI codes (JupyterLab, nbconvert's HTML and the decks show them in colour; a
//! plain terminal shows them too). `:labels off` turns it off again; off by default, so output
//! looks like the original tutorial's. The setting lasts until changed (or the kernel restarts).
//!
//! The kernel already knows who wrote every line (`attribution.rs`), so labelling costs nothing
//! in the processes: the name is the one given to `Process::new(..).name(..)` (or the default
//! `Process-N`), `MainProcess` for the notebook's own process, `thread 'name'` for a thread of
//! it (`ThreadId(N)` when unnamed), `pid N` for a process started without the support crate.
//! Word-by-word output (`pyprint!`) is left as it is: it is not made of lines.

use std::sync::atomic::Ordering;

use multiproc::kernel_link::{Channel, ToKernel};

use super::lines::Writer;
use super::{Shared, State, Worker};

/// What a `:labels …` line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `:labels on` (true) or `:labels off` (false).
    Set(bool),
    /// `:labels` with anything else: the message to show.
    Bad(String),
}

/// Finds a `:labels on` / `:labels off` line among the cell's first lines (before any code;
/// blank lines may come first). Returns the command and the code with that line blanked (so
/// line numbers in error messages stay right).
///
/// ```
/// use rust_concurrency_kernel::supervision::labels::{Command, take_command};
/// let (cmd, rest) = take_command(":labels on\nprintln!(\"hi\");").unwrap();
/// assert_eq!(cmd, Command::Set(true));
/// assert_eq!(rest, "\nprintln!(\"hi\");");
/// assert!(take_command("let x = 1;\n:labels on").is_none());
/// assert!(matches!(take_command(":labels maybe").unwrap().0, Command::Bad(_)));
/// ```
pub fn take_command(code: &str) -> Option<(Command, String)> {
    let (arg, rest) = super::lens::command::take_leading(code, ":labels")?;
    let cmd = match arg {
        "on" => Command::Set(true),
        "off" => Command::Set(false),
        other => Command::Bad(format!(
            "`:labels` takes `on` or `off` (got `{other}`): `:labels on` starts every line of output with the name of the process that printed it"
        )),
    };
    Some((cmd, rest))
}

/// Turns labelling on or off for the cells that follow.
pub fn set(shared: &Shared, on: bool) {
    shared.state.lock().unwrap().labels = on;
}

/// The ANSI colour (30 + n) for a name: the same name always gets the same colour.
fn colour(name: &str) -> u8 {
    const COLOURS: [u8; 6] = [34, 32, 35, 36, 33, 31];
    let h = name.bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    COLOURS[(h % COLOURS.len() as u32) as usize]
}

/// `text` (one line, or the rest of one) with the label of `name` in front.
///
/// ```
/// let l = rust_concurrency_kernel::supervision::labels::labelled("Process-1", "hello\n");
/// assert!(l.ends_with("[Process-1]\u{1b}[0m hello\n"));
/// assert_eq!(rust_concurrency_kernel::evaluation::errors::strip_ansi(&l), "[Process-1] hello\n");
/// ```
pub fn labelled(name: &str, text: &str) -> String {
    format!("\u{1b}[{}m[{name}]\u{1b}[0m {text}", colour(name))
}

impl Worker {
    /// The name a line of `writer` is labelled with.
    ///
    /// A child's first line can reach the kernel before its parent's `Started`: the child runs
    /// as soon as it is forked. The child's own `Hello` was sent before it printed anything, so
    /// it is already processed, or waiting in the socket or in the receiver's read-ahead: the
    /// receiver reads ahead (keeping its order) and the name is taken from there.
    pub(super) fn label_name(&mut self, st: &mut State, writer: Writer) -> String {
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        if writer.pid != runtime && !st.procs.contains_key(&writer.pid) && !st.names.contains_key(&writer.pid) {
            if let Some(name) = self.name_in_flight(writer.pid) {
                st.names.insert(writer.pid, name);
            }
        }
        self.known_label_name(st, writer)
    }

    /// The name `pid` sent in a `Hello` (or its parent in a `Started`) not yet handled.
    fn name_in_flight(&mut self, pid: i32) -> Option<String> {
        let queued = self.receiver.read_ahead().ok()?;
        queued.iter().filter(|d| d.channel == Some(Channel::Ctl)).find_map(|d| match serde_json::from_slice::<ToKernel>(&d.data) {
            Ok(ToKernel::Hello { name }) if d.pid == pid => Some(name),
            Ok(ToKernel::Started { pid: child, name, .. }) if child == pid => Some(name),
            _ => None,
        })
    }

    fn known_label_name(&self, st: &State, writer: Writer) -> String {
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        if writer.pid == runtime {
            if writer.is_main_thread() {
                return "MainProcess".to_string();
            }
            return match st.threads.get(&writer).and_then(|t| t.label.as_deref()) {
                Some(label) => format!("thread {label}"),
                None => format!("thread with OS id {}", writer.tid),
            };
        }
        match (st.procs.get(&writer.pid), st.names.get(&writer.pid)) {
            (Some(p), _) => p.name.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => format!("pid {}", writer.pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_command_before_any_code_only() {
        let (cmd, rest) = take_command("\n  :labels off  \nlet x = 1;").unwrap();
        assert_eq!(cmd, Command::Set(false));
        assert_eq!(rest, "\n\nlet x = 1;");
        assert_eq!(take_command(":labels on").unwrap(), (Command::Set(true), String::new()));
        assert!(take_command("let x = 1;\n:labels on").is_none());
        assert!(take_command(":labelsx on").is_none());
        assert!(take_command(":dep foo").is_none());
        assert!(matches!(take_command(":labels").unwrap().0, Command::Bad(_)));
    }

    #[test]
    fn a_label_is_coloured_and_reads_plainly_without_colour() {
        let l = labelled("Process-1", "hello\n");
        assert_eq!(crate::evaluation::errors::strip_ansi(&l), "[Process-1] hello\n");
        assert_eq!(labelled("worker", "x"), labelled("worker", "x"));
    }
}
