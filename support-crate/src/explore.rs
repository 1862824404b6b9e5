//! Running the same code many times to see every way it can turn out: "run it again", as
//! evidence.
//!
//! A race shows one outcome per run, and which one is up to the scheduler. [`explore`] runs a
//! closure `n` times, each time in a fresh child process, collects what each run printed (and
//! what the closure returned, if anything), groups the runs that turned out the same, and shows
//! how often each outcome happened: a bar chart in the notebook, text elsewhere.
//!
//! ```
//! use multiproc::prelude::*;
//!
//! let outcomes = explore(10, || {
//!     let mut a = Process::new(|| println!("A")).name("A");
//!     let mut b = Process::new(|| println!("B")).name("B");
//!     a.start();
//!     b.start();
//!     a.join();
//!     b.join();
//! });
//! assert_eq!(outcomes.runs(), 10);
//! for o in outcomes.outcomes() {
//!     assert!(o.text() == "A\nB" || o.text() == "B\nA", "{}", o.text());
//! }
//! ```
//!
//! What every run does, and why:
//! - it is a child process started like any [`Process`], so the closure starts from the same
//!   memory each time (a counter made *inside* the closure starts at zero in every run; one made
//!   before `explore` and kept in shared memory would keep counting across runs);
//! - inside it, processes are named as they would be without `explore` (the run is a twin of
//!   the exploring process: `current_process().name()` is the same, and its first child is
//!   `Process-N` with the N the exploring process would have given), so outcomes that print
//!   names compare equal from run to run. Pids differ in every run: print names, not pids;
//! - its standard output and standard error, and those of every process it starts, go into one
//!   pipe, read until every one of them has exited; the outcome is that text (without its
//!   trailing newline) followed, if the closure returned something other than `()`, by the
//!   returned value; a panic of the closure ends with `panicked: <message>`;
//! - it is bounded in time ([`Explore::timeout`], 10 s by default): a run still going at the end
//!   is killed with its whole process group, and "timed out" is its outcome;
//! - the notebook's stop button ends the exploration: the running run and its processes are
//!   killed and the cell stops, as with any other blocking call.
//!
//! [`Explore::seed`] adds seeded schedule noise ([`crate::sys::perturb`]): random short pauses
//! in the crate's lock, queue and process operations, so that interleavings that are rare on a
//! machine with few cores show up. The seed is shown with the results, and the same seed gives
//! the same pauses again.
//!
//! Hand-written: tools that explore schedules (loom, shuttle) run threads in a model of their
//! own, not real processes, and none collects a notebook cell's output.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::{Debug, Write as _};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::process::{self, Process};

/// How long one run may take unless [`Explore::timeout`] says otherwise, in seconds.
pub const DEFAULT_TIMEOUT: f64 = 10.0;

/// Start of the outcome of a run that was killed at its time limit.
pub const TIMED_OUT: &str = "timed out";

/// Runs `f` `n` times, each in a fresh child process, shows how often each distinct outcome
/// happened, and returns the outcomes. The same as `Explore::runs(n).run(f)`; see
/// [`Explore`] for a time limit and schedule noise.
///
/// ```
/// use multiproc::prelude::*;
///
/// // A counter made in each run: every run counts from zero.
/// let outcomes = explore(5, || {
///     let counter = Value::new(0i64);
///     let workers: Vec<Process> = (0..2)
///         .map(|_| {
///             let counter = counter.clone();
///             let mut p = Process::new(move || {
///                 for _ in 0..100 {
///                     *counter.lock() += 1;
///                 }
///             });
///             p.start();
///             p
///         })
///         .collect();
///     for w in &workers {
///         w.join();
///     }
///     counter.get()
/// });
/// assert_eq!(outcomes.count("200"), 5); // with the lock, no update is lost
/// ```
#[track_caller]
pub fn explore<F, R>(n: usize, f: F) -> Outcomes
where
    F: Fn() -> R,
    R: Debug + 'static,
{
    Explore::runs(n).run(f)
}

/// The settings of an exploration: how many runs, how long each may take, and whether (and
/// with which seed) to add schedule noise. Made with [`Explore::runs`], started with
/// [`Explore::run`].
///
/// ```
/// use multiproc::prelude::*;
///
/// let outcomes = Explore::runs(3).timeout(0.2).run(|| {
///     multiproc::lesson::sleep(30.0); // never finishes in time
/// });
/// assert_eq!(outcomes.timed_out(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Explore {
    runs: usize,
    timeout: Duration,
    seed: Option<u64>,
    show: bool,
}

