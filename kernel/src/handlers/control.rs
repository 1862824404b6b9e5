//! The control channel on its own thread: `interrupt_request`, `shutdown_request`,
//! `kernel_info_request`, answered even while a cell runs.

use super::{Shared, kernel_info};
use crate::wire::message::Message;
use crate::wire::sockets::{recv_message, send_message};
use serde_json::{Value, json};
use std::sync::Arc;

/// Serves the control socket on a new thread until shutdown.
pub fn spawn(socket: zmq::Socket, shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            while !shared.shutting_down() {
                match recv_message(&socket, &shared.signer, "control", 100) {
                    Ok(Some(msg)) => handle(&socket, &shared, &msg),
                    Ok(None) => {}
                    Err(zmq::Error::ETERM) => break,
                    Err(zmq::Error::EINTR) => {}
                    Err(e) => {
                        eprintln!("rust-concurrency-kernel: control channel failed: {e}");
                        break;
                    }
                }
            }
        })
        .expect("spawn control thread")
}

/// Handles one control request, between `busy` and `idle`.
fn handle(socket: &zmq::Socket, shared: &Shared, msg: &Message) {
    shared.status(msg, "busy");
    let reply = |msg_type: &str, content: Value| {
        send_message(socket, &shared.signer, &Message::reply_to(msg, msg_type, content));
    };
    match msg.header.msg_type.as_str() {
        "kernel_info_request" => reply("kernel_info_reply", kernel_info::content()),
        "interrupt_request" => {
            shared.interrupt();
            reply("interrupt_reply", json!({ "status": "ok" }));
        }
        "shutdown_request" => {
            let content = shutdown_content(msg);
            reply("shutdown_reply", content.clone());
            // Since protocol 5.4 the reply is also broadcast, so every frontend learns of it.
            shared.publisher.publish(Some(msg), "shutdown_reply", content);
            shared.request_shutdown();
        }
        other => eprintln!("rust-concurrency-kernel: ignored unknown control message {other:?}"),
    }
    shared.status(msg, "idle");
}

/// The content of `shutdown_reply` for the request `msg`.
pub fn shutdown_content(msg: &Message) -> Value {
    let restart = msg.content.get("restart").and_then(Value::as_bool).unwrap_or(false);
    json!({ "status": "ok", "restart": restart })
}
