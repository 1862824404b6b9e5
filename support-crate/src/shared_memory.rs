//! Shared memory: `Value` and `Array` (with a lock) and `RawValue` / `RawArray` (without),
//! like Python's `multiprocessing.Value`, `Array`, `RawValue` and `RawArray`.
//!
//! ```
//! use multiproc::shared_memory::{Array, Value};
//!
//! let counter = Value::new(0i64);  // Python: Value('i', 0)
//! *counter.lock() += 1;            // Python: with counter.get_lock(): counter.value += 1
//! assert_eq!(counter.get(), 1);
//!
//! let data = Array::new(&[1.0f64, 2.0, 3.0]); // Python: Array('d', [1.0, 2.0, 3.0])
//! data.lock()[0] = 10.0;
//! assert_eq!(data.to_vec(), vec![10.0, 2.0, 3.0]);
//! ```
//!
//! The numbers live in `MAP_SHARED` memory made when the `Value` or `Array` is created, so a
//! process started *afterwards* sees and changes the very same numbers (ordinary variables are
//! copied into a child at `fork` and changes never come back). Only plain data can be shared
//! ([`Plain`]: numbers, `bool`, `char`, and arrays or tuples of them): a `String` or `Vec` holds
//! a pointer into one process's private heap, which means nothing in another process.
//!
//! `get` and `set` each take the lock, but `v.set(v.get() + 1)` is two separate steps, so two
//! processes can both read 5 and both write 6 — the "lost update" of the lessons. Hold the
//! [`lock`](Value::lock) guard across the whole read-modify-write instead.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicU8;

use crate::lock::{Lock, LockGuard};
use crate::sys::shm::SharedSlice;

mod private {
    pub trait Sealed {}
}

/// Plain data that can live in memory shared between processes: no pointers, no destructor,
/// every copy is a byte copy. Implemented for the integer and float types, `bool`, `char`,
/// and arrays and small tuples of these. (Sealed: other types cannot implement it.)
///
/// ```
/// fn shareable<T: multiproc::shared_memory::Plain>() {}
/// shareable::<u64>();
/// shareable::<[f64; 3]>();
/// shareable::<(i32, bool)>();
/// ```
pub trait Plain: Copy + Send + Sync + 'static + private::Sealed {}

