"""A cell that execs in the notebook's own process (issue 11).

``exec`` replaces the process that calls it. In the runtime (the process that runs cells) that
is the notebook itself: the kernel must say so in one clear error, name the program and the way
out, and stay usable. In a forked child, exec is ordinary and nothing is reported. Real kernel,
real exec: ``Command::exec`` (std) and ``nix::unistd::execvp`` (what cells call directly).
"""

from __future__ import annotations

from conftest import descendants, run_cell


def kernel_pid(km) -> int:
    return km.provisioner.process.pid


def one_error(res) -> dict:
    assert res.status == "error", (res.stdout, res.stderr)
    assert len(res.errors) == 1, res.errors
    return res.errors[0]


def assert_replaced(res, program: str) -> None:
    err = one_error(res)
    assert err["ename"] == "ExecReplacedNotebook", err
    said = err["evalue"]
    assert said.startswith(f"this cell replaced the notebook's own process with `{program}` (exec)"), said
    assert "variables are gone" in said and "21-SubprocessExecFork" in said, said
    assert err["traceback"] == [said], err


def test_command_exec_in_the_notebook_is_one_clear_error_and_the_kernel_goes_on(kernel):
    km, kc = kernel
    assert run_cell(kc, "let kept = 41;", timeout=300).status == "ok"
    res = run_cell(kc, r'''
use std::os::unix::process::CommandExt;
println!("before exec");
let err = std::process::Command::new("echo").arg("echo ran in place of the notebook").exec();
println!("Good Bye!! {err}");
''', timeout=120)
    assert_replaced(res, "echo")
    # The program really ran (its output is the cell's), and the code after exec did not.
    assert res.stdout == "before exec\necho ran in place of the notebook\n", res.stdout
    assert "Good Bye" not in res.stdout + res.stderr
    # The kernel goes on with a fresh process: variables are gone, as the error says.
    gone = run_cell(kc, "println!(\"{}\", kept + 1);", timeout=120)
    assert gone.status == "error" and "kept" in gone.errors[0]["evalue"], gone.errors
    again = run_cell(kc, 'println!("alive {}", 1 + 1);', timeout=120)
    assert again.status == "ok" and again.stdout == "alive 2\n", (again.errors, again.stdout)
    assert descendants(kernel_pid(km)) != [], "the fresh runtime runs under the kernel"


def test_nix_execvp_in_the_notebook_names_the_program_and_its_stderr_is_shown(kernel):
    _, kc = kernel
    res = run_cell(kc, r'''
use std::ffi::CString;
let prog = CString::new("sh").unwrap();
let args = [prog.clone(), CString::new("-c").unwrap(), CString::new("echo on stderr >&2; exit 3").unwrap()];
let _ = nix::unistd::execvp(&prog, &args);
println!("Good Bye!!");
''', timeout=120)
    assert_replaced(res, "sh")
    assert "on stderr" in res.stderr and "Good Bye" not in res.stdout
    assert run_cell(kc, 'println!("still here");', timeout=120).stdout == "still here\n"


def test_exec_in_a_forked_child_or_a_failed_exec_is_no_error(kernel):
    _, kc = kernel
    res = run_cell(kc, r'''
use std::os::unix::process::CommandExt;
let mut p = Process::new(|| {
    let err = std::process::Command::new("echo").arg("the child became echo").exec();
    println!("Good Bye!! {err}");
});
p.start();
p.join();
println!("child exit code {:?}", p.exitcode());
let err = std::process::Command::new("no-such-program-here").exec();
println!("exec failed, the cell goes on: {}", err.kind());
''', timeout=120)
    assert res.status == "ok", (res.errors, res.stderr)
    lines = res.stdout.splitlines()
    assert lines == ["the child became echo", "child exit code Some(0)", "exec failed, the cell goes on: entity not found"], res.stdout


def test_a_failed_exec_takes_its_note_back(kernel):
    # The cell goes on after the failed exec; when it then ends the process itself, the error is
    # about that, not about an exec that never happened.
    _, kc = kernel
    res = run_cell(kc, r'''
use std::os::unix::process::CommandExt;
let err = std::process::Command::new("no-such-program-here").exec();
println!("exec failed: {}", err.kind());
std::process::exit(0);
''', timeout=120)
    err = one_error(res)
    assert err["ename"] == "ProcessDied", err
    assert res.stdout == "exec failed: entity not found\n", res.stdout
    assert run_cell(kc, 'println!("still here");', timeout=120).stdout == "still here\n"
