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
