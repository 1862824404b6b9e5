//! The kernel's main loop: start-up, the shell channel (requests handled in order on the main
//! thread), and a clean exit.

use super::execute::{self, CellState};
use super::stdin::StdinChannel;
use super::{Shared, comm, control, introspection, kernel_info};
use crate::evaluation::{EvalConfig, Evaluator, memory};
use crate::wire::connection::ConnectionInfo;
use crate::wire::heartbeat;
use crate::wire::iopub::{self, Publisher};
use crate::wire::message::Message;
use crate::wire::signing::Signer;
use crate::wire::sockets::{Sockets, recv_message, send_message, try_recv_message};
use nix::sys::signal::{SigSet, Signal};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Runs the kernel for `connection_file` until it is shut down or its parent process is gone.
pub fn run(connection_file: &Path, config: EvalConfig) -> anyhow::Result<()> {
    // Only the signal thread may take SIGINT: block it here, before any thread exists, so
    // every thread inherits the mask. (Processes started with std's Command get a clean mask.)
    let mut sigint = SigSet::empty();
    sigint.add(Signal::SIGINT);
    sigint.thread_block()?;

    let info = ConnectionInfo::from_file(connection_file)?;
    let Sockets {
        context,
        shell,
        control: control_socket,
        stdin: stdin_socket,
        iopub: iopub_socket,
        heartbeat: hb_socket,
    } = Sockets::bind(&info)?;
    let signer = Signer::new(&info.key);
    let (tx, rx) = crossbeam_channel::unbounded();
    let publisher = Publisher::new(tx);
    let iopub_thread = iopub::spawn(iopub_socket, signer.clone(), rx);
    publisher.publish(None, "status", json!({ "execution_state": "starting" }));
    let shared = Arc::new(Shared::new(signer, publisher.clone()));
    heartbeat::spawn(hb_socket);
    let control_thread = control::spawn(control_socket, shared.clone());
    spawn_sigint_thread(sigint, shared.clone());
    spawn_watchdog(shared.clone());

    let stdin = Arc::new(StdinChannel::new(stdin_socket, shared.clone()));
    // The evaluator (evcxr, the runtime, the preloaded support crate) takes seconds to start:
    // it starts on its own thread so that `kernel_info_request` is answered at once and the
    // frontend shows the kernel as ready; the first cell waits for it (CellState::ready).
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(1);
    {
        let (publisher, stdin, shared) = (publisher.clone(), stdin.clone(), shared.clone());
        std::thread::Builder::new()
            .name("evaluator-start".into())
            .spawn(move || {
                let evaluator = Evaluator::new(config, publisher, stdin).map_err(|e| format!("{e:#}"));
                match &evaluator {
                    Ok(ev) => {
                        let _ = shared.interrupter.set(ev.interrupter());
                    }
                    Err(e) => eprintln!("rust-concurrency-kernel: the evaluator could not start: {e}"),
                }
                let _ = ev_tx.send(evaluator);
                // This thread must outlive the kernel: evcxr forked the runtime from it, and the
                // runtime's parent-death signal (PR_SET_PDEATHSIG) fires when the *thread* that
                // forked it ends, which would kill the runtime with every variable in it.
                loop {
                    std::thread::park();
                }
            })?;
    }
    let mut state = CellState {
        evaluator: Err(String::from("the evaluator is still starting")),
        starting: Some(ev_rx),
        execution_count: 0,
        history: Default::default(),
    };
    serve(&shell, &shared, &mut state);

    // Shutdown: end every process first, then let the last messages leave.
    state.ready();
    if let Ok(ev) = state.evaluator {
        ev.shutdown();
    }
    stdin.close();
    drop(shell);
    let _ = control_thread.join();
    publisher.flush(Duration::from_secs(2));
    publisher.stop();
    let _ = iopub_thread.join();
    terminate_context(context);
    Ok(())
}

/// Handles shell requests in order until shutdown is requested.
fn serve(shell: &zmq::Socket, shared: &Shared, state: &mut CellState) {
    let mut pending: VecDeque<Message> = VecDeque::new();
    while !shared.shutting_down() {
        let msg = match pending.pop_front() {
            Some(m) => m,
            None => match recv_message(shell, &shared.signer, "shell", 200) {
                Ok(Some(m)) => m,
                Ok(None) | Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    eprintln!("rust-concurrency-kernel: shell channel failed: {e}");
                    shared.request_shutdown();
                    break;
                }
            },
        };
        handle(shell, shared, state, &msg, &mut pending);
    }
}

