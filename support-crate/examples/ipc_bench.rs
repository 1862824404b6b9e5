//! Round-trip latency and one-way message rate of the IPC mechanisms of lessons 18, 19 and 27,
//! between the program and one child `Process`: `multiproc::Pipe`, `multiproc::Queue`, a Unix
//! socket pair, TCP on 127.0.0.1, two named FIFOs, two POSIX message queues, and shared memory
//! (`multiproc::Value`, a spin hand-over), plus `Value` updates under its lock in one process.
//!
//! ```sh
//! cargo run --release -p multiproc --example ipc_bench -- MECHANISM [ROUND_TRIPS] [MESSAGES]
//! ```
//!
//! MECHANISM is one of `pipe queue unix tcp fifo mqueue shm value` (`all` for each in turn).
//! Every message is one `u64` (8 bytes on the byte channels; serialized by `Pipe` and `Queue`).
//! The child echoes ROUND_TRIPS messages (each round trip timed alone: median and 99th
//! percentile), then sends MESSAGES back to back (the one-way rate, timed by the parent from
//! its "go" to the last message). Prints one `IPC {json}` line per mechanism; the Python
//! counterparts and the table are in `benchmarks/ipc_bench.py`, which runs this.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Instant;

use multiproc::prelude::*;
use nix::mqueue::{MQ_OFlag, MqAttr, MqdT, mq_close, mq_open, mq_receive, mq_send, mq_unlink};
use nix::sys::stat::Mode;

/// One end of a two-way channel of `u64` messages.
trait Channel {
    fn send(&mut self, x: u64);
    fn recv(&mut self) -> u64;
}

/// A byte stream (or a pair of one-way ones): 8 bytes a message.
struct Bytes<R: Read, W: Write>(R, W);

impl<R: Read, W: Write> Channel for Bytes<R, W> {
    fn send(&mut self, x: u64) {
        self.1.write_all(&x.to_le_bytes()).expect("write");
    }
    fn recv(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.read_exact(&mut b).expect("read");
        u64::from_le_bytes(b)
    }
}

impl Channel for Connection<u64> {
    fn send(&mut self, x: u64) {
        Connection::send(self, x);
    }
    fn recv(&mut self) -> u64 {
        Connection::recv(self).expect("recv")
    }
}

/// Two process queues, one each way.
struct Queues(Queue<u64>, Queue<u64>);

impl Channel for Queues {
    fn send(&mut self, x: u64) {
        self.1.put(x);
    }
    fn recv(&mut self) -> u64 {
        self.0.get()
    }
}

/// Two POSIX message queues, one each way.
struct MessageQueues(MqdT, MqdT);

impl Channel for MessageQueues {
    fn send(&mut self, x: u64) {
        mq_send(&self.1, &x.to_le_bytes(), 0).expect("mq_send");
    }
    fn recv(&mut self) -> u64 {
        let (mut b, mut prio) = ([0u8; 8], 0u32);
        assert_eq!(
            mq_receive(&self.0, &mut b, &mut prio).expect("mq_receive"),
            8
        );
        u64::from_le_bytes(b)
    }
}

/// Two shared `Value`s, one each way: a message is a new number in the cell, and the reader
/// spins (yielding the core) until the number changes. Messages must differ from the last one.
struct Cells {
    input: Value<u64>,
    output: Value<u64>,
    seen: u64,
}

impl Channel for Cells {
    fn send(&mut self, x: u64) {
        self.output.set(x);
    }
    fn recv(&mut self) -> u64 {
        loop {
            let x = self.input.get();
            if x != self.seen {
                self.seen = x;
                return x;
            }
            std::thread::yield_now();
        }
    }
}

/// The child's side: echo `trips` messages; then, after a "go", send `messages` back to back.
fn echo(mut ch: impl Channel, trips: u64, messages: u64) {
    for _ in 0..trips {
        let x = ch.recv();
        ch.send(x);
    }
    if messages > 0 {
        ch.recv(); // go
        for i in 1..=messages {
            ch.send(i);
        }
    }
}

struct Figures {
    round_trips_us: Vec<f64>,
    rate: Option<f64>,
}

/// The parent's side; messages are 1, 2, 3, … (never the same twice in a row).
fn drive(ch: &mut impl Channel, trips: u64, messages: u64) -> Figures {
    let mut round_trips_us = Vec::with_capacity(trips as usize);
    for i in 1..=trips {
        let t = Instant::now();
        ch.send(i);
        let back = ch.recv();
        round_trips_us.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(back, i, "the echo sent back something else");
    }
    let rate = (messages > 0).then(|| {
        let t = Instant::now();
        ch.send(trips + 1); // go
        for i in 1..=messages {
            assert_eq!(ch.recv(), i, "a message was lost or reordered");
        }
        messages as f64 / t.elapsed().as_secs_f64()
    });
    Figures {
        round_trips_us,
        rate,
    }
}

/// Starts the echo child (`child(trips, messages)` builds its end and echoes), then runs the
/// parent's side on the end `parent_end` returns (called after the fork: FIFOs and TCP
/// rendezvous there).
fn measure<C: Channel>(
    trips: u64,
    messages: u64,
    child: impl FnOnce(u64, u64) + Send + 'static,
    parent_end: impl FnOnce() -> C,
) -> Figures {
    let mut child = Process::new(move || child(trips, messages));
    child.start();
    let mut ch = parent_end();
    let figures = drive(&mut ch, trips, messages);
    drop(ch);
    child.join();
    assert_eq!(child.exitcode(), Some(0), "the echo child failed");
    figures
}

fn temp_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ipc-bench-{}-{what}", std::process::id()))
}

