//! The Jupyter wire protocol: connection file, sockets, signed messages.

pub mod connection;
pub mod heartbeat;
pub mod iopub;
pub mod message;
pub mod signing;
pub mod sockets;