impl Explore {
    /// An exploration of `n` runs (at least 1), 10 s each at most, without schedule noise.
    ///
    /// ```
    /// let outcomes = multiproc::explore::Explore::runs(2).run(|| 1 + 1);
    /// assert_eq!(outcomes.count("2"), 2);
    /// ```
    pub fn runs(n: usize) -> Explore {
        Explore { runs: n.max(1), timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT), seed: None, show: true }
    }

    /// Builder: each run may take at most `seconds`; a run still going then is killed, with
    /// every process it started, and counts as "timed out".
    ///
    /// ```
    /// use multiproc::explore::Explore;
    /// let outcomes = Explore::runs(1).timeout(0.1).run(|| loop { std::hint::spin_loop() });
    /// assert_eq!(outcomes.timed_out(), 1);
    /// ```
    pub fn timeout(mut self, seconds: f64) -> Explore {
        self.timeout = Duration::from_secs_f64(seconds.clamp(0.001, 1e6));
        self
    }

    /// Builder: adds seeded schedule noise (random short pauses in lock, queue and process
    /// operations, see [`crate::sys::perturb`]) to every run. Run `i` uses a seed derived from
    /// `seed` and `i`, so the same seed replays the same pauses.
    ///
    /// ```
    /// use multiproc::explore::Explore;
    /// let outcomes = Explore::runs(2).seed(7).run(|| multiproc::sys::perturb::is_on());
    /// assert_eq!(outcomes.count("true"), 2);
    /// assert_eq!(outcomes.seed(), Some(7));
    /// ```
    pub fn seed(mut self, seed: u64) -> Explore {
        self.seed = Some(seed);
        self
    }

    /// Builder: schedule noise with a seed taken from the clock (shown with the results, so
    /// that [`seed`](Explore::seed) can replay it).
    ///
    /// ```
    /// let outcomes = multiproc::explore::Explore::runs(1).noise().run(|| ());
    /// assert!(outcomes.seed().is_some());
    /// ```
    pub fn noise(self) -> Explore {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
        // A short number, easy to copy into `.seed(...)`.
        self.seed((nanos % 1_000_000) as u64)
    }

    /// Builder: do not show the results (a check cell that only looks at the counts).
    ///
    /// ```
    /// let outcomes = multiproc::explore::Explore::runs(1).quiet().run(|| 3);
    /// assert_eq!(outcomes.count("3"), 1);
    /// ```
    pub fn quiet(mut self) -> Explore {
        self.show = false;
        self
    }

    /// Runs `f` the given number of times, each in a fresh child process, shows the
    /// histogram of outcomes (unless [`quiet`](Explore::quiet)) and returns the outcomes.
    ///
    /// `f` may print (from the run's process or any process it starts) and may return a value
    /// that is shown with `{:?}` (a `String` or `&str` without quotes); `()` adds nothing.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let outcomes = Explore::runs(4).quiet().run(|| {
    ///     println!("hello");
    ///     "world"
    /// });
    /// assert_eq!(outcomes.count("hello\nworld"), 4);
    /// ```
    #[track_caller]
    pub fn run<F, R>(self, f: F) -> Outcomes
    where
        F: Fn() -> R,
        R: Debug + 'static,
    {
        let naming = process::naming();
        let mut results = Vec::with_capacity(self.runs);
        let started = Instant::now();
        for i in 0..self.runs {
            let seed = self.seed.map(|s| crate::sys::perturb::run_seed(s, i as u64));
            results.push(one_run(&f, &naming, seed, self.timeout));
        }
        // The runs' `Process::new` must not use up the exploring process's names.
        process::set_naming(&naming, false);
        let outcomes = Outcomes::group(results, self.seed, self.timeout, started.elapsed());
        if self.show {
            outcomes.show();
        }
        outcomes
    }
}

/// A value the run's process hands back through a pipe: its text, or the panic's message.
fn returned_text<R: Debug + 'static>(r: &R) -> String {
    let any: &dyn Any = r;
    if let Some(s) = any.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = any.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if any.is::<()>() {
        String::new()
    } else {
        format!("{r:?}")
    }
}

/// The name the run's own process gets (the kernel's bookkeeping and the panic hook use it;
/// inside the run `current_process()` says the exploring process's name).
const RUN_NAME: &str = "explore-run";

/// Kills a run's process group when dropped before the run was collected (the stop button
/// panics out of the wait).
struct RunGuard {
    pid: Option<i32>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            kill_group(pid);
        }
    }
}

