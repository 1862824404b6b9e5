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

use super::signing::Signer;

/// The delimiter between routing identities and the signed parts.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// The protocol version stamped on every header this kernel sends.
pub const PROTOCOL_VERSION: &str = "5.3";

/// This kernel process's session id (new on every start, as the protocol asks).
pub fn kernel_session() -> &'static str {
    static SESSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SESSION.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// Why a received multipart message was dropped.
#[derive(Debug)]
pub enum DecodeError {
    NoDelimiter,
    MissingParts(usize),
    BadSignature,
    BadJson(&'static str, String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NoDelimiter => write!(f, "no <IDS|MSG> delimiter"),
            DecodeError::MissingParts(n) => write!(f, "only {n} parts after the delimiter (need 5)"),
            DecodeError::BadSignature => write!(f, "invalid or replayed signature"),
            DecodeError::BadJson(part, e) => write!(f, "invalid {part}: {e}"),
        }
    }
}

impl Header {
    /// A fresh header of this kernel's session for `msg_type`.
    pub fn new(msg_type: &str) -> Header {
        Header {
            msg_id: uuid::Uuid::new_v4().to_string(),
            session: kernel_session().to_string(),
            username: "kernel".to_string(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            msg_type: msg_type.to_string(),
            version: PROTOCOL_VERSION.to_string(),
            extra: serde_json::Map::new(),
        }
    }
}

impl Message {
    /// A new message answering `parent` (same identities, `parent_header` = its header).
    pub fn reply_to(parent: &Message, msg_type: &str, content: Value) -> Message {
        Message {
            identities: parent.identities.clone(),
            header: Header::new(msg_type),
            parent_header: Some(parent.header.clone()),
            metadata: serde_json::Map::new(),
            content,
            buffers: Vec::new(),
        }
    }

    /// Decodes and verifies the frames of one received multipart message.
    pub fn decode(frames: Vec<Vec<u8>>, signer: &Signer) -> Result<Message, DecodeError> {
        let pos = frames.iter().position(|f| f == DELIMITER).ok_or(DecodeError::NoDelimiter)?;
        let mut rest = frames.into_iter();
        let identities: Vec<Vec<u8>> = rest.by_ref().take(pos).collect();
        rest.next(); // the delimiter
        let parts: Vec<Vec<u8>> = rest.collect();
        if parts.len() < 5 {
            return Err(DecodeError::MissingParts(parts.len()));
        }
        let signed: [&[u8]; 4] = [parts[1].as_slice(), parts[2].as_slice(), parts[3].as_slice(), parts[4].as_slice()];
        if !signer.verify(parts[0].as_slice(), &signed) {
            return Err(DecodeError::BadSignature);
        }
        let header: Header =
            serde_json::from_slice(&parts[1]).map_err(|e| DecodeError::BadJson("header", e.to_string()))?;
        let parent: Value =
            serde_json::from_slice(&parts[2]).map_err(|e| DecodeError::BadJson("parent_header", e.to_string()))?;
        let parent_header = match parent {
            Value::Object(ref m) if m.is_empty() => None,
            Value::Object(_) => Some(
                serde_json::from_value(parent).map_err(|e| DecodeError::BadJson("parent_header", e.to_string()))?,
            ),
            _ => return Err(DecodeError::BadJson("parent_header", "not an object".into())),
        };
        let metadata = match serde_json::from_slice(&parts[3]) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(DecodeError::BadJson("metadata", "not an object".into())),
            Err(e) => return Err(DecodeError::BadJson("metadata", e.to_string())),
        };
        let content: Value =
            serde_json::from_slice(&parts[4]).map_err(|e| DecodeError::BadJson("content", e.to_string()))?;
        if !content.is_object() {
            return Err(DecodeError::BadJson("content", "not an object".into()));
        }
        let buffers = parts.into_iter().skip(5).collect();
        Ok(Message { identities, header, parent_header, metadata, content, buffers })
    }

    /// The signed frames of this message, ready for `send_multipart`.
    pub fn encode(&self, signer: &Signer) -> Vec<Vec<u8>> {
        let header = serde_json::to_vec(&self.header).expect("headers serialise");
        let parent = match &self.parent_header {
            Some(h) => serde_json::to_vec(h).expect("headers serialise"),
            None => b"{}".to_vec(),
        };
        let metadata = serde_json::to_vec(&self.metadata).expect("maps serialise");
        let content = serde_json::to_vec(&self.content).expect("JSON values serialise");
        let signature = signer.sign(&[header.as_slice(), parent.as_slice(), metadata.as_slice(), content.as_slice()]);
        let mut frames = self.identities.clone();
        frames.push(DELIMITER.to_vec());
        frames.push(signature.into_bytes());
        frames.extend([header, parent, metadata, content]);
        frames.extend(self.buffers.iter().cloned());
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let signer = Signer::new("key");
        let mut request = Message {
            identities: vec![b"client".to_vec()],
            header: Header::new("kernel_info_request"),
            parent_header: None,
            metadata: serde_json::Map::new(),
            content: serde_json::json!({}),
            buffers: vec![],
        };
        request.header.extra.insert("subshell_id".into(), Value::Null);
        let frames = request.encode(&signer);
        let back = Message::decode(frames.clone(), &signer).unwrap();
        assert_eq!(back.identities, request.identities);
        assert_eq!(back.header, request.header);
        assert!(back.parent_header.is_none());

        let reply = Message::reply_to(&back, "kernel_info_reply", serde_json::json!({"status": "ok"}));
        let decoded = Message::decode(reply.encode(&signer), &signer).unwrap();
        assert_eq!(decoded.parent_header.as_ref(), Some(&request.header));

        assert!(matches!(Message::decode(frames.clone(), &Signer::new("other")), Err(DecodeError::BadSignature)));
        assert!(matches!(Message::decode(vec![b"junk".to_vec()], &signer), Err(DecodeError::NoDelimiter)));
        assert!(matches!(Message::decode(frames[..4].to_vec(), &signer), Err(DecodeError::MissingParts(2))));
        let unsigned = Signer::new("");
        let mut bad = request.encode(&unsigned);
        *bad.last_mut().unwrap() = b"{not json".to_vec();
        assert!(matches!(Message::decode(bad, &unsigned), Err(DecodeError::BadJson("content", _))));
    }
}
