//! The process that loads and runs compiled cells (evcxr's "runtime"), our own version.
//! (The evaluation helper implements it.)

/// If this process was started by evcxr as the runtime, runs the runtime loop and never returns.
pub fn run_if_runtime() {}
