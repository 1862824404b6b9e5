//! One copy of a static for the whole process, even when this crate is loaded several times.
//!
//! In the notebook kernel every cell is a shared library of its own, and evcxr links this crate
//! into each of them statically: every cell carries its own copy of the crate's statics. State
//! that must outlive a cell (the list of started processes, which later cells join and reap)
//! has to be the same for all cells, so each copy exports its static under a fixed name and
//! uses the copy of the first loaded library that exports it. Outside the kernel (a plain
//! program, `cargo test`) the static is not exported from the executable and each program
//! simply uses its own.
//!
//! The copies are compiled from the same library build (evcxr builds this crate once and links
//! it into every cell), so they agree on the static's type and layout, and every cell's library
//! stays loaded for the kernel's life (the runtime never unloads one).
//! No crate offers this: it is a plain walk over the loaded objects with the C library's
//! `dl_iterate_phdr`, `dlopen(RTLD_NOLOAD)` and `dlsym`.

use std::ffi::{CStr, c_int, c_void};

/// The static exported as `symbol` by the first loaded shared object that exports it, or `own`
/// when none does (the executable's own symbols are not exported, so they are never found).
///
/// # Safety
/// Every object that exports `symbol` must export a `T` under it.
pub(crate) unsafe fn first_loaded<T: Sync>(symbol: &CStr, own: &'static T) -> &'static T {
    struct Search<'a> {
        symbol: &'a CStr,
        found: *mut c_void,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: `data` is the `Search` passed below, `info` is valid during the call.
        let (search, info) = unsafe { (&mut *data.cast::<Search>(), &*info) };
        if info.dlpi_name.is_null() || unsafe { *info.dlpi_name } == 0 {
            return 0; // the executable (or the vDSO)
        }
        // SAFETY: NOLOAD only hands out a new reference to an object that is already loaded.
        let handle = unsafe { libc::dlopen(info.dlpi_name, libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        if handle.is_null() {
            return 0;
        }
        // SAFETY: looking up a symbol in a valid handle, then dropping our extra reference.
        unsafe {
            search.found = libc::dlsym(handle, search.symbol.as_ptr());
            libc::dlclose(handle);
        }
        (!search.found.is_null()) as c_int
    }
    let mut search = Search { symbol, found: std::ptr::null_mut() };
    // SAFETY: the callback only reads `info` and writes `search`, which outlives the walk.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut search as *mut Search).cast()) };
    if search.found.is_null() {
        own
    } else {
        // SAFETY: the caller promises a `T` under this name; loaded objects are never unloaded.
        unsafe { &*search.found.cast::<T>() }
    }
}
