//! Named shared memory: a block of bytes any process can attach to *by name*, even one that
//! was not forked from the creator (Python's `multiprocessing.shared_memory.SharedMemory`).
//!
//! ```
//! use multiproc::named_memory::SharedMemory;
//!
//! let name = format!("doc_intro_{}", std::process::id());
//! let mut block = SharedMemory::create(&name, 16)?;   // Python: SharedMemory(name, create=True, size=16)
//! block.buf_mut()[..5].copy_from_slice(b"hello");
//!
//! let other = SharedMemory::attach(&name)?;           // Python: SharedMemory(name)
//! assert_eq!(&other.buf()[..5], b"hello");
//!
//! block.unlink()?;                                    // the name is gone ...
//! assert!(SharedMemory::attach(&name).is_err());
//! assert_eq!(&other.buf()[..5], b"hello");            // ... the memory stays while mapped
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! What outlives whom:
//! - The **name** (a file in `/dev/shm` on Linux) lives until someone calls
//!   [`unlink`](SharedMemory::unlink), whoever created it and whether or not that process
//!   still runs. Forgetting to unlink leaks the memory until the machine restarts.
//! - The **memory** lives while the name exists *or* some process still has it mapped: a
//!   handle keeps working after [`unlink`](SharedMemory::unlink), and dropping a handle
//!   ([`close`](SharedMemory::close)) only unmaps it in this process.
//!
//! Unlike [`Value`](crate::shared_memory::Value) and [`Array`](crate::shared_memory::Array)
//! (anonymous memory that only the creator's forked children can see), a named block has no
//! lock: the processes must agree on an order themselves (`join`, an `Event`, a `Lock`).
//!
//! How it works: `shm_open` (from `nix`) creates or opens the name, `ftruncate` sets the size,
//! and `memmap2::MmapMut::map_mut` maps it `MAP_SHARED`, so every process that maps the name
//! sees the same bytes.

use std::fmt;
use std::fs::File;
use std::io;

use memmap2::MmapMut;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;

/// A named block of shared memory, mapped in this process.
///
/// ```
/// use multiproc::named_memory::SharedMemory;
///
/// let name = format!("doc_type_{}", std::process::id());
/// let block = SharedMemory::create(&name, 4096)?;
/// assert_eq!((block.name(), block.size()), (name.as_str(), 4096));
/// block.unlink()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SharedMemory {
    name: String,
    map: MmapMut,
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory").field("name", &self.name).field("size", &self.size()).finish()
    }
}

/// `name` as given (a leading `/` removed) and as `shm_open` wants it (with one `/`).
fn names(name: &str) -> io::Result<(String, String)> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.contains('/') || bare.contains('\0') || bare.len() > 250 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("shared memory name {name:?}: use 1 to 250 characters without '/'"),
        ));
    }
    Ok((bare.to_string(), format!("/{bare}")))
}

fn open(path: &str, flags: OFlag) -> io::Result<File> {
    let fd = shm_open(path, flags | OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::S_IRUSR | Mode::S_IWUSR)
        .map_err(io::Error::from)?;
    Ok(File::from(fd))
}

fn map(file: &File) -> io::Result<MmapMut> {
    // SAFETY: memmap2 asks us to make sure the file is not truncated while mapped. Only this
    // module sizes a block (once, at creation, before anyone can map it); a program that
    // truncates /dev/shm files behind our back is outside what we can guard against.
    unsafe { MmapMut::map_mut(file) }
}

