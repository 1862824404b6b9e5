//! The one error of a cell that panicked or was stopped, in the cell's terms.

use multiproc::kernel_link::MAX_PROCESSES_ENV;
use multiproc::sys::report::{Note, stopped_in};

use super::CellOutcome;

/// The process cap during the cell: starts it refused (in every process), and the limit.
pub struct Cap {
    pub refused: u32,
    pub max: u32,
}

/// Longest list of terminated processes named one by one.
const NAMED: usize = 6;

/// " Terminated: 13726 (Process-1), 13727 (Process-2)." (empty when none); a long list (a
/// runaway loop of processes) is counted, naming only the first few.
pub fn terminated(list: &[(i32, String)]) -> String {
    let named = |l: &[(i32, String)]| l.iter().map(|(p, n)| format!("{p} ({n})")).collect::<Vec<_>>().join(", ");
    match list.len() {
        0 => String::new(),
        n if n <= NAMED => format!(" Terminated: {}.", named(list)),
        n => format!(" Terminated: {n} processes ({}, …).", named(&list[..3])),
    }
}

/// The error for a cell whose code panicked (`runtime_stderr`: what the runtime wrote about
/// it, normally one [`Note`] line) or that the stop button ended (`interrupted`).
/// `terminated` is " Terminated: pid (name), …." or empty.
pub fn panicked(runtime_stderr: &str, interrupted: bool, runtime: i32, cap: Cap, terminated: &str) -> CellOutcome {
    let text = runtime_stderr.trim();
    let note = Note::parse(text);
    let stopped = match &note {
        Some(Note::Stopped(what)) => Some(Some(what.clone())),
        // Without the notebook's hook (an older start-up cell): rustc's own panic report.
        None => text.lines().find_map(stopped_in).map(|w| Some(w.to_string())),
        Some(Note::Panicked(_) | Note::Exec(_)) => None,
    };
    let stopped = stopped.or(interrupted.then_some(None));
    if let Some(what) = stopped {
        let place = what.map(|w| format!(" while the cell was waiting in {w}")).unwrap_or_default();
        let evalue = format!("Stopped (you pressed ■){place}. Variables from earlier cells are kept.{terminated}");
        return CellOutcome::Error { ename: "Interrupted".into(), evalue: evalue.clone(), traceback: vec![evalue] };
    }
    let message = match note {
        Some(Note::Panicked(m) | Note::Exec(m)) => m,
        _ => text
            .lines()
            .filter(|l| !l.starts_with("thread '") && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    if cap.refused > 0 && message.starts_with("Too many processes") {
        // One summary for a runaway loop of processes, however many of them hit the cap.
        let starts = if cap.refused == 1 { String::from("1 process") } else { format!("{} processes", cap.refused) };
        let evalue = format!(
            "Too many processes: {starts} could not be started, because at most {} may run at once in this \
             notebook. The cell was stopped.{terminated} To change the limit, set {MAX_PROCESSES_ENV} in the \
             kernel's environment and restart the kernel.",
            cap.max
        );
        return CellOutcome::Error { ename: "TooManyProcesses".into(), evalue: evalue.clone(), traceback: vec![evalue] };
    }
    let evalue = format!("the cell's code panicked in process {runtime} (the notebook's main process): {message}{terminated}");
    CellOutcome::Error { ename: "Panic".into(), evalue: evalue.clone(), traceback: vec![evalue] }
}

/// The program a cell exec'd in the notebook's own process, from the runtime's last note
/// (`runtime_stderr`; see `exec_guard`), if it did (a note without a program: the exec failed).
pub fn exec_note(runtime_stderr: &str) -> Option<String> {
    // The program's own stderr lines may follow the note.
    runtime_stderr.lines().find_map(|l| match Note::parse(l) {
        Some(Note::Exec(program)) => Some(program),
        _ => None,
    }).filter(|p| !p.is_empty())
}

/// The error for a cell whose code exec'd `program` in the notebook's own process: the process
/// that ran the cells became that program (its output is shown above the error) and ended
/// with it; evcxr started a fresh one.
pub fn replaced_by_exec(program: &str, terminated: &str) -> CellOutcome {
    let name = program.rsplit('/').next().unwrap_or(program);
    let evalue = format!(
        "this cell replaced the notebook's own process with `{name}` (exec): the code after exec never ran, and \
         the notebook's variables are gone (a fresh process runs the next cell).{terminated} To run a program from \
         a cell, run it in a child process: `Command::new(\"{name}\").status()`, or fork and exec in the child \
         (see 21-SubprocessExecFork)."
    );
    CellOutcome::Error { ename: "ExecReplacedNotebook".into(), evalue: evalue.clone(), traceback: vec![evalue] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evalue(o: CellOutcome) -> (String, String) {
        match o {
            CellOutcome::Error { ename, evalue, traceback } => {
                assert_eq!(traceback, vec![evalue.clone()], "said once");
                (ename, evalue)
            }
            CellOutcome::Ok => panic!("expected an error"),
        }
    }

    const NO_CAP: Cap = Cap { refused: 0, max: 64 };

    #[test]
    fn a_stop_says_where_the_cell_waited() {
        let note = Note::Stopped("Queue::get".into()).line();
        let (ename, said) = evalue(panicked(&note, true, 7, NO_CAP, " Terminated: 9 (Process-1)."));
        assert_eq!(ename, "Interrupted");
        assert_eq!(
            said,
            "Stopped (you pressed ■) while the cell was waiting in Queue::get. Variables from earlier cells are kept. Terminated: 9 (Process-1)."
        );
        let (_, said) = evalue(panicked("", true, 7, NO_CAP, ""));
        assert_eq!(said, "Stopped (you pressed ■). Variables from earlier cells are kept.");
    }

    #[test]
    fn a_panic_keeps_its_message_without_rusts_report_around_it() {
        let (ename, said) = evalue(panicked(&Note::Panicked("boom".into()).line(), false, 7, NO_CAP, ""));
        assert_eq!(ename, "Panic");
        assert!(said.ends_with(": boom"), "{said}");
        let rusts = "thread '<unnamed>' panicked at src/lib.rs:3:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        let (_, said) = evalue(panicked(rusts, false, 7, NO_CAP, ""));
        assert!(said.ends_with(": boom") && !said.contains("lib.rs"), "{said}");
    }

    #[test]
    fn an_exec_in_the_notebook_names_the_program_and_the_way_out() {
        assert_eq!(exec_note(&Note::Exec("/bin/ls".into()).line()).as_deref(), Some("/bin/ls"));
        assert_eq!(exec_note(&Note::Panicked("boom".into()).line()), None);
        assert_eq!(exec_note(""), None);
        assert_eq!(exec_note(&Note::Exec(String::new()).line()), None, "a failed exec takes its note back");
        let with_its_stderr = format!("{}ls: cannot access 'x'", Note::Exec("ls".into()).line());
        assert_eq!(exec_note(&with_its_stderr).as_deref(), Some("ls"));
        let (ename, said) = evalue(replaced_by_exec("/bin/ls", ""));
        assert_eq!(ename, "ExecReplacedNotebook");
        assert!(said.starts_with("this cell replaced the notebook's own process with `ls` (exec)"), "{said}");
        assert!(said.contains("`Command::new(\"ls\").status()`") && said.contains("21-SubprocessExecFork"), "{said}");
    }

    #[test]
    fn the_process_cap_is_one_summary() {
        let note = Note::Panicked("Too many processes: this notebook already has 64 processes running".into()).line();
        let list: Vec<(i32, String)> = (0..64).map(|i| (100 + i, format!("Process-{i}"))).collect();
        let (ename, said) = evalue(panicked(&note, false, 7, Cap { refused: 40, max: 64 }, &terminated(&list)));
        assert_eq!(ename, "TooManyProcesses");
        assert!(said.starts_with("Too many processes: 40 processes could not be started, because at most 64 may run at once"), "{said}");
        assert!(said.contains("Terminated: 64 processes (100 (Process-0), 101 (Process-1), 102 (Process-2), …)."), "{said}");
        assert!(said.contains(MAX_PROCESSES_ENV), "{said}");
    }
}
