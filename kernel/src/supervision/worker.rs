//! The supervisor thread's loop: waits on the receiving sockets and the pidfds, reads
//! everything that is queued, and dispatches each piece (output, control message, the
//! kernel's own cell-boundary markers).

use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use multiproc::kernel_link::{Channel, FromKernel, ToKernel};
use serde_json::json;

use super::lines::{Stream, Writer};
use super::receiver::Datagram;
use super::{COALESCE, MAX_SYNC_REPLY, Proc, State, Worker, cleanup, pidfd_open};

impl Worker {
    pub(super) fn run(mut self) {
        let mut last_tick = Instant::now();
        loop {
            let watched: Vec<(i32, i32)> = {
                let st = self.shared.state.lock().unwrap();
                st.procs.iter().filter(|(_, p)| !p.exited).filter_map(|(pid, p)| p.pidfd.as_ref().map(|f| (*pid, f.as_raw_fd()))).collect()
            };
            let own = self.receiver.fds();
            let mut fds: Vec<libc::pollfd> = own.iter().map(|fd| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }).collect();
            fds.extend(watched.iter().map(|(_, fd)| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }));
            // SAFETY: poll on descriptors that stay open while we wait (only this thread closes them).
            let timeout = if self.shared.state.lock().unwrap().pending.is_some() { COALESCE.as_millis() as i32 } else { 200 };
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            let exited: Vec<i32> = watched.iter().zip(&fds[own.len()..]).filter(|(_, f)| f.revents != 0).map(|((pid, _), _)| *pid).collect();
            // Everything an exited process wrote is already queued: read it all first.
            if self.drain() {
                return;
            }
            let shared = self.shared.clone();
            let mut st = shared.state.lock().unwrap();
            for pid in exited {
                self.process_exited(&mut st, pid);
            }
            if st.pending_since.is_some_and(|t| t.elapsed() >= COALESCE) {
                self.flush_pending(&mut st);
            }
            self.check_cells(&mut st);
            if st.deadlock.due() {
                self.look_for_deadlock(&mut st);
            }
            if last_tick.elapsed() > Duration::from_millis(500) {
                last_tick = Instant::now();
                self.roll_windows(&mut st);
                drop(st);
                cleanup::reap_orphans(self.shared.runtime_pid.load(Ordering::SeqCst));
            }
        }
    }

    /// Reads the queue until it is empty. True when asked to quit.
    pub(super) fn drain(&mut self) -> bool {
        let shared = self.shared.clone();
        let mut st_guard = None;
        let mut count = 0;
        loop {
            let dg = match self.receiver.recv() {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => break,
            };
            let st: &mut State = st_guard.get_or_insert_with(|| shared.state.lock().unwrap());
            if dg.channel == Some(Channel::Kernel) && dg.data == b"quit" {
                return true;
            }
            count += 1;
            let pid = dg.pid;
            // A bug in handling one message must not end the supervisor: every later line of
            // every process would be lost without a word. Log it and go on.
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(st, dg))) {
                let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                eprintln!("rust-concurrency-kernel: internal error while handling a message from process {pid}, skipped: {what}");
            }
            // A continuous stream still reaches the frontend every COALESCE.
            if count % 64 == 0 && st.pending_since.is_some_and(|t| t.elapsed() >= COALESCE) {
                self.flush_pending(st);
            }
        }
        false
    }


    pub(super) fn handle(&mut self, st: &mut State, dg: Datagram) {
        match dg.channel {
            Some(Channel::Out) => self.output(st, dg.pid, Stream::Out, &dg.data),
            Some(Channel::Err) => self.output(st, dg.pid, Stream::Err, &dg.data),
            Some(Channel::Raw) => {
                let cell = self.cell_of(st, dg.pid);
                let text = String::from_utf8_lossy(&dg.data).into_owned();
                // Word by word, not lines: never labelled.
                self.emit_unlabelled(st, cell, Writer::process(dg.pid), Stream::Out, text);
            }
            Some(Channel::Ctl) | Some(Channel::Reply) => match serde_json::from_slice::<ToKernel>(&dg.data) {
                Ok(msg) => self.control(st, dg.pid, &dg.sender, msg),
                Err(_) => {}
            },
            Some(Channel::Kernel) => {
                let text = String::from_utf8_lossy(&dg.data);
                let mut words = text.split(' ');
                match (words.next(), words.next().and_then(|n| n.parse::<u32>().ok())) {
                    (Some("begin"), Some(n)) => {
                        self.flush_pending(st);
                        st.current = n;
                        st.origin.clear();
                    }
                    (Some("wait"), Some(n)) => {
                        if let Some(c) = st.cells.get_mut(&n) {
                            c.waiting = true;
                        }
                    }
                    _ => {}
                }
            }
            None => {}
        }
    }

    pub(super) fn control(&mut self, st: &mut State, pid: i32, sender: &[u8], msg: ToKernel) {
        match msg {
            ToKernel::Started { pid: child, name, daemon } => {
                let cell = self.cell_of(st, pid);
                let pidfd = pidfd_open(child);
                let exited = pidfd.is_none();
                st.names.remove(&child);
                st.procs.insert(child, Proc { cell, name, daemon, pidfd, exited });
                if exited {
                    self.process_exited(st, child);
                }
            }
            ToKernel::Hello { name } => {
                // Only for labels (`labels.rs`); `Started` registers the process.
                if !st.procs.contains_key(&pid) {
                    if st.names.len() > 10_000 {
                        // Hellos of processes whose entries are gone: forget them all.
                        st.names.clear();
                    }
                    st.names.insert(pid, name);
                }
            }
            ToKernel::Display { data, metadata, display_id, update } => {
                let cell = self.cell_of(st, pid);
                self.flush_pending(st);
                let mut content = json!({"data": data, "metadata": metadata});
                if let Some(id) = display_id {
                    content["transient"] = json!({"display_id": id});
                }
                self.cell_out(st, cell, if update { "update_display_data" } else { "display_data" }, content);
            }
            ToKernel::ClearOutput { wait } => {
                let cell = self.cell_of(st, pid);
                self.flush_pending(st);
                self.cell_out(st, cell, "clear_output", json!({"wait": wait}));
            }
            ToKernel::Input { prompt, password } => {
                let cell = self.cell_of(st, pid);
                self.flush_pending(st);
                let (parent, allowed) = match st.cells.get(&cell) {
                    Some(c) => (c.parent.clone(), c.allow_stdin && !c.finished),
                    None => (None, false),
                };
                if allowed {
                    self.stop_replaying(st, cell);
                }
                let Ok(sock) = self.receiver.try_clone_socket() else { return };
                let input = self.input.clone();
                let publisher = self.publisher.clone();
                let to = sender.to_vec();
                // Asking blocks until the person answers; output keeps flowing meanwhile.
                std::thread::spawn(move || {
                    let value = match (parent, allowed) {
                        (Some(p), true) => {
                            // The prompt comes after the outputs published so far (on IOPub).
                            publisher.flush(Duration::from_secs(1));
                            input.ask(&p, &prompt, password)
                        }
                        _ => None,
                    };
                    if let Ok(bytes) = serde_json::to_vec(&FromKernel::Input { value }) {
                        if let Ok(addr) = SocketAddr::from_abstract_name(&to) {
                            let _ = sock.send_to_addr(&bytes, &addr);
                        }
                    }
                });
            }
            ToKernel::Sync => {
                // The cell's code returned and the runtime flushed std's buffers: text it printed
                // without a final newline belongs to this cell, not to the next line it prints.
                let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
                if pid == runtime {
                    let cell = st.current;
                    for (stream, text) in st.lines.flush(Writer::process(runtime)) {
                        self.emit(st, cell, Writer::process(runtime), stream, text);
                    }
                }
                self.flush_pending(st);
                let markers = st.cells.get_mut(&st.current).map(|c| std::mem::take(&mut c.markers)).unwrap_or_default();
                let reply = sync_reply(markers);
                let _ = self.receiver.reply(sender, &reply);
            }
        }
    }
}

/// Serialises the `Synced` reply, shortening huge values so it fits in one datagram.
fn sync_reply(mut markers: Vec<String>) -> Vec<u8> {
    loop {
        let bytes = serde_json::to_vec(&FromKernel::Synced { markers: markers.clone() }).unwrap_or_default();
        if bytes.len() <= MAX_SYNC_REPLY {
            return bytes;
        }
        let Some(longest) = markers.iter_mut().max_by_key(|m| m.len()) else { return bytes };
        let keep = longest.char_indices().nth(1000).map(|(i, _)| i).unwrap_or(longest.len());
        longest.truncate(keep);
        longest.push_str(" … (too large to show)");
    }
}
