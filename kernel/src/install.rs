//! `rust-concurrency-kernel install`: kernelspec, logos, and a warmed compile cache.
//! (The wire helper implements it.)
