//! Value, Array, RawValue and RawArray across real forked processes.

use multiproc::shared_memory::{Array, RawArray, RawValue, Value};

mod common;
use common::forked;

#[test]
fn value_incremented_under_the_lock_by_n_processes_is_exact() {
    const N: usize = 4;
    let counter = Value::new(0i64);
    forked::run_all(N, |_| {
        for _ in 0..10_000 {
            *counter.lock() += 1;
        }
    });
    assert_eq!(counter.get(), N as i64 * 10_000);
}

#[test]
fn with_lock_is_exact_too() {
    let counter = Value::new(0u32);
    forked::run_all(3, |_| {
        for _ in 0..10_000 {
            counter.with_lock(|c| *c += 1);
        }
    });
    assert_eq!(counter.get(), 30_000);
}

#[test]
fn raw_value_is_shared_but_unlocked() {
    // Whether updates get lost depends on timing, so only sharing is asserted here.
    let v = RawValue::new(0u64);
    let child = forked::spawn(|| v.set(42));
    assert_eq!(forked::join(child), 0);
    assert_eq!(v.get(), 42);
    forked::run_all(2, |_| {
        for _ in 0..10_000 {
            v.set(v.get() + 1);
        }
    });
    let total = v.get();
    assert!(total > 42 && total <= 42 + 20_000, "total {total}");
}

#[test]
fn a_plain_variable_is_not_shared_but_a_value_is() {
    let mut plain = 0;
    let shared = Value::new(0);
    let child = forked::spawn(|| {
        plain += 1; // changes the child's own copy only
        shared.set(1);
        assert_eq!(plain, 1);
    });
    assert_eq!(forked::join(child), 0);
    assert_eq!(plain, 0);
    assert_eq!(shared.get(), 1);
}

#[test]
fn array_elements_written_by_children() {
    let squares = Array::from_elem(0u64, 8);
    forked::run_all(8, |i| squares.set(i, (i * i) as u64));
    assert_eq!(squares.to_vec(), (0..8u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn array_guard_makes_whole_slice_updates_atomic() {
    let a = Array::new(&[0i32; 16]);
    forked::run_all(4, |_| {
        for _ in 0..2_000 {
            let mut g = a.lock();
            for x in g.iter_mut() {
                *x += 1;
            }
        }
    });
    assert_eq!(a.to_vec(), vec![8_000; 16]);
    assert_eq!(a.len(), 16);
}

#[test]
fn array_index_out_of_range_panics() {
    let a = Array::new(&[1u8, 2]);
    assert!(std::panic::catch_unwind(|| a.get(2)).is_err());
    assert!(std::panic::catch_unwind(|| a.set(5, 0)).is_err());
    let r = RawArray::new(&[1u8]);
    assert!(std::panic::catch_unwind(|| r.get(1)).is_err());
}

#[test]
fn raw_array_and_compound_plain_types() {
    let points = RawArray::from_elem((0.0f64, 0.0f64), 3);
    let flags = Value::new([false; 4]);
    forked::run_all(3, |i| {
        points.set(i, (i as f64, -(i as f64)));
        flags.with_lock(|f| f[i] = true);
    });
    assert_eq!(points.to_vec(), vec![(0.0, -0.0), (1.0, -1.0), (2.0, -2.0)]);
    assert_eq!(flags.get(), [true, true, true, false]);
}

#[test]
fn values_sharing_one_lock() {
    let lock = multiproc::lock::Lock::new();
    let a = Value::new_with_lock(0i32, lock.clone());
    let b = Value::new_with_lock(0i32, lock.clone());
    let mut g = a.lock();
    *g = 5;
    // Holding `a`'s guard holds the lock of `b` too, in every process.
    let child = forked::spawn(|| assert!(!b.get_lock().try_acquire()));
    assert_eq!(forked::join(child), 0);
    drop(g);
    forked::run_all(2, |_| {
        for _ in 0..5_000 {
            *b.lock() -= 1;
        }
    });
    assert_eq!((a.get(), b.get()), (5, -10_000));
}

#[test]
fn lesson_shape_with_process() {
    use multiproc::process::Process;
    let counter = Value::new(0u64);
    let mut procs: Vec<Process> = (0..4)
        .map(|_| {
            let counter = counter.clone();
            Process::new(move || {
                for _ in 0..10_000 {
                    *counter.lock() += 1;
                }
            })
        })
        .collect();
    for p in &mut procs {
        p.start();
    }
    for p in &procs {
        p.join();
        assert_eq!(p.exitcode(), Some(0));
    }
    assert_eq!(counter.get(), 40_000);
}
