//! Seeded schedule noise: short, random pauses in the crate's own operations, so that rare
//! interleavings show up on a machine with few cores.
//!
//! [`crate::explore::Explore::seed`] turns it on in each run's process. Then every
//! [`point`] (at the start of a lock acquire, a queue `put`/`get` and a process start) draws
//! the next number of a sequence fixed by the seed and, by that number, does nothing, gives the
//! CPU away once (`yield_now`), or sleeps up to 200 microseconds. The same seed gives the same
//! decisions in the same order, so a run can be replayed (the operating system's own scheduling
//! still varies, so a replay makes the same outcome likelier, not certain).
//!
//! When it is off, [`point`] costs one relaxed load and a branch (measured in BENCHMARKS.md).
//!
//! In the notebook kernel every cell carries its own copy of this crate (see `sys/one_copy.rs`):
//! turning the noise on switches every loaded copy on, and the sequence
//! itself lives in the first loaded copy, so all of a process's points draw from one sequence.
//! Each process started while the noise is on draws a sequence of its own, derived from the
//! seed and its name, so a child's decisions do not depend on how far its parent had got.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// One copy's switch and, in the first loaded copy, the sequence.
pub struct Noise {
    on: AtomicBool,
    seed: AtomicU64,
    next: AtomicU64,
    /// The last 64 decisions of this process, one bit each (1: paused), newest lowest.
    trace: AtomicU64,
}

#[unsafe(no_mangle)]
static MULTIPROC_NOISE_V1: Noise =
    Noise { on: AtomicBool::new(false), seed: AtomicU64::new(0), next: AtomicU64::new(0), trace: AtomicU64::new(0) };

fn shared() -> &'static Noise {
    static SHARED: std::sync::OnceLock<&'static Noise> = std::sync::OnceLock::new();
    // SAFETY: every copy of this crate exports a `Noise` under this name.
    SHARED.get_or_init(|| unsafe { super::one_copy::first_loaded(c"MULTIPROC_NOISE_V1", &MULTIPROC_NOISE_V1) })
}

/// What one [`point`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Nothing.
    None,
    /// `std::thread::yield_now()` once.
    Yield,
    /// Sleeps this many microseconds.
    Sleep(u32),
}

/// SplitMix64: a small, well-known mixing function (Steele, Lea and Flood, 2014), written from
/// its description; a whole random-number crate would be a large dependency for eight lines.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `k`-th decision of the sequence of `seed` (a pure function: the same arguments always
/// give the same pause). About half the points pause: 3 in 8 yield, 1 in 8 sleep.
///
/// ```
/// use multiproc::sys::perturb::{Pause, decision};
/// let a: Vec<Pause> = (0..100).map(|k| decision(42, k)).collect();
/// let b: Vec<Pause> = (0..100).map(|k| decision(42, k)).collect();
/// assert_eq!(a, b);
/// assert!(a.iter().any(|p| *p == Pause::None) && a.iter().any(|p| *p != Pause::None));
/// ```
pub fn decision(seed: u64, k: u64) -> Pause {
    let r = mix(seed ^ mix(k));
    match r % 8 {
        0..=2 => Pause::Yield,
        3 => Pause::Sleep(1 + ((r >> 8) % 200) as u32),
        _ => Pause::None,
    }
}

/// The seed of the run `index` of an exploration with seed `seed`.
///
/// ```
/// use multiproc::sys::perturb::run_seed;
/// assert_eq!(run_seed(7, 3), run_seed(7, 3));
/// assert_ne!(run_seed(7, 3), run_seed(7, 4));
/// ```
pub fn run_seed(seed: u64, index: u64) -> u64 {
    mix(seed.wrapping_add(mix(index)))
}

/// A point where the schedule may be perturbed. Off: one relaxed load and a branch.
///
/// ```
/// multiproc::sys::perturb::point(); // off outside an exploration: does nothing
/// assert!(!multiproc::sys::perturb::is_on());
/// ```
#[inline(always)]
pub fn point() {
    if MULTIPROC_NOISE_V1.on.load(Ordering::Relaxed) {
        pause();
    }
}

#[cold]
#[inline(never)]
fn pause() {
    let n = shared();
    let k = n.next.fetch_add(1, Ordering::Relaxed);
    let p = decision(n.seed.load(Ordering::Relaxed), k);
    let bit = u64::from(p != Pause::None);
    let _ = n.trace.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some((t << 1) | bit));
    match p {
        Pause::None => {}
        Pause::Yield => std::thread::yield_now(),
        Pause::Sleep(us) => std::thread::sleep(Duration::from_micros(u64::from(us))),
    }
}

/// Whether the noise is on in this process.
///
/// ```
/// assert!(!multiproc::sys::perturb::is_on());
/// ```
pub fn is_on() -> bool {
    MULTIPROC_NOISE_V1.on.load(Ordering::Relaxed)
}

/// The decisions of this process's last (up to 64) points, one bit each, newest lowest: the
/// same seed and the same code give the same trace.
///
/// ```
/// assert_eq!(multiproc::sys::perturb::trace(), 0); // never on here
/// ```
pub fn trace() -> u64 {
    shared().trace.load(Ordering::Relaxed)
}

/// Turns the noise on in this process, with the sequence of `seed`. Meant for a freshly forked
/// process (an exploration's run): it is never turned off again there.
pub(crate) fn enable(seed: u64) {
    let n = shared();
    n.seed.store(seed, Ordering::Relaxed);
    n.next.store(0, Ordering::Relaxed);
    n.trace.store(0, Ordering::Relaxed);
    MULTIPROC_NOISE_V1.on.store(true, Ordering::Relaxed);
    // SAFETY: every copy exports a `Noise` under this name.
    for copy in unsafe { super::one_copy::all_loaded::<Noise>(c"MULTIPROC_NOISE_V1") } {
        copy.on.store(true, Ordering::Relaxed);
    }
}

/// In a child just forked by `Process::start`: its own sequence, from the seed and its name.
pub(crate) fn forked(name: &str) {
    if !is_on() {
        return;
    }
    let n = shared();
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    n.seed.store(mix(n.seed.load(Ordering::Relaxed) ^ h), Ordering::Relaxed);
    n.next.store(0, Ordering::Relaxed);
    n.trace.store(0, Ordering::Relaxed);
}
