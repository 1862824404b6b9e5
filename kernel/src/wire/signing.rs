//! HMAC-SHA256 signatures of the four JSON parts of every message.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

type HmacSha256 = Hmac<Sha256>;

/// How many signatures of received messages are remembered to refuse replays.
const REMEMBERED: usize = 1 << 16;

/// Signs outgoing and verifies incoming messages; an empty key turns signing off.
///
/// A signed message is accepted once: a replayed copy (same signature) is refused, as
/// jupyter_client's `Session` does.
#[derive(Clone)]
pub struct Signer {
    mac: Option<HmacSha256>,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    set: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

impl Signer {
    /// A signer for `key` (the connection file's `key`).
    pub fn new(key: &str) -> Signer {
        let mac = if key.is_empty() {
            None
        } else {
            Some(HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length"))
        };
        Signer {
            mac,
            seen: Arc::default(),
        }
    }

    /// The hex signature of `parts` (header, parent header, metadata, content); empty without key.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for p in parts {
                    mac.update(p);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// Whether `signature` (hex) signs `parts` and was not seen before (a replay).
    /// Compared in constant time by `hmac`'s `verify`.
    pub fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> bool {
        match &self.mac {
            None => true,
            Some(mac) => {
                let Ok(expected) = hex::decode(signature) else {
                    return false;
                };
                let mut mac = mac.clone();
                for p in parts {
                    mac.update(p);
                }
                if mac.verify_slice(&expected).is_err() {
                    return false;
                }
                let mut seen = self.seen.lock().unwrap();
                if !seen.set.insert(expected.clone()) {
                    return false;
                }
                seen.order.push_back(expected);
                if seen.order.len() > REMEMBERED {
                    let oldest = seen.order.pop_front().expect("not empty");
                    seen.set.remove(&oldest);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let s = Signer::new("secret");
        let parts: [&[u8]; 4] = [b"{}", b"{}", b"{}", b"{\"a\":1}"];
        let sig = s.sign(&parts);
        // The same value as Python's hmac.new(b"secret", b'{}{}{}{"a":1}', hashlib.sha256).hexdigest().
        assert_eq!(sig, "9335a27f3b96ceef8d908311214c9b96d0a1763df3e479e8e92f19b227d8b058");
        assert!(s.verify(sig.as_bytes(), &parts));
        assert!(!s.verify(sig.as_bytes(), &parts), "a replayed message must be refused");
        assert!(!s.verify(b"00", &parts));
        let changed: [&[u8]; 4] = [b"{}", b"{}", b"{}", b"{\"a\":2}"];
        assert!(!s.verify(sig.as_bytes(), &changed));
        assert!(!Signer::new("other").verify(sig.as_bytes(), &parts));
        assert!(Signer::new("secret").verify(sig.as_bytes(), &parts));
        let none = Signer::new("");
        assert_eq!(none.sign(&parts), "");
        assert!(none.verify(b"", &parts));
    }
}
