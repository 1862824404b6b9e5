//! The stdin channel: `input_request` to the frontend, `input_reply` back.

use super::Shared;
use crate::evaluation::InputProvider;
use crate::wire::message::Message;
use crate::wire::sockets::{recv_message, send_message};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Asks the frontend for input on the stdin socket, for the evaluator.
pub struct StdinChannel {
    socket: Mutex<Option<zmq::Socket>>,
    shared: Arc<Shared>,
}

impl StdinChannel {
    /// A channel using the bound stdin ROUTER `socket`.
    pub fn new(socket: zmq::Socket, shared: Arc<Shared>) -> StdinChannel {
        StdinChannel {
            socket: Mutex::new(Some(socket)),
            shared,
        }
    }

    /// Closes the socket (at shutdown, so the ZeroMQ context can end).
    pub fn close(&self) {
        self.socket.lock().unwrap().take();
    }
}

impl InputProvider for StdinChannel {
    fn ask(&self, parent: &Message, prompt: &str, password: bool) -> Option<String> {
        if !parent
            .content
            .get("allow_stdin")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            return None;
        }
        let guard = self.socket.lock().unwrap();
        let socket = guard.as_ref()?;
        // Replies to earlier, abandoned requests must not answer this one.
        while let Ok(Some(_)) = recv_message(socket, &self.shared.signer, "stdin", 0) {}
        // The request goes to the same client (identities) as the execute_reply will.
        let request = Message::reply_to(
            parent,
            "input_request",
            json!({ "prompt": prompt, "password": password }),
        );
        send_message(socket, &self.shared.signer, &request);
        let interrupts = self.shared.interrupt_count();
        loop {
            if self.shared.interrupt_count() != interrupts || self.shared.shutting_down() {
                return None;
            }
            match recv_message(socket, &self.shared.signer, "stdin", 100) {
                Ok(Some(reply)) if reply.header.msg_type == "input_reply" => {
                    let value = reply
                        .content
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    return Some(value);
                }
                Ok(Some(other)) => {
                    eprintln!("rust-concurrency-kernel: ignored {} on stdin", other.header.msg_type);
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("rust-concurrency-kernel: stdin channel failed: {e}");
                    return None;
                }
            }
        }
    }
}
