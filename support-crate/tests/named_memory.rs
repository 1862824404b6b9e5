//! Named shared memory between real processes: forked children, a process that exited, and a
//! fresh program (not forked from the creator) that knows only the name.

use std::io::ErrorKind;
use std::path::Path;

use multiproc::named_memory::SharedMemory;

mod common;
use common::{child, exit_code, run_helper, serial};

fn unique(tag: &str) -> String {
    format!("mp_test_{tag}_{}", std::process::id())
}

fn in_dev_shm(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

#[test]
fn a_child_attaches_by_name_and_its_writes_reach_the_parent() {
    let _s = serial();
    let name = unique("child_writes");
    let block = SharedMemory::create(&name, 64).unwrap();
    let pid = child({
        let name = name.clone();
        move || {
            let mut mine = SharedMemory::attach(&name).unwrap();
            mine.buf_mut()[..6].copy_from_slice(b"from 1");
        }
    });
    assert_eq!(exit_code(pid), 0);
    assert_eq!(&block.buf()[..6], b"from 1");
    block.unlink().unwrap();
    assert!(!in_dev_shm(&name));
}

#[test]
fn the_name_outlives_the_process_that_created_it() {
    let _s = serial();
    let name = unique("outlives");
    let pid = child({
        let name = name.clone();
        move || {
            let mut made = SharedMemory::create(&name, 16).unwrap();
            made.buf_mut()[0] = 7;
            // exits without unlinking
        }
    });
    assert_eq!(exit_code(pid), 0);
    assert!(in_dev_shm(&name), "the creator exited: the name must still be there");
    let found = SharedMemory::attach(&name).unwrap();
    assert_eq!((found.size(), found.buf()[0]), (16, 7));
    found.unlink().unwrap();
    assert_eq!(SharedMemory::attach(&name).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(found.buf()[0], 7, "a mapping stays valid after unlink");
}

/// Run by `an_unrelated_program_attaches_by_name_only` as a fresh program.
#[test]
#[ignore = "helper: run by another test in a fresh process"]
fn helper_attach_and_answer() {
    let name = std::env::var("MP_TEST_SHM_NAME").expect("name in the environment");
    let mut block = SharedMemory::attach(&name).expect("attach by name");
    assert_eq!(&block.buf()[..4], b"ping");
    block.buf_mut()[..4].copy_from_slice(b"pong");
}

#[test]
fn an_unrelated_program_attaches_by_name_only() {
    let _s = serial();
    let name = unique("unrelated");
    let mut block = SharedMemory::create(&name, 8).unwrap();
    block.buf_mut()[..4].copy_from_slice(b"ping");
    run_helper("helper_attach_and_answer", &[("MP_TEST_SHM_NAME", &name)]);
    assert_eq!(&block.buf()[..4], b"pong");
    // Any program can read it: it is a file in /dev/shm.
    let bytes = std::fs::read(Path::new("/dev/shm").join(&name)).unwrap();
    assert_eq!(&bytes[..4], b"pong");
    block.unlink().unwrap();
}

#[test]
fn create_refuses_a_taken_name_bad_names_and_size_zero() {
    let _s = serial();
    let name = unique("taken");
    let block = SharedMemory::create(&name, 1).unwrap();
    assert_eq!(SharedMemory::create(&name, 1).unwrap_err().kind(), ErrorKind::AlreadyExists);
    block.unlink().unwrap();
    assert_eq!(block.unlink().unwrap_err().kind(), ErrorKind::NotFound);
    for bad in ["", "/", "a/b"] {
        assert_eq!(SharedMemory::create(bad, 1).unwrap_err().kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    assert_eq!(SharedMemory::create(&unique("zero"), 0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert!(!in_dev_shm(&unique("zero")), "a refused create leaves no name");
    assert_eq!(SharedMemory::attach(&unique("never")).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn a_killed_attached_process_leaves_the_block_usable() {
    let _s = serial();
    let name = unique("killed");
    let block = SharedMemory::create(&name, 8).unwrap();
    let (mut ready_r, ready_w) = std::io::pipe().unwrap();
    // `ready_w` moves into the closure: closed here once `child` returns, in the child by drop.
    let pid = child({
        let name = name.clone();
        move || {
            let mut mine = SharedMemory::attach(&name).unwrap();
            mine.buf_mut()[0] = 1;
            drop(ready_w); // tells the parent "attached and written"
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    });
    let _ = std::io::Read::read(&mut ready_r, &mut [0u8; 1]); // end of file once the child wrote
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let status = nix::sys::wait::waitpid(pid, None).unwrap();
    assert!(matches!(status, nix::sys::wait::WaitStatus::Signaled(..)), "{status:?}");
    assert_eq!(block.buf()[0], 1);
    assert!(SharedMemory::attach(&name).is_ok());
    block.unlink().unwrap();
}
