//! Low-level building blocks shared by the lesson-level modules. Not part of the lesson API.

pub mod futex;
pub(crate) mod one_copy;
pub mod shm;
pub mod wait;
pub mod ring;
pub mod report;
pub mod perturb;
pub(crate) mod proc_state;
pub mod waits;
pub mod timeline;
pub mod thread_label;
