//! Evaluating cells: evcxr compiles each cell, our runtime process runs it.
//! (Interface fixed; the evaluation helper implements it.)

#![allow(dead_code)]

pub mod annotate;
pub mod annotated_errors;
pub mod build_store;
pub mod cache_slot;
pub mod cell_build;
pub mod completion;
pub mod errors;
pub mod exec_guard;
pub mod outcome;
pub mod memory;
pub mod prebuilt;
pub mod provided_deps;
pub mod runtime;
pub mod startup;
pub mod toolchain;
pub mod top_level_await;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multiproc::kernel_link::ControlPage;
use serde_json::{Value, json};

use crate::supervision::{self, Shared, Supervisor, cleanup, control};
use crate::wire::iopub::Publisher;
use crate::wire::message::Message;

/// Environment variable naming the support crate's folder (overrides the default).
pub const SUPPORT_CRATE_ENV: &str = "MULTIPROC_SUPPORT_CRATE";
/// Preloaded item that lets evcxr show a cell's final value with a single compilation.
///
/// evcxr compiles a final expression `e` first as `(e).evcxr_display();` and, when that does not
/// compile (no such method, the usual case), compiles the whole cell a second time with
/// `format!("{:?}", &(e))` in its place: every `1+1` or `println!(..)` cell cost two cargo
/// builds. This trait gives every `Debug` value an `evcxr_display` that writes the same
/// `text/plain` content block evcxr's fallback writes, so the first build succeeds. A type's
/// own inherent `evcxr_display` still wins (inherent methods come first), and a value that is
/// not `Debug` still fails the first build and takes evcxr's fallback as before.
/// The module holding the start-up cell's items.
const PRELOAD_MODULE: &str = "__rust_concurrency_preload";
const SHOW_FINAL_VALUE: &str = r#"#[doc(hidden)]
pub trait KernelShowFinalValue {
    fn evcxr_display(&self);
}
impl<T: std::fmt::Debug + ?Sized> KernelShowFinalValue for T {
    fn evcxr_display(&self) {
        use std::io::Write;
        let block = format!("EVCXR_BEGIN_CONTENT text/plain\n{:?}\nEVCXR_END_CONTENT\n", self);
        let mut out = std::io::stdout().lock();
        if out.write_all(block.as_bytes()).and_then(|_| out.flush()).is_err() {
            eprintln!("Failed to send content to parent");
            std::process::exit(1);
        }
    }
}"#;
/// Preloaded functions the runtime calls after and before each cell (see `runtime::FLUSH_SYMBOL`
/// and `runtime::BEFORE_CELL_SYMBOL`); the one after also reaps the cell's finished,
/// never-joined processes.
fn flush_output_item() -> String {
    format!(
        "#[doc(hidden)]\n#[unsafe(no_mangle)]\npub extern \"C\" fn {}() {{\n    use std::io::Write;\n    let _ = std::io::stdout().flush();\n    let _ = std::io::stderr().flush();\n    multiproc::process::reap_finished();\n    multiproc::sys::timeline::after_cell();\n}}",
        runtime::FLUSH_SYMBOL
    ) + &format!(
        "\n#[doc(hidden)]\n#[unsafe(no_mangle)]\npub extern \"C\" fn {}() {{\n    multiproc::sys::report::install_for_notebook();\n    multiproc::sys::timeline::before_cell();\n    multiproc::sys::timeline::cell_begins();\n}}",
        runtime::BEFORE_CELL_SYMBOL
    )
}
/// How long terminated processes get between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(500);
/// How long the cell's code gets to return after the stop button before the runtime is killed.
const RUNTIME_GRACE: Duration = Duration::from_millis(1000);

/// Asks the person at the notebook for a line of text (the stdin channel).
pub trait InputProvider: Send + Sync {
    /// Sends `input_request` for the cell that `parent` started and waits for the reply.
    /// `None` when the frontend does not allow stdin or the request failed.
    fn ask(&self, parent: &Message, prompt: &str, password: bool) -> Option<String>;
}

