//! The heartbeat: echo every request exactly, on its own thread.

/// Runs the echo loop on a new thread until the ZeroMQ context is terminated.
pub fn spawn(socket: zmq::Socket) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            loop {
                let frames = match socket.recv_multipart(0) {
                    Ok(f) => f,
                    Err(zmq::Error::ETERM) => break,
                    Err(zmq::Error::EINTR) => continue,
                    Err(e) => {
                        eprintln!("rust-concurrency-kernel: heartbeat receive failed: {e}");
                        break;
                    }
                };
                if let Err(e) = socket.send_multipart(frames, 0) {
                    if e == zmq::Error::ETERM {
                        break;
                    }
                    eprintln!("rust-concurrency-kernel: heartbeat send failed: {e}");
                }
            }
        })
        .expect("spawn heartbeat thread")
}
