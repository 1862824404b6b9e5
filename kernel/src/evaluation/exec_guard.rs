//! A cell that execs in the notebook's own process: what the student is told.
//!
//! `exec` replaces the calling process with another program. In a forked child that is the
//! point (21-SubprocessExecFork), but in the runtime, the process that runs cells, it replaces
//! the notebook itself: the program runs (its output reaches the cell), exits, and evcxr only
//! sees that its runtime ended ("exit status: 0"). The exit status cannot tell an exec from a
//! `process::exit`, and once evcxr has reaped the process nothing of it is left to look at.
//!
//! So this binary defines the exec functions of the C library itself, and exports them (see
//! `build.rs`): the cells' code (their `libstd`, `nix`, `libc`) links to them ahead of libc's.
//! In the runtime process only, each one first writes a [`Note::Exec`] line naming the program
//! for the kernel (the kernel words the cell's error from it, `outcome::replaced_by_exec`), then
//! does the real exec. Everywhere else (a forked child, the kernel itself) it is libc's function
//! and nothing more. Hand-written because no crate interposes libc functions for one process.
//! An exec that fails returns to the cell as usual, after a second note with no program that
//! takes the first one back.

use std::ffi::{CStr, c_char, c_int};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use multiproc::sys::report::Note;

/// The functions interposed, in the order of [`REAL`]; `build.rs` exports the same names.
const NAMES: [&CStr; 5] = [c"execv", c"execve", c"execvp", c"execvpe", c"fexecve"];
/// libc's own functions, found once before `main` (a forked child must not call `dlsym`).
static REAL: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
/// Pid of the runtime process (0 in every other process of this binary).
static RUNTIME_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn resolve() {
    for (name, slot) in NAMES.iter().zip(&REAL) {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT skips this binary's definitions.
        slot.store(unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize, Ordering::Relaxed);
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static RESOLVE: extern "C" fn() = resolve;

/// Called by the runtime at start: from now on an exec in this process is announced.
pub fn arm() {
    RUNTIME_PID.store(std::process::id() as i32, Ordering::Relaxed);
}

/// True in the runtime process.
fn in_runtime() -> bool {
    // SAFETY: getpid has no preconditions (and is async-signal-safe, for forked children).
    RUNTIME_PID.load(Ordering::Relaxed) == unsafe { libc::getpid() }
}

/// In the runtime process: the note for the kernel, on fd 2 (a stream the kernel reads before
/// it learns that the runtime ended). `program`: the path or name given to exec.
fn announce(program: *const c_char) {
    if !in_runtime() {
        return;
    }
    let name = if program.is_null() {
        String::from("another program")
    } else {
        // SAFETY: exec's first argument is a NUL-terminated string.
        unsafe { CStr::from_ptr(program) }.to_string_lossy().into_owned()
    };
    write_note(&Note::Exec(name));
    wait_until_read();
}

/// Waits (at most a second) until the kernel has read what this process wrote to fd 2. The
/// kernel's supervisor reads its control datagrams before the streams, so once the exec'd
/// program ends, the evaluator's "cell ended" message could otherwise be handled before the
/// note, and the cell would get the plain "main process ended" error (seen once in CI).
/// `SIOCOUTQ` on a Unix stream socket counts the bytes written and not yet read by the peer.
fn wait_until_read() {
    for _ in 0..1000 {
        let mut unread: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one int; fd 2 is the runtime's stderr socket.
        let rc = unsafe { libc::ioctl(2, libc::TIOCOUTQ, &mut unread) };
        if rc != 0 || unread <= 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// In the runtime process, after an exec that failed: takes the note back (an empty program).
fn withdraw() {
    if in_runtime() {
        write_note(&Note::Exec(String::new()));
    }
}

fn write_note(note: &Note) {
    let line = note.line();
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writing our own buffer to fd 2.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
}

fn real(i: usize) -> usize {
    REAL[i].load(Ordering::Relaxed)
}

type Argv = *const *const c_char;

/// No libc function found (cannot happen with glibc): fail like exec does.
fn missing() -> c_int {
    // SAFETY: setting errno through libc's own location.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
    -1
}

macro_rules! interpose {
    ($name:ident, $i:expr, ($($arg:ident: $ty:ty),*), $program:expr) => {
        /// libc's function of the same name; announced first in the runtime process.
        ///
        /// # Safety
        /// The same contract as libc's.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            announce($program);
            let failed = match real($i) {
                0 => missing(),
                // SAFETY: the address dlsym gave for this very name, with its C signature.
                f => unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($ty),*) -> c_int>(f)($($arg),*) },
            };
            // Still here: the exec failed (errno is kept: writing the note does not fail).
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            withdraw();
            // SAFETY: restoring errno through libc's own location.
            unsafe { *libc::__errno_location() = errno };
            failed
        }
    };
}

interpose!(execv, 0, (path: *const c_char, argv: Argv), path);
interpose!(execve, 1, (path: *const c_char, argv: Argv, envp: Argv), path);
interpose!(execvp, 2, (file: *const c_char, argv: Argv), file);
interpose!(execvpe, 3, (file: *const c_char, argv: Argv, envp: Argv), file);
interpose!(fexecve, 4, (fd: c_int, argv: Argv, envp: Argv), first_arg(argv));

/// `fexecve` names no path: the program's `argv[0]`.
fn first_arg(argv: Argv) -> *const c_char {
    // SAFETY: exec's argv is a NULL-terminated array (possibly empty).
    if argv.is_null() { std::ptr::null() } else { unsafe { *argv } }
}
