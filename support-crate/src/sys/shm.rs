//! Memory that stays shared after `fork()`.
//!
//! Every cross-process object in this crate (locks, semaphores, queue counters, `Value`,
//! `Array`) lives in an anonymous `MAP_SHARED` mapping made *before* the fork, so parent and
//! children see the same bytes. (An anonymous `memmap2` map is `MAP_PRIVATE`: after a fork it is
//! copy-on-write and silently not shared, which is why this module maps memory itself.)

use std::io;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// Marker for types that may be placed in memory shared between processes.
///
/// # Safety
/// The type must be valid when every byte is zero *or* be fully initialised by its constructor,
/// contain no pointers (addresses differ meaning between processes only after `exec`, but heap
/// pointers point into one process's private heap), and need no `Drop`.
pub unsafe trait ProcessShared: Sync {}

macro_rules! process_shared {
    ($($t:ty),* $(,)?) => { $(unsafe impl ProcessShared for $t {})* };
}
process_shared!(
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicBool,
);

/// One anonymous shared mapping; unmapped in this process when the last handle here drops.
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

// The mapping is plain memory; synchronisation is the job of the types placed in it.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` zeroed bytes (rounded up to a page) shared with every future child.
    pub fn new(len: usize) -> io::Result<Region> {
        let len = len.max(1);
        let size = NonZeroUsize::new(len).expect("len is at least 1");
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .map_err(io::Error::from)?;
        Ok(Region { ptr: ptr.cast(), len })
    }

    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length asked for (the mapping itself is page-rounded).
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: we own this mapping in this process; other processes keep their own mapping.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// A `T` living in shared memory, cheaply clonable (clones share the same `T`).
pub struct Shared<T: ProcessShared> {
    region: Arc<Region>,
    _t: PhantomData<T>,
}

impl<T: ProcessShared> Shared<T> {
    /// Places `value` in a new shared mapping.
    pub fn new(value: T) -> io::Result<Shared<T>> {
        let region = Region::new(std::mem::size_of::<T>())?;
        debug_assert!(region.as_ptr() as usize % std::mem::align_of::<T>() == 0);
        // SAFETY: the mapping is large enough and page-aligned, so aligned for T.
        unsafe { std::ptr::write(region.as_ptr().cast::<T>(), value) };
        Ok(Shared { region: Arc::new(region), _t: PhantomData })
    }
}

impl<T: ProcessShared> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared { region: Arc::clone(&self.region), _t: PhantomData }
    }
}

impl<T: ProcessShared> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in `new`, lives as long as the region.
        unsafe { &*self.region.as_ptr().cast::<T>() }
    }
}

/// A header `H` followed by `len` elements of `E`, all in one shared mapping.
///
/// Used by `Array` and by anything that needs a fixed-size shared buffer.
pub struct SharedSlice<H: ProcessShared, E: Copy> {
    region: Arc<Region>,
    len: usize,
    _t: PhantomData<(H, E)>,
}

// Elements are only reached through the header's synchronisation (or raw, documented as racy).
unsafe impl<H: ProcessShared, E: Copy + Send> Send for SharedSlice<H, E> {}
unsafe impl<H: ProcessShared, E: Copy + Send> Sync for SharedSlice<H, E> {}

impl<H: ProcessShared, E: Copy> SharedSlice<H, E> {
    fn elems_offset() -> usize {
        let align = std::mem::align_of::<E>().max(1);
        std::mem::size_of::<H>().div_ceil(align) * align
    }

    /// Maps a header and `elems.len()` elements copied from `elems`.
    pub fn new(header: H, elems: &[E]) -> io::Result<Self> {
        let bytes = Self::elems_offset() + std::mem::size_of_val(elems);
        let region = Region::new(bytes)?;
        // SAFETY: the region is big enough and page-aligned; offsets respect alignment.
        unsafe {
            std::ptr::write(region.as_ptr().cast::<H>(), header);
            let dst = region.as_ptr().add(Self::elems_offset()).cast::<E>();
            std::ptr::copy_nonoverlapping(elems.as_ptr(), dst, elems.len());
        }
        Ok(SharedSlice { region: Arc::new(region), len: elems.len(), _t: PhantomData })
    }

    /// The header.
    pub fn header(&self) -> &H {
        // SAFETY: written in `new`.
        unsafe { &*self.region.as_ptr().cast::<H>() }
    }

    /// Pointer to the first element; callers synchronise access themselves.
    pub fn elems_ptr(&self) -> *mut E {
        // SAFETY: inside the mapping.
        unsafe { self.region.as_ptr().add(Self::elems_offset()).cast::<E>() }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<H: ProcessShared, E: Copy> Clone for SharedSlice<H, E> {
    fn clone(&self) -> Self {
        SharedSlice { region: Arc::clone(&self.region), len: self.len, _t: PhantomData }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn shared_after_fork() {
        let counter = Shared::new(AtomicU64::new(0)).unwrap();
        // SAFETY: the child only touches the atomic and leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                counter.fetch_add(5, Ordering::SeqCst);
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(counter.load(Ordering::SeqCst), 5);
            }
        }
    }
}