/// How the evaluator is set up.
#[derive(Debug, Clone, Default)]
pub struct EvalConfig {
    /// Path of the support crate to preload (default: found next to the installed kernel).
    pub support_crate: Option<std::path::PathBuf>,
}

/// One `execute_request` to run.
pub struct CellRequest<'a> {
    /// The `execute_request` message (its header is the parent of every output).
    pub parent: &'a Message,
    pub code: &'a str,
    pub execution_count: u32,
    pub silent: bool,
    pub allow_stdin: bool,
}

/// How a cell ended. Streams, displays and the `execute_result` were already published.
pub enum CellOutcome {
    Ok,
    /// The handler publishes exactly one `error` message from this and replies `error`.
    Error { ename: String, evalue: String, traceback: Vec<String> },
}

/// Completion matches for `complete_request`.
pub struct Completions {
    pub matches: Vec<String>,
    pub cursor_start: usize,
    pub cursor_end: usize,
}

/// What the evaluator and its interrupter share about the running cell.
struct Running {
    /// Our cell number while a cell is being evaluated (0: idle).
    cell: AtomicU32,
    /// True while evcxr is compiling or running the cell's code.
    code_running: AtomicBool,
    /// Cell number whose runtime the interrupter had to kill.
    runtime_killed: AtomicU32,
}

/// Lets another thread (the control channel) stop the running cell.
#[derive(Clone)]
pub struct Interrupter {
    shared: Arc<Shared>,
    running: Arc<Running>,
}

impl Interrupter {
    /// Stops the running cell (blocked calls panic with a clear message, the cell's processes
    /// are terminated). Returns at once.
    pub fn interrupt(&self) {
        let cell = self.running.cell.load(Ordering::SeqCst);
        if cell == 0 {
            return;
        }
        self.shared.page.interrupt_cell.store(cell, Ordering::SeqCst);
        let shared = self.shared.clone();
        let running = self.running.clone();
        std::thread::spawn(move || stop_cell(&shared, &running, cell));
    }
}

