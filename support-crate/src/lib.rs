//! # multiproc: Python's `multiprocessing`, in Rust, for learning concurrency
//!
//! A lesson written for Python's `multiprocessing` reads almost the same with this crate:
//!
//! ```
//! use multiproc::prelude::*;
//!
//! fn say_hi() {
//!     println!("Hi from process {}", current_process().pid());
//! }
//!
//! println!("Hi from process {} (parent process)", current_process().pid());
//! let mut other = Process::new(say_hi);
//! other.start();
//! other.join();
//! ```
//!
//! Every process is a real operating-system process made with `fork()`, every lock and queue
//! works across processes, and blocking calls end cleanly when a notebook's stop button is
//! pressed. The crate works in three places: inside the `rust-concurrency` Jupyter kernel (which
//! imports [`prelude`] into every notebook), in a plain Rust program, and under `cargo test`.
//!
//! Lesson concepts and where they live:
//! - processes: [`process`] ([`Process`](process::Process), [`current_process`](process::current_process), …)
//! - locks and other synchronisation: [`lock`], [`semaphore`], [`event`], [`condition`], [`barrier`]
//! - passing messages: [`queue`], [`pipe`]; between threads: [`thread_queue`]
//! - a server process holding shared objects: [`manager`] ([`Manager`](manager::Manager))
//! - many tasks on a few workers: [`pool`] ([`Pool`](pool::Pool)), [`executor`]
//!   ([`ThreadPoolExecutor`](executor::ThreadPoolExecutor), [`ProcessPoolExecutor`](executor::ProcessPoolExecutor))
//! - later, and in turn: [`timer`] ([`Timer`](timer::Timer)), [`sched`]
//!   ([`Scheduler`](sched::Scheduler)), [`event_loop`] ([`EventLoop`](event_loop::EventLoop))
//! - shared memory: [`shared_memory`] ([`Value`](shared_memory::Value), [`Array`](shared_memory::Array)),
//!   [`named_memory`] ([`SharedMemory`](named_memory::SharedMemory), attached by name)
//! - message passing with a real MPI: [`mpi`] ([`mpiexec`](mpi::mpiexec))
//! - lesson helpers: [`lesson`] (scaled [`sleep`](lesson::sleep), [`randint`](lesson::randint),
//!   [`input`](lesson::input), [`pyprint!`])
//! - rich notebook output: [`display`]
//! - running a race many times and counting its outcomes: [`explore`](mod@explore)
//! - talking to the notebook kernel: [`kernel_link`]
//!
//! Linux only: it relies on `fork`, futexes, `MAP_SHARED` memory and Unix sockets.

pub mod barrier;
pub mod capture;
pub mod condition;
pub mod display;
pub mod event;
pub mod event_loop;
pub mod executor;
pub mod explore;
pub mod kernel_link;
pub mod lesson;
pub mod lock;
pub mod manager;
pub mod mpi;
pub mod named_memory;
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod sched;
pub mod semaphore;
pub mod shared_memory;
#[doc(hidden)]
pub mod sys;
pub mod thread_queue;
pub mod timer;

/// Everything a lesson needs, in one `use`: `use multiproc::prelude::*;`
///
/// ```
/// use multiproc::prelude::*;
/// assert!(cpu_count() >= 1);
/// ```
pub mod prelude {
    pub use crate::barrier::*;
    pub use crate::capture::*;
    pub use crate::condition::*;
    pub use crate::display::*;
    pub use crate::event::*;
    pub use crate::event_loop::*;
    pub use crate::executor::*;
    pub use crate::explore::{Explore, Outcome, Outcomes, explore};
    pub use crate::lesson::*;
    pub use crate::lock::*;
    pub use crate::manager::*;
    pub use crate::mpi::{MpiRun, mpiexec};
    pub use crate::named_memory::*;
    pub use crate::pipe::*;
    pub use crate::pool::*;
    pub use crate::process::*;
    pub use crate::queue::*;
    pub use crate::sched::*;
    pub use crate::semaphore::*;
    pub use crate::shared_memory::*;
    // The module, not its types: `thread_queue::Queue` next to the process `Queue` (see its doc).
    pub use crate::thread_queue;
    pub use crate::timer::*;
    pub use crate::pyprint;
}
