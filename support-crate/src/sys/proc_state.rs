//! A process's state letter from `/proc/<pid>/stat` (`R`, `S`, `Z`, …): one reader for the
//! modules that ask whether a process still runs (a zombie has finished).

/// The state letter of `pid`, or `None` once it is gone.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: read after it.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// True while `pid` exists and has not finished (neither a zombie nor dead).
pub fn running(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_runs() {
        assert!(super::running(std::process::id()));
        assert_eq!(super::state(u32::MAX), None);
    }
}
