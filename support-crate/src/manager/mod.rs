//! Managers: a server process that holds a dict, a list or a namespace for other processes
//! (Python's `multiprocessing.Manager()`).
//!
//! ```
//! use multiproc::prelude::*;
//!
//! let mgr = Manager::start(); // forks the server process
//! let d = mgr.dict::<i32, i32>(); // a proxy: the dict itself lives in the server
//! let mut workers = Vec::new();
//! for i in 0..10 {
//!     let d = d.clone();
//!     let mut p = Process::new(move || {
//!         d.insert(i, i * 2);
//!     });
//!     p.start();
//!     workers.push(p);
//! }
//! for p in &workers {
//!     p.join();
//! }
//! assert_eq!(format!("{:?}", d.to_btreemap()), "{0: 0, 1: 2, 2: 4, 3: 6, 4: 8, 5: 10, 6: 12, 7: 14, 8: 16, 9: 18}");
//! mgr.shutdown();
//! ```
//!
//! [`Manager::start`] forks one server process. [`Manager::dict`], [`Manager::list`] and
//! [`Manager::namespace`] create an object *in the server* and hand back a **proxy**: a small
//! value that knows the server's address and the object's number. Every proxy method is one
//! request and one answer over a Unix socket: the key and value are serialized (serde and
//! postcard), the server applies the operation to its one copy of the object, and answers. A
//! proxy is [`Clone`] and works in any process started after it (a clone in a child's closure
//! talks to the same server), so all processes see one dict.
//!
//! What to know, as in Python:
//! - every single call is atomic (the server handles one request at a time), but a `get`
//!   followed by an `insert` is two calls, and another process may change the entry between
//!   them: guard such a read-modify-write with a [`Lock`](crate::lock::Lock);
//! - what a proxy hands out is a *copy*: changing a value returned by `get` changes only the
//!   copy; `insert` (or `set`) it back to change the server's value;
//! - items must be serializable (`Serialize + DeserializeOwned`), like Python's picklable rule,
//!   but checked by the compiler.
//!
//! The server answers only processes of the user who started it (the socket's name is in
//! Linux's abstract namespace, which has no file permissions to do that).
//!
//! The server ends with [`Manager::shutdown`], when the [`Manager`] is dropped in the process
//! that started it, when that process ends, and with the notebook kernel's runtime (restart,
//! shutdown). A proxy call after the server ended panics with a message naming the manager; it
//! never waits forever. A waiting call ends, like every wait of this crate, when the notebook's
//! stop button is pressed.

/// `Debug` for a proxy: its manager, the server's pid and the object's number.
macro_rules! debug_proxy {
    ($name:literal) => {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct($name)
                .field("manager", &self.endpoint.name)
                .field("pid", &self.endpoint.pid)
                .field("object", &self.id)
                .finish()
        }
    };
}

mod client;
mod dict;
mod list;
mod namespace;
mod protocol;
mod server;

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::process::Process;
use crate::sys::wait;
use client::{Endpoint, bind, getpid, running};
use protocol::{Kind, Request};

pub use dict::DictProxy;
pub use list::ListProxy;
pub use namespace::NamespaceProxy;

/// A manager: a server process holding dicts, lists and namespaces that many processes share
/// through proxies (Python's `multiprocessing.Manager()`). See the [module](self) documentation.
///
/// ```
/// use multiproc::prelude::*;
///
/// let mgr = Manager::start();
/// println!("{} runs as process {}", mgr.name(), mgr.pid());
/// let scores = mgr.dict::<String, u32>();
/// scores.insert("Ada".to_string(), 3);
/// assert_eq!(scores.get("Ada"), Some(3));
/// mgr.shutdown();
/// assert!(!mgr.is_alive());
/// ```
pub struct Manager {
    endpoint: Arc<Endpoint>,
    /// The process that started the server (only it can wait for it).
    creator: i32,
    process: Process,
    stopped: Cell<bool>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").field("name", &self.endpoint.name).field("pid", &self.endpoint.pid).finish()
    }
}

