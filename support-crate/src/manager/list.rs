//! A proxy to a list held by the server.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::queue::decode;
use super::protocol::{Request, Response};
use super::client::*;

/// A proxy to a list held by a [`Manager`](super::Manager)'s server (Python's `ListProxy`).
///
/// Each method is one call to the server; what `get` and `to_vec` return are copies.
/// `Clone` gives another proxy to the same list.
///
/// ```
/// use multiproc::prelude::*;
///
/// let mgr = Manager::start();
/// let names = mgr.list::<String>();
/// let child_names = names.clone();
/// let mut p = Process::new(move || child_names.push("from the child".to_string()));
/// p.start();
/// p.join();
/// assert_eq!(names.to_vec(), ["from the child"]);
/// ```
pub struct ListProxy<T> {
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) id: u64,
    pub(super) _types: PhantomData<fn(T) -> T>,
}

impl<T> Clone for ListProxy<T> {
    /// Another proxy to the same list.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let l = mgr.list::<i32>();
    /// l.clone().push(1);
    /// assert_eq!(l.len(), 1);
    /// ```
    fn clone(&self) -> Self {
        ListProxy { endpoint: Arc::clone(&self.endpoint), id: self.id, _types: PhantomData }
    }
}

impl<T> fmt::Debug for ListProxy<T> {
    debug_proxy!("ListProxy");
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Appends `value` at the end (Python's `l.append(value)`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let l = mgr.list::<char>();
    /// l.push('a');
    /// l.push('b');
    /// assert_eq!(l.to_vec(), ['a', 'b']);
    /// ```
    #[track_caller]
    pub fn push(&self, value: T) {
        match self.endpoint.call(&Request::ListPush { id: self.id, value: encode(&value) }, "ListProxy::push") {
            Response::Done => {}
            other => unexpected(other, "ListProxy::push"),
        }
    }

    /// A copy of element `index`, or `None` past the end.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let l = mgr.list::<i32>();
    /// l.push(7);
    /// assert_eq!(l.get(0), Some(7));
    /// assert_eq!(l.get(1), None);
    /// ```
    #[track_caller]
    pub fn get(&self, index: usize) -> Option<T> {
        match self.endpoint.call(&Request::ListGet { id: self.id, index: index as u64 }, "ListProxy::get") {
            Response::Maybe(value) => value.map(|v| decode(&v, "ListProxy::get")),
            other => unexpected(other, "ListProxy::get"),
        }
    }

    /// Replaces element `index` (Python's `l[index] = value`). Panics if `index` is past the
    /// end (Python's `IndexError`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let l = mgr.list::<i32>();
    /// l.push(1);
    /// l.set(0, 5);
    /// assert_eq!(l.to_vec(), [5]);
    /// assert!(std::panic::catch_unwind(|| l.set(3, 0)).is_err());
    /// ```
    #[track_caller]
    pub fn set(&self, index: usize, value: T) {
        let request = Request::ListSet { id: self.id, index: index as u64, value: encode(&value) };
        match self.endpoint.call(&request, "ListProxy::set") {
            Response::Done => {}
            other => unexpected(other, "ListProxy::set"),
        }
    }

    /// The number of elements (Python's `len(l)`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let l = mgr.list::<u8>();
    /// l.push(1);
    /// assert_eq!(l.len(), 1);
    /// ```
    #[track_caller]
    pub fn len(&self) -> usize {
        match self.endpoint.call(&Request::ListLen { id: self.id }, "ListProxy::len") {
            Response::Count(n) => n as usize,
            other => unexpected(other, "ListProxy::len"),
        }
    }

    /// True if the list has no elements.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// assert!(mgr.list::<u8>().is_empty());
    /// ```
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the whole list (Python's `list(l)`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let l = mgr.list::<(u8, char)>();
    /// l.push((1, 'x'));
    /// assert_eq!(l.to_vec(), [(1, 'x')]);
    /// ```
    #[track_caller]
    pub fn to_vec(&self) -> Vec<T> {
        match self.endpoint.call(&Request::ListItems { id: self.id }, "ListProxy::to_vec") {
            Response::Values(values) => values.iter().map(|v| decode(v, "ListProxy::to_vec")).collect(),
            other => unexpected(other, "ListProxy::to_vec"),
        }
    }
}