fn kill_group(pid: i32) {
    // SAFETY: plain signals to the run's process group (the run made it, with its own pid as
    // the group id, before running anything) and to the run itself, still unreaped (ours).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

/// One run: the text it produced, or `None` when it timed out.
#[track_caller]
fn one_run<F, R>(f: &F, naming: &process::Naming, seed: Option<u64>, timeout: Duration) -> Option<String>
where
    F: Fn() -> R,
    R: Debug + 'static,
{
    let (out_r, out_w) = std::io::pipe().expect("explore: could not create a pipe");
    let (ret_r, ret_w) = std::io::pipe().expect("explore: could not create a pipe");
    let fds = [out_r.as_raw_fd(), out_w.as_raw_fd(), ret_r.as_raw_fd(), ret_w.as_raw_fd()];
    let naming_for_child = naming.clone();
    // The child works on its own copy of the parent's memory, where `f` lives at the same
    // address for as long as the child runs: the closure needs no `Send` or `'static`.
    let f_addr = f as *const F as usize;
    let mut child = Process::new(move || {
        // SAFETY: descriptor juggling in the freshly forked child; the numbers are valid
        // (inherited). A process group of its own, so a time-out kills everything it started.
        unsafe {
            libc::setpgid(0, 0);
            libc::dup2(fds[1], 1);
            libc::dup2(fds[1], 2);
            libc::close(fds[1]);
            libc::close(fds[0]);
            libc::close(fds[2]);
        }
        // SAFETY: this process's copy of the parent's memory holds `f` at this address (the
        // parent keeps it borrowed until the run has ended).
        let f: &F = unsafe { &*(f_addr as *const F) };
        crate::capture::set_capturing();
        process::set_naming(&naming_for_child, true);
        if let Some(seed) = seed {
            crate::sys::perturb::enable(seed);
        }
        let result = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => returned_text(&r),
            Err(payload) => format!("\0panicked: {}", crate::pool::panic_text(&*payload)),
        };
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        process::write_fd(fds[3], result.as_bytes());
        // SAFETY: closing our copy of the result pipe's write end.
        unsafe { libc::close(fds[3]) };
    })
    .name(RUN_NAME);
    child.start();
    let pid = child.pid().expect("started");
    let mut guard = RunGuard { pid: Some(pid) };
    drop(out_w);
    drop(ret_w);
    let deadline = Instant::now() + timeout;
    let (printed, returned, finished) = read_both(out_r, ret_r, deadline);
    if !finished {
        kill_group(pid);
    }
    guard.pid = None;
    child.join();
    if !finished {
        return None;
    }
    let mut text = String::from_utf8_lossy(&printed).into_owned();
    // The panic hook's line names the run's pid, which differs in every run: the outcome says
    // `panicked: …` itself.
    let hook_line = format!("Process {RUN_NAME} (pid {pid}) panicked: ");
    if text.contains(&hook_line) {
        text = text.split_inclusive('\n').filter(|l| !l.starts_with(&hook_line)).collect();
    }
    let returned = String::from_utf8_lossy(&returned).into_owned();
    let mut outcome = text.trim_end_matches('\n').to_string();
    let returned = returned.strip_prefix('\0').unwrap_or(&returned);
    if !returned.is_empty() {
        if !outcome.is_empty() {
            outcome.push('\n');
        }
        outcome.push_str(returned);
    }
    Some(outcome)
}

/// Reads the run's output pipe and result pipe until both report end-of-file (every process of
/// the run has exited) or `deadline` passes; the stop button ends the wait with a panic.
#[track_caller]
fn read_both(out: std::io::PipeReader, ret: std::io::PipeReader, deadline: Instant) -> (Vec<u8>, Vec<u8>, bool) {
    let mut readers: [Option<std::io::PipeReader>; 2] = [Some(out), Some(ret)];
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let open: Vec<usize> = (0..2).filter(|i| readers[*i].is_some()).collect();
        if open.is_empty() {
            let [a, b] = bufs;
            return (a, b, true);
        }
        crate::sys::wait::check("explore (waiting for a run to finish)");
        let now = Instant::now();
        if now >= deadline {
            let [a, b] = bufs;
            return (a, b, false);
        }
        let slice = (deadline - now).min(crate::sys::wait::SLICE);
        let mut pfds: Vec<libc::pollfd> = open
            .iter()
            .map(|i| libc::pollfd { fd: readers[*i].as_ref().map_or(-1, |r| r.as_raw_fd()), events: libc::POLLIN, revents: 0 })
            .collect();
        // SAFETY: a valid array of pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, slice.as_millis().max(1) as i32) };
        if r <= 0 {
            continue;
        }
        for (k, i) in open.iter().enumerate() {
            if pfds[k].revents == 0 {
                continue;
            }
            let Some(reader) = readers[*i].as_mut() else { continue };
            match reader.read(&mut chunk) {
                Ok(0) => readers[*i] = None,
                Ok(n) => bufs[*i].extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => readers[*i] = None,
            }
        }
    }
}

