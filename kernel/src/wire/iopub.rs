//! Publishing on IOPub from any thread. (Interface fixed; the wire helper implements it.)

use super::message::Message;
use serde_json::Value;

/// A cheap, clonable handle that queues IOPub messages for the thread owning the socket.
#[derive(Clone)]
pub struct Publisher {
    pub(crate) tx: crossbeam_channel::Sender<Outgoing>,
}

/// One IOPub message waiting to be signed and sent.
pub struct Outgoing {
    /// The request this message answers (its header becomes `parent_header`); `None` for
    /// messages with no parent (the `starting` status).
    pub parent: Option<Message>,
    pub msg_type: String,
    pub content: Value,
}

impl Publisher {
    /// Queues `msg_type` with `content`, as a child of `parent`.
    pub fn publish(&self, parent: Option<&Message>, msg_type: &str, content: Value) {
        let _ = self.tx.send(Outgoing { parent: parent.cloned(), msg_type: msg_type.to_string(), content });
    }

    /// A publisher whose messages go to `tx` (the IOPub thread, or a test).
    pub fn new(tx: crossbeam_channel::Sender<Outgoing>) -> Publisher {
        Publisher { tx }
    }
}

use super::message::{Header, Message as WireMessage};
use super::signing::Signer;
use std::sync::{Condvar, Mutex};

/// The message type of the internal "everything before me was sent" marker.
const FLUSH: &str = "\0flush";
/// The message type of the internal "close the socket" marker.
const STOP: &str = "\0stop";

/// Flush markers the IOPub thread has passed (a counter and its condition variable).
static FLUSHED: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());
static FLUSH_TICKETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Publisher {
    /// Waits (at most `timeout`) until every message queued before this call was handed to ZeroMQ.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let ticket = FLUSH_TICKETS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        self.publish(None, FLUSH, serde_json::json!(ticket));
        let (lock, cv) = &FLUSHED;
        let guard = lock.lock().unwrap();
        let (guard, _) = cv.wait_timeout_while(guard, timeout, |done| *done < ticket).unwrap();
        *guard >= ticket
    }

    /// Asks the IOPub thread to send what is queued and close its socket.
    pub fn stop(&self) {
        self.publish(None, STOP, Value::Null);
    }
}

/// Starts the thread that owns the IOPub socket: it signs and sends every queued message in order.
pub fn spawn(socket: zmq::Socket, signer: Signer, rx: crossbeam_channel::Receiver<Outgoing>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("iopub".into())
        .spawn(move || {
            while let Ok(out) = rx.recv() {
                match out.msg_type.as_str() {
                    FLUSH => {
                        let ticket = out.content.as_u64().unwrap_or(0);
                        let (lock, cv) = &FLUSHED;
                        let mut done = lock.lock().unwrap();
                        *done = (*done).max(ticket);
                        cv.notify_all();
                        continue;
                    }
                    STOP => break,
                    _ => {}
                }
                let msg = WireMessage {
                    // The topic frame: frontends ignore it, but the protocol asks for one.
                    identities: vec![format!("kernel.{}.{}", super::message::kernel_session(), out.msg_type).into_bytes()],
                    header: Header::new(&out.msg_type),
                    parent_header: out.parent.map(|p| p.header),
                    metadata: serde_json::Map::new(),
                    content: out.content,
                    buffers: Vec::new(),
                };
                if let Err(e) = socket.send_multipart(msg.encode(&signer), 0) {
                    if e == zmq::Error::ETERM {
                        break;
                    }
                    eprintln!("rust-concurrency-kernel: could not publish {}: {e}", msg.header.msg_type);
                }
            }
        })
        .expect("spawn iopub thread")
}
