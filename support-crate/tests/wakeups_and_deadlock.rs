//! What lesson 15 (semaphores, events, conditions, barriers) promises, with real processes:
//! a wakeup is not a guarantee (`if` vs `while` after `notify_all`), the condition's lock is not
//! reentrant, two conditions may share one lock, the dining philosophers deadlock for certain
//! when every one holds a left fork, and ordered forks or a waiter always let everyone eat.

use multiproc::barrier::Barrier;
use multiproc::condition::Condition;
use multiproc::lock::Lock;
use multiproc::semaphore::Semaphore;
use multiproc::shared_memory::{RawValue, Value};

mod common;
use common::forked;

/// One shelf, two conditions on one lock (as in the lesson's shop).
struct Shelf {
    lock: Lock,
    not_empty: Condition,
    news: Condition,
    items: RawValue<u32>,
    waiting: RawValue<u32>,
    done: RawValue<u32>,
    closed: RawValue<bool>,
    took: Value<u32>,
    empty_handed: Value<u32>,
    went_home: Value<u32>,
}

impl Shelf {
    fn new() -> Shelf {
        let lock = Lock::new();
        Shelf {
            not_empty: Condition::with_lock(lock.clone()),
            news: Condition::with_lock(lock.clone()),
            lock,
            items: RawValue::new(0),
            waiting: RawValue::new(0),
            done: RawValue::new(0),
            closed: RawValue::new(false),
            took: Value::new(0),
            empty_handed: Value::new(0),
            went_home: Value::new(0),
        }
    }

    fn consume(&self, recheck: bool) {
        let _g = self.lock.lock();
        loop {
            if self.items.get() > 0 || self.closed.get() {
                break;
            }
            self.waiting.set(self.waiting.get() + 1);
            self.news.notify();
            self.not_empty.wait();
            if !recheck {
                break; // the Cookbook's `if`: checked once, before waiting
            }
        }
        if self.items.get() > 0 {
            self.items.set(self.items.get() - 1);
            *self.took.lock() += 1;
        } else if self.closed.get() {
            *self.went_home.lock() += 1;
        } else {
            *self.empty_handed.lock() += 1;
        }
        self.done.set(self.done.get() + 1);
        self.news.notify();
    }

    fn produce_one(&self) {
        let _g = self.lock.lock();
        assert!(self.news.wait_for_timeout(|| self.waiting.get() == 2, 30.0), "consumers never waited");
        self.items.set(1);
        self.waiting.set(0);
        self.not_empty.notify_all();
        assert!(self.news.wait_for_timeout(|| self.done.get() + self.waiting.get() == 2, 30.0));
        self.closed.set(true);
        self.not_empty.notify_all();
    }
}

fn run_shop(recheck: bool) -> (u32, u32, u32) {
    let shelf = Shelf::new();
    let consumers: Vec<_> = (0..2).map(|_| forked::spawn(|| shelf.consume(recheck))).collect();
    let producer = forked::spawn(|| shelf.produce_one());
    for pid in consumers.into_iter().chain([producer]) {
        assert_eq!(forked::join(pid), 0);
    }
    (shelf.took.get(), shelf.empty_handed.get(), shelf.went_home.get())
}

#[test]
fn after_notify_all_for_one_item_the_second_waiter_finds_nothing() {
    let _s = common::serial();
    for _ in 0..5 {
        assert_eq!(run_shop(false), (1, 1, 0), "with `if`, one consumer must wake to an empty shelf");
        assert_eq!(run_shop(true), (1, 0, 1), "with `while`, it waits again and goes home at closing");
    }
}

#[test]
fn the_condition_lock_is_not_reentrant_in_any_process() {
    let _s = common::serial();
    let cond = Condition::new();
    let child = forked::spawn(|| {
        let _held = cond.lock();
        assert!(!cond.acquire_timeout(0.02), "a second acquire by the holder must not succeed");
        assert!(!cond.get_lock().try_acquire());
    });
    assert_eq!(forked::join(child), 0);
    assert!(!cond.get_lock().is_locked(), "the child's guard released the lock");
    let _held = cond.lock();
    assert!(!cond.acquire_timeout(0.02));
}

const PHILOSOPHERS: usize = 5;

fn dinner(philosopher: impl Fn(usize, &[Lock]) + Clone) {
    let forks: Vec<Lock> = (0..PHILOSOPHERS).map(|_| Lock::new()).collect();
    forked::run_all(PHILOSOPHERS, |i| philosopher(i, &forks));
}

#[test]
fn philosophers_who_all_hold_their_left_fork_always_deadlock() {
    let _s = common::serial();
    let seated = Barrier::new(PHILOSOPHERS as u32);
    let ate = Value::new(0u32);
    let gave_up = Value::new(0u32);
    dinner(|i, forks: &[Lock]| {
        let _left = forks[i].lock();
        seated.wait().unwrap();
        match forks[(i + 1) % PHILOSOPHERS].lock_timeout(0.2) {
            Some(_right) => *ate.lock() += 1,
            None => *gave_up.lock() += 1,
        }
        seated.wait().unwrap();
    });
    assert_eq!((ate.get(), gave_up.get()), (0, PHILOSOPHERS as u32));
}

#[test]
fn ordered_forks_or_a_waiter_let_every_philosopher_eat() {
    let _s = common::serial();
    let meals = Value::new(0u32);
    dinner(|i, forks: &[Lock]| {
        let (a, b) = (i.min((i + 1) % PHILOSOPHERS), i.max((i + 1) % PHILOSOPHERS));
        for _ in 0..20 {
            let _first = forks[a].lock();
            std::thread::yield_now();
            let _second = forks[b].lock();
            *meals.lock() += 1;
        }
    });
    assert_eq!(meals.get(), 20 * PHILOSOPHERS as u32);

    let waiter = Semaphore::new(PHILOSOPHERS as u32 - 1);
    meals.set(0);
    dinner(|i, forks: &[Lock]| {
        for _ in 0..20 {
            let _seat = waiter.guard();
            let _left = forks[i].lock();
            std::thread::yield_now();
            let _right = forks[(i + 1) % PHILOSOPHERS].lock();
            *meals.lock() += 1;
        }
    });
    assert_eq!(meals.get(), 20 * PHILOSOPHERS as u32);
    assert_eq!(waiter.get_value(), PHILOSOPHERS as u32 - 1);
}