/// Terminates the processes of `cell`; kills the runtime if the code does not return in time.
fn stop_cell(shared: &Shared, running: &Running, cell: u32) {
    let started = Instant::now();
    let runtime = shared.runtime_pid.load(Ordering::SeqCst);
    let mut victims = supervision::alive_of_cell(shared, cell);
    let others: Vec<i32> = supervision::all_alive(shared).into_iter().filter(|p| !victims.iter().any(|(v, _)| v == p)).collect();
    // Plain forks (not registered) under the runtime belong to the running cell.
    for pid in cleanup::descendants(runtime) {
        if !others.contains(&pid) && !victims.iter().any(|(v, _)| *v == pid) {
            let under_other = std::iter::successors(supervision::parent_of(pid), |p| supervision::parent_of(*p))
                .take_while(|p| *p != runtime && *p > 1)
                .any(|p| others.contains(&p));
            if !under_other {
                victims.push((pid, String::from("unregistered")));
            }
        }
    }
    supervision::note_terminated(shared, cell, &victims);
    let pids: Vec<i32> = victims.iter().map(|(p, _)| *p).collect();
    cleanup::terminate(&pids, TERM_GRACE);
    // The code itself: blocked support-crate calls panic within 50 ms; spinning code does not.
    while running.code_running.load(Ordering::SeqCst) && running.cell.load(Ordering::SeqCst) == cell {
        if started.elapsed() >= RUNTIME_GRACE {
            running.runtime_killed.store(cell, Ordering::SeqCst);
            // SAFETY: kill on the runtime's pid (our child; evcxr restarts it).
            unsafe { libc::kill(runtime, libc::SIGKILL) };
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cell evaluator: owns the evcxr context and the process supervisor.
pub struct Evaluator {
    ctx: Option<evcxr::CommandContext>,
    supervisor: Option<Supervisor>,
    shared: Arc<Shared>,
    running: Arc<Running>,
    publisher: Publisher,
    next_cell: u32,
    /// `:timeline on`: every cell is recorded until `:timeline off`.
    timeline_on: bool,
    /// Crates every cell has without `:dep` (`provided_deps.rs`), as Rust code names them.
    provided: Vec<String>,
    _slot: Option<cache_slot::Slot>,
}

/// Where the support crate is: config, then `MULTIPROC_SUPPORT_CRATE`, then beside the kernel's
/// sources (a development build).
fn support_crate_path(config: &EvalConfig) -> PathBuf {
    if let Some(p) = &config.support_crate {
        return p.clone();
    }
    if let Some(p) = std::env::var_os(SUPPORT_CRATE_ENV) {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("support-crate")
}

/// Reads and forwards what evcxr's channels carry (lines our runtime writes outside the
/// protocol, e.g. a fatal start-up error) to the kernel's own stderr; evcxr waits for its
/// stdout channel to be empty after every cell, so it must be drained.
fn drain_evcxr_outputs(outputs: evcxr::EvalContextOutputs) {
    let evcxr::EvalContextOutputs { stdout, stderr } = outputs;
    std::thread::spawn(move || {
        for line in stdout {
            eprintln!("[runtime] {line}");
        }
    });
    std::thread::spawn(move || {
        for line in stderr {
            eprintln!("[runtime] {line}");
        }
    });
}

/// Lets the runtime find the toolchain's `libstd-*.so`, which every cell links dynamically.
///
/// rustc writes a *relative* run path into each cell library, computed from cargo's `deps`
/// folder; evcxr loads the copy one folder up. Under evcxr's default `/tmp` folder the extra
/// `..` is harmless (it stops at `/`), but our cache lives beside the toolchain in the home
/// folder, where the relative path then misses by one level. The loader's search path fixes it.
fn point_runtime_at_std() {
    let Some(tc) = toolchain::toolchain() else { return };
    let dir = tc.target_libdir.display().to_string();
    let path = match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{dir}:{old}"),
        _ => dir,
    };
    // SAFETY: set before the runtime is started; other threads do not read this variable.
    unsafe { std::env::set_var("LD_LIBRARY_PATH", path) };
}

fn page_of(shared: &Shared) -> &'static ControlPage {
    shared.page
}

impl Evaluator {
    /// Starts evcxr and preloads the support crate (`use multiproc::prelude::*;`).
    pub fn new(config: EvalConfig, publisher: Publisher, input: std::sync::Arc<dyn InputProvider>) -> anyhow::Result<Evaluator> {
        toolchain::bypass_rustup();
        cleanup::become_subreaper();
        let page = control::create()?;
        let supervisor = Supervisor::start(page, publisher.clone(), input)?;
        let shared = supervisor.shared.clone();
        let slot = cache_slot::acquire();
        let support = support_crate_path(&config);
        let prebuilt = prebuilt::locate_or_build(&support)
            .map_err(|e| anyhow::anyhow!("the support crate (multiproc) is not available to cells: {e:#}"))?;
        toolchain::prepare(&prebuilt)?;
        let provided = std::iter::once(String::from("multiproc")).chain(prebuilt.externs.iter().map(|(name, _)| name.clone())).collect();
        if let Some(slot) = &slot {
            let dir = slot.dir.join("evcxr");
            std::fs::create_dir_all(&dir)?;
            // SAFETY: set before evcxr reads it, while no other thread reads the environment.
            unsafe { std::env::set_var("EVCXR_TMPDIR", &dir) };
        }
        point_runtime_at_std();
        let t0 = Instant::now();
        let (ctx, outputs) = toolchain::in_config_dir(evcxr::CommandContext::new).map_err(|e| anyhow::anyhow!("starting evcxr: {e}"))?;
        drain_evcxr_outputs(outputs);
        let running = Arc::new(Running { cell: AtomicU32::new(0), code_running: AtomicBool::new(false), runtime_killed: AtomicU32::new(0) });
        let mut ev = Evaluator { ctx: Some(ctx), supervisor: Some(supervisor), shared, running, publisher, next_cell: 1, timeline_on: false, provided, _slot: slot };
        ev.update_runtime_pid();
        let ctx = ev.ctx.as_mut().expect("context");
        ctx.set_opt_level("0").map_err(|e| anyhow::anyhow!("{e}"))?;
        ctx.execute(toolchain::LINKER_COMMAND).map_err(|e| anyhow::anyhow!("{e}"))?;
        // One start-up cell: the support crate's prelude (the crate itself comes with every
        // cell's rustc flags, see toolchain.rs), the final-value trait and the flush function,
        // all in one module reached by one glob import: evcxr keeps a cell's items in a hash
        // map, so several would come out in another order in every kernel, and the build
        // store (build_store.rs) would never find one kernel's start-up builds for another.
        let preload = format!("use {PRELOAD_MODULE}::*;\n#[doc(hidden)]\npub mod {PRELOAD_MODULE} {{\npub use multiproc::prelude::*;\n{SHOW_FINAL_VALUE}\n{}\n}}", flush_output_item());
        let t1 = Instant::now();
        if let Err(e) = ev.quiet(&preload) {
            anyhow::bail!("preloading the support crate {}: {e}", prebuilt.rlib.display());
        }
        if timing_enabled() {
            eprintln!("[timing] start-up: evcxr context {:?}, preload {:?}", t1 - t0, t1.elapsed());
        }
        startup::record(t0.elapsed());
        // Start-up freed a few hundred MB of analysis data; give it back before the first cell.
        memory::trim_now();
        Ok(ev)
    }

    fn update_runtime_pid(&self) {
        if let Some(ctx) = &self.ctx {
            let handle = ctx.process_handle();
            let pid = handle.lock().map(|c| c.id() as i32).unwrap_or(0);
            self.shared.runtime_pid.store(pid, Ordering::SeqCst);
        }
    }

    /// Runs code in a cell nobody sees (preloading, warm-up).
    fn quiet(&mut self, code: &str) -> Result<(), String> {
        let cell = self.next_cell;
        self.next_cell += 1;
        let sup = self.supervisor.as_ref().expect("supervisor");
        sup.begin(cell, None, false);
        let result = self.ctx.as_mut().expect("context").execute(code);
        self.update_runtime_pid();
        let report = self.supervisor.as_ref().expect("supervisor").finish(cell);
        match result {
            Err(evcxr::Error::CompilationErrors(errs)) => Err(errs.iter().map(|e| errors::render(e, code)).collect::<Vec<_>>().join("\n")),
            Err(e) => Err(e.to_string()),
            Ok(_) if report.panicked => Err(report.panic_message),
            Ok(_) => Ok(()),
        }
    }

    /// Runs one cell; returns when its code returned and its non-daemon processes exited.
    pub fn execute(&mut self, req: CellRequest<'_>) -> CellOutcome {
        // `:labels on|off` (supervision/labels.rs) and `:timeline [on|off]`
        // (supervision/lens/timeline.rs): switches at the top of the cell; the rest of the
        // cell, if any, runs as usual.
        let mut after_commands: Option<String> = None;
        let mut record_this_cell = false;
        loop {
            let code = after_commands.as_deref().unwrap_or(req.code);
            if let Some((cmd, rest)) = supervision::labels::take_command(code) {
                match cmd {
                    supervision::labels::Command::Set(on) => supervision::labels::set(&self.shared, on),
                    supervision::labels::Command::Bad(message) => return error("CommandError", message.clone(), vec![message]),
                }
                after_commands = Some(rest);
                continue;
            }
            if let Some((cmd, rest)) = supervision::lens::timeline::take_command(code) {
                match cmd {
                    supervision::lens::timeline::Command::ThisCell => record_this_cell = true,
                    supervision::lens::timeline::Command::Set(on) => self.timeline_on = on,
                    supervision::lens::timeline::Command::Bad(message) => return error("CommandError", message.clone(), vec![message]),
                }
                after_commands = Some(rest);
                continue;
            }
            break;
        }
        if after_commands.as_deref().is_some_and(|rest| rest.trim().is_empty()) {
            return CellOutcome::Ok;
        }
        let after_labels = after_commands;
        let req = CellRequest { code: after_labels.as_deref().unwrap_or(req.code), ..req };
        // `:dep` of a crate cells already have would make rustc stop with "multiple candidates".
        let stripped = provided_deps::strip(req.code, &self.provided);
        if let Some(s) = &stripped {
            if !req.silent {
                let text = provided_deps::note(&s.names);
                self.publisher.publish(Some(req.parent), "stream", json!({"name": "stdout", "text": text}));
            }
            if s.code.trim().is_empty() {
                return CellOutcome::Ok;
            }
        }
        let req = CellRequest { code: stripped.as_ref().map_or(req.code, |s| s.code.as_str()), ..req };
        // Before evcxr, which would fetch and compile a tokio of its own (top_level_await.rs).
        if let Some(at) = top_level_await::find(req.code) {
            let (evalue, traceback) = top_level_await::message(req.code, at);
            return error("CompilationError", evalue, traceback);
        }
        let cell = self.next_cell;
        self.next_cell += 1;
        self.running.code_running.store(true, Ordering::SeqCst);
        self.running.cell.store(cell, Ordering::SeqCst);
        self.supervisor.as_ref().expect("supervisor").begin(cell, Some(req.parent), req.allow_stdin);
        page_of(&self.shared).refused_starts.store(0, Ordering::SeqCst);
        let recording = if record_this_cell || self.timeline_on { supervision::lens::timeline::begin() } else { None };
        let started = Instant::now();
        let (result, rewritten) = annotate::execute(self.ctx.as_mut().expect("context"), req.code);
        self.running.code_running.store(false, Ordering::SeqCst);
        // A recovered error comes from a check of the student's own text, not the rewritten one.
        let recovers = matches!(&result, Err(evcxr::Error::CompilationErrors(errs)) if !errs.iter().all(errors::is_main_message));
        let rewritten = rewritten.filter(|_| !recovers);
        let result = self.recover_lost_error_messages(req.code, result);
        let evaluated = started.elapsed();
        self.update_runtime_pid();
        let report = self.supervisor.as_ref().expect("supervisor").finish(cell);
        if let Some(rec) = recording {
            // After the cell's processes ended and their output was published (and replayed),
            // before the result: the timeline is the cell's last output but its value.
            let runtime = self.shared.runtime_pid.load(Ordering::SeqCst) as u32;
            let t = supervision::lens::timeline::end(rec, runtime);
            // Not for a cell that did not compile: none of its code ran.
            if !req.silent && result.is_ok() {
                self.publisher.publish(Some(req.parent), "display_data", json!({
                    "data": {
                        "text/plain": supervision::lens::timeline_render::text(&t),
                        "text/html": supervision::lens::timeline_render::html(&t),
                    },
                    "metadata": {},
                }));
            }
        }
        if timing_enabled() {
            let phases = match &result {
                Ok(o) => o.phases.iter().map(|p| format!("{}={:?}", p.name, p.duration)).collect::<Vec<_>>().join(" "),
                Err(_) => String::from("(error)"),
            };
            eprintln!("[timing] cell {cell}: evcxr {evaluated:?} [{phases}], finish {:?}", started.elapsed() - evaluated);
        }
        self.running.cell.store(0, Ordering::SeqCst);
        let interrupted = page_of(&self.shared).interrupt_cell.load(Ordering::SeqCst) == cell;
        let runtime_killed = self.running.runtime_killed.load(Ordering::SeqCst) == cell;
        let terminated = outcome::terminated(&report.terminated);
        match result {
            Ok(outputs) => {
                if report.panicked || interrupted {
                    let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
                    let page = page_of(&self.shared);
                    let cap = outcome::Cap {
                        refused: page.refused_starts.load(Ordering::SeqCst),
                        max: page.max_processes.load(Ordering::SeqCst),
                    };
                    return outcome::panicked(&report.panic_message, interrupted, runtime, cap, &terminated);
                }
                // A cell whose last expression is a loop or a call returning nothing has the
                // value `()`: showing "()" under every such cell only puzzles beginners.
                let only_unit = outputs.content_by_mime_type.len() == 1
                    && outputs.content_by_mime_type.get("text/plain").is_some_and(|v| v.trim() == "()");
                if !req.silent && !outputs.content_by_mime_type.is_empty() && !only_unit {
                    let data: serde_json::Map<String, Value> =
                        outputs.content_by_mime_type.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                    self.publisher.publish(Some(req.parent), "execute_result", json!({
                        "execution_count": req.execution_count,
                        "data": data,
                        "metadata": {},
                    }));
                }
                CellOutcome::Ok
            }
            Err(evcxr::Error::CompilationErrors(errs)) => {
                let (evalue, traceback) = match &rewritten {
                    Some(run) => {
                        let (evalue, traceback) = errors::failed_cell(&errs, run);
                        (evalue, traceback.iter().map(|t| annotated_errors::restore(t, req.code, run)).collect())
                    }
                    None => errors::failed_cell(&errs, req.code),
                };
                error("CompilationError", evalue, traceback)
            }
            Err(evcxr::Error::SubprocessTerminated(msg)) => {
                if let Some(program) = outcome::exec_note(&report.panic_message) {
                    outcome::replaced_by_exec(&program, &terminated)
                } else if runtime_killed || interrupted {
                    let evalue = format!(
                        "the cell did not stop within {} s, so its process was restarted: variables from earlier cells were lost.{terminated}",
                        RUNTIME_GRACE.as_secs()
                    );
                    error("Interrupted", evalue.clone(), vec![evalue])
                } else {
                    let evalue = format!("the notebook's main process ended ({}); it was restarted and variables were lost", errors::strip_ansi(msg.trim()));
                    error("ProcessDied", evalue.clone(), vec![evalue])
                }
            }
            Err(e) => {
                let evalue = errors::strip_ansi(&e.to_string());
                error("Error", evalue.clone(), vec![evalue])
            }
        }
    }

    /// When a cell's final expression does not compile, evcxr reports the error from its display
    /// wrapper around that expression and, finding the error's main span in generated code,
    /// keeps only one of rustc's notes: `f(1, 2)` as the last line said just "function defined
    /// here", without "this function takes 1 argument but 2 arguments were supplied". A check
    /// build of the cell as plain code (no display wrapper, nothing run, ~0.3 s) reports the
    /// error itself, which then replaces the stray notes.
    fn recover_lost_error_messages(
        &mut self,
        code: &str,
        result: Result<evcxr::EvalOutputs, evcxr::Error>,
    ) -> Result<evcxr::EvalOutputs, evcxr::Error> {
        let Err(evcxr::Error::CompilationErrors(errs)) = &result else { return result };
        if errs.iter().all(|e| errors::is_main_message(e)) {
            return result;
        }
        match self.ctx.as_mut().expect("context").check(code) {
            Ok(checked) if checked.iter().any(errors::is_main_message) => Err(evcxr::Error::CompilationErrors(checked)),
            _ => result,
        }
    }

    /// A handle for interrupting from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter { shared: self.shared.clone(), running: self.running.clone() }
    }

    /// Completion candidates at `cursor` (a character offset).
    pub fn complete(&mut self, code: &str, cursor: usize) -> Completions {
        let byte = char_to_byte(code, cursor);
        let none = Completions { matches: vec![], cursor_start: cursor, cursor_end: cursor };
        let Some(ctx) = self.ctx.as_mut() else { return none };
        // The index answers std, the support crate and the session's names; evcxr what it cannot
        // tell (the methods of the student's own types).
        let started = Instant::now();
        let ours = completion::complete(code, byte, &completion::Known::of(ctx));
        let indexed = started.elapsed();
        let theirs = if ours.complete {
            None
        } else {
            ctx.completions(code, byte).ok().map(|c| (c.start_offset, c.end_offset, c.completions.into_iter().map(|c| c.code).collect()))
        };
        if timing_enabled() {
            eprintln!("[timing] complete: index {indexed:?}, evcxr {:?}", started.elapsed() - indexed);
        }
        let all = completion::merge(ours, theirs);
        Completions { matches: all.matches, cursor_start: byte_to_char(code, all.start), cursor_end: byte_to_char(code, all.end) }
    }

    /// Documentation or type of the name at `cursor`, as plain text.
    pub fn inspect(&mut self, code: &str, cursor: usize, _detail_level: u8) -> Option<String> {
        let ctx = self.ctx.as_mut()?;
        let byte = char_to_byte(code, cursor);
        if let Some(text) = completion::inspect(code, byte, &completion::Known::of(ctx)) {
            return Some(text);
        }
        // The student's own items: evcxr's hover, at the end of the name under the cursor.
        let end = completion::query::word_end(code, byte);
        let (plain, _html) = ctx.hover_at(code, end).ok()?;
        let plain = plain.trim().to_string();
        if plain.is_empty() { None } else { Some(plain) }
    }

    /// Ends the runtime and every process any cell started; leaves no orphans or zombies.
    pub fn shutdown(mut self) {
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        let mut pids = supervision::all_alive(&self.shared);
        pids.extend(cleanup::descendants(runtime));
        pids.sort_unstable();
        pids.dedup();
        cleanup::terminate(&pids, Duration::from_millis(300));
        // SAFETY: kill our runtime child; evcxr's drop below reaps it.
        unsafe { libc::kill(runtime, libc::SIGKILL) };
        drop(self.ctx.take());
        if let Some(s) = self.supervisor.take() {
            s.stop();
        }
        // Anything still under us (adopted orphans) ends now.
        let rest = cleanup::descendants(std::process::id() as i32);
        cleanup::terminate(&rest, Duration::from_millis(300));
        cleanup::reap_all();
    }
}

/// True when `RUST_CONCURRENCY_TIMING` is set: the kernel then logs, on its stderr, how long
/// each step of start-up and of every cell took (for finding where time goes).
fn timing_enabled() -> bool {
    std::env::var_os("RUST_CONCURRENCY_TIMING").is_some()
}

fn error(ename: &str, evalue: String, traceback: Vec<String>) -> CellOutcome {
    CellOutcome::Error { ename: ename.to_string(), evalue, traceback }
}

fn char_to_byte(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map(|(i, _)| i).unwrap_or(s.len())
}

fn byte_to_char(s: &str, byte: usize) -> usize {
    s.get(..byte.min(s.len())).map(|p| p.chars().count()).unwrap_or(0)
}

/// Compiles a first cell once in cache slot 0 so that later kernels start fast (used by
/// `rust-concurrency-kernel install`, after the support crate was prebuilt).
pub fn warm_up(config: &EvalConfig) -> anyhow::Result<()> {
    struct NoInput;
    impl InputProvider for NoInput {
        fn ask(&self, _: &Message, _: &str, _: bool) -> Option<String> {
            None
        }
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    // Nothing is published for quiet cells; drop whatever arrives.
    std::thread::spawn(move || for _ in rx {});
    let mut ev = Evaluator::new(config.clone(), Publisher::new(tx), Arc::new(NoInput))?;
    // Typed: quiet cells skip the type probe that execute() runs for untyped `let`s.
    let sample = "let mut p: Process = Process::new(|| println!(\"warm\"));\np.start();\np.join();";
    if let Err(e) = ev.quiet(sample) {
        eprintln!("warm-up cell failed (the support crate is compiled anyway): {e}");
    }
    ev.shutdown();
    Ok(())
}