impl Manager {
    /// Starts the server process (a daemon child named "Manager-N", N counting like
    /// "Process-N") and returns once it is listening.
    ///
    /// Panics if the process cannot be started (see [`Process::start`]).
    ///
    /// ```
    /// use multiproc::prelude::*;
    ///
    /// let mgr = Manager::start();
    /// assert!(mgr.is_alive());
    /// assert!(mgr.name().starts_with("Manager-"));
    /// ```
    #[track_caller]
    pub fn start() -> Manager {
        // Bound before the fork, so the name answers as soon as `start` returns; the parent's
        // copy of the listening socket is closed when `start` drops the child's closure.
        let (listener, address) = bind();
        let process = Process::new(move || server::serve(listener)).daemon(true);
        let name = process.get_name().replacen("Process-", "Manager-", 1);
        let mut process = process.name(name.clone());
        process.start();
        let pid = process.pid().expect("a started process has a pid");
        Manager {
            endpoint: Arc::new(Endpoint { address, name, pid }),
            creator: getpid(),
            process,
            stopped: Cell::new(false),
        }
    }

    /// The server process's pid.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// assert_ne!(mgr.pid(), std::process::id() as i32);
    /// ```
    pub fn pid(&self) -> i32 {
        self.endpoint.pid
    }

    /// The server process's name, e.g. "Manager-1".
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// println!("the server is {}", mgr.name());
    /// ```
    pub fn name(&self) -> &str {
        &self.endpoint.name
    }

    /// True while the server process runs.
    ///
    /// ```
    /// let mgr = multiproc::prelude::Manager::start();
    /// assert!(mgr.is_alive());
    /// mgr.shutdown();
    /// assert!(!mgr.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        if self.creator == getpid() { self.process.is_alive() } else { running(self.endpoint.pid) }
    }

    /// A new, empty dict in the server, and a proxy to it (Python's `mgr.dict()`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    ///
    /// let mgr = Manager::start();
    /// let d = mgr.dict::<i32, String>();
    /// d.insert(1, "one".to_string());
    /// assert_eq!(d.len(), 1);
    /// ```
    #[track_caller]
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(&self) -> DictProxy<K, V> {
        let id = self.endpoint.create(Kind::Dict, "Manager::dict");
        DictProxy { endpoint: Arc::clone(&self.endpoint), id, _types: PhantomData }
    }

    /// A new, empty list in the server, and a proxy to it (Python's `mgr.list()`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    ///
    /// let mgr = Manager::start();
    /// let l = mgr.list::<f64>();
    /// l.push(0.5);
    /// assert_eq!(l.to_vec(), [0.5]);
    /// ```
    #[track_caller]
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> ListProxy<T> {
        let id = self.endpoint.create(Kind::List, "Manager::list");
        ListProxy { endpoint: Arc::clone(&self.endpoint), id, _types: PhantomData }
    }

    /// A new, empty namespace in the server, and a proxy to it (Python's `mgr.Namespace()`):
    /// named fields, each holding one value of any serializable type.
    ///
    /// ```
    /// use multiproc::prelude::*;
    ///
    /// let mgr = Manager::start();
    /// let ns = mgr.namespace();
    /// ns.set("x", 10);
    /// assert_eq!(ns.get::<i32>("x"), Some(10));
    /// ```
    #[track_caller]
    pub fn namespace(&self) -> NamespaceProxy {
        let id = self.endpoint.create(Kind::Namespace, "Manager::namespace");
        NamespaceProxy { endpoint: Arc::clone(&self.endpoint), id }
    }

    /// Stops the server process and waits for it (Python's `mgr.shutdown()`). Its objects are
    /// gone; every proxy call afterwards panics with a message naming the manager. Calling it
    /// twice is fine. Dropping the `Manager` in the process that started it does the same.
    ///
    /// ```
    /// use multiproc::prelude::*;
    ///
    /// let mgr = Manager::start();
    /// let l = mgr.list::<i32>();
    /// mgr.shutdown();
    /// let err = std::panic::catch_unwind(|| l.len()).unwrap_err();
    /// assert!(err.downcast_ref::<String>().unwrap().contains("is not running any more"));
    /// ```
    #[track_caller]
    pub fn shutdown(&self) {
        if self.stopped.replace(true) {
            return;
        }
        // A server that already ended needs no request (`Gone` is the answer then).
        let _ = self.endpoint.try_call(&Request::Shutdown, "Manager::shutdown");
        if self.creator == getpid() && !self.process.join_timeout(5.0) {
            self.process.kill();
            self.process.join();
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.stopped.get() || self.creator != getpid() {
            return;
        }
        if std::thread::panicking() || wait::interrupted() {
            // No waiting here: a wait would panic again (stop button) while unwinding. The
            // server is killed; the crate reaps it later like any finished child.
            self.stopped.set(true);
            self.process.kill();
            return;
        }
        self.shutdown();
    }
}
