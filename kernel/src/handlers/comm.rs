//! Comms: this kernel has no comm targets, so it reports none and closes what is opened.

use super::Shared;
use crate::wire::message::Message;
use serde_json::{Value, json};

/// The content of `comm_info_reply`: no comms are open.
pub fn info_reply() -> Value {
    json!({ "status": "ok", "comms": {} })
}

/// `comm_open` for a target we do not have: close it at once, as the protocol asks.
pub fn open(shared: &Shared, msg: &Message) {
    let comm_id = msg.content.get("comm_id").cloned().unwrap_or(Value::Null);
    shared
        .publisher
        .publish(Some(msg), "comm_close", json!({ "comm_id": comm_id, "data": {} }));
}
