//! Evaluating cells: evcxr compiles each cell, our runtime process runs it.
//! (Interface fixed; the evaluation helper implements it.)

#![allow(dead_code)]

pub mod runtime;

use crate::wire::iopub::Publisher;
use crate::wire::message::Message;

/// Asks the person at the notebook for a line of text (the stdin channel).
pub trait InputProvider: Send + Sync {
    /// Sends `input_request` for the cell that `parent` started and waits for the reply.
    /// `None` when the frontend does not allow stdin or the request failed.
    fn ask(&self, parent: &Message, prompt: &str, password: bool) -> Option<String>;
}

/// How the evaluator is set up.
#[derive(Debug, Clone, Default)]
pub struct EvalConfig {
    /// Path of the support crate to preload (default: found next to the installed kernel).
    pub support_crate: Option<std::path::PathBuf>,
}

/// One `execute_request` to run.
pub struct CellRequest<'a> {
    /// The `execute_request` message (its header is the parent of every output).
    pub parent: &'a Message,
    pub code: &'a str,
    pub execution_count: u32,
    pub silent: bool,
    pub allow_stdin: bool,
}

/// How a cell ended. Streams, displays and the `execute_result` were already published.
pub enum CellOutcome {
    Ok,
    /// The handler publishes exactly one `error` message from this and replies `error`.
    Error { ename: String, evalue: String, traceback: Vec<String> },
}

/// Completion matches for `complete_request`.
pub struct Completions {
    pub matches: Vec<String>,
    pub cursor_start: usize,
    pub cursor_end: usize,
}

/// Lets another thread (the control channel) stop the running cell.
#[derive(Clone)]
pub struct Interrupter {}

impl Interrupter {
    /// Stops the running cell (blocked calls panic with a clear message, the cell's processes
    /// are terminated). Returns at once.
    pub fn interrupt(&self) {}
}

/// The cell evaluator: owns the evcxr context and the process supervisor.
pub struct Evaluator {}

impl Evaluator {
    /// Starts evcxr and preloads the support crate (`use multiproc::prelude::*;`).
    pub fn new(_config: EvalConfig, _publisher: Publisher, _input: std::sync::Arc<dyn InputProvider>) -> anyhow::Result<Evaluator> {
        anyhow::bail!("evaluator not implemented yet")
    }

    /// Runs one cell; returns when its code returned and its non-daemon processes exited.
    pub fn execute(&mut self, _req: CellRequest<'_>) -> CellOutcome {
        CellOutcome::Error { ename: "NotImplemented".into(), evalue: String::new(), traceback: vec![] }
    }

    /// A handle for interrupting from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {}
    }

    /// Completion candidates at `cursor` (a character offset).
    pub fn complete(&mut self, _code: &str, cursor: usize) -> Completions {
        Completions { matches: vec![], cursor_start: cursor, cursor_end: cursor }
    }

    /// Documentation or type of the name at `cursor`, as plain text.
    pub fn inspect(&mut self, _code: &str, _cursor: usize, _detail_level: u8) -> Option<String> {
        None
    }

    /// Ends the runtime and every process any cell started; leaves no orphans or zombies.
    pub fn shutdown(self) {}
}

/// Compiles the support crate and a first cell once so that later kernels start fast
/// (used by `rust-concurrency-kernel install`).
pub fn warm_up(_config: &EvalConfig) -> anyhow::Result<()> {
    anyhow::bail!("warm-up not implemented yet")
}