/// Handles one shell request between `busy` and `idle`.
fn handle(shell: &zmq::Socket, shared: &Shared, state: &mut CellState, msg: &Message, pending: &mut VecDeque<Message>) {
    shared.status(msg, "busy");
    let reply = |msg_type: &str, content: Value| {
        send_message(shell, &shared.signer, &Message::reply_to(msg, msg_type, content));
    };
    match msg.header.msg_type.as_str() {
        "execute_request" => {
            let (content, abort) = execute::handle(shared, state, msg);
            if abort {
                // Only what was sent before this reply is aborted: a request the frontend sends
                // after seeing the error is a new decision and runs.
                take_waiting(shell, shared, pending);
            }
            reply("execute_reply", content);
            if abort {
                abort_queued(shell, shared, state, pending);
            }
        }
        "kernel_info_request" => reply("kernel_info_reply", kernel_info::content()),
        "complete_request" => reply(
            "complete_reply",
            introspection::complete(state.ready().as_mut().ok(), &msg.content),
        ),
        "inspect_request" => reply(
            "inspect_reply",
            introspection::inspect(state.ready().as_mut().ok(), &msg.content),
        ),
        "is_complete_request" => reply("is_complete_reply", introspection::is_complete(&msg.content)),
        "history_request" => reply("history_reply", state.history.reply(&msg.content)),
        "comm_info_request" => reply("comm_info_reply", comm::info_reply()),
        "comm_open" => comm::open(shared, msg),
        "comm_msg" | "comm_close" => {}
        "shutdown_request" => {
            // Deprecated on shell since 5.4, still honoured.
            let content = control::shutdown_content(msg);
            reply("shutdown_reply", content.clone());
            shared.publisher.publish(Some(msg), "shutdown_reply", content);
            shared.request_shutdown();
        }
        other => eprintln!("rust-concurrency-kernel: ignored unknown shell message {other:?}"),
    }
    if matches!(msg.header.msg_type.as_str(), "execute_request" | "complete_request" | "inspect_request") {
        // rust-analyzer ran for these and freed much of what it allocated (see evaluation::memory).
        memory::release_freed_memory();
    }
    shared.status(msg, "idle");
}

/// Moves every request already waiting on the shell socket into `pending`.
fn take_waiting(shell: &zmq::Socket, shared: &Shared, pending: &mut VecDeque<Message>) {
    while let Ok(Some(m)) = try_recv_message(shell, &shared.signer, "shell") {
        pending.push_back(m);
    }
}

/// After a failed cell with `stop_on_error`: every `execute_request` that was queued before its
/// reply (see `take_waiting`) is answered `aborted` without running (the person asked to run
/// them assuming this cell worked).
fn abort_queued(shell: &zmq::Socket, shared: &Shared, state: &CellState, pending: &mut VecDeque<Message>) {
    let mut kept = VecDeque::new();
    for m in pending.drain(..) {
        if m.header.msg_type == "execute_request" {
            shared.status(&m, "busy");
            send_message(
                shell,
                &shared.signer,
                &Message::reply_to(&m, "execute_reply", execute::aborted_reply(state)),
            );
            shared.status(&m, "idle");
        } else {
            kept.push_back(m);
        }
    }
    *pending = kept;
}

/// SIGINT (a frontend in signal mode, or Ctrl-C in a terminal) interrupts the running cell.
fn spawn_sigint_thread(set: SigSet, shared: Arc<Shared>) {
    std::thread::Builder::new()
        .name("sigint".into())
        .spawn(move || {
            while let Ok(_signal) = set.wait() {
                shared.interrupt();
            }
        })
        .expect("spawn signal thread");
}

/// Ends the kernel when the process that started it (`JPY_PARENT_PID`) is gone, and makes sure
/// a requested shutdown cannot hang forever.
fn spawn_watchdog(shared: Arc<Shared>) {
    let parent = std::env::var("JPY_PARENT_PID")
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
        .filter(|p| *p > 1);
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                if shared.shutting_down() {
                    break;
                }
                if let Some(pid) = parent
                    && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
                {
                    eprintln!("rust-concurrency-kernel: parent process {pid} is gone; shutting down");
                    shared.request_shutdown();
                    break;
                }
            }
            // The clean path ends the process well before this.
            std::thread::sleep(Duration::from_secs(20));
            eprintln!("rust-concurrency-kernel: shutdown took too long; exiting");
            std::process::exit(1);
        })
        .expect("spawn watchdog thread");
}

/// Terminates the ZeroMQ context so queued replies are delivered (bounded wait: a socket still
/// open somewhere must not keep the kernel alive).
fn terminate_context(mut context: zmq::Context) {
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    std::thread::spawn(move || {
        let _ = context.destroy();
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(Duration::from_secs(3));
}
