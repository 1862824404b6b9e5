//! The Jupyter wire protocol: connection file, sockets, signed messages.

pub mod message;
pub mod iopub;
