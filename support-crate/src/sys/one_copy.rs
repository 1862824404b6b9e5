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

use std::ffi::{CStr, CString, c_int, c_void};

/// The static exported as `symbol` by the first loaded shared object that exports it, or `own`
/// when none does (the executable's own symbols are not exported, so they are never found).
///
/// # Safety
/// Every object that exports `symbol` must export a `T` under it.
pub(crate) unsafe fn first_loaded<T: Sync>(symbol: &CStr, own: &'static T) -> &'static T {
    // SAFETY: forwarded to the caller.
    unsafe { loaded::<T>(symbol, true) }.into_iter().next().unwrap_or(own)
}

/// The static exported as `symbol` by every loaded shared object that exports it (none outside
/// the kernel): for a switch that every copy of the crate must see.
///
/// # Safety
/// Every object that exports `symbol` must export a `T` under it.
pub(crate) unsafe fn all_loaded<T: Sync>(symbol: &CStr) -> Vec<&'static T> {
    // SAFETY: forwarded to the caller.
    unsafe { loaded::<T>(symbol, false) }
}

/// Safety: as for [`first_loaded`].
unsafe fn loaded<T: Sync>(symbol: &CStr, first_only: bool) -> Vec<&'static T> {
    unsafe extern "C" fn collect(info: *mut libc::dl_phdr_info, _size: usize, names: *mut c_void) -> c_int {
        // SAFETY: `names` is the vector passed below, `info` is valid during the call.
        let (names, info) = unsafe { (&mut *names.cast::<Vec<CString>>(), &*info) };
        // An empty name is the executable (or the vDSO): skipped.
        if !info.dlpi_name.is_null() {
            // SAFETY: the loader's names are NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            if !name.is_empty() {
                names.push(name.to_owned());
            }
        }
        0
    }
    // The names are collected first and looked into after the walk: the walk holds the loader's
    // lock, which `dlopen` must not be called under.
    let mut names: Vec<CString> = Vec::new();
    let mut found_all: Vec<&'static T> = Vec::new();
    // SAFETY: the callback only reads `info` and pushes onto `names`, which outlives the walk.
    unsafe { libc::dl_iterate_phdr(Some(collect), (&mut names as *mut Vec<CString>).cast()) };
    for name in names {
        // SAFETY: NOLOAD only hands out a new reference to an object that is already loaded;
        // it is dropped again right after the lookup.
        let found = unsafe {
            let handle = libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
            if handle.is_null() {
                continue;
            }
            let found = libc::dlsym(handle, symbol.as_ptr());
            libc::dlclose(handle);
            found
        };
        if !found.is_null() {
            // SAFETY: the caller promises a `T` under this name; loaded objects are never
            // unloaded in the kernel.
            let found: &'static T = unsafe { &*found.cast::<T>() };
            if !found_all.iter().any(|f| std::ptr::eq(*f, found)) {
                found_all.push(found);
            }
            if first_only {
                break;
            }
        }
    }
    found_all
}
