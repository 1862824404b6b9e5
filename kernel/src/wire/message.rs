//! A Jupyter message and its header. (Interface fixed; the wire helper fills in signing.)

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message header (`msg_id, session, username, date, msg_type, version`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub msg_id: String,
    pub session: String,
    pub username: String,
    pub date: String,
    pub msg_type: String,
    pub version: String,
    /// Any other header fields (e.g. `subshell_id`) kept as they came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// One message as received or to be sent.
#[derive(Debug, Clone)]
pub struct Message {
    /// ZeroMQ routing identities (before `<IDS|MSG>`).
    pub identities: Vec<Vec<u8>>,
    pub header: Header,
    /// The parent's header, or `None` (serialised as `{}`).
    pub parent_header: Option<Header>,
    pub metadata: serde_json::Map<String, Value>,
    pub content: Value,
    pub buffers: Vec<Vec<u8>>,
}
