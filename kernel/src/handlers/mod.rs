//! One handler per Jupyter request type, and the command line. (The wire helper implements it.)

pub mod cli;
