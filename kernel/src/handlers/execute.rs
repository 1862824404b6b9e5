//! `execute_request`: the execution counter, `execute_input`, running the cell, the one `error`
//! message of a failed cell, and the reply.

use super::Shared;
use super::history::History;
use crate::evaluation::errors::strip_ansi;
use crate::evaluation::{CellOutcome, CellRequest, Evaluator, startup};
use crate::wire::message::Message;
use serde_json::{Value, json};

/// What the shell loop keeps between cells.
pub struct CellState {
    /// The evaluator, or why it could not be started (each cell then reports that reason).
    pub evaluator: Result<Evaluator, String>,
    /// While the evaluator is still starting in the background: where it will arrive.
    pub starting: Option<crossbeam_channel::Receiver<Result<Evaluator, String>>>,
    /// The execution counter: cells run with `store_history` and not `silent`.
    pub execution_count: u32,
    pub history: History,
}

impl CellState {
    /// True while the evaluator is still starting in the background.
    pub fn still_starting(&mut self) -> bool {
        let Some(rx) = &self.starting else { return false };
        match rx.try_recv() {
            Ok(ev) => {
                self.evaluator = ev;
                self.starting = None;
                false
            }
            Err(crossbeam_channel::TryRecvError::Empty) => true,
            // `ready` reports the ended start-up thread.
            Err(crossbeam_channel::TryRecvError::Disconnected) => false,
        }
    }

    /// The evaluator, waiting for it if it is still starting (the first cell waits; requests
    /// that need no evaluator, such as `kernel_info_request`, are answered meanwhile).
    pub fn ready(&mut self) -> &mut Result<Evaluator, String> {
        if let Some(rx) = self.starting.take() {
            self.evaluator = rx
                .recv()
                .unwrap_or_else(|_| Err(String::from("the evaluator's start-up thread ended without a result")));
        }
        &mut self.evaluator
    }
}

/// The options of one `execute_request`.
struct Options<'a> {
    code: &'a str,
    silent: bool,
    store_history: bool,
    allow_stdin: bool,
    stop_on_error: bool,
}

impl<'a> Options<'a> {
    fn parse(content: &'a Value) -> Options<'a> {
        let flag = |k: &str, default: bool| content.get(k).and_then(Value::as_bool).unwrap_or(default);
        let silent = flag("silent", false);
        Options {
            code: content.get("code").and_then(Value::as_str).unwrap_or(""),
            silent,
            // `silent` forces store_history off (messaging spec).
            store_history: !silent && flag("store_history", true),
            allow_stdin: flag("allow_stdin", true),
            stop_on_error: flag("stop_on_error", true),
        }
    }
}

/// Runs the cell of `msg`; returns the `execute_reply` content and whether the queued cells
/// must be aborted (the cell failed with `stop_on_error`).
pub fn handle(shared: &Shared, state: &mut CellState, msg: &Message) -> (Value, bool) {
    let opts = Options::parse(&msg.content);
    if opts.store_history {
        state.execution_count += 1;
        state.history.record(state.execution_count, opts.code);
    }
    let count = state.execution_count;
    if !opts.silent {
        shared.publisher.publish(
            Some(msg),
            "execute_input",
            json!({ "code": opts.code, "execution_count": count }),
        );
    }
    // Said at once while the cell waits, as a display that is cleared away when the evaluator
    // is ready: the notice is not left in saved notebooks or decks (like the "waiting for
    // processes" display), and a stream check's first line stays the cell's own. A clear, not
    // an emptied display: nbclient and JupyterLab would keep an empty output for that. Nothing
    // else of this cell is shown yet, so the clear removes the notice only.
    let notice = !opts.silent && state.still_starting();
    if notice {
        shared.publisher.publish(Some(msg), "display_data", json!({
            "data": { "text/plain": startup::notice() }, "metadata": {},
        }));
    }
    let ready = state.ready();
    if notice {
        shared.publisher.publish(Some(msg), "clear_output", json!({ "wait": false }));
    }
    let outcome = match ready {
        Ok(ev) => ev.execute(CellRequest {
            parent: msg,
            code: opts.code,
            execution_count: count,
            silent: opts.silent,
            allow_stdin: opts.allow_stdin,
        }),
        Err(reason) => CellOutcome::Error {
            ename: "KernelError".into(),
            evalue: "the Rust evaluator could not be started".into(),
            traceback: reason.lines().map(str::to_string).collect(),
        },
    };
    match outcome {
        CellOutcome::Ok => (
            json!({ "status": "ok", "execution_count": count, "payload": [], "user_expressions": {} }),
            false,
        ),
        CellOutcome::Error {
            ename,
            evalue,
            traceback,
        } => {
            let ename = strip_ansi(&ename);
            let evalue = strip_ansi(&evalue);
            let traceback: Vec<String> = traceback.iter().map(|t| strip_ansi(t)).collect();
            let error = json!({ "ename": ename, "evalue": evalue, "traceback": traceback });
            if !opts.silent {
                shared.publisher.publish(Some(msg), "error", error.clone());
            }
            let mut reply = error;
            reply["status"] = json!("error");
            reply["execution_count"] = json!(count);
            (reply, opts.stop_on_error)
        }
    }
}

/// The reply to an `execute_request` aborted because an earlier cell failed.
pub fn aborted_reply(state: &CellState) -> Value {
    json!({ "status": "aborted", "execution_count": state.execution_count })
}


#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn strips_colours() {
        assert_eq!(
            strip_ansi("\u{1b}[0m\u{1b}[1m\u{1b}[38;5;9merror[E0425]\u{1b}[0m: x"),
            "error[E0425]: x"
        );
        assert_eq!(strip_ansi("plain ✓"), "plain ✓");
        assert_eq!(strip_ansi("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\"), "link");
    }
}
