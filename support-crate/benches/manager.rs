//! A Manager's proxy calls: one request and one answer through the server's socket per call.
//! `wait_records_bench.py` runs it with and without the kernel's wait table, since every call
//! writes a `Manager::call` record there (and the server a `Manager::serve` one per request).

mod common;

use std::hint::black_box;

use common::*;
use multiproc::prelude::*;

fn main() {
    dict_insert();
}

/// `d.insert(i, i)` from the process that started the manager: a connect, a request, an answer.
fn dict_insert() {
    let n: u64 = if quick() { 2_000 } else { 20_000 };
    let mgr = Manager::start();
    let d = mgr.dict::<u64, u64>();
    let runs = repeat(|| {
        time(|| {
            for i in 0..n {
                black_box(d.insert(i, i));
            }
        })
    });
    emit("manager_dict_insert", &us_per_op(&runs, n), "µs/insert", Better::Lower, &format!("{n} × DictProxy::insert"));
    mgr.shutdown();
}