/// One distinct outcome: its text and which runs (numbered from 1) turned out that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    text: String,
    runs: Vec<usize>,
    timed_out: bool,
}

impl Outcome {
    /// What the runs printed (lines joined by `\n`, no trailing newline) and returned; for runs
    /// killed at their time limit, "timed out (after … s)".
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(1).quiet().run(|| println!("hi"));
    /// assert_eq!(o.outcomes()[0].text(), "hi");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many runs turned out this way.
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(3).quiet().run(|| 0);
    /// assert_eq!(o.outcomes()[0].count(), 3);
    /// ```
    pub fn count(&self) -> usize {
        self.runs.len()
    }

    /// The numbers (from 1) of the runs that turned out this way.
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(2).quiet().run(|| 0);
    /// assert_eq!(o.outcomes()[0].run_numbers(), &[1, 2]);
    /// ```
    pub fn run_numbers(&self) -> &[usize] {
        &self.runs
    }

    /// Whether these are the runs that were killed at their time limit.
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(1).quiet().run(|| ());
    /// assert!(!o.outcomes()[0].is_timed_out());
    /// ```
    pub fn is_timed_out(&self) -> bool {
        self.timed_out
    }
}

/// What an exploration found: every distinct outcome with its runs, most frequent first.
/// Its `Display` is the text histogram.
///
/// ```
/// use multiproc::prelude::*;
/// let outcomes = Explore::runs(3).quiet().run(|| "same every time");
/// assert_eq!((outcomes.runs(), outcomes.distinct()), (3, 1));
/// assert!(outcomes.to_string().contains("same every time"));
/// ```
#[derive(Debug, Clone)]
pub struct Outcomes {
    outcomes: Vec<Outcome>,
    runs: usize,
    seed: Option<u64>,
    elapsed: Duration,
}

impl Outcomes {
    fn group(results: Vec<Option<String>>, seed: Option<u64>, timeout: Duration, elapsed: Duration) -> Outcomes {
        let runs = results.len();
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut index: HashMap<Option<String>, usize> = HashMap::new();
        for (i, r) in results.into_iter().enumerate() {
            let k = *index.entry(r.clone()).or_insert_with(|| {
                let timed_out = r.is_none();
                let text = r.unwrap_or_else(|| format!("{TIMED_OUT} (after {} s)", timeout.as_secs_f64()));
                outcomes.push(Outcome { text, runs: Vec::new(), timed_out });
                outcomes.len() - 1
            });
            outcomes[k].runs.push(i + 1);
        }
        // Most frequent first; ties in the order they first happened.
        outcomes.sort_by(|a, b| b.count().cmp(&a.count()).then(a.runs[0].cmp(&b.runs[0])));
        Outcomes { outcomes, runs, seed, elapsed }
    }

    /// How many runs there were.
    ///
    /// ```
    /// assert_eq!(multiproc::explore::Explore::runs(2).quiet().run(|| ()).runs(), 2);
    /// ```
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// How many different outcomes happened.
    ///
    /// ```
    /// assert_eq!(multiproc::explore::Explore::runs(2).quiet().run(|| 5).distinct(), 1);
    /// ```
    pub fn distinct(&self) -> usize {
        self.outcomes.len()
    }

    /// The distinct outcomes, most frequent first.
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(2).quiet().run(|| 5);
    /// assert_eq!(o.outcomes()[0].text(), "5");
    /// ```
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// How many runs turned out exactly as `text` (compared without a trailing newline).
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(2).quiet().run(|| println!("x"));
    /// assert_eq!(o.count("x\n"), 2);
    /// assert_eq!(o.count("y"), 0);
    /// ```
    pub fn count(&self, text: &str) -> usize {
        let text = text.trim_end_matches('\n');
        self.outcomes.iter().filter(|o| !o.timed_out && o.text == text).map(Outcome::count).sum()
    }

    /// How many runs turned out in a way `pred` accepts (timed-out runs are not offered).
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(3).quiet().run(|| 7);
    /// assert_eq!(o.count_where(|t| t.parse::<i32>().is_ok_and(|n| n > 5)), 3);
    /// ```
    pub fn count_where(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.outcomes.iter().filter(|o| !o.timed_out && pred(&o.text)).map(Outcome::count).sum()
    }

