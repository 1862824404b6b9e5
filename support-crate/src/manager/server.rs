//! The manager's server process: one loop that accepts a connection, reads one request,
//! applies it to the objects it holds, answers, and closes the connection.
//!
//! One request at a time, in arrival order: that is what makes every proxy call atomic (two
//! processes inserting at once cannot corrupt the dict), and it is enough here because every
//! operation is a few map or vector operations. Clients queue in the listening socket's backlog
//! meanwhile. The loop never uses the crate's stop-button waits: the notebook's stop button is
//! for the running cell, not for a server that earlier cells still use.

use std::collections::HashMap;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use crate::sys::waits::Waiting;

use super::protocol::{Bytes, Kind, Request, Response, read_frame, write_frame};

/// How long the server waits for a connected client's request (or for room to answer) before
/// giving up on that client: a client stopped half-way must not stall everybody else.
const CLIENT_PATIENCE: Duration = Duration::from_secs(10);

/// A dict kept in insertion order, like Python's: each key remembers when it was first inserted.
#[derive(Default)]
struct Dict {
    entries: HashMap<Bytes, (u64, Bytes)>,
    next: u64,
}

impl Dict {
    fn in_order(&self) -> Vec<(&Bytes, &Bytes)> {
        let mut all: Vec<(&u64, &Bytes, &Bytes)> = self.entries.iter().map(|(k, (n, v))| (n, k, v)).collect();
        all.sort_unstable_by_key(|(n, _, _)| **n);
        all.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

/// A namespace: named fields, each with the type name it was set with.
#[derive(Default)]
struct Namespace {
    fields: HashMap<String, (u64, String, Bytes)>,
    next: u64,
}

enum Object {
    Dict(Dict),
    List(Vec<Bytes>),
    Namespace(Namespace),
}

#[derive(Default)]
struct Objects {
    all: HashMap<u64, Object>,
    next_id: u64,
}

/// Runs the server until a `Shutdown` request (or until the process is killed).
pub(super) fn serve(listener: UnixListener) {
    // A client that gave up before reading its answer must not kill the server with SIGPIPE.
    // SAFETY: setting a signal's disposition to "ignore".
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut objects = Objects::default();
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    let name = crate::process::current_process().name().to_string();
    loop {
        // Idle between requests: only a client can wake the server, so the notebook's
        // deadlock detector may count it as stuck while no client waits for its answer
        // (`sys::waits::SERVES`). Cleared as soon as a connection arrives.
        let idle = Waiting::serving("Manager::serve", &name);
        let accepted = listener.accept();
        drop(idle);
        let Ok((mut conn, _)) = accepted else { continue };
        // An abstract socket has no file permissions: any local user could connect. Only
        // processes of the user who started the manager are answered.
        let peer = nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials);
        if !peer.is_ok_and(|p| p.uid() == me) {
            continue;
        }
        if handle(&mut objects, &mut conn) == Stop::Yes {
            return;
        }
    }
}

#[derive(PartialEq)]
enum Stop {
    Yes,
    No,
}

fn handle(objects: &mut Objects, conn: &mut UnixStream) -> Stop {
    let _ = conn.set_read_timeout(Some(CLIENT_PATIENCE));
    let _ = conn.set_write_timeout(Some(CLIENT_PATIENCE));
    let Ok(frame) = read_frame(conn) else { return Stop::No };
    let (response, stop) = match postcard::from_bytes::<Request>(&frame) {
        Ok(Request::Shutdown) => (Response::Done, Stop::Yes),
        Ok(request) => (objects.apply(request), Stop::No),
        Err(e) => (Response::Error(format!("the manager could not read the request: {e}")), Stop::No),
    };
    if let Ok(bytes) = postcard::to_allocvec(&response) {
        let _ = write_frame(conn, &bytes);
    }
    stop
}

impl Objects {
    fn apply(&mut self, request: Request) -> Response {
        use Request as R;
        match request {
            R::Create(kind) => {
                self.next_id += 1;
                let object = match kind {
                    Kind::Dict => Object::Dict(Dict::default()),
                    Kind::List => Object::List(Vec::new()),
                    Kind::Namespace => Object::Namespace(Namespace::default()),
                };
                self.all.insert(self.next_id, object);
                Response::Created(self.next_id)
            }
            R::Shutdown => Response::Done,
            R::DictInsert { id, key, value } => self.dict(id, |d| {
                let order = match d.entries.get(&key) {
                    Some((n, _)) => *n,
                    None => {
                        d.next += 1;
                        d.next
                    }
                };
                Response::Maybe(d.entries.insert(key, (order, value)).map(|(_, old)| old))
            }),
            R::DictGet { id, key } => self.dict(id, |d| Response::Maybe(d.entries.get(&key).map(|(_, v)| v.clone()))),
            R::DictRemove { id, key } => self.dict(id, |d| Response::Maybe(d.entries.remove(&key).map(|(_, v)| v))),
            R::DictContains { id, key } => self.dict(id, |d| Response::Yes(d.entries.contains_key(&key))),
            R::DictLen { id } => self.dict(id, |d| Response::Count(d.entries.len() as u64)),
            R::DictItems { id } => self.dict(id, |d| {
                Response::Pairs(d.in_order().into_iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }),
            R::ListPush { id, value } => self.list(id, |l| {
                l.push(value);
                Response::Done
            }),
            R::ListGet { id, index } => self.list(id, |l| Response::Maybe(l.get(index as usize).cloned())),
            R::ListSet { id, index, value } => self.list(id, |l| match l.get_mut(index as usize) {
                Some(slot) => {
                    *slot = value;
                    Response::Done
                }
                None => Response::Error(format!(
                    "IndexError: index {index} is out of range for a list of length {}",
                    l.len()
                )),
            }),
            R::ListLen { id } => self.list(id, |l| Response::Count(l.len() as u64)),
            R::ListItems { id } => self.list(id, |l| Response::Values(l.clone())),
            R::NamespaceSet { id, name, type_name, value } => self.namespace(id, |ns| {
                let order = match ns.fields.get(&name) {
                    Some((n, _, _)) => *n,
                    None => {
                        ns.next += 1;
                        ns.next
                    }
                };
                ns.fields.insert(name, (order, type_name, value));
                Response::Done
            }),
            R::NamespaceGet { id, name } => {
                self.namespace(id, |ns| Response::Field(ns.fields.get(&name).map(|(_, t, v)| (t.clone(), v.clone()))))
            }
            R::NamespaceNames { id } => self.namespace(id, |ns| {
                let mut names: Vec<(&u64, &String)> = ns.fields.iter().map(|(name, (n, _, _))| (n, name)).collect();
                names.sort_unstable();
                Response::Names(names.into_iter().map(|(_, name)| name.clone()).collect())
            }),
        }
    }

    fn dict(&mut self, id: u64, f: impl FnOnce(&mut Dict) -> Response) -> Response {
        match self.all.get_mut(&id) {
            Some(Object::Dict(d)) => f(d),
            _ => no_such(id, "dict"),
        }
    }

    fn list(&mut self, id: u64, f: impl FnOnce(&mut Vec<Bytes>) -> Response) -> Response {
        match self.all.get_mut(&id) {
            Some(Object::List(l)) => f(l),
            _ => no_such(id, "list"),
        }
    }

    fn namespace(&mut self, id: u64, f: impl FnOnce(&mut Namespace) -> Response) -> Response {
        match self.all.get_mut(&id) {
            Some(Object::Namespace(ns)) => f(ns),
            _ => no_such(id, "namespace"),
        }
    }
}

fn no_such(id: u64, kind: &str) -> Response {
    Response::Error(format!("this manager holds no {kind} number {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dict_keeps_insertion_order_and_overwrites_in_place() {
        let mut o = Objects::default();
        let Response::Created(id) = o.apply(Request::Create(Kind::Dict)) else { panic!() };
        for (k, v) in [(3u8, 1u8), (1, 2), (3, 9)] {
            o.apply(Request::DictInsert { id, key: vec![k], value: vec![v] });
        }
        let Response::Pairs(p) = o.apply(Request::DictItems { id }) else { panic!() };
        assert_eq!(p, vec![(vec![3], vec![9]), (vec![1], vec![2])]);
    }

    #[test]
    fn a_list_index_out_of_range_is_an_error_not_a_crash() {
        let mut o = Objects::default();
        let Response::Created(id) = o.apply(Request::Create(Kind::List)) else { panic!() };
        let r = o.apply(Request::ListSet { id, index: 0, value: vec![1] });
        assert!(matches!(r, Response::Error(ref e) if e.contains("IndexError")), "{r:?}");
        assert!(matches!(o.apply(Request::DictLen { id }), Response::Error(_)));
    }
}