macro_rules! plain {
    ($($t:ty),* $(,)?) => { $( impl private::Sealed for $t {} impl Plain for $t {} )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char);
impl<T: Plain, const N: usize> private::Sealed for [T; N] {}
impl<T: Plain, const N: usize> Plain for [T; N] {}
impl<A: Plain, B: Plain> private::Sealed for (A, B) {}
impl<A: Plain, B: Plain> Plain for (A, B) {}
impl<A: Plain, B: Plain, C: Plain> private::Sealed for (A, B, C) {}
impl<A: Plain, B: Plain, C: Plain> Plain for (A, B, C) {}

/// The shared block holding the elements (the header byte is unused).
type Block<T> = SharedSlice<AtomicU8, T>;

fn block<T: Plain>(elems: &[T]) -> Block<T> {
    SharedSlice::new(AtomicU8::new(0), elems).expect("could not map shared memory (mmap failed)")
}

// Reads and writes of shared elements are volatile: the compiler must really load and store
// the shared memory each time (another process may change it), never keep it in a register.
fn read<T: Plain>(b: &Block<T>, i: usize) -> T {
    assert!(i < b.len(), "index {i} out of range for a shared array of length {}", b.len());
    // SAFETY: in bounds, aligned, initialised in `new`.
    unsafe { std::ptr::read_volatile(b.elems_ptr().add(i)) }
}

fn write<T: Plain>(b: &Block<T>, i: usize, v: T) {
    assert!(i < b.len(), "index {i} out of range for a shared array of length {}", b.len());
    // SAFETY: in bounds and aligned; T is plain data.
    unsafe { std::ptr::write_volatile(b.elems_ptr().add(i), v) }
}

fn read_all<T: Plain>(b: &Block<T>) -> Vec<T> {
    (0..b.len()).map(|i| read(b, i)).collect()
}

// ---------------------------------------------------------------------------------------------
// Value
// ---------------------------------------------------------------------------------------------

/// One plain value in shared memory, with a [`Lock`] (Python's `multiprocessing.Value`).
/// Clones share the same value and lock; hand a clone to each process.
///
/// ```
/// use multiproc::shared_memory::Value;
///
/// let v = Value::new(5u32);
/// v.set(7);
/// assert_eq!(v.get(), 7);
/// v.with_lock(|x| *x *= 2);
/// assert_eq!(v.get(), 14);
/// ```
#[derive(Clone)]
pub struct Value<T: Plain> {
    lock: Lock,
    data: Block<T>,
}

impl<T: Plain> Value<T> {
    /// Puts `value` in new shared memory, with a new lock.
    ///
    /// ```
    /// let v = multiproc::shared_memory::Value::new(1.5f64);
    /// assert_eq!(v.get(), 1.5);
    /// ```
    pub fn new(value: T) -> Value<T> {
        Value::new_with_lock(value, Lock::new())
    }

    /// Puts `value` in new shared memory guarded by an existing `lock` (Python's
    /// `Value('i', 0, lock=lock)`), e.g. one lock for several values.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// let a = multiproc::shared_memory::Value::new_with_lock(0i32, lock.clone());
    /// let _g = a.lock();
    /// assert!(lock.is_locked());
    /// ```
    pub fn new_with_lock(value: T, lock: Lock) -> Value<T> {
        Value { lock, data: block(&[value]) }
    }

    /// Reads the value (under the lock).
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::Value::new('x').get(), 'x');
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        let _g = self.lock.lock();
        read(&self.data, 0)
    }

    /// Writes the value (under the lock).
    ///
    /// ```
    /// let v = multiproc::shared_memory::Value::new(false);
    /// v.set(true);
    /// assert!(v.get());
    /// ```
    #[track_caller]
    pub fn set(&self, value: T) {
        let _g = self.lock.lock();
        write(&self.data, 0, value)
    }

    /// Takes the lock and returns a guard that reads and writes the value like a `&mut T`;
    /// the lock is released when the guard is dropped.
    ///
    /// ```
    /// let v = multiproc::shared_memory::Value::new(10i64);
    /// {
    ///     let mut g = v.lock();
    ///     *g += 1; // read-modify-write with nobody else in between
    /// }
    /// assert_eq!(v.get(), 11);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> ValueGuard<'_, T> {
        ValueGuard { _lock: self.lock.lock(), data: &self.data }
    }

    /// Runs `f` on the value with the lock held and returns its result.
    ///
    /// ```
    /// let v = multiproc::shared_memory::Value::new(1u8);
    /// let old = v.with_lock(|x| { let old = *x; *x += 1; old });
    /// assert_eq!((old, v.get()), (1, 2));
    /// ```
    #[track_caller]
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.lock();
        f(&mut g)
    }

    /// The value's lock (Python's `get_lock()`).
    ///
    /// ```
    /// let v = multiproc::shared_memory::Value::new(0u16);
    /// assert!(!v.get_lock().is_locked());
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Without the lock, so printing never deadlocks (the caller may be holding it).
        write!(f, "Value({:?})", read(&self.data, 0))
    }
}

/// Access to a [`Value`] with its lock held; derefs to the value.
///
/// ```
/// let v = multiproc::shared_memory::Value::new([0u8; 2]);
/// let mut g = v.lock();
/// g[1] = 9;
/// drop(g);
/// assert_eq!(v.get(), [0, 9]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Plain> {
    _lock: LockGuard<'a>,
    data: &'a Block<T>,
}

impl<T: Plain> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so no cooperating process writes meanwhile.
        unsafe { &*self.data.elems_ptr() }
    }
}

impl<T: Plain> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held, and the guard is the only handle giving access.
        unsafe { &mut *self.data.elems_ptr() }
    }
}

// ---------------------------------------------------------------------------------------------
// Array
// ---------------------------------------------------------------------------------------------

