//! A proxy to a dict held by the server.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::queue::decode;
use super::protocol::{Request, Response};
use super::client::*;

/// A proxy to a dict held by a [`Manager`](super::Manager)'s server (Python's `DictProxy`).
///
/// Its methods are those of a `HashMap`, each one call to the server; what they return are
/// copies. `Clone` gives another proxy to the same dict (to move into a child process).
///
/// ```
/// use multiproc::prelude::*;
///
/// let mgr = Manager::start();
/// let d = mgr.dict::<String, Vec<u32>>();
/// d.insert("primes".to_string(), vec![2, 3]);
/// // `get` returns a copy: pushing onto it does not change the server's value...
/// d.get("primes").unwrap().push(5);
/// assert_eq!(d.get("primes"), Some(vec![2, 3]));
/// // ...so change the copy, then insert it back.
/// let mut primes = d.get("primes").unwrap();
/// primes.push(5);
/// d.insert("primes".to_string(), primes);
/// assert_eq!(d.get("primes"), Some(vec![2, 3, 5]));
/// ```
pub struct DictProxy<K, V> {
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) id: u64,
    pub(super) _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for DictProxy<K, V> {
    /// Another proxy to the same dict.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<u8, u8>();
    /// let d2 = d.clone();
    /// d2.insert(1, 2);
    /// assert_eq!(d.get(&1), Some(2));
    /// ```
    fn clone(&self) -> Self {
        DictProxy { endpoint: Arc::clone(&self.endpoint), id: self.id, _types: PhantomData }
    }
}

impl<K, V> fmt::Debug for DictProxy<K, V> {
    debug_proxy!("DictProxy");
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// Sets `key` to `value` (Python's `d[key] = value`); returns the previous value, if any.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<i32, i32>();
    /// assert_eq!(d.insert(3, 6), None);
    /// assert_eq!(d.insert(3, 7), Some(6));
    /// ```
    #[track_caller]
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let request = Request::DictInsert { id: self.id, key: encode(&key), value: encode(&value) };
        self.maybe(&request, "DictProxy::insert")
    }

    /// A copy of the value of `key`, or `None` (Python's `d.get(key)`). As with a `HashMap`,
    /// a `DictProxy<String, _>` takes `"text"` as well as `&a_string`.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<String, i32>();
    /// d.insert("a".to_string(), 1);
    /// assert_eq!(d.get("a"), Some(1));
    /// assert_eq!(d.get("b"), None);
    /// ```
    #[track_caller]
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.maybe(&Request::DictGet { id: self.id, key: encode(key) }, "DictProxy::get")
    }

    /// Removes `key`; returns its value, if it had one (Python's `d.pop(key, None)`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<i32, i32>();
    /// d.insert(1, 10);
    /// assert_eq!(d.remove(&1), Some(10));
    /// assert!(d.is_empty());
    /// ```
    #[track_caller]
    pub fn remove<Q: Serialize + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.maybe(&Request::DictRemove { id: self.id, key: encode(key) }, "DictProxy::remove")
    }

    /// True if the dict has `key` (Python's `key in d`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<char, u32>();
    /// d.insert('a', 1);
    /// assert!(d.contains_key(&'a'));
    /// assert!(!d.contains_key(&'b'));
    /// ```
    #[track_caller]
    pub fn contains_key<Q: Serialize + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        match self.endpoint.call(&Request::DictContains { id: self.id, key: encode(key) }, "DictProxy::contains_key") {
            Response::Yes(yes) => yes,
            other => unexpected(other, "DictProxy::contains_key"),
        }
    }

    /// The number of entries (Python's `len(d)`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<i32, i32>();
    /// d.insert(1, 1);
    /// d.insert(2, 4);
    /// assert_eq!(d.len(), 2);
    /// ```
    #[track_caller]
    pub fn len(&self) -> usize {
        match self.endpoint.call(&Request::DictLen { id: self.id }, "DictProxy::len") {
            Response::Count(n) => n as usize,
            other => unexpected(other, "DictProxy::len"),
        }
    }

    /// True if the dict has no entries.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// assert!(mgr.dict::<i32, i32>().is_empty());
    /// ```
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies of the keys, in the order they were first inserted (Python's `list(d.keys())`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<String, i32>();
    /// d.insert("b".to_string(), 1);
    /// d.insert("a".to_string(), 2);
    /// assert_eq!(d.keys(), ["b", "a"]);
    /// ```
    #[track_caller]
    pub fn keys(&self) -> Vec<K> {
        self.items_as("DictProxy::keys").into_iter().map(|(k, _)| k).collect()
    }

    /// Copies of the entries, in the order their keys were first inserted (Python's
    /// `list(d.items())`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<i32, char>();
    /// d.insert(2, 'b');
    /// d.insert(1, 'a');
    /// assert_eq!(d.items(), [(2, 'b'), (1, 'a')]);
    /// ```
    #[track_caller]
    pub fn items(&self) -> Vec<(K, V)> {
        self.items_as("DictProxy::items")
    }

    /// A copy of the whole dict as a `HashMap` (Python's `dict(d)`).
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<i32, i32>();
    /// d.insert(1, 2);
    /// let copy = d.to_hashmap();
    /// assert_eq!(copy[&1], 2);
    /// ```
    #[track_caller]
    pub fn to_hashmap(&self) -> HashMap<K, V>
    where
        K: Eq + Hash,
    {
        self.items_as("DictProxy::to_hashmap").into_iter().collect()
    }

    /// A copy of the whole dict as a `BTreeMap`: sorted by key, so it prints the same in every
    /// run, like `{0: 0, 1: 2}`.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// let d = mgr.dict::<i32, i32>();
    /// d.insert(2, 4);
    /// d.insert(1, 2);
    /// assert_eq!(format!("{:?}", d.to_btreemap()), "{1: 2, 2: 4}");
    /// ```
    #[track_caller]
    pub fn to_btreemap(&self) -> BTreeMap<K, V>
    where
        K: Ord,
    {
        self.items_as("DictProxy::to_btreemap").into_iter().collect()
    }

    #[track_caller]
    fn items_as(&self, what: &str) -> Vec<(K, V)> {
        match self.endpoint.call(&Request::DictItems { id: self.id }, what) {
            Response::Pairs(pairs) => pairs.iter().map(|(k, v)| (decode(k, what), decode(v, what))).collect(),
            other => unexpected(other, what),
        }
    }

    #[track_caller]
    fn maybe(&self, request: &Request, what: &str) -> Option<V> {
        match self.endpoint.call(request, what) {
            Response::Maybe(value) => value.map(|v| decode(&v, what)),
            other => unexpected(other, what),
        }
    }
}