impl SharedMemory {
    /// Creates a new block of `size` zeroed bytes under `name` (Python's
    /// `SharedMemory(name, create=True, size=size)`).
    ///
    /// Errors: `AlreadyExists` if the name is taken (Python's `FileExistsError`; maybe a run
    /// that was stopped before it could unlink), `InvalidInput` for a size of 0 or a name that
    /// is empty or contains `/`.
    ///
    /// ```
    /// use multiproc::named_memory::SharedMemory;
    /// use std::io::ErrorKind;
    ///
    /// let name = format!("doc_create_{}", std::process::id());
    /// let block = SharedMemory::create(&name, 8)?;
    /// assert!(block.buf().iter().all(|&b| b == 0));
    /// let again = SharedMemory::create(&name, 8).unwrap_err();
    /// assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    /// block.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(name: &str, size: usize) -> io::Result<SharedMemory> {
        let (bare, path) = names(name)?;
        if size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a shared memory block needs a size of at least 1 byte"));
        }
        let file = open(&path, OFlag::O_CREAT | OFlag::O_EXCL)?;
        let mapped = file.set_len(size as u64).and_then(|()| map(&file));
        match mapped {
            Ok(map) => Ok(SharedMemory { name: bare, map }),
            Err(e) => {
                // Do not leave a half-made name behind.
                let _ = shm_unlink(path.as_str());
                Err(e)
            }
        }
    }

    /// Maps the existing block called `name` (Python's `SharedMemory(name)`); its size is the
    /// size it was created with.
    ///
    /// Errors: `NotFound` if no block has that name (never created, or already unlinked).
    ///
    /// ```
    /// use multiproc::named_memory::SharedMemory;
    ///
    /// let name = format!("doc_attach_{}", std::process::id());
    /// let mut made = SharedMemory::create(&name, 3)?;
    /// made.buf_mut().copy_from_slice(&[1, 2, 3]);
    /// let seen = SharedMemory::attach(&name)?;
    /// assert_eq!(seen.buf(), [1, 2, 3]);
    /// made.unlink()?;
    /// assert_eq!(SharedMemory::attach(&name).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn attach(name: &str) -> io::Result<SharedMemory> {
        let (bare, path) = names(name)?;
        let file = open(&path, OFlag::empty())?;
        if file.metadata()?.len() == 0 {
            // Created but not sized yet: another process is between shm_open and ftruncate.
            return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("shared memory {bare:?} has no size yet")));
        }
        Ok(SharedMemory { name: bare, map: map(&file)? })
    }

    /// The block's name, without the leading `/` (Python's `.name`).
    ///
    /// ```
    /// # use multiproc::named_memory::SharedMemory;
    /// let name = format!("doc_name_{}", std::process::id());
    /// let block = SharedMemory::create(&format!("/{name}"), 1)?;
    /// assert_eq!(block.name(), name);
    /// block.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size in bytes (Python's `.size`).
    ///
    /// ```
    /// # use multiproc::named_memory::SharedMemory;
    /// let block = SharedMemory::create(&format!("doc_size_{}", std::process::id()), 100)?;
    /// assert_eq!(block.size(), 100);
    /// block.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.map.len()
    }

    /// The bytes, to read (Python's `.buf`). Another process may change them at any moment:
    /// read after something orders the two (a `join`, an `Event`, a `Lock` both use).
    ///
    /// ```
    /// # use multiproc::named_memory::SharedMemory;
    /// let block = SharedMemory::create(&format!("doc_buf_{}", std::process::id()), 2)?;
    /// assert_eq!(block.buf(), [0, 0]);
    /// block.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn buf(&self) -> &[u8] {
        &self.map
    }

    /// The bytes, to write. Every process that attached the name sees the change.
    ///
    /// ```
    /// # use multiproc::named_memory::SharedMemory;
    /// let name = format!("doc_buf_mut_{}", std::process::id());
    /// let mut block = SharedMemory::create(&name, 4)?;
    /// block.buf_mut()[0] = 42;
    /// assert_eq!(SharedMemory::attach(&name)?.buf()[0], 42);
    /// block.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn buf_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// Removes the name (Python's `.unlink()`), so no process can attach any more. Handles
    /// already mapped keep working; the memory is freed when the last one is dropped. Call it
    /// once, from one process. Errors: `NotFound` if the name was already removed.
    ///
    /// ```
    /// # use multiproc::named_memory::SharedMemory;
    /// let block = SharedMemory::create(&format!("doc_unlink_{}", std::process::id()), 1)?;
    /// block.unlink()?;
    /// assert!(block.unlink().is_err()); // already gone
    /// assert_eq!(block.buf(), [0]);     // still mapped here
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unlink(&self) -> io::Result<()> {
        shm_unlink(format!("/{}", self.name).as_str()).map_err(io::Error::from)
    }

    /// Unmaps the block in this process (Python's `.close()`; dropping the handle does the
    /// same). The name stays: [`unlink`](SharedMemory::unlink) removes it.
    ///
    /// ```
    /// # use multiproc::named_memory::SharedMemory;
    /// let name = format!("doc_close_{}", std::process::id());
    /// SharedMemory::create(&name, 1)?.close();
    /// let again = SharedMemory::attach(&name)?; // the name outlived the closed handle
    /// again.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(self) {
        drop(self);
    }
}