/// A fixed-length array of plain values in shared memory, with a [`Lock`] (Python's
/// `multiprocessing.Array`). Clones share the same elements and lock.
///
/// ```
/// use multiproc::shared_memory::Array;
///
/// let a = Array::from_elem(0i32, 4);
/// a.set(2, 5);
/// assert_eq!(a.get(2), 5);
/// assert_eq!(a.len(), 4);
/// {
///     let mut g = a.lock();
///     for x in g.iter_mut() { *x += 1; }
/// }
/// assert_eq!(a.to_vec(), vec![1, 1, 6, 1]);
/// ```
#[derive(Clone)]
pub struct Array<T: Plain> {
    lock: Lock,
    data: Block<T>,
}

impl<T: Plain> Array<T> {
    /// Copies `values` into new shared memory.
    ///
    /// ```
    /// let a = multiproc::shared_memory::Array::new(&[1u8, 2, 3]);
    /// assert_eq!(a.to_vec(), vec![1, 2, 3]);
    /// ```
    pub fn new(values: &[T]) -> Array<T> {
        Array::new_with_lock(values, Lock::new())
    }

    /// `len` copies of `value` (Python's `Array('i', 10)` is `Array::from_elem(0, 10)`).
    ///
    /// ```
    /// let a = multiproc::shared_memory::Array::from_elem(0.0f32, 3);
    /// assert_eq!(a.to_vec(), vec![0.0; 3]);
    /// ```
    pub fn from_elem(value: T, len: usize) -> Array<T> {
        Array::new(&vec![value; len])
    }

    /// Like [`new`](Array::new) but guarded by an existing lock.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// let a = multiproc::shared_memory::Array::new_with_lock(&[1i8], lock.clone());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new_with_lock(values: &[T], lock: Lock) -> Array<T> {
        Array { lock, data: block(values) }
    }

    /// Reads element `i` (under the lock). Panics if `i` is out of range.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::Array::new(&[4u64, 5]).get(1), 5);
    /// ```
    #[track_caller]
    pub fn get(&self, i: usize) -> T {
        let _g = self.lock.lock();
        read(&self.data, i)
    }

    /// Writes element `i` (under the lock). Panics if `i` is out of range.
    ///
    /// ```
    /// let a = multiproc::shared_memory::Array::new(&[0i16; 2]);
    /// a.set(0, -1);
    /// assert_eq!(a.to_vec(), vec![-1, 0]);
    /// ```
    #[track_caller]
    pub fn set(&self, i: usize, value: T) {
        let _g = self.lock.lock();
        write(&self.data, i, value)
    }

    /// Number of elements.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::Array::from_elem(true, 7).len(), 7);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array has no elements.
    ///
    /// ```
    /// assert!(multiproc::shared_memory::Array::<u8>::new(&[]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// A copy of all elements, taken under the lock (a consistent snapshot).
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::Array::new(&['a', 'b']).to_vec(), vec!['a', 'b']);
    /// ```
    #[track_caller]
    pub fn to_vec(&self) -> Vec<T> {
        let _g = self.lock.lock();
        read_all(&self.data)
    }

    /// Takes the lock and returns a guard that derefs to the elements as a slice.
    ///
    /// ```
    /// let a = multiproc::shared_memory::Array::new(&[3, 1, 2]);
    /// a.lock().sort();
    /// assert_eq!(a.to_vec(), vec![1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> ArrayGuard<'_, T> {
        ArrayGuard { _lock: self.lock.lock(), data: &self.data }
    }

    /// The array's lock (Python's `get_lock()`).
    ///
    /// ```
    /// let a = multiproc::shared_memory::Array::new(&[0u32]);
    /// let _g = a.get_lock().lock();
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Array({:?})", read_all(&self.data))
    }
}

/// Access to an [`Array`] with its lock held; derefs to `[T]`.
///
/// ```
/// let a = multiproc::shared_memory::Array::new(&[1, 2]);
/// let g = a.lock();
/// assert_eq!(g.iter().sum::<i32>(), 3);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Plain> {
    _lock: LockGuard<'a>,
    data: &'a Block<T>,
}