    /// How many runs were killed at their time limit.
    ///
    /// ```
    /// assert_eq!(multiproc::explore::Explore::runs(1).quiet().run(|| ()).timed_out(), 0);
    /// ```
    pub fn timed_out(&self) -> usize {
        self.outcomes.iter().filter(|o| o.timed_out).map(Outcome::count).sum()
    }

    /// The seed of the schedule noise, if there was noise.
    ///
    /// ```
    /// assert_eq!(multiproc::explore::Explore::runs(1).quiet().run(|| ()).seed(), None);
    /// ```
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    fn headline(&self) -> String {
        let mut h = format!(
            "{} run{}, {} different outcome{} ({:.2} s)",
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            self.distinct(),
            if self.distinct() == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        );
        if let Some(seed) = self.seed {
            let _ = write!(h, ", schedule noise with seed {seed} (replay: Explore::runs({}).seed({seed}))", self.runs);
        }
        h
    }

    /// The histogram as HTML: one row per outcome with its count, share and a bar (inline
    /// styles only, no script, so it reads the same in a saved notebook, in nbconvert's HTML
    /// and in the slides). The table lays out automatically and the outcome keeps its lines
    /// whole: the decks' styles otherwise make it `table-layout: fixed`, give a `pre` 90% of
    /// its cell and wrap it, which cut outcomes after about 17 characters.
    ///
    /// ```
    /// let o = multiproc::explore::Explore::runs(2).quiet().run(|| "<b>");
    /// let html = o.to_html();
    /// assert!(html.contains("&lt;b&gt;") && html.contains("<table"));
    /// ```
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<div class=\"multiproc-explore\"><p><b>explore</b>: {}</p>\
             <table style=\"border-collapse:collapse;table-layout:auto;width:auto\"><tr><th style=\"text-align:right;padding:2px 8px\">runs</th>\
             <th style=\"text-align:left;padding:2px 8px\"></th><th style=\"text-align:left;padding:2px 8px\">outcome</th></tr>",
            escape(&self.headline())
        );
        for o in &self.outcomes {
            let share = 100.0 * o.count() as f64 / self.runs.max(1) as f64;
            let colour = if o.timed_out { "#c0392b" } else { "#2e86c1" };
            let _ = write!(
                h,
                "<tr><td style=\"text-align:right;padding:2px 8px;vertical-align:top\">{} ({share:.0}%)</td>\
                 <td style=\"padding:2px 8px;vertical-align:top;width:12em\"><div style=\"background:{colour};height:1em;width:{share:.1}%\"></div></td>\
                 <td style=\"padding:2px 8px;text-align:left\"><pre style=\"margin:0;width:auto;white-space:pre;overflow-wrap:normal;word-break:normal\">{}</pre></td></tr>",
                o.count(),
                if o.text.is_empty() { "<i>(printed nothing)</i>".to_string() } else { escape(&o.text) }
            );
        }
        h.push_str("</table></div>");
        h
    }

    /// Shows the histogram in the notebook (HTML, with the text form for plain frontends);
    /// outside the notebook, prints the text form. [`Explore::run`] calls it unless `quiet`.
    ///
    /// ```
    /// multiproc::explore::Explore::runs(1).quiet().run(|| 1).show();
    /// ```
    pub fn show(&self) {
        crate::display::display_html_with_text(&self.to_html(), &self.to_string());
    }

    /// For the notebook kernel: an exploration that ends a cell was shown already.
    #[doc(hidden)]
    pub fn evcxr_display(&self) {}
}

impl std::fmt::Display for Outcomes {
    /// The text histogram.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "explore: {}", self.headline())?;
        let width = self.outcomes.first().map_or(1, |o| o.count().to_string().len());
        for o in &self.outcomes {
            let share = o.count() as f64 / self.runs.max(1) as f64;
            let bar = "#".repeat(((share * 30.0).round() as usize).max(1));
            writeln!(f, "{:>width$} ({:>3.0}%) {bar}", o.count(), share * 100.0)?;
            if o.text.is_empty() {
                writeln!(f, "      (printed nothing)")?;
            }
            for line in o.text.lines() {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_most_frequent_first_and_keeps_run_numbers() {
        let results = vec![Some("a".into()), Some("b".into()), None, Some("b".into())];
        let o = Outcomes::group(results, None, Duration::from_secs(1), Duration::ZERO);
        assert_eq!(o.outcomes[0].text, "b");
        assert_eq!(o.outcomes[0].runs, vec![2, 4]);
        assert_eq!(o.outcomes[1].text, "a");
        assert!(o.outcomes[2].timed_out);
        assert_eq!((o.count("b"), o.timed_out(), o.runs(), o.distinct()), (2, 1, 4, 3));
    }
}