fn run(mechanism: &str, trips: u64, messages: u64) -> Figures {
    match mechanism {
        "pipe" => {
            let (a, b) = Pipe::new::<u64>();
            let child = move |t: u64, m: u64| echo(b, t, m);
            measure(trips, messages, child, move || a)
        }
        "queue" => {
            let (there, back) = (Queue::<u64>::new(), Queue::<u64>::new());
            let (t2, b2) = (there.clone(), back.clone());
            let child = move |t: u64, m: u64| echo(Queues(t2, b2), t, m);
            measure(trips, messages, child, move || Queues(back, there))
        }
        "unix" => {
            let (a, b) = UnixStream::pair().expect("socketpair");
            let child = move |t: u64, m: u64| echo(Bytes(&b, &b), t, m);
            measure(trips, messages, child, move || {
                Bytes(a.try_clone().unwrap(), a)
            })
        }
        "tcp" => {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = listener.local_addr().unwrap();
            let child = move |t: u64, m: u64| {
                let s = TcpStream::connect(address).expect("connect");
                s.set_nodelay(true).unwrap();
                echo(Bytes(&s, &s), t, m)
            };
            measure(trips, messages, child, move || {
                let (s, _) = listener.accept().expect("accept");
                s.set_nodelay(true).unwrap();
                Bytes(s.try_clone().unwrap(), s)
            })
        }
        "fifo" => {
            let (there, back) = (temp_path("there"), temp_path("back"));
            for p in [&there, &back] {
                nix::unistd::mkfifo(p, Mode::S_IRUSR | Mode::S_IWUSR).expect("mkfifo");
            }
            let (t2, b2) = (there.clone(), back.clone());
            let child = move |t: u64, m: u64| {
                let input = File::open(&t2).unwrap();
                let output = OpenOptions::new().write(true).open(&b2).unwrap();
                echo(Bytes(input, output), t, m)
            };
            let (t3, b3) = (there.clone(), back.clone());
            let figures = measure(trips, messages, child, move || {
                let output = OpenOptions::new().write(true).open(&t3).unwrap(); // the child's order
                let input = File::open(&b3).unwrap();
                Bytes(input, output)
            });
            for p in [&there, &back] {
                std::fs::remove_file(p).unwrap();
            }
            figures
        }
        "mqueue" => {
            let there = format!("/ipc-bench-{}-there", std::process::id());
            let back = format!("/ipc-bench-{}-back", std::process::id());
            let attr = MqAttr::new(0, 10, 8, 0);
            for name in [&there, &back] {
                let q = mq_open(
                    name.as_str(),
                    MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                    Some(&attr),
                )
                .expect("mq_open");
                mq_close(q).unwrap();
            }
            let open = |name: &str, how: MQ_OFlag| {
                mq_open(name, how, Mode::empty(), None).expect("mq_open")
            };
            let (t2, b2) = (there.clone(), back.clone());
            let child = move |t: u64, m: u64| {
                let open =
                    |name: &str, how| mq_open(name, how, Mode::empty(), None).expect("mq_open");
                echo(
                    MessageQueues(open(&t2, MQ_OFlag::O_RDONLY), open(&b2, MQ_OFlag::O_WRONLY)),
                    t,
                    m,
                )
            };
            let ends = MessageQueues(
                open(&back, MQ_OFlag::O_RDONLY),
                open(&there, MQ_OFlag::O_WRONLY),
            );
            let figures = measure(trips, messages, child, move || ends);
            for name in [&there, &back] {
                mq_unlink(name.as_str()).unwrap();
            }
            figures
        }
        "shm" => {
            let (there, back) = (Value::new(0u64), Value::new(0u64));
            let (t2, b2) = (there.clone(), back.clone());
            let child = move |t: u64, _: u64| {
                echo(
                    Cells {
                        input: t2,
                        output: b2,
                        seen: 0,
                    },
                    t,
                    0,
                )
            };
            measure(trips, 0, child, move || Cells {
                input: back,
                output: there,
                seen: 0,
            })
        }
        "value" => {
            // Not a channel: `Value` updates under its lock in one process, the figure shared
            // memory gives in place of a message rate.
            let v = Value::new(0u64);
            let t = Instant::now();
            for _ in 0..messages {
                *v.lock() += 1;
            }
            let rate = messages as f64 / t.elapsed().as_secs_f64();
            assert_eq!(v.get(), messages);
            Figures {
                round_trips_us: Vec::new(),
                rate: Some(rate),
            }
        }
        other => {
            panic!("unknown mechanism {other:?} (pipe queue unix tcp fifo mqueue shm value all)")
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(sorted[i])
}

fn json(x: Option<f64>) -> String {
    x.map_or("null".to_string(), |v| format!("{v:.4}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mechanism = args.first().map(String::as_str).unwrap_or("all");
    let trips: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let messages: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let all = [
        "pipe", "queue", "unix", "tcp", "fifo", "mqueue", "shm", "value",
    ];
    let chosen: Vec<&str> = if mechanism == "all" {
        all.to_vec()
    } else {
        vec![mechanism]
    };
    for m in chosen {
        let mut f = run(m, trips, messages);
        f.round_trips_us.sort_by(f64::total_cmp);
        println!(
            "IPC {{\"mechanism\": \"{m}\", \"impl\": \"rust\", \"round_trips\": {}, \"rtt_median_us\": {}, \"rtt_p99_us\": {}, \"messages\": {messages}, \"rate_per_s\": {}}}",
            f.round_trips_us.len(),
            json(percentile(&f.round_trips_us, 0.5)),
            json(percentile(&f.round_trips_us, 0.99)),
            json(f.rate)
        );
    }
}
