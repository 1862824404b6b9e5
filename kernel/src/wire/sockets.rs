//! Binding the five sockets and sending/receiving signed messages on them.

use super::connection::ConnectionInfo;
use super::message::Message;
use super::signing::Signer;

/// The five kernel sockets, bound to the connection file's endpoints.
pub struct Sockets {
    pub context: zmq::Context,
    pub shell: zmq::Socket,
    pub control: zmq::Socket,
    pub stdin: zmq::Socket,
    /// XPUB (see `iopub::spawn`).
    pub iopub: zmq::Socket,
    pub heartbeat: zmq::Socket,
}

impl Sockets {
    /// Creates and binds every socket of `info`.
    pub fn bind(info: &ConnectionInfo) -> anyhow::Result<Sockets> {
        let context = zmq::Context::new();
        let make = |kind: zmq::SocketType, port: u16, name: &str| -> anyhow::Result<zmq::Socket> {
            let socket = context.socket(kind)?;
            // Queued replies get a second to leave when the kernel exits.
            socket.set_linger(1000)?;
            let endpoint = info.endpoint(port);
            socket
                .bind(&endpoint)
                .map_err(|e| anyhow::anyhow!("cannot bind {name} socket to {endpoint}: {e}"))?;
            Ok(socket)
        };
        Ok(Sockets {
            shell: make(zmq::ROUTER, info.shell_port, "shell")?,
            control: make(zmq::ROUTER, info.control_port, "control")?,
            stdin: make(zmq::ROUTER, info.stdin_port, "stdin")?,
            // XPUB, not PUB: it reports each new subscription, which the IOPub thread answers
            // with `iopub_welcome` (JEP 65); "verbose" reports a second client subscribing to
            // a topic someone already has, too.
            iopub: {
                let socket = make(zmq::XPUB, info.iopub_port, "iopub")?;
                socket.set_xpub_verbose(true)?;
                socket
            },
            heartbeat: make(zmq::REP, info.hb_port, "heartbeat")?,
            context,
        })
    }
}

/// Receives one message from `socket`, waiting at most `timeout_ms` (-1: forever).
///
/// `Ok(None)` on timeout and for messages that were dropped because they were wrongly signed
/// or malformed (logged on stderr): the kernel keeps serving.
pub fn recv_message(
    socket: &zmq::Socket,
    signer: &Signer,
    channel: &str,
    timeout_ms: i64,
) -> zmq::Result<Option<Message>> {
    if socket.poll(zmq::POLLIN, timeout_ms)? == 0 {
        return Ok(None);
    }
    let frames = socket.recv_multipart(0)?;
    match Message::decode(frames, signer) {
        Ok(m) => Ok(Some(m)),
        Err(e) => {
            eprintln!("rust-concurrency-kernel: dropped a message on {channel}: {e}");
            Ok(None)
        }
    }
}

/// Like [`recv_message`] but never waits: `Ok(None)` when nothing is queued.
pub fn try_recv_message(socket: &zmq::Socket, signer: &Signer, channel: &str) -> zmq::Result<Option<Message>> {
    recv_message(socket, signer, channel, 0)
}

/// Signs and sends `msg` on `socket`; failures are logged (a vanished client is not fatal).
pub fn send_message(socket: &zmq::Socket, signer: &Signer, msg: &Message) {
    if let Err(e) = socket.send_multipart(msg.encode(signer), 0) {
        eprintln!("rust-concurrency-kernel: could not send {}: {e}", msg.header.msg_type);
    }
}
