//! One handler per Jupyter request type, the loops that serve the shell and control channels,
//! and the command line.

pub mod cli;
pub mod comm;
pub mod control;
pub mod execute;
pub mod history;
pub mod introspection;
pub mod kernel_info;
pub mod shell;
pub mod stdin;

use crate::evaluation::Interrupter;
use crate::wire::iopub::Publisher;
use crate::wire::message::Message;
use crate::wire::signing::Signer;
use serde_json::json;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// State every channel thread shares.
pub struct Shared {
    pub signer: Signer,
    pub publisher: Publisher,
    /// Set once shutdown was requested (control channel, parent gone); the shell loop then ends.
    shutdown: AtomicBool,
    /// The evaluator's interrupter, once the evaluator exists.
    pub interrupter: OnceLock<Interrupter>,
    /// How many interrupts were requested (a pending `input_request` gives up when it changes).
    interrupts: AtomicU64,
}

impl Shared {
    /// Shared state for a kernel signing with `signer` and publishing through `publisher`.
    pub fn new(signer: Signer, publisher: Publisher) -> Shared {
        Shared {
            signer,
            publisher,
            shutdown: AtomicBool::new(false),
            interrupter: OnceLock::new(),
            interrupts: AtomicU64::new(0),
        }
    }

    /// Stops the running cell (stop button, `interrupt_request`, SIGINT).
    pub fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::SeqCst);
        if let Some(i) = self.interrupter.get() {
            i.interrupt();
        }
    }

    /// The number of interrupts so far.
    pub fn interrupt_count(&self) -> u64 {
        self.interrupts.load(Ordering::SeqCst)
    }

    /// Asks the kernel to end: the running cell is interrupted and the shell loop stops.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.interrupt();
    }

    /// Whether shutdown was requested.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Publishes the `status` `state` (busy/idle) as a child of `parent`.
    pub fn status(&self, parent: &Message, state: &str) {
        self.publisher
            .publish(Some(parent), "status", json!({ "execution_state": state }));
    }
}
