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

mod protocol;
mod server;

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::process::Process;
use crate::queue::decode;
use crate::sys::wait;
use protocol::{Kind, Request, Response};

/// How often a client waiting for the server looks whether the server still runs.
const ALIVE_CHECK: Duration = Duration::from_millis(100);

/// Where a manager's server listens, and what to call it in messages. Shared by all proxies.
#[derive(Debug)]
struct Endpoint {
    /// The socket's name in Linux's abstract namespace (no file to clean up).
    address: String,
    name: String,
    pid: i32,
}

/// Why a call did not get an answer: the server is gone.
struct Gone;

fn getpid() -> i32 {
    std::process::id() as i32
}

/// True while process `pid` exists and has not finished (a zombie has finished).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next()).is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

impl Endpoint {
    /// One request, one answer; panics with a clear message if the server is gone or refused.
    #[track_caller]
    fn call(&self, request: &Request, what: &str) -> Response {
        match self.try_call(request, what) {
            Ok(Response::Error(e)) => panic!("{what}: {e} (manager {}, pid {}).", self.name, self.pid),
            Ok(response) => response,
            Err(Gone) => panic!(
                "{what}: the manager {} (pid {}) is not running any more: it was shut down, or its \
                 process ended. A proxy works only while its manager's server process runs.",
                self.name, self.pid
            ),
        }
    }

    #[track_caller]
    fn try_call(&self, request: &Request, what: &str) -> Result<Response, Gone> {
        let fd = self.connect(what)?;
        let payload = postcard::to_allocvec(request).unwrap_or_else(|e| panic!("{what}: cannot serialize the request: {e}"));
        let mut frame = protocol::frame_header(payload.len()).to_vec();
        frame.extend_from_slice(&payload);
        self.send_all(&fd, &frame, what)?;
        let mut header = [0u8; 4];
        self.recv_exact(&fd, &mut header, what)?;
        let len = u32::from_le_bytes(header) as usize;
        if len > protocol::MAX_FRAME {
            panic!("{what}: the manager {} sent an answer this crate cannot read", self.name);
        }
        let mut answer = vec![0u8; len];
        self.recv_exact(&fd, &mut answer, what)?;
        Ok(postcard::from_bytes(&answer).unwrap_or_else(|e| panic!("{what}: unreadable answer from the manager: {e}")))
    }

    /// A fresh connection (one per call: it works the same in every process, forked or not).
    #[track_caller]
    fn connect(&self, what: &str) -> Result<OwnedFd, Gone> {
        let addr = UnixAddr::new_abstract(self.address.as_bytes()).expect("a short socket name");
        let fd = nix::sys::socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap_or_else(|e| panic!("{what}: cannot create a socket: {e}"));
        loop {
            match nix::sys::socket::connect(fd.as_raw_fd(), &addr) {
                Ok(()) => return Ok(fd),
                Err(Errno::EINTR) => {}
                // The server's queue of waiting clients is full: it is busy; wait a little.
                Err(Errno::EAGAIN) => {
                    if !running(self.pid) {
                        return Err(Gone);
                    }
                    wait::sleep(Duration::from_millis(1), what);
                }
                Err(Errno::EINPROGRESS) => {
                    self.wait_for(&fd, false, what)?;
                    return Ok(fd);
                }
                // Nobody listens under that name any more.
                Err(Errno::ECONNREFUSED) | Err(Errno::ENOENT) => return Err(Gone),
                Err(e) => panic!("{what}: cannot connect to the manager {}: {e}", self.name),
            }
        }
    }

    /// Waits until `fd` is readable (or writable), looking every [`ALIVE_CHECK`] whether the
    /// server still runs: a dead server must give an error, never a wait without end.
    #[track_caller]
    fn wait_for(&self, fd: &OwnedFd, readable: bool, what: &str) -> Result<(), Gone> {
        loop {
            let deadline = Some(Instant::now() + ALIVE_CHECK);
            let ready = if readable {
                wait::poll_readable(fd.as_fd(), deadline, what)
            } else {
                wait::poll_writable(fd.as_fd(), deadline, what)
            };
            if ready {
                return Ok(());
            }
            if !running(self.pid) {
                return Err(Gone);
            }
        }
    }

    #[track_caller]
    fn send_all(&self, fd: &OwnedFd, mut bytes: &[u8], what: &str) -> Result<(), Gone> {
        while !bytes.is_empty() {
            match nix::sys::socket::send(fd.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.wait_for(fd, false, what)?,
                Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(Gone),
                Err(e) => panic!("{what}: cannot send to the manager {}: {e}", self.name),
            }
        }
        Ok(())
    }

    #[track_caller]
    fn recv_exact(&self, fd: &OwnedFd, buf: &mut [u8], what: &str) -> Result<(), Gone> {
        let mut filled = 0;
        while filled < buf.len() {
            match nix::sys::socket::recv(fd.as_raw_fd(), &mut buf[filled..], MsgFlags::empty()) {
                // The end of the stream before the whole answer: the server ended mid-call.
                Ok(0) => return Err(Gone),
                Ok(n) => filled += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.wait_for(fd, true, what)?,
                Err(Errno::ECONNRESET) => return Err(Gone),
                Err(e) => panic!("{what}: cannot read the manager {}'s answer: {e}", self.name),
            }
        }
        Ok(())
    }

    #[track_caller]
    fn create(&self, kind: Kind, what: &str) -> u64 {
        match self.call(&Request::Create(kind), what) {
            Response::Created(id) => id,
            other => unexpected(other, what),
        }
    }
}

#[track_caller]
fn unexpected(response: Response, what: &str) -> ! {
    panic!("{what}: unexpected answer from the manager: {response:?}")
}

#[track_caller]
fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap_or_else(|e| panic!("cannot serialize the item: {e}"))
}

/// Binds a listening socket under a fresh abstract name.
fn bind() -> (UnixListener, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last_error = None;
    for _ in 0..100 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("multiproc-manager-{}-{n}-{nanos}", getpid());
        let bound = SocketAddr::from_abstract_name(name.as_bytes()).and_then(|addr| UnixListener::bind_addr(&addr));
        match bound {
            Ok(listener) => return (listener, name),
            Err(e) => last_error = Some(e),
        }
    }
    panic!("Manager::start: cannot create the server's socket: {}", last_error.map_or(String::new(), |e| e.to_string()))
}

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

/// A proxy to a dict held by a [`Manager`]'s server (Python's `DictProxy`).
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
    endpoint: Arc<Endpoint>,
    id: u64,
    _types: PhantomData<fn() -> (K, V)>,
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

/// A proxy to a list held by a [`Manager`]'s server (Python's `ListProxy`).
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
    endpoint: Arc<Endpoint>,
    id: u64,
    _types: PhantomData<fn(T) -> T>,
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

/// A proxy to a namespace held by a [`Manager`]'s server (Python's `mgr.Namespace()`, where
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
    endpoint: Arc<Endpoint>,
    id: u64,
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
