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

/// How long the IOPub thread waits for a queued message before it looks for new subscribers.
const SUBSCRIBER_CHECK: std::time::Duration = std::time::Duration::from_millis(20);

/// Starts the thread that owns the IOPub socket: it signs and sends every queued message in
/// order, and greets every new subscriber with `iopub_welcome` (JEP 65).
///
/// ZeroMQ sockets are not thread-safe, so this thread alone touches the socket: it reads the
/// subscriptions the XPUB socket reports between two queued messages, and every
/// [`SUBSCRIBER_CHECK`] while the queue is empty (so a welcome leaves within that time).
pub fn spawn(socket: zmq::Socket, signer: Signer, rx: crossbeam_channel::Receiver<Outgoing>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("iopub".into())
        .spawn(move || {
            loop {
                let out = match rx.recv_timeout(SUBSCRIBER_CHECK) {
                    Ok(out) => Some(out),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                };
                welcome_new_subscribers(&socket, &signer);
                let Some(out) = out else { continue };
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
                // The topic frame: frontends ignore it, but the protocol asks for one.
                let topic = format!("kernel.{}.{}", super::message::kernel_session(), out.msg_type).into_bytes();
                if !send(&socket, &signer, topic, out.parent, &out.msg_type, out.content) {
                    break;
                }
            }
        })
        .expect("spawn iopub thread")
}

/// Signs and sends one message; false once the context is shutting down (ETERM).
fn send(socket: &zmq::Socket, signer: &Signer, topic: Vec<u8>, parent: Option<Message>, msg_type: &str, content: Value) -> bool {
    let msg = WireMessage {
        identities: vec![topic],
        header: Header::new(msg_type),
        parent_header: parent.map(|p| p.header),
        metadata: serde_json::Map::new(),
        content,
        buffers: Vec::new(),
    };
    match socket.send_multipart(msg.encode(signer), 0) {
        Ok(()) => true,
        Err(zmq::Error::ETERM) => false,
        Err(e) => {
            eprintln!("rust-concurrency-kernel: could not publish {msg_type}: {e}");
            true
        }
    }
}

/// Answers each subscription the XPUB socket reported (a frame starting with byte 1, then the
/// topic) with `iopub_welcome` (JEP 65): no parent, content `{"subscription": topic}`. It is
/// sent under the subscribed topic itself, so it reaches the new subscriber whatever prefix it
/// chose (other clients whose prefix matches see it too, as the JEP allows). Unsubscriptions
/// (byte 0) need no answer.
fn welcome_new_subscribers(socket: &zmq::Socket, signer: &Signer) {
    while let Ok(frame) = socket.recv_bytes(zmq::DONTWAIT) {
        let Some((&1, topic)) = frame.split_first() else { continue };
        let subscription = String::from_utf8_lossy(topic).into_owned();
        let content = serde_json::json!({ "subscription": subscription });
        // An empty topic matches every message: give it the kernel's usual topic frame.
        let frame_topic = if topic.is_empty() {
            format!("kernel.{}.iopub_welcome", super::message::kernel_session()).into_bytes()
        } else {
            topic.to_vec()
        };
        if !send(socket, signer, frame_topic, None, "iopub_welcome", content) {
            return;
        }
    }
}
