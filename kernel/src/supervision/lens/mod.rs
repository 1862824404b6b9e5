//! Lenses on what a cell's processes and threads do, read while the cell runs: the deadlock
//! detector (`deadlock.rs`, rendered by `deadlock_render.rs`) and the timeline of a cell
//! (`timeline.rs`, rendered by `timeline_render.rs`); `command.rs` finds the leading `:timeline`
//! and `:labels` lines that switch them.

pub mod command;
pub mod deadlock;
pub mod deadlock_render;
pub mod timeline;
pub mod timeline_render;
