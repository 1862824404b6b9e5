//! A proxy to a namespace held by the server.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::queue::decode;
use super::protocol::{Request, Response};
use super::client::*;

/// A proxy to a namespace held by a [`Manager`](super::Manager)'s server (Python's `mgr.Namespace()`, where
/// `ns.x = 1` becomes `ns.set("x", 1)` and `ns.x` becomes `ns.get::<i32>("x")`).
///
/// A field remembers the type it was set with; reading it as another type panics with both
/// names (`&str` and `String` count as the same). `Clone` gives another proxy to it.
///
/// ```
/// use multiproc::prelude::*;
///
/// let mgr = Manager::start();
/// let ns = mgr.namespace();
/// ns.set("greeting", "hello");
/// ns.set("count", 3u32);
/// assert_eq!(ns.get::<String>("greeting").as_deref(), Some("hello"));
/// assert_eq!(ns.names(), ["greeting", "count"]);
/// ```
#[derive(Clone)]
pub struct NamespaceProxy {
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) id: u64,
}

impl fmt::Debug for NamespaceProxy {
    debug_proxy!("NamespaceProxy");
}

impl NamespaceProxy {
    /// Sets field `name` to `value` (Python's `ns.name = value`), whatever it held before.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let ns = mgr.namespace();
    /// ns.set("x", 1);
    /// ns.set("x", "now text");
    /// assert_eq!(ns.get::<String>("x").unwrap(), "now text");
    /// ```
    #[track_caller]
    pub fn set<T: Serialize>(&self, name: &str, value: T) {
        let request = Request::NamespaceSet {
            id: self.id,
            name: name.to_string(),
            type_name: std::any::type_name::<T>().to_string(),
            value: encode(&value),
        };
        match self.endpoint.call(&request, "NamespaceProxy::set") {
            Response::Done => {}
            other => unexpected(other, "NamespaceProxy::set"),
        }
    }

    /// A copy of field `name`, or `None` if it was never set (Python raises `AttributeError`).
    /// Panics if the field holds another type than `T`.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let ns = mgr.namespace();
    /// ns.set("x", 10i64);
    /// assert_eq!(ns.get::<i64>("x"), Some(10));
    /// assert_eq!(ns.get::<i64>("y"), None);
    /// assert!(std::panic::catch_unwind(|| ns.get::<String>("x")).is_err());
    /// ```
    #[track_caller]
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let what = "NamespaceProxy::get";
        match self.endpoint.call(&Request::NamespaceGet { id: self.id, name: name.to_string() }, what) {
            Response::Field(None) => None,
            Response::Field(Some((type_name, value))) => {
                let wanted = std::any::type_name::<T>();
                if same_type(&type_name, wanted) {
                    Some(decode(&value, what))
                } else {
                    panic!(
                        "{what}: the field `{name}` holds a `{}`, not a `{}`",
                        short_type(&type_name),
                        short_type(wanted)
                    )
                }
            }
            other => unexpected(other, what),
        }
    }

    /// The names of the fields, in the order they were first set.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let ns = mgr.namespace();
    /// ns.set("b", 1);
    /// ns.set("a", 2);
    /// assert_eq!(ns.names(), ["b", "a"]);
    /// ```
    #[track_caller]
    pub fn names(&self) -> Vec<String> {
        match self.endpoint.call(&Request::NamespaceNames { id: self.id }, "NamespaceProxy::names") {
            Response::Names(names) => names,
            other => unexpected(other, "NamespaceProxy::names"),
        }
    }
}

/// Type names that serialize alike: `&T` is `T`, and `str` is `String`.
fn same_type(a: &str, b: &str) -> bool {
    fn plain(t: &str) -> &str {
        match t.trim_start_matches('&') {
            "str" => "alloc::string::String",
            other => other,
        }
    }
    plain(a) == plain(b)
}

/// A type name without module paths: `alloc::vec::Vec<alloc::string::String>` → `Vec<String>`.
fn short_type(t: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            word.clear();
        } else if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            out.push_str(&word);
            word.clear();
            out.push(c);
        }
    }
    out + &word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_in_messages_are_short() {
        assert_eq!(short_type("alloc::vec::Vec<alloc::string::String>"), "Vec<String>");
        assert_eq!(short_type("&str"), "&str");
        assert_eq!(short_type("(i32, core::option::Option<u8>)"), "(i32, Option<u8>)");
    }

    #[test]
    fn text_borrowed_or_owned_is_one_type() {
        assert!(same_type("&str", "alloc::string::String"));
        assert!(same_type("&i32", "i32"));
        assert!(!same_type("i32", "i64"));
    }
}