impl<T: Plain> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lock is held; elements initialised in `new`.
        unsafe { std::slice::from_raw_parts(self.data.elems_ptr(), self.data.len()) }
    }
}

impl<T: Plain> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: the lock is held, and the guard is the only handle giving access.
        unsafe { std::slice::from_raw_parts_mut(self.data.elems_ptr(), self.data.len()) }
    }
}

// ---------------------------------------------------------------------------------------------
// RawValue / RawArray
// ---------------------------------------------------------------------------------------------

/// One plain value in shared memory **without** a lock (Python's `RawValue`).
///
/// Each `get` and `set` is a single read or write of memory, but nothing stops two processes
/// from interleaving `set(get() + 1)`: both read 5, both write 6, one increment is lost. That
/// race is the lesson; use [`Value`] (or your own [`Lock`]) to fix it.
///
/// ```
/// let v = multiproc::shared_memory::RawValue::new(0u64);
/// v.set(v.get() + 1); // fine in one process, racy across several
/// assert_eq!(v.get(), 1);
/// ```
#[derive(Clone)]
pub struct RawValue<T: Plain> {
    data: Block<T>,
}

impl<T: Plain> RawValue<T> {
    /// Puts `value` in new shared memory.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawValue::new(3i8).get(), 3);
    /// ```
    pub fn new(value: T) -> RawValue<T> {
        RawValue { data: block(&[value]) }
    }

    /// Reads the value (no lock).
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawValue::new(2.5f32).get(), 2.5);
    /// ```
    pub fn get(&self) -> T {
        read(&self.data, 0)
    }

    /// Writes the value (no lock).
    ///
    /// ```
    /// let v = multiproc::shared_memory::RawValue::new(0u32);
    /// v.set(9);
    /// assert_eq!(v.get(), 9);
    /// ```
    pub fn set(&self, value: T) {
        write(&self.data, 0, value)
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawValue({:?})", self.get())
    }
}

/// A fixed-length array of plain values in shared memory **without** a lock (Python's
/// `RawArray`). Racing on it is the lesson; see [`RawValue`].
///
/// ```
/// let a = multiproc::shared_memory::RawArray::from_elem(0u8, 3);
/// a.set(1, 4);
/// assert_eq!(a.to_vec(), vec![0, 4, 0]);
/// ```
#[derive(Clone)]
pub struct RawArray<T: Plain> {
    data: Block<T>,
}

impl<T: Plain> RawArray<T> {
    /// Copies `values` into new shared memory.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawArray::new(&[1, 2]).len(), 2);
    /// ```
    pub fn new(values: &[T]) -> RawArray<T> {
        RawArray { data: block(values) }
    }

    /// `len` copies of `value`.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawArray::from_elem(1i64, 2).to_vec(), vec![1, 1]);
    /// ```
    pub fn from_elem(value: T, len: usize) -> RawArray<T> {
        RawArray::new(&vec![value; len])
    }

    /// Reads element `i` (no lock). Panics if `i` is out of range.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawArray::new(&[7u8]).get(0), 7);
    /// ```
    pub fn get(&self, i: usize) -> T {
        read(&self.data, i)
    }

    /// Writes element `i` (no lock). Panics if `i` is out of range.
    ///
    /// ```
    /// let a = multiproc::shared_memory::RawArray::new(&[0u8]);
    /// a.set(0, 1);
    /// assert_eq!(a.get(0), 1);
    /// ```
    pub fn set(&self, i: usize, value: T) {
        write(&self.data, i, value)
    }

    /// Number of elements.
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawArray::from_elem(0u8, 5).len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array has no elements.
    ///
    /// ```
    /// assert!(!multiproc::shared_memory::RawArray::new(&[0u8]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// A copy of all elements (no lock: may mix old and new values while others write).
    ///
    /// ```
    /// assert_eq!(multiproc::shared_memory::RawArray::new(&[1u8, 2]).to_vec(), vec![1, 2]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        read_all(&self.data)
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawArray({:?})", self.to_vec())
    }
}
